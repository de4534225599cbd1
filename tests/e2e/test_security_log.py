"""The station's security log and its security events end to end (issue 10; UK-S10 security
log, UK-S8 tamper; OCPP 2.0.1 A04 SecurityEventNotification and N01 GetLog, and the 1.6
security whitepaper's twins): `python -m gateway` against the test CSMSs, GetLog uploads to a
loopback HTTP server started by the test."""

import json
import os
import stat
import time

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call
from ocpp16_fixture import Gateway

from gateway.security_log import FILE, SecurityLog
from sim_hardware.csms16 import Csms16
from sim_hardware.upload_server import UploadServer

PASSWORD = "Zq7-Station:Key.0001"


@pytest.fixture
def uploads():
    u = UploadServer()
    yield u
    u.stop()


def _security_events(csms, event_type):
    return [p for p in csms.calls("SecurityEventNotification") if p["type"] == event_type]


def _log_statuses(csms, request_id):
    return [p["status"] for p in csms.calls("LogStatusNotification")
            if p.get("requestId") == request_id]


def test_a04_uk_s8_uk_s11_security_events_reach_the_csms_and_the_log(csms201, sim,
                                                                      start_gateway, tmp_path):
    """A04.FR.01/02 (critical security events as SecurityEventNotification): the gateway's
    start (StartupOfTheDevice), the enclosure opened (TamperDetectionActivated, from the
    firmware's tamper switch, UK-S8) and a Reset (ResetOrReboot) each reach the CSMS once,
    with a timestamp; all are in STATE_DIR/security_log.jsonl (mode 0600), oldest first."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    start = csms201.wait_until(lambda: _security_events(csms201, "StartupOfTheDevice"), 10,
                               "StartupOfTheDevice")[0]
    assert start["timestamp"].endswith("Z")
    sim.control("tamper", open=1)
    tamper = csms201.wait_until(lambda: _security_events(csms201, "TamperDetectionActivated"),
                                15, "TamperDetectionActivated")[0]
    assert "EVSE 1" in tamper["techInfo"]
    sim.control("tamper", open=0)
    assert csms201.request(call.Reset(type="Immediate")).status == "Accepted"
    csms201.wait_until(lambda: _security_events(csms201, "ResetOrReboot"), 15, "ResetOrReboot")
    path = tmp_path / "state" / FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    types = [e["type"] for e in SecurityLog(tmp_path / "state").lines()]
    assert types[:3] == ["StartupOfTheDevice", "TamperDetectionActivated", "ResetOrReboot"]
    time.sleep(1)
    assert len(_security_events(csms201, "TamperDetectionActivated")) == 1


def test_n01_get_security_log_uploaded(csms201, sim, start_gateway, uploads):
    """N01 GetLog SecurityLog: Accepted with the file name; LogStatusNotification Uploading
    then Uploaded with the requestId; the uploaded file holds the log's events as JSON lines
    (StartupOfTheDevice among them); an ftp:// location is Rejected (InvalidURL) and an
    unknown log type too; an unreachable location with retries 1 -> UploadFailure after two
    attempts."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    r = csms201.request(call.GetLog(log={"remote_location": uploads.url}, log_type="SecurityLog",
                                    request_id=11))
    assert r.status == "Accepted" and r.filename.endswith(".jsonl")
    csms201.wait_until(lambda: "Uploaded" in _log_statuses(csms201, 11), 15, "Uploaded")
    assert _log_statuses(csms201, 11) == ["Uploading", "Uploaded"]
    name, data = uploads.files[0]
    assert name == r.filename
    events = [json.loads(line) for line in data.decode().splitlines()]
    assert "StartupOfTheDevice" in [e["type"] for e in events]
    r = csms201.request(call.GetLog(log={"remote_location": "ftp://127.0.0.1/x"},
                                    log_type="SecurityLog", request_id=12))
    assert r.status == "Rejected" and r.status_info["reason_code"] == "InvalidURL"
    r = csms201.request(call.GetLog(log={"remote_location": "http://127.0.0.1:9/up"},
                                    log_type="SecurityLog", request_id=13, retries=1,
                                    retry_interval=1))
    assert r.status == "Accepted"
    csms201.wait_until(lambda: "UploadFailure" in _log_statuses(csms201, 13), 20,
                       "UploadFailure")
    assert _log_statuses(csms201, 13) == ["Uploading", "UploadFailure"]


def test_n01_get_diagnostics_log_window(csms201, sim, start_gateway, uploads):
    """N01 GetLog DiagnosticsLog: the firmware records the gateway holds, limited to the
    oldestTimestamp..latestTimestamp window (a window in the past uploads an empty file)."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    r = csms201.request(call.GetLog(log={"remote_location": uploads.url},
                                    log_type="DiagnosticsLog", request_id=21))
    assert r.status == "Accepted"
    csms201.wait_until(lambda: "Uploaded" in _log_statuses(csms201, 21), 15, "Uploaded")
    records = [json.loads(line) for line in uploads.files[0][1].decode().splitlines()]
    assert records and {r["evseId"] for r in records} == {1}
    r = csms201.request(call.GetLog(log={"remote_location": uploads.url,
                                         "oldest_timestamp": "2001-01-01T00:00:00Z",
                                         "latest_timestamp": "2001-01-02T00:00:00Z"},
                                    log_type="DiagnosticsLog", request_id=22))
    csms201.wait_until(lambda: "Uploaded" in _log_statuses(csms201, 22), 15, "Uploaded")
    assert uploads.files[1][1] == b""


def test_security_whitepaper_1_6_events_and_get_log(sim, tmp_path, password_file, uploads):
    """OCPP 1.6 security whitepaper (profile 1): SecurityEventNotification StartupOfTheDevice
    reaches the CSMS; GetLog SecurityLog is uploaded with LogStatusNotification Uploading,
    Uploaded. (At profile 0 the events are only logged: a plain 1.6 CSMS has no such
    message.)"""
    csms = Csms16(passwords={"CS001": PASSWORD}).start()
    g = Gateway(csms.url, [sim.link_url], tmp_path / "state",
                extra_args=("--security-profile", "1", "--password-file", str(password_file)))
    try:
        csms.wait_until(lambda: _security_events(csms, "StartupOfTheDevice"), 15,
                        "StartupOfTheDevice")
        r = csms.request(call16.GetLog(log={"remote_location": uploads.url},
                                       log_type="SecurityLog", request_id=5))
        assert r.status == "Accepted"
        csms.wait_until(lambda: "Uploaded" in _log_statuses(csms, 5), 15, "Uploaded")
        assert _log_statuses(csms, 5) == ["Uploading", "Uploaded"]
    finally:
        g.stop()
        csms.stop()


def test_failed_authentication_logged_once_per_episode(sim, tmp_path, password_file):
    """UK-S10: a CSMS refusing the password (HTTP 401) is a FailedToAuthenticateAtCsms event in
    the security log, once for the whole run of refused retries, not once per retry."""
    csms = Csms16(passwords={"CS001": "another-password-of-the-csms"}).start()
    g = Gateway(csms.url, [sim.link_url], tmp_path / "state",
                extra_args=("--security-profile", "1", "--password-file", str(password_file)))
    try:
        csms.wait_until(lambda: csms.auth_failures >= 3, 30, "three refused handshakes")
    finally:
        g.stop()
        csms.stop()
    types = [e["type"] for e in SecurityLog(tmp_path / "state").lines()]
    assert types.count("FailedToAuthenticateAtCsms") == 1, types


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path
