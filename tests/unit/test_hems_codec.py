"""The energy-manager MQTT interface's pure parts (docs/mqtt.md): command payloads refused
with a clear error (UK-8), topic names and prefixes, the limits and events it publishes,
the EV SoC given from outside (AG-07) and the --hems command-line options (exit 2 with a
message)."""

import json

import pytest

from gateway import cli
from gateway.ev_soc import EvSoc
from gateway.hems import commands, parse_hems_url, state
from gateway.hems.commands import CommandError, Limit, Override, Soc
from gateway.hems.topics import Topics, check_prefix
from gateway.link.values import Telemetry
from gateway.store import Record, Request
from protocols import link_messages as lm


def _decode(name, obj):
    return commands.decode(name, json.dumps(obj).encode() if not isinstance(obj, bytes)
                           else obj)


def test_ag05_t7_multi_good_commands_decode():
    """AG-05 / T7-MULTI: the three commands of docs/mqtt.md decode with their defaults
    (duration_s 0 = until replaced; current_ma null clears) and an echoed id."""
    assert _decode("limit", {"source": "dno", "current_ma": 8000, "duration_s": 900}) == \
        Limit("dno", 8000, 900)
    lim = _decode("limit", {"source": "hems", "current_ma": None, "id": "a1"})
    assert lim == Limit("hems", None, 0, "a1") and lim.entity == lm.SRC_HEMS
    assert _decode("limit", {"source": "dno", "current_ma": 0}).entity == lm.SRC_DNO
    assert _decode("limit", {"source": "hems", "current_ma": 80000}).current_ma == 80000
    assert _decode("override", {"on": False, "id": 7}) == Override(False, 7)
    assert _decode("soc", {"soc_percent": 100}) == Soc(100)
    assert _decode("soc", {"soc_percent": 0}) == Soc(0)


BAD = [
    ("limit", b"", "payload is not JSON"),
    ("limit", b"\xff\xfe", "payload is not UTF-8"),
    ("limit", b"null", "payload must be a JSON object, got NoneType"),
    ("limit", b'"8000"', "payload must be a JSON object, got str"),
    ("limit", b"{" + b" " * 1100 + b"}", "payload over 1024 bytes"),
    ("limit", {"current_ma": 8000}, "source is missing"),
    ("limit", {"source": "dno"}, "current_ma is missing"),
    ("limit", {"source": "DNO", "current_ma": 8000}, 'source must be one of "hems", "dno"'),
    ("limit", {"source": "csms", "current_ma": 8000}, "source must be one of"),
    ("limit", {"source": "dno", "current_ma": -1}, "current_ma must be 0..80000, got -1"),
    ("limit", {"source": "dno", "current_ma": 80001}, "current_ma must be 0..80000"),
    ("limit", {"source": "dno", "current_ma": 8000.5}, "current_ma must be an integer"),
    ("limit", {"source": "dno", "current_ma": True}, "current_ma must be an integer"),
    ("limit", {"source": "dno", "current_ma": 8000, "duration_s": None},
     "duration_s must be an integer, got null"),
    ("limit", {"source": "dno", "current_ma": 8000, "duration_s": 2 ** 32},
     "duration_s must be 0..4294967295"),
    ("limit", {"source": "dno", "current_ma": 8000, "until": 5, "why": 1},
     "unknown keys 'until', 'why'"),
    ("limit", {"source": "dno", "current_ma": 8000, "id": ""}, "id must be text of 1..64"),
    ("limit", {"source": "dno", "current_ma": 8000, "id": [1]}, "id must be text"),
    ("override", {}, "on is missing"),
    ("override", {"on": 1}, "on must be true or false, got 1"),
    ("soc", {"soc_percent": 101}, "soc_percent must be 0..100, got 101"),
    ("soc", {"soc_percent": "50"}, "soc_percent must be an integer"),
    ("soc", {"soc": 50}, "unknown key 'soc'"),
    ("start", {}, "unknown command 'start' (commands: limit, override, soc)"),
]


@pytest.mark.parametrize("name,payload,says", BAD)
def test_uk8_bad_command_payloads_are_refused_with_a_clear_error(name, payload, says):
    """UK-8 (input validation): every malformed, mistyped, unknown or out-of-range command is
    refused before anything is applied, with an error that names the problem."""
    with pytest.raises(CommandError) as e:
        _decode(name, payload)
    assert says in str(e.value)


def test_uk8_the_reply_echoes_a_usable_id_of_a_refused_command():
    """The id of a refused command still comes back when it is usable (the energy manager
    matches replies to requests); one that is not, or a payload that is not JSON, gives
    none."""
    assert commands.request_id(b'{"id": "r1", "current_ma": "x"}') == "r1"
    assert commands.request_id(b'{"id": 5}') == 5
    assert commands.request_id(b'{"id": ""}') is None
    assert commands.request_id(b"[1]") is None
    assert commands.request_id(b"{") is None


def test_topics_of_the_interface():
    """docs/mqtt.md topic names; a prefix with a wildcard, a leading $, an empty level or
    nothing at all is refused; parse_command takes only PREFIX/evse/<n>/<command>/set."""
    t = Topics("/evcharger/CS001/")
    assert t.availability == "evcharger/CS001/availability"
    assert t.state(2) == "evcharger/CS001/evse/2/state"
    assert t.event(1) == "evcharger/CS001/evse/1/event"
    assert t.command(1, "limit") == "evcharger/CS001/evse/1/limit/set"
    assert t.commands == "evcharger/CS001/evse/+/+/set"
    assert t.parse_command("evcharger/CS001/evse/1/limit/set") == ("1", "limit")
    assert t.parse_command("evcharger/CS001/evse/x/y/set") == ("x", "y")
    assert t.parse_command("evcharger/CS001/evse/1/limit") is None
    assert t.parse_command("other/evse/1/limit/set") is None
    for bad, says in (("", "empty"), ("a/+/b", "wildcard"), ("site/#", "wildcard"),
                      ("$SYS/x", "starts with \\$"), ("a//b", "empty level")):
        with pytest.raises(ValueError, match=says):
            check_prefix(bad)


def _req(kind, entity, body):
    return Request(kind, entity, 1, body)


def test_t7_multi_limits_list_what_the_gateway_asked_with_their_expiry():
    """T7-MULTI: the state's limits are the entity limits the gateway asked (csms, hems,
    dno …) with the seconds left, none once expired or cleared; the CSMS schedule's period
    in force (until its next change); the failsafe current while in failsafe."""
    now = 1_800_000_000
    reqs = [
        _req(lm.LIMIT, lm.SRC_CSMS, {"limit_ma": None, "duration_s": 0, "expires_unix_s": None}),
        _req(lm.LIMIT, lm.SRC_HEMS, {"limit_ma": 10000, "duration_s": 0,
                                     "expires_unix_s": None}),
        _req(lm.LIMIT, lm.SRC_DNO, {"limit_ma": 8000, "duration_s": 60,
                                    "expires_unix_s": now + 12}),
        _req(lm.LIMIT, lm.SRC_LOAD_MGMT, {"limit_ma": 7000, "duration_s": 60,
                                          "expires_unix_s": now - 1}),
        _req(lm.SCHEDULE, lm.SRC_CSMS, {"start_unix_s": now - 100, "duration_s": 0,
                                        "repeat_s": 0, "periods": [[0, 16000], [400, 6000]]}),
    ]
    assert state.limits(reqs, now, failsafe_ma=6000) == [
        {"source": "hems", "current_ma": 10000, "expires_in_s": None},
        {"source": "dno", "current_ma": 8000, "expires_in_s": 12},
        {"source": "schedule", "current_ma": 16000, "expires_in_s": 300},
        {"source": "failsafe", "current_ma": 6000, "expires_in_s": None},
    ]


def test_t7_profile_schedule_period_in_force_matches_the_firmware_lookup():
    """T7-PROFILE: the schedule entry follows firmware/evse/limits.py: nothing before the
    start, after start + duration, before the first period or in a no-limit period; a
    repeating schedule restarts every repeat_s; the last period holds until replaced."""
    def at(now, **body):
        b = {"start_unix_s": 1000, "duration_s": 0, "repeat_s": 0,
             "periods": [[0, 16000], [60, None], [120, 6000]]}
        b.update(body)
        got = state.limits([_req(lm.SCHEDULE, lm.SRC_CSMS, b)], now)
        return (got[0]["current_ma"], got[0]["expires_in_s"]) if got else None

    assert at(999) is None
    assert at(1000) == (16000, 60)
    assert at(1070) is None  # a period with no limit
    assert at(1200) == (6000, None)
    assert at(1200, duration_s=300) == (6000, 100)
    assert at(1300, duration_s=300) is None
    assert at(1000 + 3600 + 10, repeat_s=3600) == (16000, 50)
    assert at(1000 + 3600 + 130, repeat_s=3600) == (6000, 3470)
    assert at(1030, periods=[[20, 7000]]) == (7000, None)
    assert at(1010, periods=[[20, 7000]]) is None
    assert state.limits([_req(lm.SCHEDULE, lm.SRC_CSMS, {"start_unix_s": 0, "duration_s": 0,
                                                          "repeat_s": 0, "periods": []})],
                        5) == []


def _rec(code, a=0, b=0, c=0, d=0, unix_s=1_800_000_000, mtype=lm.EVENT, fields=None):
    f = fields or {"seq": 4, "unix_s": unix_s, "code": code, "a": a, "b": b, "c": c, "d": d}
    return Record(1, 1, 1, f["seq"], mtype, f.get("code", 0), unix_s, f, 1_800_000_005_000,
                  False)


def test_t7_log_events_name_their_codes_and_who_caused_them():
    """T7-LOG: every firmware record becomes an event with its code name, time, args (codes
    named) and source: a limit_applied names its source and reason (and what capped it), an
    override says link or button, a fault names the fault; a record without wall time
    takes the time it was received; an unknown code keeps its raw args."""
    e = state.event(_rec(lm.EV_LIMIT_APPLIED, lm.SRC_DNO, lm.R_APPLIED, 8000, 8000))
    assert e == {"seq": 4, "time": "2027-01-15T08:00:00Z", "unix_s": 1_800_000_000,
                 "time_from_firmware": True, "code": "limit_applied", "source": "dno",
                 "args": {"source": "dno", "reason": "applied", "asked_ma": 8000,
                          "applied_ma": 8000}}
    e = state.event(_rec(lm.EV_LIMIT_APPLIED, lm.SRC_HEMS, lm.R_CAPPED | lm.SRC_DNO << 8,
                         10000, 8000))
    assert e["args"]["reason"] == "capped" and e["args"]["capped_by"] == "dno"
    e = state.event(_rec(lm.EV_OVERRIDE, 1, 0))
    assert e["source"] == "button" and e["args"] == {"on": True, "by_link": False}
    e = state.event(_rec(lm.EV_FAULT, lm.FAULT_RCD, 1, unix_s=0))
    assert e["args"] == {"fault": "rcd", "active": True}
    assert e["unix_s"] == 1_800_000_005 and e["time_from_firmware"] is False
    e = state.event(_rec(lm.EV_SESSION_STOP, lm.STOP_UNPLUG, 0, 3, 1200))
    assert e["args"] == {"stop_reason": "unplug", "session_id": 3, "energy_wh": 1200}
    e = state.event(_rec(200, 1, 2, 3, 4))
    assert e["code"] == "unknown_200" and e["args"] == {"a": 1, "b": 2, "c": 3, "d": 4}
    s = state.event(_rec(0, mtype=lm.SESSION, fields={
        "seq": 9, "session_id": 3, "start_unix_s": 10, "stop_unix_s": 20, "charging_s": 8,
        "energy_import_wh": 1200, "energy_export_wh": 0, "stop_reason": lm.STOP_REMOTE}))
    assert s["code"] == "session_record" and s["args"]["stop_reason"] == "remote"


def _telemetry(soc=lm.SOC_UNKNOWN):
    return Telemetry.from_fields({
        "cp_state": 2, "session": 2, "contactor": 1, "limit_source": lm.SRC_DNO,
        "flags": lm.F_TIME_VALID, "duty_permille": 133, "offered_ma": 8000,
        "current_l1_ma": 7900, "current_l2_ma": 0, "current_l3_ma": 0,
        "voltage_l1_mv": 230000, "voltage_l2_mv": 0, "voltage_l3_mv": 0, "power_w": 1800,
        "energy_import_wh": 5400, "energy_export_wh": 0, "frequency_mhz": 50000,
        "delay_remaining_s": 0, "soc_percent": soc, "meter_age_ms": 200})


def test_ag06_state_payload_from_telemetry():
    """AG-06 / AG-08: the state carries the telemetry's pilot, contactor, offer, meter and
    flags, the session energy since plug-in and the link."""
    t = _telemetry()
    s = state.state(t, status="Charging", error_code="NoError", online=True,
                    session_energy_wh=state.session_energy_wh({"meter_start_wh": 5000}, t),
                    soc_percent=None, limit_list=[], now_s=1_800_000_000)
    assert s["cp_state"] == "C" and s["duty_permille"] == 133 and s["contactor"] is True
    assert s["offered_ma"] == 8000 and s["current_ma"] == [7900, 0, 0]
    assert s["energy_wh"] == 5400 and s["session_energy_wh"] == 400 and s["meter_fresh"]
    assert s["limit_source"] == "dno" and s["flags"] == ["time_valid"]
    assert s["link"] == "online" and s["override"] is False and s["failsafe"] is False
    assert state.session_energy_wh(None, t) == 0


class _Link:
    def __init__(self):
        self.listeners = []

    def on_record(self, fn):
        self.listeners.append(fn)


def test_ag07_a_given_soc_is_reported_within_its_age_and_forgotten_at_unplug():
    """AG-07: a SoC given from outside is reported while younger than max_age_s, the
    firmware's own SoC wins when it has one, and an EV_UNPLUG record forgets it."""
    now = [1000.0]
    link = _Link()
    soc = EvSoc({1: link}, clock=lambda: now[0], max_age_s=600)
    assert soc.percent(1, _telemetry()) is None
    soc.set(1, 42, "mqtt")
    assert soc.percent(1, _telemetry()) == 42 and soc.given(1) == (42, "mqtt")
    assert soc.percent(1, _telemetry(soc=80)) == 80
    now[0] += 601
    assert soc.percent(1, _telemetry()) is None
    soc.set(1, 50, "mqtt")
    link.listeners[0](_rec(lm.EV_PLUG))
    assert soc.percent(1, None) == 50
    link.listeners[0](_rec(lm.EV_UNPLUG))
    assert soc.percent(1, None) is None
    with pytest.raises(ValueError):
        soc.set(1, 101, "mqtt")


def test_hems_url_forms():
    """--hems: mqtt:// (1883) and mqtts:// (8883, TLS) with an optional user and password;
    anything else, no host, no prefix or a bad prefix is refused."""
    assert parse_hems_url("mqtt://u:p%40ss@broker/evcharger/CS001") == {
        "host": "broker", "port": 1883, "prefix": "evcharger/CS001", "username": "u",
        "password": "p@ss", "tls": False}
    assert parse_hems_url("mqtts://broker:9883/site")["port"] == 9883
    assert parse_hems_url("mqtts://broker/site")["port"] == 8883
    for bad, says in (("ws://broker/site", "must be mqtt://"), ("mqtt:///site", "no broker"),
                      ("mqtt://broker", "prefix is empty"), ("mqtt://broker/a/#", "no place"),
                      ("mqtt://broker/a/+", "wildcard"),
                      ("mqtt://broker:99999/site", "out of range"),
                      ("mqtt://:pw@broker/site", "a password without a user")):
        with pytest.raises(ValueError, match=says):
            parse_hems_url(bad)


BASE = ["--csms", "ws://127.0.0.1:9000/ocpp", "--station-id", "CS001", "--ocpp", "1.6",
        "--evse", "socket://127.0.0.1:7000"]


def _self_signed(directory):
    """cert.pem and key.pem: a self-signed certificate (cryptography, a gateway dependency)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hems test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem))
    (directory / "key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return directory / "cert.pem", directory / "key.pem"


def test_uk8_hems_command_line_errors_exit_2_with_a_message(tmp_path, capsys):
    """DESIGN §3.3: a bad --hems option exits 2 with a message saying what is wrong (a TLS
    file that is not a certificate or key included, found before connecting); good ones
    parse (file options with mqtts:// and certificate files)."""
    ca, key = _self_signed(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    cases = [
        (["--hems", "http://broker/site"], "must be mqtt://"),
        (["--hems", "mqtt://broker/"], "prefix is empty"),
        (["--hems-ca", str(ca)], "--hems-ca needs --hems"),
        (["--hems", "mqtt://broker/site", "--hems-ca", str(ca)], "needs an mqtts://"),
        (["--hems", "mqtts://broker/site", "--hems-ca", str(tmp_path / "no.pem")],
         "no such file"),
        (["--hems", "mqtts://broker/site", "--hems-key", str(ca)], "--hems-key needs"),
        (["--hems", "mqtt://broker/site", "--hems-discovery", "a/+"], "wildcard"),
        (["--hems", "mqtt://broker/site", "--hems-soc-max-age", "0"], "1..86400"),
        (["--hems", "mqtt://broker/site", "--hems-soc-max-age", "x"], "invalid int"),
        (["--hems", "mqtts://broker/site", "--hems-ca", str(junk)], "--hems TLS files"),
        (["--hems", "mqtts://broker/site", "--hems-cert", str(ca), "--hems-key", str(junk)],
         "--hems TLS files"),
    ]
    for extra, says in cases:
        with pytest.raises(SystemExit) as e:
            cli.parse_args(BASE + extra)
        assert e.value.code == 2
        assert says in capsys.readouterr().err, extra
    args = cli.parse_args(BASE + ["--hems", "mqtts://u:p@broker/site", "--hems-ca", str(ca),
                                  "--hems-cert", str(ca), "--hems-key", str(key),
                                  "--hems-no-discovery"])
    assert args.hems_ca == str(ca) and args.hems_no_discovery and args.hems_soc_max_age == 600
    assert cli.parse_args(BASE).hems is None

