"""Link transports (protocols/LINK.md §2 and §6, DESIGN §3.3): a pipe for link messages that
does not care what they mean. Two kinds, one interface (this module's Transport):

    t = make_transport("socket://127.0.0.1:7000", evse_id=1)   # or mqtt://HOST:PORT/PREFIX
    t.on_payload = handle          # fn(bytes): one link message (header + body), loop thread
    t.on_state = changed           # fn(bool): connected / disconnected, loop thread
    await t.connect()              # keeps the link up in the background from now on
    t.send(payload)                # non-blocking; False when not connected (dropped)
    await t.close()

- serial_transport.SerialTransport: anything `serial.serial_for_url` opens (a device path,
  `socket://`, `rfc2217://`, `loop://`), framed with protocols.link; reads on a thread,
  decoding on the event loop by a FrameDecoder whose drop counters are in counters().
- mqtt_transport.MqttTransport: paho-mqtt 2.x through a broker, QoS 1, one MQTT message per
  link message.
- urls.make_transport / parse_link_url: the LINK forms of the command line.

Both reconnect after a failure or a drop with a bounded, jittered exponential Backoff.
"""

import asyncio
import logging
import random

log = logging.getLogger(__name__)


class Backoff:
    """Reconnect delays: initial_s * factor**n capped at max_s, each shortened by a random
    fraction up to `jitter` (0..1) so that many gateways do not retry in step."""

    def __init__(self, initial_s=0.5, max_s=30.0, factor=2.0, jitter=0.5, rng=random.random):
        if not 0 < initial_s <= max_s or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("Backoff needs 0 < initial_s <= max_s, factor >= 1, 0 <= jitter < 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.rng = rng
        self.attempts = 0

    def next(self):
        """The delay before the next attempt, in seconds."""
        base = min(self.max_s, self.initial_s * self.factor ** self.attempts)
        if base < self.max_s:
            self.attempts += 1
        return base * (1.0 - self.jitter * self.rng())

    def reset(self):
        """A connection succeeded: start again from initial_s."""
        self.attempts = 0


class Transport:
    """The interface both transports share (see the module docstring)."""

    def __init__(self, name, backoff=None):
        self.name = name
        self.backoff = backoff or Backoff()
        self.connected = False
        self.on_payload = None
        self.on_state = None
        self.stats = {"connects": 0, "disconnects": 0, "connect_failures": 0, "rx_messages": 0,
                      "tx_messages": 0, "tx_refused": 0}
        self._loop = None
        self._task = None
        self._closing = False
        self._up = asyncio.Event()

    async def connect(self):
        """Start keeping the link up; returns at once (wait_connected() waits)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._task = asyncio.create_task(self._supervise(), name="link " + self.name)

    async def wait_connected(self, timeout_s):
        """Wait until connected; raises TimeoutError after timeout_s."""
        await asyncio.wait_for(self._up.wait(), timeout_s)

    async def close(self):
        """Drop the connection and stop reconnecting."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            await self._shutdown(task)
            try:
                await asyncio.wait_for(task, 3.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._set_connected(False)

    def send(self, payload):
        """Queue one link message for the peer; False (dropped) when not connected."""
        raise NotImplementedError

    def counters(self):
        """Connection and traffic counters (and the frame decoder's, for serial)."""
        return dict(self.stats)

    # --- for the subclasses -----------------------------------------------------------

    async def _supervise(self):
        raise NotImplementedError

    async def _shutdown(self, task):
        raise NotImplementedError

    def _set_connected(self, up):
        if up == self.connected:
            return
        self.connected = up
        if up:
            self.stats["connects"] += 1
            self._up.set()
            log.info("%s: connected", self.name)
        else:
            self.stats["disconnects"] += 1
            self._up.clear()
            log.info("%s: disconnected", self.name)
        if self.on_state is not None:
            try:
                self.on_state(up)
            except Exception:
                log.exception("%s: on_state handler failed", self.name)

    def _deliver(self, payload):
        self.stats["rx_messages"] += 1
        if self.on_payload is not None:
            try:
                self.on_payload(payload)
            except Exception:
                log.exception("%s: on_payload handler failed", self.name)

    async def _pause(self, why):
        delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.2f s", self.name, why, delay)
        await asyncio.sleep(delay)
