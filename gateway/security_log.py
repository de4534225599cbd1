"""The station's persistent security log (UK-S10: SI 2021/1467 Schedule 1 para 10; OCPP 2.0.1
A04 / N01 and the OCPP 1.6 security whitepaper): every security event of the gateway and of
its firmware controllers, one JSON line each in STATE_DIR/security_log.jsonl (mode 0600,
fsynced, rotated to security_log.1.jsonl at MAX_BYTES so it stays bounded). A GetLog of type
SecurityLog uploads it (gateway/log_upload.py).

    log = SecurityLog(state_dir, clock)
    log.on_event(fn)                      # fn(event dict), e.g. queue a SecurityEventNotification
    log.record("FailedToAuthenticateAtCsms", "HTTP 401 from the CSMS")
    log.lines(oldest_s, latest_s)         # the events in that window, oldest first

Event types are the OCPP 2.0.1 Part 2 Appendix 1 "Security events" names (the 1.6 whitepaper
has the same list); CRITICAL ones are sent to the CSMS as SecurityEventNotification (A04.FR.02:
queued while offline, sent once connected)."""

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

FILE = "security_log.jsonl"
OLD_FILE = "security_log.1.jsonl"
MAX_BYTES = 512 * 1024
TECH_INFO_MAX = 255  # SecurityEventNotification techInfo maxLength

# Part 2 Appendix 1: type -> critical (sent to the CSMS)
EVENT_TYPES = {
    "FirmwareUpdated": True,
    "FailedToAuthenticateAtCsms": False,
    "CsmsFailedToAuthenticate": False,
    "SettingSystemTime": True,
    "StartupOfTheDevice": True,
    "ResetOrReboot": True,
    "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False,
    "MemoryExhaustion": True,
    "InvalidMessages": False,
    "AttemptedReplayAttacks": False,
    "TamperDetectionActivated": True,
    "InvalidFirmwareSignature": False,
    "InvalidFirmwareSigningCertificate": False,
    "InvalidCsmsCertificate": False,
    "InvalidChargingStationCertificate": False,
    "InvalidTLSVersion": False,
    "InvalidTLSCipherSuite": False,
}


def iso(unix_s):
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class SecurityLog:
    def __init__(self, state_dir, clock=time.time):
        self.dir = Path(state_dir)
        self.path = self.dir / FILE
        self.clock = clock
        self._listeners = []
        self._lock = threading.Lock()

    def on_event(self, fn):
        self._listeners.append(fn)

    def record(self, event_type, tech_info=None, unix_s=None):
        """Append one event (fsynced) and tell the listeners. An unknown type is a bug of the
        caller: ValueError."""
        if event_type not in EVENT_TYPES:
            raise ValueError("not a security event type: %r" % event_type)
        event = {"timestamp": iso(self.clock() if unix_s is None else unix_s),
                 "type": event_type, "critical": EVENT_TYPES[event_type]}
        if tech_info:
            event["techInfo"] = str(tech_info)[:TECH_INFO_MAX]
        line = json.dumps(event, sort_keys=True) + "\n"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(line) > MAX_BYTES:
                os.replace(self.path, self.dir / OLD_FILE)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        log.info("security event %s recorded", event_type)  # its techInfo: in the file
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a listener never loses the log line
                log.exception("security event listener")
        return event

    def lines(self, oldest_s=None, latest_s=None):
        """The events (dicts) between oldest_s and latest_s (unix s, None: open), oldest
        first, from both files; a damaged line is skipped and counted in the log."""
        out, bad = [], 0
        for path in (self.dir / OLD_FILE, self.path):
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            for raw in text.splitlines():
                try:
                    e = json.loads(raw)
                    t = _parse(e["timestamp"])
                except (ValueError, KeyError, TypeError):
                    bad += 1
                    continue
                if (oldest_s is None or t >= oldest_s) and (latest_s is None or t <= latest_s):
                    out.append(e)
        if bad:
            log.warning("security log: %d damaged line(s) skipped", bad)
        return out


def queue_critical(station):
    """The critical events of station.security_log go into the durable queue (action
    "security_event") for the OCPP adapter's SecurityEventNotification (A04.FR.02: kept
    while offline, sent in order once connected)."""
    def queue(event):
        if event["critical"]:
            station.store.enqueue("security_event", event)
            station.queue_changed.set()
    station.security_log.on_event(queue)


# a connection failure's text -> the security event it is (gateway/csms_connection.py)
CONNECTION_FAILURES = (
    ("HTTP 401", "FailedToAuthenticateAtCsms"),
    ("certificate verify failed", "InvalidCsmsCertificate"),
    ("certificate has expired", "InvalidCsmsCertificate"),
    ("UNSUPPORTED_PROTOCOL", "InvalidTLSVersion"),
    ("TLSV1_ALERT_PROTOCOL_VERSION", "InvalidTLSVersion"),
    ("NO_SHARED_CIPHER", "InvalidTLSCipherSuite"),
    ("SSLV3_ALERT_HANDSHAKE_FAILURE", "InvalidTLSCipherSuite"),
)


def connection_failure(text):
    """The security event type of a CSMS connection failure, or None (e.g. refused, down)."""
    for marker, event_type in CONNECTION_FAILURES:
        if marker in text:
            return event_type
    return None
