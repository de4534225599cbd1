"""The Python driver of the strict OCPP-J CSMS (tests/e2e/strict_csms.mjs, npm `ocpp-rpc` in
strictMode, a node process): start it, read its event lines, have it call the station, wait for
what the station sent. Shared by test_ocpp16_strict.py, test_ocpp201_strict.py and
test_ocpp_security.py."""

import json
import shutil
import subprocess
import threading
import time

from ocpp16_fixture import REPO

SCRIPT = REPO / "tests" / "e2e" / "strict_csms.mjs"
PROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}  # subprotocol -> the gateway's --ocpp
# subprotocol -> the StatusNotification fields of (where, status)
STATUS_FIELDS = {"ocpp1.6": ("connectorId", "status"),
                 "ocpp2.0.1": ("evseId", "connectorStatus")}


class StrictCsms:
    """The node process; `events` are its stdout JSON lines, in order. protocol: the
    subprotocol it accepts and validates against ("ocpp1.6" or "ocpp2.0.1");
    OCPP_VERSION is the gateway's --ocpp for it (tests/e2e/conftest.py start_gateway)."""

    def __init__(self, stderr_path, args=(), protocol="ocpp1.6"):
        self.protocol = protocol
        self.OCPP_VERSION = PROTOCOLS[protocol]
        node = shutil.which("node")
        assert node, "node is missing: install Node.js 20+ (the strict CSMS runs on it)"
        assert (REPO / "node_modules" / "ocpp-rpc" / "package.json").is_file(), \
            "the npm package ocpp-rpc is missing: run `npm ci` at the repo root (make test does)"
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 (closed in stop)
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen([node, str(SCRIPT), "--protocol", protocol, *args],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True)
        self.events = []
        self._cond = threading.Condition()
        self._ids = iter(range(1, 1 << 30))
        threading.Thread(target=self._read, name="strict-csms", daemon=True).start()
        self.url = self.wait_event(lambda e: e["event"] == "listening", 10, "listening")["url"]

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # EOF: the CSMS exits
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._stderr.close()

    def wait_event(self, pred, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                hits = [e for e in self.events if pred(e)]
                if hits:
                    return hits[0]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        "timed out after %.0f s waiting for %s; station sent: %s; stderr: %s"
                        % (timeout_s, what, self.actions(),
                           self.stderr_path.read_text()[-2000:]))
                self._cond.wait(min(left, 0.2))

    def of(self, kind):
        with self._cond:
            return [e for e in self.events if e["event"] == kind]

    def messages(self, direction):
        return [e["message"] for e in self.of("message") if e["dir"] == direction]

    def calls(self, action):
        """Payloads of the calls the station sent for action, in order."""
        return [m[3] for m in self.messages("in") if m[0] == 2 and m[2] == action]

    def actions(self):
        return [m[2] for m in self.messages("in") if m[0] == 2]

    def wait_for(self, action, timeout_s=10, where=None, count=1):
        """The payload of the count-th call of action (matching where(payload))."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [p for p in self.calls(action) if where is None or where(p)]
            if len(hits) >= count:
                return hits[count - 1]
            time.sleep(0.05)
        raise AssertionError("timed out after %.0f s waiting for %s #%d; station sent: %s"
                             % (timeout_s, action, count, self.actions()))

    def wait_status(self, connector_id, status, timeout_s=10):
        """1.6: connectorId and status; 2.0.1: evseId (connector_id is the EVSE's id) and
        connectorStatus."""
        where, what = STATUS_FIELDS[self.protocol]
        return self.wait_for("StatusNotification", timeout_s,
                             lambda p: p[where] == connector_id and p[what] == status)

    def request(self, action, params, timeout_s=10):
        """The CSMS calls action on the station (validated by ocpp-rpc both ways); its result."""
        cid = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": cid, "action": action, "params": params}) + "\n")
        self.proc.stdin.flush()
        reply = self.wait_event(lambda e: e["event"] == "reply" and e["id"] == cid,
                                timeout_s, "the reply to %s" % action)
        assert "error" not in reply, (action, params, reply)
        return reply["result"]
