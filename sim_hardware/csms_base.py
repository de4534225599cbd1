"""What the bundled test CSMSs (sim_hardware/csms16.py, sim_hardware/csms201.py) share: a
websockets server on its own event loop on a thread, so synchronous tests can drive it;
connection control (drop, go_down/come_back, refuse); HTTP Basic auth (security profiles 1
and 2); the message record and the waits on it; CSMS-initiated calls (request, send,
request_raw) and calls failed on purpose (fail).

A version module subclasses `CsmsBase` (sets SUBPROTOCOL, THREAD_NAME and `_new_station`)
and builds its station class as `class _Station(RecordingStation, ChargePoint)` on the
`ocpp` library's ChargePoint of its version, so the record, request_raw and fail() hooks sit
between the wire and the library.
"""

import asyncio
import base64
import binascii
import concurrent.futures
import json
import secrets
import threading
import time
from datetime import UTC, datetime

import websockets
from ocpp.exceptions import InternalError
from websockets.protocol import State


def now_iso():
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class RecordingStation:
    """Mixin for the library's ChargePoint (list it first in the bases): records every
    message, hands request_raw answers to their waiter and fails calls on purpose.
    `payload` is the camelCase payload of the call being handled (the library runs one
    handler at a time per connection), for handlers that want it as sent."""

    def __init__(self, station_id, connection, csms):
        super().__init__(station_id, connection, response_timeout=10)
        self.csms = csms
        self.payload = None

    async def route_message(self, raw_msg):
        seq = self.csms._record("in", raw_msg)
        try:
            if self.csms._raw_reply(raw_msg):
                return  # the answer to a request_raw: not for the library's response queue
            await super().route_message(raw_msg)
        finally:
            self.csms._settled(seq)

    async def _send(self, message):
        self.csms._record("out", message)
        await super()._send(message)

    async def _handle_call(self, msg):
        error = self.csms._take_failure(msg.action)
        if error is not None:
            raise error  # -> a CallError (the library's route_message)
        self.payload = msg.payload
        return await super()._handle_call(msg)


class CsmsBase:
    SUBPROTOCOL = None  # the only WebSocket subprotocol accepted, e.g. "ocpp1.6"
    THREAD_NAME = "csms"

    def __init__(self, boot_status, boot_interval_s, ssl_context, passwords):
        self.ssl_context = ssl_context
        self.passwords = passwords
        self.auth_failures = 0
        self.boot_status = boot_status
        self.boot_interval_s = boot_interval_s
        self.messages = []
        self._arrivals = []  # (action, unix s) of each call from the station
        self._in_calls = []  # (action, payload, seq) of each call from the station
        self._unsettled = set()  # seq of the calls whose handler has not finished
        self.connections = 0
        self.station_ids = []
        self.url = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = None
        self._server = None
        self._station = None
        self._raw_waiting = {}  # unique id of a request_raw -> its concurrent Future
        self._failures = {}  # action -> [calls still to fail, exception class]
        self._refusing = False
        self.port = None
        self.on_call = None  # fn(action, payload) for each station call, on the CSMS thread
        self.data_transfer_status = "Accepted"  # the answer to the station's DataTransfer

    def _new_station(self, station_id, connection):
        """The version's RecordingStation for a new connection."""
        raise NotImplementedError

    # --- life cycle -----------------------------------------------------------------------

    def start(self):
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve_start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.THREAD_NAME, daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the test CSMS did not start")
        return self

    async def _serve_start(self):
        self._server = await websockets.serve(self._handler, "127.0.0.1", self.port or 0,
                                              subprotocols=[self.SUBPROTOCOL],
                                              process_request=self._process_request,
                                              ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = "%s://127.0.0.1:%d/ocpp" % ("ws" if self.ssl_context is None else "wss",
                                               self.port)

    def stop(self):
        async def close():
            self._server.close()
            await self._server.wait_closed()

        if self._thread is not None:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    @property
    def connected(self):
        """True while a station's connection is open (request() needs one)."""
        station = self._station
        return station is not None and station._connection.state is State.OPEN

    def drop(self):
        """Close the station's connection (it must reconnect)."""
        async def close():
            if self._station is not None:
                await self._station._connection.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)

    # --- connection control (offline tests) ---------------------------------------------

    def _run(self, coro, timeout_s=5):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def go_down(self):
        """The CSMS becomes unreachable: the station's connection closes and new ones are
        refused (nothing listens on the port) until come_back()."""
        async def down():
            self._server.close()  # closes the open connections too
            await self._server.wait_closed()
            self._station = None

        self._run(down(), 15)

    def come_back(self):
        """Listen again on the same port (the station reconnects after its backoff)."""
        self._run(self._serve_start())

    def refuse(self, refusing=True):
        """While refusing, every WebSocket handshake gets HTTP 503."""
        self._refusing = refusing

    def _process_request(self, connection, request):
        if self._refusing:
            return connection.respond(503, "the CSMS refuses connections now\n")
        if self.passwords is not None and not self._authorized(request):
            with self._lock:
                self.auth_failures += 1
            return connection.respond(401, "wrong or missing Basic-auth credentials\n")
        return None

    def _authorized(self, request):
        """HTTP Basic auth (RFC 7617): username = the station id of the URL path."""
        station_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = self.passwords.get(station_id)
        return (user == station_id and expected is not None
                and secrets.compare_digest(password, expected))

    def fail(self, action, count=1, error=InternalError):
        """Answer the next count calls of action with a CallError (error: an OCPPError
        class of ocpp.exceptions)."""
        with self._lock:
            self._failures[action] = [count, error]

    def _take_failure(self, action):
        with self._lock:
            f = self._failures.get(action)
            if not f or f[0] <= 0:
                return None
            f[0] -= 1
            return f[1]("the test CSMS fails this %s on purpose" % action)

    async def _handler(self, connection):
        if connection.subprotocol != self.SUBPROTOCOL:
            await connection.close(1002, "no %s subprotocol" % self.SUBPROTOCOL)
            return
        station_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            self.connections += 1
            self.station_ids.append(station_id)
        self._station = self._new_station(station_id, connection)
        try:
            await self._station.start()
        except websockets.ConnectionClosed:
            pass

    # --- records --------------------------------------------------------------------------

    def _record(self, direction, raw):
        """-> the sequence number of a call from the station (None for anything else)."""
        msg = json.loads(raw)
        if msg[0] == 2:
            entry = (direction, 2, msg[2], msg[3])
        else:
            entry = (direction, msg[0], None, msg[2] if msg[0] == 3 else msg[2:])
        seq = None
        with self._lock:
            self.messages.append(entry)
            if direction == "in" and msg[0] == 2:
                self._arrivals.append((msg[2], time.time()))
                seq = len(self._in_calls)
                self._in_calls.append((msg[2], msg[3], seq))
                self._unsettled.add(seq)
        if seq is not None and self.on_call is not None:
            self.on_call(msg[2], msg[3])
        return seq

    def _settled(self, seq):
        """The handler of call seq finished (answered, failed, or its connection gone)."""
        if seq is not None:
            with self._lock:
                self._unsettled.discard(seq)

    def received_at(self, action):
        """The CSMS's wall clock (unix s) when the first call of action arrived, or None."""
        with self._lock:
            return next((t for a, t in self._arrivals if a == action), None)

    def calls(self, action):
        """Payloads of the calls the station sent for action, in order."""
        with self._lock:
            return [p for d, t, a, p in self.messages if d == "in" and t == 2 and a == action]

    def actions(self):
        with self._lock:
            return [a for d, t, a, p in self.messages if d == "in" and t == 2]

    def wait_until(self, pred, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = pred()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out after %.0f s waiting for %s; station sent: %s"
                             % (timeout_s, what, self.actions()))

    def wait_for(self, action, timeout_s=10, where=None, count=1):
        """The payload of the count-th call of action (matching where(payload)), once its
        handler has finished: what the handler records (a 2.0.1 transaction's events, a 1.6
        transaction) is there when this returns."""
        def found():
            with self._lock:
                calls = [(p, seq) for a, p, seq in self._in_calls if a == action]
                unsettled = set(self._unsettled)
            hits = [(p, seq) for p, seq in calls if where is None or where(p)]
            if len(hits) < count or hits[count - 1][1] in unsettled:
                return None
            return (hits[count - 1][0],)  # {} is an answer too
        return self.wait_until(found, timeout_s, "%s #%d" % (action, count))[0]

    # --- CSMS-initiated calls -------------------------------------------------------------

    def request(self, payload, timeout_s=10):
        """Send a CSMS call to the connected station; returns the call_result."""
        self.wait_until(lambda: self._station is not None, timeout_s, "a station")
        return self.send(payload).result(timeout_s)

    def send(self, payload):
        """Send a CSMS call without waiting: a concurrent Future of its call_result."""
        return asyncio.run_coroutine_threadsafe(
            self._station.call(payload, suppress=False), self._loop)

    def request_raw(self, message, timeout_s=10):
        """Send an OCPP-J message as given, without the library's schema validation
        (bad-input tests): message is a list [2, unique id, action, payload], sent as
        JSON. Returns the station's answer with that unique id as a list:
        [3, id, payload] or [4, id, errorCode, errorDescription, errorDetails]."""
        self.wait_until(lambda: self._station is not None, timeout_s, "a station")
        unique_id = message[1]
        fut = concurrent.futures.Future()
        with self._lock:
            self._raw_waiting[unique_id] = fut
        text = json.dumps(message)
        asyncio.run_coroutine_threadsafe(self._station._send(text), self._loop).result(5)
        try:
            return fut.result(timeout_s)
        finally:
            with self._lock:
                self._raw_waiting.pop(unique_id, None)

    def _raw_reply(self, raw):
        try:
            msg = json.loads(raw)
        except ValueError:
            return False
        if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (3, 4):
            return False
        with self._lock:
            fut = self._raw_waiting.get(msg[1])
        if fut is None:
            return False
        fut.set_result(msg)
        return True
