"""The link over anything serial.serial_for_url opens (a device path, socket://, rfc2217://,
loop://), framed per protocols/LINK.md §2: 0x00 + COBS(message + CRC-16) + 0x00."""

import asyncio
import logging
import select
import threading
from concurrent.futures import ThreadPoolExecutor

import serial

from gateway.link.transport import Transport
from protocols import link

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200  # LINK.md §2 figures are for 115200 baud 8N1
_DECODER_COUNTERS = ("frames", "crc_errors", "cobs_errors", "short_frames", "oversize")


class SerialTransport(Transport):
    """The link over anything serial_for_url opens, framed per LINK.md §2."""

    def __init__(self, url, baudrate=DEFAULT_BAUDRATE, backoff=None, read_timeout_s=0.2,
                 write_timeout_s=2.0, **serial_kwargs):
        super().__init__(url, backoff)
        self.url = url
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self.write_timeout_s = write_timeout_s
        self.serial_kwargs = serial_kwargs
        self.decoder = link.FrameDecoder()
        self._ser = None
        self._conn = 0  # connection number: bytes and errors of an old one are ignored
        self._lost = None
        self._stop_reader = None
        self._writer = None

    def counters(self):
        c = dict(self.stats)
        for name in _DECODER_COUNTERS:
            c[name] = getattr(self.decoder, name)
        return c

    def send(self, payload):
        ser = self._ser
        if not self.connected or ser is None:
            self.stats["tx_refused"] += 1
            return False
        data = link.frame(payload)
        self._writer.submit(self._write, ser, self._conn, data)
        self.stats["tx_messages"] += 1
        return True

    def _open(self):
        ser = serial.serial_for_url(self.url, baudrate=self.baudrate,
                                    timeout=self.read_timeout_s, **self.serial_kwargs)
        try:
            ser.fileno()  # a device or socket:// (rfc2217:// and loop:// have none)
        except (AttributeError, OSError, serial.SerialException):
            return ser  # reads block up to read_timeout_s; no write timeout (rfc2217 has none)
        try:
            ser.timeout = 0  # non-blocking reads: the reader thread waits in select()
            ser.write_timeout = self.write_timeout_s
        except Exception:
            ser.close()
            raise
        return ser

    async def _supervise(self):
        loop = self._loop
        while not self._closing:
            opening = loop.run_in_executor(None, self._open)
            try:
                ser = await asyncio.shield(opening)
            except asyncio.CancelledError:  # closed while opening: close what opens
                opening.add_done_callback(_close_when_opened)
                raise
            except Exception as e:  # SerialException, OSError, ValueError from pyserial
                self.stats["connect_failures"] += 1
                await self._pause("cannot open (%s)" % e)
                continue
            if self._closing:
                ser.close()
                break
            self._conn += 1
            self.decoder.reset()  # half a frame from before is not continued
            self._lost = lost = asyncio.Event()
            self._stop_reader = stop = threading.Event()
            reader = threading.Thread(target=self._read_loop, args=(ser, self._conn, stop),
                                      name="link-read " + self.name, daemon=True)
            reader.start()
            self._ser = ser
            self.backoff.reset()
            self._set_connected(True)
            await lost.wait()
            self._set_connected(False)
            self._ser = None
            stop.set()
            await loop.run_in_executor(None, self._teardown, ser, reader)
            if not self._closing:
                await self._pause("link lost")

    async def connect(self):
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link-write")
        await super().connect()

    async def close(self):
        await super().close()
        if self._writer is not None:
            self._writer.shutdown(wait=False)
            self._writer = None

    async def _shutdown(self, task):
        if self._lost is not None and not self._lost.is_set():
            self._lost.set()  # the supervisor tears the connection down and ends
        else:
            task.cancel()  # opening or waiting to retry

    @staticmethod
    def _teardown(ser, reader):
        reader.join(2.0)
        # pyserial 3.5 socket:// skips socket.close() when shutdown() fails on a connection
        # the peer already dropped: close the socket ourselves so no descriptor leaks.
        sock = getattr(ser, "_socket", None)
        try:
            ser.close()
        except Exception:  # closing a port that is already gone
            log.debug("close failed", exc_info=True)
        if sock is not None:
            sock.close()

    def _read_loop(self, ser, conn, stop):
        # Thread. A port with a file descriptor (a device, socket://) is read without
        # blocking once select() says so: everything waiting in one read (socket:// reports
        # in_waiting as 0/1 only). Others (rfc2217://, loop://) block on the first byte for
        # up to read_timeout_s, then take what in_waiting reports.
        loop = self._loop
        try:
            fd = ser.fileno() if ser.timeout == 0 else None
            while not stop.is_set():
                if fd is not None:
                    if not select.select([fd], [], [], self.read_timeout_s)[0]:
                        continue
                    data = ser.read(65536)
                else:
                    data = ser.read(1)
                    n = ser.in_waiting if data else 0
                    while n:
                        data += ser.read(n)
                        n = ser.in_waiting
                if data:
                    loop.call_soon_threadsafe(self._on_bytes, data, conn)
        except Exception as e:
            if not stop.is_set():
                loop.call_soon_threadsafe(self._on_lost, conn, e)

    def _write(self, ser, conn, data):
        try:
            ser.write(data)
        except Exception as e:
            self._loop.call_soon_threadsafe(self._on_lost, conn, e)

    def _on_lost(self, conn, error):
        if conn == self._conn and self._lost is not None and not self._lost.is_set():
            log.warning("%s: %s", self.name, error)
            self._lost.set()

    def _on_bytes(self, data, conn):
        if conn != self._conn:
            return
        dec = self.decoder
        i, n = 0, len(data)
        while i < n:
            i += dec.feed(data, i, n)
            if dec.length:
                self._deliver(bytes(dec.payload()))


def _close_when_opened(fut):
    if not fut.cancelled() and fut.exception() is None:
        fut.result().close()
