"""GetLog (OCPP 2.0.1 N01, OCPP 1.6 security whitepaper "Get Security Log"), version-neutral:
the log is made, uploaded to the CSMS's remoteLocation by HTTP(S) POST (multipart/form-data,
one part "file", the common upload of CSMSs), with `retries` more attempts `retryInterval`
seconds apart, and each step told to the adapter (LogStatusNotification: Uploading, then
Uploaded or UploadFailure).

- SecurityLog: the station's security log (gateway/security_log.py) between oldestTimestamp
  and latestTimestamp, JSON lines;
- DiagnosticsLog: the firmware controllers' records the gateway holds (gateway/store.py), the
  same window, JSON lines.

A location the station cannot upload to (not http/https, e.g. ftp://) is refused before the
answer (the adapter answers Rejected); one that fails at upload is UploadFailure."""

import asyncio
import json
import logging
import secrets
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SCHEMES = ("http", "https")
TIMEOUT_S = 30
RETRY_INTERVAL_MAX_S = 3600


def parse_time(text):
    if text is None:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def location_refusal(location):
    """Why the station cannot upload to location, or None."""
    parts = urlsplit(location or "")
    if parts.scheme not in SCHEMES or not parts.hostname:
        return "remoteLocation must be an http:// or https:// URL (got %r)" % location
    try:  # what http.client refuses at upload (InvalidURL, no OSError: found by fuzzing)
        _ = parts.port
    except ValueError:
        return "remoteLocation has no valid port (got %r)" % location
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in location):
        return "remoteLocation contains control characters or spaces (got %r)" % location
    return None


LOG_TYPES = ("SecurityLog", "DiagnosticsLog")


def request_refusal(log, log_type):
    """(2.0.1 reasonCode, why) of a GetLog the station cannot serve, or None. A timestamp
    that is no dateTime (the schemas do not check "format") is refused here: accepted, it
    made the upload job raise before its first LogStatusNotification (found by
    bench/fuzz_campaigns.py)."""
    refusal = location_refusal(log.get("remote_location"))
    if refusal:
        return "InvalidURL", refusal
    if log_type not in LOG_TYPES:
        return "UnsupportedLogType", log_type
    for key in ("oldest_timestamp", "latest_timestamp"):
        try:
            parse_time(log.get(key))
        except ValueError:
            return "InvalidValue", "%s is not a dateTime: %r" % (key, log.get(key))
    return None


def filename(log_type, station_id, unix_s):
    stamp = datetime.fromtimestamp(unix_s, UTC).strftime("%Y%m%dT%H%M%SZ")
    return "%s-%s-%s.jsonl" % (station_id, log_type, stamp)


def make_log(station, security_log, log_type, oldest_s, latest_s):
    """The log's bytes (JSON lines)."""
    if log_type == "SecurityLog":
        lines = security_log.lines(oldest_s, latest_s)
    else:
        lines = []
        for rec in station.store.records(limit=100_000):
            t = rec.unix_s if rec.unix_s > 1_000_000_000 else rec.received_unix_ms / 1000
            if (oldest_s is None or t >= oldest_s) and (latest_s is None or t <= latest_s):
                lines.append({"evseId": rec.evse_id, "seq": rec.seq, "type": rec.mtype,
                              "code": rec.code, "unixS": rec.unix_s, "fields": rec.fields})
    return "".join(json.dumps(e, sort_keys=True) + "\n" for e in lines).encode()


def _multipart(name, data):
    boundary = "----smartevse" + secrets.token_hex(12)
    head = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            "Content-Type: application/x-ndjson\r\n\r\n" % (boundary, name)).encode()
    return head + data + ("\r\n--%s--\r\n" % boundary).encode(), boundary


def post(location, name, data, ssl_context=None):
    """One upload; raises OSError / urllib.error.URLError on failure."""
    body, boundary = _multipart(name, data)
    req = urllib.request.Request(location, data=body, method="POST", headers={
        "Content-Type": "multipart/form-data; boundary=" + boundary})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=ssl_context) as r:
        if not 200 <= r.status < 300:
            raise OSError("HTTP %d" % r.status)


async def upload(station, security_log, request, notify, ssl_context=None, current=None):
    """request: {log: {remote_location, oldest_timestamp, latest_timestamp}, log_type,
    request_id, retries, retry_interval} (the handler's snake_case); notify(status) is an
    async function sending LogStatusNotification; current() -> False once the job was
    superseded (LogUploads.start). Returns the final status."""
    spec = request["log"]
    data = make_log(station, security_log, request["log_type"],
                    parse_time(spec.get("oldest_timestamp")),
                    parse_time(spec.get("latest_timestamp")))
    name = request["filename"]
    attempts = 1 + max(0, int(request.get("retries") or 0))
    interval_s = min(max(0, int(request.get("retry_interval") or 0)), RETRY_INTERVAL_MAX_S)
    await notify("Uploading")
    for attempt in range(attempts):
        if current is not None and not current():
            raise asyncio.CancelledError("superseded by a newer GetLog")
        try:
            await asyncio.to_thread(post, spec["remote_location"], name, data, ssl_context)
        except (OSError, urllib.error.URLError, ssl.SSLError, ValueError) as e:
            log.warning("GetLog %s upload %d/%d to %s failed: %s", request["log_type"],
                        attempt + 1, attempts, spec["remote_location"], e)
            if attempt + 1 < attempts:
                await asyncio.sleep(interval_s)
            continue
        log.info("GetLog %s: %d bytes uploaded as %s", request["log_type"], len(data), name)
        await notify("Uploaded")
        return "Uploaded"
    await notify("UploadFailure")
    return "UploadFailure"


class LogUploads:
    """The station's one GetLog job at a time (N01.FR.12: a new request cancels the running
    one; its answer is then AcceptedCanceled)."""

    def __init__(self, station, security_log, station_id, clock):
        self.station, self.security_log = station, security_log
        self.station_id, self.clock = station_id, clock
        self._task = None

    @property
    def busy(self):
        return self._task is not None and not self._task.done()

    def name(self, log_type):
        return filename(log_type, self.station_id, self.clock())

    def start(self, request, notify):
        """request as upload() takes it, with its "filename"; -> True when a running job
        was cancelled for it."""
        cancelled = self.busy
        if cancelled:
            self._task.cancel()

        def current():
            return self._task is asyncio.current_task()

        async def notify_current(status):
            # Python 3.11's asyncio.wait_for (under the ocpp library's call()) swallows a
            # cancel that arrives with the answer, so a cancelled job could run on beside its
            # successor (N01.FR.12; found by bench/fuzz_campaigns.py): a superseded job
            # stops at its next step instead
            if not current():
                raise asyncio.CancelledError("superseded by a newer GetLog")
            await notify(status)

        self._task = asyncio.get_running_loop().create_task(
            upload(self.station, self.security_log, request, notify_current, current=current))
        return cancelled
