"""OCPP security profiles 1-3 end to end on both OCPP versions (OCPP 1.6 security
whitepaper and OCPP 2.0.1 Part 2 A00/A01, secure connection setup; DESIGN §8; AG-01, UK-S2
unique credentials, UK-S5 secure communication): `python -m gateway` against the test CSMS
(sim_hardware/csms16.py, csms201.py: every test taking `csms_factory` runs on both) on
loopback, with real TLS and certificates made with `cryptography` (sim_hardware/broker.py
make_ca)."""

import datetime
import ipaddress
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import warnings

import pytest
from ocpp16_fixture import REPO

from gateway import cli
from gateway.security import PASSWORD_FILE, PASSWORD_RE
from sim_hardware.broker import make_ca, server_context
from sim_hardware.csms16 import Csms16
from sim_hardware.csms201 import Csms201

PASSWORD = "Zq7-Station:Key.0001"  # 20 characters of the allowed set


def make_expired(directory):
    """A CA (ca.pem) and a server certificate for 127.0.0.1 that expired yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=10))
          .not_valid_after(now + datetime.timedelta(days=10))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=5))
              .not_valid_after(now - datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(server.public_bytes(pem))
    (directory / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture
def pki(tmp_path):
    """ca.pem, server.pem/.key for 127.0.0.1 and client.pem/.key from one test CA."""
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, client=True)
    return d


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def secure(start_gateway, sim):
    """secure(csms, *security args, state=...) -> a started Gateway; stopped after."""
    return lambda csms, *args, state=None: start_gateway(csms, sim, extra_args=args,
                                                         state=state)


CSMS = {"1.6": Csms16, "2.0.1": Csms201}


@pytest.fixture(params=sorted(CSMS))
def csms_factory(request):
    """csms_factory(**Csms kwargs) -> a started test CSMS of the parameter's OCPP version."""
    made = []

    def make(**kw):
        c = CSMS[request.param](**kw).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def wait_log(gateway, text, count, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if gateway.log_text().count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("gateway logged %r fewer than %d times: %s"
                         % (text, count, gateway.log_text()[-3000:]))


def refused_start(tmp_path, csms_url, *args, state=None):
    """python -m gateway that must exit at once: -> (returncode, stderr)."""
    r = subprocess.run([sys.executable, "-m", "gateway", "--csms", csms_url, "--station-id",
                        "CS001", "--ocpp", "1.6", "--evse", "socket://127.0.0.1:9",
                        "--state-dir", str(state or tmp_path / "state"), *args],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def test_profile1_basic_auth_accepted(csms_factory, secure, password_file):
    """Profile 1: ws:// with HTTP Basic auth, username = the station id, the password
    from --password-file: the CSMS accepts the handshake and the station boots."""
    csms = csms_factory(passwords={"CS001": PASSWORD})
    secure(csms, "--security-profile", "1", "--password-file", str(password_file))
    csms.wait_for("BootNotification", 30)
    assert csms.auth_failures == 0
    assert csms.url.startswith("ws://")


def test_profile1_wrong_password_refused_and_retried(csms_factory, secure, password_file):
    """Profile 1, wrong password: the CSMS answers HTTP 401; the gateway logs why and
    keeps retrying with its backoff; nothing reaches the CSMS's OCPP layer."""
    csms = csms_factory(passwords={"CS001": "another-password-of-the-csms"})
    g = secure(csms, "--security-profile", "1", "--password-file", str(password_file))
    wait_log(g, "HTTP 401", 3)
    assert csms.auth_failures >= 3
    assert csms.connections == 0 and csms.calls("BootNotification") == []
    assert "reconnecting in" in g.log_text()


def test_profile2_tls_basic_auth_accepted(csms_factory, secure, password_file, pki):
    """Profile 2: wss:// with the server certificate checked against --csms-ca (and its
    name against 127.0.0.1), TLS 1.2 or later, Basic auth over it."""
    csms = csms_factory(passwords={"CS001": PASSWORD}, ssl_context=server_context(pki))
    secure(csms, "--security-profile", "2", "--password-file", str(password_file),
           "--csms-ca", str(pki / "ca.pem"))
    csms.wait_for("BootNotification", 30)
    assert csms.url.startswith("wss://") and csms.auth_failures == 0


def test_profile2_untrusted_server_certificate_refused(csms_factory, secure, password_file,
                                                       pki, tmp_path):
    """Profile 2, a server certificate from a CA other than the installed CSMS root: the
    gateway refuses the handshake (certificate verify failed), keeps retrying, never sends
    its password or a BootNotification."""
    other = tmp_path / "other"
    other.mkdir()
    make_ca(other)
    csms = csms_factory(passwords={"CS001": PASSWORD}, ssl_context=server_context(other))
    g = secure(csms, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    wait_log(g, "certificate verify failed", 2)
    assert csms.connections == 0 and csms.auth_failures == 0


def test_profile2_expired_server_certificate_refused(csms_factory, secure, password_file,
                                                     tmp_path):
    """Profile 2, a server certificate from the installed root but expired: refused."""
    d = tmp_path / "expired"
    make_expired(d)
    csms = csms_factory(passwords={"CS001": PASSWORD}, ssl_context=server_context(d))
    g = secure(csms, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(d / "ca.pem"))
    wait_log(g, "certificate has expired", 2)
    assert csms.connections == 0


def tls11_only(ctx):
    """ctx limited to TLS 1.1 (security level 0, so this OpenSSL still offers it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: the point
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_profile2_tls11_server_refused(csms_factory, secure, password_file, pki):
    """Profile 2 requires TLS 1.2 or later: a CSMS that speaks TLS 1.1 only (shown to
    complete a TLS 1.1 handshake with a client that allows it) gets no connection from the
    gateway, which retries."""
    csms = csms_factory(passwords={"CS001": PASSWORD},
                        ssl_context=tls11_only(server_context(pki)))
    old_client = tls11_only(ssl.create_default_context(cafile=pki / "ca.pem"))
    with socket.create_connection(("127.0.0.1", csms.port), timeout=10) as raw, \
            old_client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() == "TLSv1.1"
    g = secure(csms, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    wait_log(g, "CSMS connection:", 2)
    assert csms.connections == 0 and csms.auth_failures == 0


def test_profile3_client_certificate_accepted(csms_factory, secure, pki):
    """Profile 3: wss:// with a TLS client certificate the CSMS checks against its CA; no
    password."""
    csms = csms_factory(ssl_context=server_context(pki, client_ca=pki / "ca.pem"))
    secure(csms, "--security-profile", "3", "--csms-ca", str(pki / "ca.pem"),
           "--client-cert", str(pki / "client.pem"), "--client-key", str(pki / "client.key"))
    csms.wait_for("BootNotification", 30)


def test_profile3_missing_client_certificate_refused(csms_factory, secure, password_file,
                                                     pki):
    """A CSMS that requires a client certificate (profile 3) refuses a station that
    offers none (here one set up for profile 2): no connection, the gateway retries."""
    csms = csms_factory(passwords={"CS001": PASSWORD},
                        ssl_context=server_context(pki, client_ca=pki / "ca.pem"))
    g = secure(csms, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    wait_log(g, "CSMS connection:", 2)
    assert csms.connections == 0 and csms.calls("BootNotification") == []


def _profile_read_only(csms):
    """The station reports SecurityProfile 2 and refuses to lower it: 1.6 GetConfiguration /
    ChangeConfiguration of the key, 2.0.1 Get/SetVariables of SecurityCtrlr.SecurityProfile."""
    if isinstance(csms, Csms16):
        from ocpp.v16 import call

        r = csms.request(call.GetConfiguration(key=["SecurityProfile"]))
        assert r.configuration_key == [{"key": "SecurityProfile", "readonly": True,
                                        "value": "2"}]
        assert csms.request(call.ChangeConfiguration(key="SecurityProfile", value="1")
                            ).status == "Rejected"
        return
    from ocpp.v201 import call

    var = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}
    r = csms.request(call.GetVariables(get_variable_data=[var]))
    assert r.get_variable_result[0]["attribute_value"] == "2"
    r = csms.request(call.SetVariables(set_variable_data=[dict(var, attribute_value="1")]))
    assert r.set_variable_result[0]["attribute_status"] == "Rejected"


def test_downgrade_refused(csms_factory, secure, password_file, pki, tmp_path):
    """Whitepaper / A00: the security profile can only be raised. After a start at profile
    2, a start at profile 1 (or 0) exits 2 with "downgrade"; the station reports its
    profile read-only and the CSMS cannot lower it."""
    csms = csms_factory(passwords={"CS001": PASSWORD}, ssl_context=server_context(pki))
    g = secure(csms, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    csms.wait_for("BootNotification", 30)
    _profile_read_only(csms)
    g.stop()
    for profile, extra in (("1", ("--password-file", str(password_file))), ("0", ())):
        code, err = refused_start(tmp_path, "ws://127.0.0.1:9/ocpp", "--security-profile",
                                  profile, *extra)
        assert code == 2 and "downgrade from profile 2" in err, err


def test_a01_csms_sets_a_new_basic_auth_password(secure, tmp_path):
    """2.0.1 A01 Update Charging Station Password for HTTP Basic Authentication: the CSMS
    sets SecurityCtrlr.BasicAuthPassword (write-only: GetVariables of it is Rejected); the
    station answers Accepted, stores it (STATE_DIR/csms_password, mode 0600) and connects
    again with it at once; a password that is too short or has characters outside the
    allowed set is Rejected and changes nothing. Profile 1 with a generated password."""
    from ocpp.v201 import call

    state = tmp_path / "state"
    args = cli.parse_args(["--csms", "ws://127.0.0.1:9/ocpp", "--station-id", "CS001",
                           "--ocpp", "2.0.1", "--evse", "socket://127.0.0.1:9",
                           "--state-dir", str(state), "--security-profile", "1"])
    csms = Csms201(passwords={"CS001": args.security.password}).start()
    try:
        secure(csms, "--security-profile", "1", state=state)
        csms.wait_for("BootNotification", 30)
        var = {"component": {"name": "SecurityCtrlr"},
               "variable": {"name": "BasicAuthPassword"}}
        r = csms.request(call.GetVariables(get_variable_data=[var]))
        assert r.get_variable_result[0]["attribute_status"] == "Rejected"
        for bad in ("short-one", "has a space in it, too long?"):
            r = csms.request(call.SetVariables(set_variable_data=[
                dict(var, attribute_value=bad)]))
            assert r.set_variable_result[0]["attribute_status"] == "Rejected", bad
        new = "New-Station:Key.0002"
        csms.passwords["CS001"] = new  # the CSMS keeps the new one before it sends it (A01)
        r = csms.request(call.SetVariables(set_variable_data=[dict(var, attribute_value=new)]))
        assert r.set_variable_result[0]["attribute_status"] == "Accepted"
        csms.wait_for("BootNotification", 30, count=2)
        assert csms.connections == 2 and csms.auth_failures == 0
        path = state / PASSWORD_FILE
        assert path.read_text().strip() == new
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        csms.stop()


def test_password_provisioned_unique_0600(tmp_path):
    """UK-S1 no default password: without --password-file, profile 1 generates the
    password at provisioning with `secrets` (16-40 characters of the allowed set), stores
    it in STATE_DIR/csms_password with mode 0600, and keeps it on later starts; two
    stations provisioned get different passwords."""
    def provision(state):
        args = cli.parse_args(["--csms", "ws://127.0.0.1:9/ocpp", "--station-id", "CS001",
                               "--ocpp", "1.6", "--evse", "socket://127.0.0.1:9",
                               "--state-dir", str(state), "--security-profile", "1"])
        return args.security

    a, b = provision(tmp_path / "a"), provision(tmp_path / "b")
    for sec, state in ((a, tmp_path / "a"), (b, tmp_path / "b")):
        path = state / PASSWORD_FILE
        assert sec.generated_password_file == path and PASSWORD_RE.fullmatch(sec.password)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert a.password != b.password
    again = provision(tmp_path / "a")
    assert again.password == a.password and again.generated_password_file is None


@pytest.mark.parametrize("args, reason", [
    (("--security-profile", "1", "--csms", "wss://127.0.0.1:9/ocpp"), "needs a ws://"),
    (("--security-profile", "2"), "needs a wss://"),
    (("--security-profile", "2", "--csms", "wss://127.0.0.1:9/ocpp"), "needs --csms-ca"),
    (("--security-profile", "3", "--csms", "wss://127.0.0.1:9/ocpp", "--csms-ca", "CA"),
     "needs --client-cert"),
    (("--security-profile", "0", "--password-file", "PW"), "not used by"),
    (("--security-profile", "1", "--password-file", "SHORT"), "16-40 characters"),
    (("--security-profile", "1", "--password-file", "missing.txt"), "no such file"),
    (("--security-profile", "4",), "invalid choice"),
])
def test_security_options_bad_input_exit_2(tmp_path, pki, password_file, capsys, args,
                                           reason):
    """Bad security options exit 2 with the reason (DESIGN §3.3): each profile's URL
    scheme and files, a password outside 16-40 characters."""
    (tmp_path / "short").write_text("tooShort1\n")
    files = {"CA": str(pki / "ca.pem"), "PW": str(password_file),
             "SHORT": str(tmp_path / "short"), "missing.txt": str(tmp_path / "missing.txt")}
    argv = ["--csms", "ws://127.0.0.1:9/ocpp", "--station-id", "CS001", "--ocpp", "1.6",
            "--evse", "socket://127.0.0.1:9", "--state-dir", str(tmp_path / "state")]
    argv += [files.get(a, a) for a in args]
    with pytest.raises(SystemExit) as e:
        cli.parse_args(argv)
    assert e.value.code == 2
    assert reason in capsys.readouterr().err


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1"])
def strict_factory(tmp_path, request):
    """strict_factory(*args) -> the strict ocpp-rpc CSMS (tests/e2e/strict_csms.mjs) of the
    parameter's protocol with those security arguments; stopped after the test."""
    from strict_csms import StrictCsms

    made = []

    def make(*args):
        c = StrictCsms(tmp_path / ("strict_%d.err" % len(made)), args,
                       protocol=request.param)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def _call_id(strict, action):
    return next((m[1] for m in strict.messages("in") if m[0] == 2 and m[2] == action), None)


def test_strict_csms_profile2_over_tls(strict_factory, secure, password_file, pki):
    """Profile 2 against the independent strict CSMS (npm ocpp-rpc, strictMode, 1.6 and
    2.0.1) served over TLS with Basic auth: the station boots and sends its
    SecurityEventNotification with zero schema validation errors."""
    strict = strict_factory("--password", PASSWORD, "--tls-cert", str(pki / "server.pem"),
                            "--tls-key", str(pki / "server.key"))
    assert strict.url.startswith("wss://")
    secure(strict, "--security-profile", "2", "--password-file", str(password_file),
           "--csms-ca", str(pki / "ca.pem"))
    strict.wait_for("BootNotification", 30)
    strict.wait_for("StatusNotification", 30)
    event = strict.wait_for("SecurityEventNotification", 30)  # the security log's (A04)
    assert event["type"] == "StartupOfTheDevice"
    deadline = time.monotonic() + 10
    while not [m for m in strict.messages("out") if m[0] == 3
               and m[1] == _call_id(strict, "SecurityEventNotification")]:
        assert time.monotonic() < deadline, "no CallResult to the SecurityEventNotification"
        time.sleep(0.05)
    assert strict.of("validation_error") == [] and strict.of("unauthorized") == []
    assert not [m for m in strict.messages("out") if m[0] == 4]  # no CallError either way


def test_strict_csms_profile2_wrong_password_refused(strict_factory, secure, tmp_path, pki):
    """The strict CSMS refuses a wrong Basic-auth password with HTTP 401; the gateway logs
    it and retries."""
    strict = strict_factory("--password", PASSWORD, "--tls-cert", str(pki / "server.pem"),
                            "--tls-key", str(pki / "server.key"))
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-csms-password\n")
    g = secure(strict, "--security-profile", "2", "--password-file", str(wrong),
               "--csms-ca", str(pki / "ca.pem"))
    wait_log(g, "HTTP 401", 2)
    assert len(strict.of("unauthorized")) >= 2 and strict.of("connected") == []


def test_strict_csms_profile3_client_certificate(strict_factory, secure, password_file, pki):
    """Profile 3 against the strict CSMS requiring a client certificate from the test CA:
    the station with its certificate boots; one without (set up for profile 2) gets no
    connection."""
    tls = ("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
           "--client-ca", str(pki / "ca.pem"))
    strict = strict_factory(*tls)
    first = secure(strict, "--security-profile", "3", "--csms-ca", str(pki / "ca.pem"),
                   "--client-cert", str(pki / "client.pem"),
                   "--client-key", str(pki / "client.key"))
    strict.wait_for("BootNotification", 30)
    assert strict.of("validation_error") == []
    first.stop()  # one gateway on the sim's link at a time
    other = strict_factory(*tls)
    second = pki.parent / "second"
    second.mkdir()
    g = secure(other, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"), state=second / "state")
    wait_log(g, "CSMS connection:", 2)
    assert other.of("connected") == []


def test_strict_csms_untrusted_and_expired_server_certificates_refused(
        strict_factory, secure, password_file, pki, tmp_path):
    """Profile 2 against the strict CSMS (both protocols) serving a certificate from a CA
    other than the installed CSMS root, then an expired one from the installed root: the
    gateway refuses each TLS handshake (certificate verify failed / has expired), retries,
    and the strict CSMS never sees a connection or a password."""
    other = tmp_path / "other"
    other.mkdir()
    make_ca(other)
    untrusted = strict_factory("--password", PASSWORD, "--tls-cert", str(other / "server.pem"),
                               "--tls-key", str(other / "server.key"))
    g = secure(untrusted, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    wait_log(g, "certificate verify failed", 2)
    assert untrusted.of("connected") == [] and untrusted.of("unauthorized") == []
    g.stop()
    expired = tmp_path / "expired"
    make_expired(expired)
    old = strict_factory("--password", PASSWORD, "--tls-cert", str(expired / "server.pem"),
                         "--tls-key", str(expired / "server.key"))
    g = secure(old, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(expired / "ca.pem"), state=tmp_path / "state2")
    wait_log(g, "certificate has expired", 2)
    assert old.of("connected") == [] and old.of("unauthorized") == []


def test_strict_csms_downgrade_refused(strict_factory, secure, password_file, pki, tmp_path):
    """A station that connected to the strict CSMS at profile 2 (both protocols) refuses a
    start at profile 1 or 0 (downgrade), and reports its profile read-only to the strict
    CSMS (1.6 GetConfiguration / 2.0.1 GetVariables, schema-valid both ways)."""
    strict = strict_factory("--password", PASSWORD, "--tls-cert", str(pki / "server.pem"),
                            "--tls-key", str(pki / "server.key"))
    g = secure(strict, "--security-profile", "2", "--password-file", str(password_file),
               "--csms-ca", str(pki / "ca.pem"))
    strict.wait_for("BootNotification", 30)
    if strict.OCPP_VERSION == "1.6":
        r = strict.request("GetConfiguration", {"key": ["SecurityProfile"]})
        assert r["configurationKey"] == [{"key": "SecurityProfile", "readonly": True,
                                          "value": "2"}]
    else:
        r = strict.request("GetVariables", {"getVariableData": [{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]})
        assert r["getVariableResult"][0]["attributeValue"] == "2"
    assert strict.of("validation_error") == []
    g.stop()
    for profile, extra in (("1", ("--password-file", str(password_file))), ("0", ())):
        code, err = refused_start(tmp_path, "ws://127.0.0.1:9/ocpp", "--security-profile",
                                  profile, *extra)
        assert code == 2 and "downgrade from profile 2" in err, err
