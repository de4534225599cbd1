"""The bundled CSMS's web page, served on loopback (standard library http.server):

    web = CsmsWeb(csms)          # csms: a started Csms16 or Csms201 (sim_hardware/)
    url = web.start()            # http://127.0.0.1:<free port>/
    web.stop()

GET / is one self-contained page (sim_hardware/csms_web.html: inline CSS and JS, no
external assets, works offline) that polls GET /api/state every second: the station, its
connectors' status, the transactions and the latest meter values (sim_hardware/csms_view.py),
and the profile actions taken here. POST /api/profile {purpose, connector, limit_a} sends a
SetChargingProfile (TxDefaultProfile or the station-wide ChargePointMaxProfile, 2.0.1
ChargingStationMaxProfile; a limit in A; "connector" is the 2.0.1 evseId); POST
/api/clear {purpose, connector} or {all: true} a ClearChargingProfile, in the CSMS's OCPP
version (sim_hardware/csms_calls.py). Both run the call on
the CSMS's loop (csms.request) and answer {ok, request, result} or {ok: false, error}; bad
input (a limit that is not a number, negative or over 80 A, an unknown connector) is refused
with HTTP 400 and nothing is sent to the station.

Loopback only: the server binds 127.x.x.x, answers 403 to a Host header that is not its own
address (DNS rebinding) and to a POST whose Origin is another site, and takes only JSON
bodies (a cross-site HTML form cannot send application/json)."""

import collections
import dataclasses
import ipaddress
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sim_hardware.csms_calls import Ocpp16, for_csms
from sim_hardware.csms_view import snapshot

PAGE = Path(__file__).with_name("csms_web.html")
MAX_A = 80  # IEC 61851-1 Annex A: the highest current a PWM duty can offer
# purpose -> chargingProfileId base (+ connector id): setting it again replaces the profile
# (SetChargingProfile: a profile with the same chargingProfileId is replaced, 1.6 and K01)
PROFILE_ID_BASE = {"TxDefaultProfile": 9100, "ChargePointMaxProfile": 9200,
                   "ChargingStationMaxProfile": 9200}
MAX_BODY = 4096
CALL_TIMEOUT_S = 15  # the library gives up after 10 s itself
ACTIONS_KEPT = 20
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:; form-action 'none'; base-uri 'none'")


class FormError(ValueError):
    """Bad form input: the message is shown on the page as is."""


def _text(form, key):
    value = form.get(key)
    return "" if value is None else str(value).strip()


def parse_connector(form, known_ids):
    text = _text(form, "connector")
    if not text.isdigit():
        raise FormError("connector %r: must be a whole number (0 = the whole station)" % text)
    cid = int(text)
    if cid not in known_ids:
        raise FormError("connector %d: unknown (the station has %s)"
                        % (cid, ", ".join(str(c) for c in sorted(known_ids))))
    return cid


def parse_purpose(form, purposes):
    purpose = _text(form, "purpose")
    if purpose not in purposes:
        raise FormError("purpose %r: must be one of %s" % (purpose, ", ".join(purposes)))
    return purpose


def parse_limit_a(form):
    text = _text(form, "limit_a")
    try:
        amps = float(text)
    except ValueError:
        raise FormError("limit %r: not a number of amperes" % text) from None
    if not math.isfinite(amps):
        raise FormError("limit %r: not a number of amperes" % text)
    if amps < 0:
        raise FormError("limit %g A: must not be negative" % amps)
    if amps > MAX_A:
        raise FormError("limit %g A: more than %d A, the highest current IEC 61851-1 can "
                        "offer" % (amps, MAX_A))
    return round(amps, 1)  # OCPP 1.6 ChargingSchedulePeriod.limit: one digit fraction at most


def parse_profile(form, known_ids, version=Ocpp16):
    """-> (purpose, connector id, limit in A); FormError on bad input. version: the
    csms_calls adapter (its purposes, which of them is station-wide)."""
    purpose = parse_purpose(form, version.purposes)
    cid = parse_connector(form, known_ids)
    if purpose in version.station_wide and cid != 0:
        raise FormError("a %s is for the whole station: connector 0" % purpose)
    return purpose, cid, parse_limit_a(form)


def parse_clear(form, known_ids, version=Ocpp16):
    """-> the clear_profiles fields: {} for {all: true}, else purpose and connector."""
    if form.get("all") is True:
        return {}
    return {"purpose": parse_purpose(form, version.purposes),
            "evse_id": parse_connector(form, known_ids)}


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


class CsmsWeb:
    def __init__(self, csms, host="127.0.0.1", port=0):
        if not loopback(host):
            raise ValueError("CsmsWeb serves loopback only: host %r is not 127.x.x.x or "
                             "localhost" % host)
        self.csms = csms
        self.version = for_csms(csms)  # the OCPP calls of the CSMS's version
        self.host, self.port = host, port
        self.url = None
        self.actions = collections.deque(maxlen=ACTIONS_KEPT)  # newest last
        self._calling = threading.Lock()  # one CSMS call at a time from the page
        self._lock = threading.Lock()  # self.actions
        self._server = self._thread = None
        self._page = b""

    def start(self):
        self._page = PAGE.read_bytes()
        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        self._server.web = self
        self.port = self._server.server_address[1]
        self.url = "http://%s:%d/" % (self.host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="csms-web",
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def allowed_hosts(self):
        names = {self.host, "localhost"} if self.host != "localhost" else {"localhost",
                                                                            "127.0.0.1"}
        return {"%s:%d" % (n, self.port) for n in names}

    # --- what the page shows and does --------------------------------------------------------

    def known_connectors(self):
        return {0} | {c["id"] for c in snapshot(self.csms)["connectors"]}

    def state(self):
        s = snapshot(self.csms)
        with self._lock:
            s["actions"] = list(self.actions)[::-1]
        s["max_a"] = MAX_A
        s["purposes"] = list(self.version.purposes)
        return s

    def set_profile(self, form):
        purpose, cid, limit_a = parse_profile(form, self.known_connectors(), self.version)
        what = "SetChargingProfile %s %g A on connector %d" % (purpose, limit_a, cid)
        return self._call(what, self.version.set_profile(
            purpose, cid, limit_a, PROFILE_ID_BASE[purpose] + cid))

    def clear(self, form):
        fields = parse_clear(form, self.known_connectors(), self.version)
        what = ("ClearChargingProfile %s on connector %d" % (
            fields["purpose"], fields["evse_id"]) if fields
            else "ClearChargingProfile (all profiles)")
        return self._call(what, self.version.clear_profiles(**fields))

    def _call(self, what, payload):
        """-> (HTTP status, answer) after the call on the CSMS's loop."""
        if not self.csms.connected:
            return 409, {"ok": False, "error": "no station connected: nothing sent"}
        with self._calling:
            try:
                result = self.csms.request(payload, timeout_s=CALL_TIMEOUT_S)
            except Exception as e:  # noqa: BLE001 (a CallError, a timeout: shown on the page)
                answer = {"ok": False, "request": what,
                          "error": "%s: %s" % (type(e).__name__, e)}
                code = 502
            else:
                answer = {"ok": True, "request": what, "result": dataclasses.asdict(result)}
                code = 200
        with self._lock:
            self.actions.append(dict(answer, at=time.strftime("%H:%M:%S")))
        return code, answer


class _Handler(BaseHTTPRequestHandler):
    server_version = "smartevse-csms-web"

    def log_message(self, fmt, *args):
        pass  # quiet: the demo's live dashboard owns the terminal

    def _send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj, default=str).encode(), "application/json")

    def _refused(self, why_post=False):
        """The answer for a request this loopback server must not serve, else None."""
        web = self.server.web
        if self.headers.get("Host") not in web.allowed_hosts():
            return 403, "Host %r is not this server" % self.headers.get("Host")
        if why_post:
            origin = self.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in web.allowed_hosts():
                return 403, "Origin %r is another site" % origin
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return 415, "the body must be application/json"
        return None

    def do_GET(self):  # noqa: N802 (http.server's name)
        refused = self._refused()
        if refused:
            return self._json(refused[0], {"ok": False, "error": refused[1]})
        path = self.path.split("?")[0]
        if path == "/":
            return self._send(200, self.server.web._page, "text/html; charset=utf-8")
        if path == "/api/state":
            return self._json(200, self.server.web.state())
        return self._json(404, {"ok": False, "error": "no such page: %s" % path})

    def do_POST(self):  # noqa: N802
        refused = self._refused(why_post=True)
        if refused:
            return self._json(refused[0], {"ok": False, "error": refused[1]})
        web = self.server.web
        action = {"/api/profile": web.set_profile, "/api/clear": web.clear}.get(self.path)
        if action is None:
            return self._json(404, {"ok": False, "error": "no such action: %s" % self.path})
        try:
            size = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._json(411, {"ok": False, "error": "Content-Length needed"})
        if not 0 <= size <= MAX_BODY:
            return self._json(413, {"ok": False, "error": "body over %d bytes" % MAX_BODY})
        try:
            form = json.loads(self.rfile.read(size))
        except ValueError:
            return self._json(400, {"ok": False, "error": "the body is not JSON"})
        if not isinstance(form, dict):
            return self._json(400, {"ok": False, "error": "the body must be a JSON object"})
        try:
            code, answer = action(form)
        except FormError as e:
            return self._json(400, {"ok": False, "error": "not sent: %s" % e})
        return self._json(code, answer)
