"""Security of the station as a whole (SmartCAR Appendix G AG-01; SI 2021/1467 Schedule 1
paras 1, 4, 7, 9 and 10), checked from outside on one station an installer set up at OCPP
2.0.1 security profile 2 (conformance/security_lab.py, shared by these checks): through the
CSMS, the charger's pilot, the files in the gateway's state directory, the gateway's output
and sockets, and its command line run again with other options."""

import itertools
import secrets
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ocpp.v201 import call

from conformance.checks.common import annex_a_current_ma
from conformance.registry import check
from conformance.security_lab import RECONNECT_MAX_S, STATION

NEEDS = ("backend",)
REPORT_S = 5  # a security event at the CSMS / in the log after what caused it
RECONNECT_S = RECONNECT_MAX_S + 9  # backoff plus a TLS handshake and a boot on a busy machine
APPLY_S = 5  # a charging profile on the pilot
CABLE_MA = 32000  # the lab's EV: PP 220 ohm, a 32 A cable
PID = 901  # the one TxDefaultProfile id UK-S1 sends (a second id at the same stack level
# would be refused for that reason, K01.FR.39, not for its limit)
_ids = itertools.count(1)


def _uid(what):
    return "conf-%s-%d" % (what, next(_ids))


def _events_of(lab, kind):
    return [e for e in lab.security_events() if e["type"] == kind]


def _notified(lab, kind):
    return [p for p in lab.csms.calls("SecurityEventNotification") if p["type"] == kind]


def _wait(pred, timeout_s, poll_s=0.05):
    """-> seconds until pred() held, or None."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout_s:
            return None
        time.sleep(poll_s)
    return time.monotonic() - t0


def _within(r, name, t, limit_s, waited_s=None):
    """A time measured against its limit; one that never came is a failure, never a
    figure that happens to be below the limit."""
    if t is None:
        return r.expect(False, "%s: not seen (waited %s s)" % (name, waited_s or limit_s))
    return r.measure(name, round(t, 2), "s", "<=", limit_s)


def _variable(component, variable, value=None):
    d = {"component": {"name": component}, "variable": {"name": variable}}
    if value is not None:
        d["attribute_value"] = value
    return d


def _get_variable(lab, component, variable):
    r = lab.csms.request(call.GetVariables(get_variable_data=[_variable(component, variable)]))
    return r.get_variable_result[0]


def _set_variable(lab, component, variable, value):
    r = lab.csms.request(call.SetVariables(set_variable_data=[
        _variable(component, variable, value)]))
    return r.set_variable_result[0]["attribute_status"]


def _duty(lab):
    return lab.charger.control("status")["status"]["duty_permille"]


def _charging(lab):
    return bool(lab.charger.control("status")["status"]["contacts"])


def _plug_and_charge(lab, r):
    lab.charger.control("plug", state="B", pp_ohms=220)
    lab.charger.control("draw", a=16, phases=3)
    t = _wait(lambda: _charging(lab), 20)
    r.did("an EV plugged in (PP 220 ohm: a 32 A cable) and asking for 16 A")
    return t


def _unplug(lab):
    lab.charger.control("unplug")
    _wait(lambda: not _charging(lab), 10)


def _raw(lab, action, payload):
    """A CSMS call sent without the library's validation -> the station's answer list."""
    return lab.csms.request_raw([2, _uid(action), action, payload])


def _tx_default(pid, limit_a):
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": [{
                "id": pid, "chargingRateUnit": "A",
                "startSchedule": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                               time.gmtime(time.time() - 2)),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]}]}


# --- AG-01 ------------------------------------------------------------------------------

# malformed or hostile OCPP-J calls a compromised or buggy back-end (or someone on the path)
# may send: each must get a CallError, never silence, a crash or a dropped connection
HOSTILE_CALLS = (
    ("unknown action", "FlashTheBootloader", {}),
    ("payload of the wrong type", "SetVariables", []),
    ("missing required field", "SetChargingProfile", {"evseId": 1}),
    ("wrong field type", "GetVariables", {"getVariableData": "all of them"}),
    ("oversized string", "DataTransfer", {"vendorId": "x" * 100000}),
    ("value outside its enumeration", "Reset", {"type": "SelfDestruct"}),
)


@check("AG-01", needs=NEEDS + ("pilot",))
def secure_robust_configurable_communication(target, r):
    """Appendix G, communication: robust (the CSMS unreachable for a while: the station
    reconnects by itself and delivers what happened meanwhile), user configurable (the
    back-end changes the heartbeat interval and it applies), secure and resilient to attack
    (the link is TLS 1.2 or later, as the CSMS's end sees it: the certificate checks are
    UK-S5's; hostile calls each answered with a CallError and the connection kept; no port
    open on the station for anyone to attack), private (the station's password nowhere in
    its output, its messages or its security log)."""
    lab = target.security_lab()
    r.did("station %s: OCPP 2.0.1, security profile 2 (wss:// + Basic auth, the CSMS root "
          "installed as --csms-ca), password generated by the station" % STATION)
    r.expect(lab.tls_version() in ("TLSv1.2", "TLSv1.3"), "the station's connection is %s "
             "(TLS 1.2 or later), as the CSMS's end sees it" % lab.tls_version())
    n_conn = lab.csms.connections
    lab.csms.go_down()
    r.did("the CSMS unreachable (its port closed) for 3 s; meanwhile an EV plugs in")
    n_status = len(lab.csms.statuses(1))
    lab.charger.control("plug", state="B", pp_ohms=220)
    time.sleep(3)
    lab.csms.come_back()
    t = lab.wait_connections(n_conn + 1, RECONNECT_S + 5)
    _within(r, "CSMS back -> the station reconnected", t, RECONNECT_S)
    t = _wait(lambda: "Occupied" in lab.csms.statuses(1)[n_status:], 15)
    _within(r, "then the plug-in during the outage reported (StatusNotification Occupied)",
            t, RECONNECT_S, 15)
    _unplug(lab)
    st = _set_variable(lab, "OCPPCommCtrlr", "HeartbeatInterval", "1")
    r.expect(st == "Accepted", "SetVariables OCPPCommCtrlr.HeartbeatInterval = 1 s: %s" % st)
    n = len(lab.csms.calls("Heartbeat"))
    _wait(lambda: len(lab.csms.calls("Heartbeat")) >= n + 4, 15)
    beats = lab.arrival_times("Heartbeat")[n + 1:]  # from the first one at the new interval
    gaps = [round(b - a, 2) for a, b in zip(beats, beats[1:], strict=False)]
    r.expect(len(gaps) >= 2, "%d heartbeats at the new interval" % len(beats))
    if gaps:
        r.measure("heartbeat gaps after the change (longest)", max(gaps), "s", "<=", 3)
        r.measure("heartbeat gaps after the change (shortest)", min(gaps), "s", ">=", 0.5)
    _set_variable(lab, "OCPPCommCtrlr", "HeartbeatInterval", "300")
    n_conn = lab.csms.connections
    for what, action, payload in HOSTILE_CALLS:
        answer = _raw(lab, action, payload)
        r.expect(answer[0] == 4, "%s (%s): CallError %s" % (
            what, action, answer[2] if answer[0] == 4 else "none: %r" % (answer[:3],)))
    r.measure("connections dropped by the hostile calls", lab.csms.connections - n_conn, "",
              "==", 0)
    res = _get_variable(lab, "SecurityCtrlr", "SecurityProfile")
    r.expect(res.get("attribute_value") == "2", "the station still answers: SecurityProfile "
             "reads %s" % res.get("attribute_value"))
    r.measure("sockets the station listens on (TCP listen, UDP bound)", len(lab.listening()),
              "", "==", 0)
    leaks = _password_leaks(lab)
    r.measure("places the station's password appears (output, messages, security log)",
              len(leaks), "", "==", 0)


def _password_leaks(lab):
    """Where the current password shows outside the one provisioning line and the 0600
    password file: the gateway's output, the messages the CSMS got, the security log."""
    pw = lab.password
    leaks = []
    out = lab.gateway_output().replace(lab.provisioning_line, "")
    if pw in out:
        leaks.append("gateway output")
    if any(pw in str(m) for m in lab.csms.messages):
        leaks.append("OCPP messages")
    if any(pw in str(e) for e in lab.security_events()):
        leaks.append("security log")
    return leaks


# --- UK-S1 ------------------------------------------------------------------------------

@check("UK-S1", needs=NEEDS + ("pilot",))
def general_security_principles(target, r):
    """Schedule 1 para 1: protection against harm to the electricity system, to the charge
    point and of personal data. A back-end (or whoever controls it) asks for 5000 A, a
    negative limit and a limit that is not a number: the pilot never offers more than the
    cable allows, the nonsense is refused and the charge goes on; a valid 10 A limit still
    applies afterwards. The files holding the owner's charging history are readable by the
    gateway's user only and the link to the back-end is encrypted."""
    lab = target.security_lab()
    t = _plug_and_charge(lab, r)
    _within(r, "plug-in -> charging", t, 20)
    try:
        ans = _raw(lab, "SetChargingProfile", {"evseId": 1,
                                               "chargingProfile": _tx_default(PID, 5000)})
        r.did("SetChargingProfile TxDefaultProfile 5000 A: %s" % _answer(ans))
        offered = []
        for _ in range(int(APPLY_S / 0.1)):
            offered.append(annex_a_current_ma(_duty(lab)))
            time.sleep(0.1)
        r.measure("highest offer in the %d s after a 5000 A demand (Annex A reading of the "
                  "duty)" % APPLY_S, max(offered), "mA", "<=", CABLE_MA)
        for what, limit in (("negative limit -16 A", -16), ("limit 'lots'", "lots")):
            before = _duty(lab)
            ans = _raw(lab, "SetChargingProfile", {"evseId": 1,
                                                   "chargingProfile": _tx_default(PID, limit)})
            refused = ans[0] == 4 or ans[2].get("status") == "Rejected"
            r.expect(refused, "%s: refused (%s)" % (what, _answer(ans)))
            time.sleep(1)
            r.measure("duty after the %s (unchanged)" % what, _duty(lab), "permille", "==",
                      before)
        r.expect(_charging(lab), "still charging after the nonsense")
        ans = _raw(lab, "SetChargingProfile", {"evseId": 1,
                                               "chargingProfile": _tx_default(PID, 10)})
        r.did("SetChargingProfile TxDefaultProfile 10 A (the same profile id): %s"
              % _answer(ans))
        t = _wait(lambda: _duty(lab) == 166, APPLY_S * 2)
        _within(r, "a valid 10 A TxDefaultProfile afterwards -> duty 166", t, APPLY_S,
                APPLY_S * 2)
    finally:
        lab.csms.request(call.ClearChargingProfile(charging_profile_criteria={
            "charging_profile_purpose": "TxDefaultProfile"}))
        _unplug(lab)
    history = [(f, m) for f, m, _ in lab.state_files() if f.startswith("state.db")]
    r.measure("files of the charging history (state.db*) readable by others",
              sum(1 for _, m in history if m & 0o077), "", "==", 0)
    r.did("state.db files: %s" % ", ".join("%s %o" % fm for fm in history))
    r.expect(lab.csms.url.startswith("wss://") and lab.tls_version() in ("TLSv1.2", "TLSv1.3"),
             "the link to the back-end is encrypted (%s)" % lab.tls_version())


def _answer(ans):
    """A raw answer in words: the CALLRESULT's status (and reason) or the CallError."""
    if ans[0] == 4:
        return "CallError %s" % ans[2]
    info = ans[2].get("statusInfo") or {}
    return " ".join(x for x in (ans[2].get("status"), info.get("reasonCode")) if x)


# --- UK-S4 ------------------------------------------------------------------------------

@check("UK-S4", needs=NEEDS)
def sensitive_parameters_protected(target, r):
    """Schedule 1 para 4: the station's secrets (its CSMS password, the private key of a
    certificate request) are stored readable by the gateway's user only, never shown (the
    password is write-only over OCPP, absent from the output, the messages and the logs),
    and a private key never leaves the station: the CSMS gets a CSR whose key stays in the
    state directory."""
    lab = target.security_lab()
    ans = lab.csms.request(call.TriggerMessage(requested_message="SignChargingStationCertificate"))
    r.expect(ans.status == "Accepted", "TriggerMessage SignChargingStationCertificate: %s"
             % ans.status)
    req = lab.csms.wait_for("SignCertificate", timeout_s=15)
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    r.expect(csr.is_signature_valid, "the station sent a CSR (%s), self-signed by its key"
             % csr.subject.rfc4514_string())
    r.expect("PRIVATE KEY" not in str(lab.csms.messages), "no private key in any message")
    csr_pub = csr.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    secrets_found = []
    for name, mode, data in lab.state_files():
        kind = None
        if lab.password.encode() in data:
            kind = "the CSMS password"
        elif b"PRIVATE KEY" in data:
            kind = "a private key" if _public_of(data) != csr_pub else "the CSR's private key"
        if kind:
            secrets_found.append((name, mode, kind))
            r.did("%s: %s, mode %o" % (name, kind, mode))
    kinds = {k for _, _, k in secrets_found}
    r.expect("the CSMS password" in kinds, "the password is kept in the state directory")
    r.expect("the CSR's private key" in kinds, "the CSR's private key is kept in the state "
             "directory")
    r.measure("files holding a secret with a mode other than 0600",
              sum(1 for _, m, _ in secrets_found if m != 0o600), "", "==", 0)
    res = _get_variable(lab, "SecurityCtrlr", "BasicAuthPassword")
    r.expect(res["attribute_status"] == "Rejected" and "attribute_value" not in res,
             "GetVariables SecurityCtrlr.BasicAuthPassword: %s, no value (write-only)"
             % res["attribute_status"])
    leaks = _password_leaks(lab)
    r.measure("places the password appears (output beyond the provisioning line, OCPP "
              "messages, security log)", len(leaks), "", "==", 0)
    req_id = next(_ids)
    lab.csms.request(call.GetLog(log={"remote_location": lab.uploads.url},
                                 log_type="SecurityLog", request_id=req_id))
    t = _wait(lambda: _log_status(lab, req_id) in ("Uploaded", "UploadFailure"), 15)
    uploaded = b"".join(d for _, d in lab.uploads.files)
    r.expect(t is not None and bool(uploaded), "GetLog SecurityLog uploaded (%s)"
             % _log_status(lab, req_id))
    r.expect(lab.password.encode() not in uploaded and b"PRIVATE KEY" not in uploaded,
             "no secret in what the CSMS operator receives with GetLog")


def _public_of(pem):
    """The DER public key of a PEM private key file, or None (not a plain PEM key file)."""
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _log_status(lab, request_id):
    got = [p["status"] for p in lab.csms.calls("LogStatusNotification")
           if p.get("requestId") == request_id]
    return got[-1] if got else None


# --- UK-S7 ------------------------------------------------------------------------------

# options an installer may get wrong -> (the options, the word the refusal must name)
MISTAKES = (
    ("profile 2 with a ws:// CSMS", {"csms_url": "ws://127.0.0.1:9/ocpp"}, (), "wss://"),
    ("profile 3 without a client certificate", {"profile": 3}, (), "--client-cert"),
    ("a password of 8 characters", {"profile": 1, "csms_url": "ws://127.0.0.1:9/ocpp"},
     ("--password-file", "SHORT"), "16-40 characters"),
    ("a CA file that does not exist", {}, ("--csms-ca", "/nonexistent/ca.pem"),
     "no such file"),
)


@check("UK-S7", needs=NEEDS)
def security_settings_easy_to_use(target, r):
    """Schedule 1 para 7, as far as software shows it: a secure set-up needs no secret
    invented by the installer (the station generates its password and prints it once; the
    installer enters it at the CSMS and the station is connected within seconds); wrong
    security options are refused at once with what to fix; the CSMS changes the password
    with one SetVariables and the station uses it from then on."""
    lab = target.security_lab()
    r.did("set-up: --security-profile 2 --csms-ca CA, no password given; the station "
          "printed: '%s…'" % lab.provisioning_line[:60])
    r.measure("the installer's actions for the password", 1, "(enter the printed one at the "
              "CSMS)", "<=", 1)
    r.measure("connections the CSMS refused before the password was entered",
              lab.refused_before_install, "", ">=", 1)
    _within(r, "password entered at the CSMS -> BootNotification", lab.boot_after_install_s,
            RECONNECT_S)
    for what, variant, extra, named in MISTAKES:
        extra = list(extra)
        if "SHORT" in extra:
            short = lab.run / "short-password"
            short.write_text("12345678\n")
            extra[extra.index("SHORT")] = str(short)
        code, err = lab.run_cli(lab.args(state_dir=lab.run / "mistakes", extra=extra,
                                         **variant))
        last = err.strip().splitlines()[-1] if err.strip() else ""
        r.expect(code == 2 and named in err, "%s: exit %s, '%s'" % (what, code, last[-120:]))
    new = "Conformance-A01:" + secrets.token_hex(10)
    n_conn = lab.csms.connections
    lab.csms.passwords[STATION] = new
    st = _set_variable(lab, "SecurityCtrlr", "BasicAuthPassword", new)
    r.expect(st == "Accepted", "SetVariables SecurityCtrlr.BasicAuthPassword: %s" % st)
    lab.password = new
    t = lab.wait_connections(n_conn + 1, RECONNECT_S + 5)
    _within(r, "new password set -> the station connected with it", t, RECONNECT_S)
    r.expect((lab.state / "csms_password").read_text().strip() == new,
             "the new password is what the station keeps")


# --- UK-S9 ------------------------------------------------------------------------------

@check("UK-S9", needs=NEEDS)
def configured_securely(target, r):
    """Schedule 1 para 9 (the charge point's configuration), as software shows it: the
    station exposes no network service (no listening socket), its security configuration
    cannot be lowered (a start with a lower profile, or with none, is refused and the
    recorded profile stays), and it comes back from a restart with the same configuration
    (same profile, same password, no new secret) and connected securely."""
    lab = target.security_lab()
    r.measure("sockets the gateway listens on", len(lab.listening()), "", "==", 0)
    profile_file = lab.state / "security_profile"
    for what, variant in (("profile 1 (ws:// + password)",
                           {"profile": 1, "csms_url": "ws://127.0.0.1:9/ocpp"}),
                          ("no security option (the command line's default, profile 0)",
                           {"profile": None, "csms_url": "ws://127.0.0.1:9/ocpp"})):
        code, err = lab.run_cli(lab.args(**variant))
        r.expect(code == 2 and "downgrade" in err, "a start with %s after profile 2: refused "
                 "(exit %s)" % (what, code))
    r.expect(profile_file.read_text().strip() == "2", "the recorded profile is still 2")
    before = lab.password
    t = lab.restart_gateway()
    _within(r, "restart -> BootNotification again", t, RECONNECT_S)
    r.expect(lab.gateway_output().count("generated CSMS password") == 1,
             "no new password generated at the restart")
    r.expect((lab.state / "csms_password").read_text().strip() == before,
             "the same password after the restart")
    res = _get_variable(lab, "SecurityCtrlr", "SecurityProfile")
    r.expect(res.get("attribute_value") == "2", "SecurityCtrlr.SecurityProfile after the "
             "restart: %s" % res.get("attribute_value"))
    r.expect(lab.tls_version() in ("TLSv1.2", "TLSv1.3"), "reconnected over %s"
             % lab.tls_version())
    r.measure("sockets the gateway listens on after the restart", len(lab.listening()), "",
              "==", 0)


# --- UK-S10 -----------------------------------------------------------------------------

@check("UK-S10", needs=NEEDS)
def security_log(target, r):
    """Schedule 1 para 10: the station keeps a security log of security events with the
    time of each: its start (StartupOfTheDevice), the refused connections before the
    installer entered the password (FailedToAuthenticateAtCsms, once for the episode), the
    enclosure opened (TamperDetectionActivated), a restart; critical ones are also sent to
    the CSMS; the log is kept across a restart, readable by the gateway's user only, and the
    CSMS can fetch it (GetLog)."""
    lab = target.security_lab()
    start = _events_of(lab, "StartupOfTheDevice")
    r.expect(bool(start), "StartupOfTheDevice in the log")
    if start:
        skew = abs(_unix(start[0]["timestamp"]) - lab.started_unix_s)
        r.measure("its timestamp against the lab's clock at the start", round(skew, 1), "s",
                  "<=", REPORT_S)
    r.expect(bool(_notified(lab, "StartupOfTheDevice")),
             "SecurityEventNotification StartupOfTheDevice at the CSMS")
    r.measure("FailedToAuthenticateAtCsms for the %d refused connection(s) at installation"
              % lab.refused_before_install, len(_events_of(lab, "FailedToAuthenticateAtCsms")),
              "", "==", 1)
    n_log = len(_events_of(lab, "TamperDetectionActivated"))
    n_csms = len(_notified(lab, "TamperDetectionActivated"))
    lab.charger.control("tamper", open=1)
    r.did("the enclosure's lid taken off (the charger's tamper switch)")
    t = _wait(lambda: len(_events_of(lab, "TamperDetectionActivated")) > n_log, 10)
    _within(r, "lid off -> TamperDetectionActivated in the log", t, REPORT_S)
    t = _wait(lambda: len(_notified(lab, "TamperDetectionActivated")) > n_csms, 10)
    _within(r, "lid off -> SecurityEventNotification at the CSMS", t, REPORT_S)
    lab.charger.control("tamper", open=0)
    before = lab.security_events()
    lab.restart_gateway()
    after = lab.security_events()
    r.expect(after[:len(before)] == before, "the %d events before the restart are all still "
             "there, unchanged" % len(before))
    r.measure("StartupOfTheDevice events after one restart", len(_events_of(lab,
              "StartupOfTheDevice")), "", "==", len(start) + 1)
    times = [_unix(e["timestamp"]) for e in after]
    r.expect(all(a <= b for a, b in zip(times, times[1:], strict=False)), "timestamps in order")
    r.expect(all(e.get("type") and e.get("timestamp") for e in after),
             "every entry has a type and a timestamp")
    mode = (lab.state / "security_log.jsonl").stat().st_mode & 0o777
    r.expect(mode == 0o600, "security_log.jsonl mode %o (0600)" % mode)
    req_id = next(_ids)
    n_files = len(lab.uploads.files)
    ans = lab.csms.request(call.GetLog(log={"remote_location": lab.uploads.url},
                                       log_type="SecurityLog", request_id=req_id))
    t = _wait(lambda: _log_status(lab, req_id) in ("Uploaded", "UploadFailure"), 15)
    _within(r, "GetLog SecurityLog (%s) -> Uploaded" % ans.status, t, 15)
    got = lab.uploads.files[n_files][1].decode().splitlines() if len(
        lab.uploads.files) > n_files else []
    r.measure("entries uploaded (the log holds %d)" % len(lab.security_events()), len(got), "",
              "==", len(lab.security_events()))
    r.did("the log's event types: %s" % ", ".join(e["type"] for e in lab.security_events()))


def _unix(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- UK-S3 ------------------------------------------------------------------------------

PACKAGE = "evse-9.9.9-lab.bin"  # FW_BEGIN's version is the name without .bin
INSTALL_S = 120  # download, verify, 160 KB over the link, the swap and the trial boot
REFUSE_S = 30


def _firmware(lab):
    """The charger's running firmware as its boot code reports it (the sim's status)."""
    return lab.charger.control("status")["status"]["firmware"]


def _running(lab_or_view):
    """What the charger runs, in words: the flashed firmware or an update slot's version."""
    fw = lab_or_view if isinstance(lab_or_view, dict) else _firmware(lab_or_view)
    if not fw["slot"]:
        return "the flashed firmware (no update slot)"
    return "%r from update slot %r" % (fw["version"], fw["slot"])


def _fw_statuses(lab, request_id):
    return [p["status"] for p in lab.csms.calls("FirmwareStatusNotification")
            if p.get("requestId") == request_id]


def _bundle(firmware_dir):
    """The firmware under test (its evse/ package) in the boot code's bundle format."""
    import fwboot  # from the firmware under test: conformance/__main__.py put it on sys.path

    evse = firmware_dir / "evse"
    return fwboot.pack([("evse/" + f.name, f.read_bytes()) for f in sorted(evse.glob("*.py"))])


@check("UK-S3", needs=NEEDS)
def software_updates_authenticated(target, r):
    """Schedule 1 para 3: a software update is installed only when its origin and integrity
    are verified. With the manufacturer's root installed on the station (InstallCertificate),
    OCPP 2.0.1 UpdateFirmware with (1) a package changed after it was signed: refused
    (InvalidSignature), nothing reaches the charger, the running firmware unchanged; (2) a
    package signed by a certificate from another root: refused at once (InvalidCertificate),
    nothing downloaded; (3) a good signed package: downloaded, verified, sent to the
    charger, which installs it at an idle moment and runs it (Installed, its version
    reported by the charger's boot code). Each refusal is a security event."""
    from sim_hardware.firmware_package import ManufacturerPki, PackageServer

    lab = target.security_lab()
    pki = ManufacturerPki()
    bundle = _bundle(target.firmware_dir)
    srv = PackageServer().start()
    try:
        ans = lab.csms.request(call.InstallCertificate(
            certificate_type="ManufacturerRootCertificate", certificate=pki.root_pem))
        r.expect(ans.status == "Accepted", "InstallCertificate ManufacturerRootCertificate: %s"
                 % ans.status)
        before = _firmware(lab)
        r.did("the charger runs %s" % _running(before))
        srv.put(PACKAGE, bundle[:-1] + b"!")
        fw = pki.signer("rsa").firmware(srv.url(PACKAGE), bundle)
        rid = next(_ids)
        ans = lab.csms.request(call.UpdateFirmware(request_id=rid, firmware=fw))
        r.did("a package changed after signing (RSA-PSS): UpdateFirmware %s" % ans.status)
        _wait(lambda: "InvalidSignature" in _fw_statuses(lab, rid), REFUSE_S)
        r.expect(_fw_statuses(lab, rid) == ["Downloading", "Downloaded", "InvalidSignature"],
                 "changed package: %s" % ", ".join(_fw_statuses(lab, rid)))
        r.expect(bool(_events_of(lab, "InvalidFirmwareSignature")),
                 "InvalidFirmwareSignature in the security log")
        r.expect(_running(lab) == _running(before), "changed package: the charger still "
                 "runs %s" % _running(lab))
        n_get = len(srv.requests)
        srv.put(PACKAGE, bundle)
        fw = ManufacturerPki().signer("ec").firmware(srv.url(PACKAGE), bundle)
        rid = next(_ids)
        ans = lab.csms.request(call.UpdateFirmware(request_id=rid, firmware=fw))
        r.expect(ans.status == "InvalidCertificate", "a signer from another root: "
                 "UpdateFirmware %s" % ans.status)
        t = _wait(lambda: _events_of(lab, "InvalidFirmwareSigningCertificate"), REPORT_S)
        _within(r, "-> InvalidFirmwareSigningCertificate in the security log", t, REPORT_S)
        r.measure("downloads of the other root's package", len(srv.requests) - n_get, "", "==",
                  0)
        r.expect(_running(lab) == _running(before), "other root: the charger still runs %s"
                 % _running(lab))
        fw = pki.signer("ec").firmware(srv.url(PACKAGE), bundle)
        rid = next(_ids)
        ans = lab.csms.request(call.UpdateFirmware(request_id=rid, firmware=fw))
        r.did("a good package (%d bytes, ECDSA P-256): UpdateFirmware %s" % (len(bundle),
                                                                            ans.status))
        t = _wait(lambda: (_fw_statuses(lab, rid) or [""])[-1] in (
            "Installed", "InstallationFailed", "InstallVerificationFailed", "DownloadFailed"),
            INSTALL_S, poll_s=0.2)
        r.expect(_fw_statuses(lab, rid) == ["Downloading", "Downloaded", "SignatureVerified",
                                            "Installing", "InstallRebooting", "Installed"],
                 "good package: %s" % ", ".join(_fw_statuses(lab, rid)))
        _within(r, "good package: UpdateFirmware -> Installed", t, INSTALL_S)
        now = _firmware(lab)
        r.expect(now["version"] == PACKAGE[:-4] and now["slot"] and not now["trial"],
                 "the charger runs %r from slot %r (trial over: %s)"
                 % (now["version"], now["slot"], not now["trial"]))
        r.expect(bool(_events_of(lab, "FirmwareUpdated")), "FirmwareUpdated in the security "
                 "log")
    finally:
        srv.stop()
