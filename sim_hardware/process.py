"""`python -m sim_hardware`: the emulated charger as a process.

The firmware's control core runs on the sim board with an EV and the mains
(sim_hardware.engine) either in this CPython process (default) or on the
MicroPython 1.27 VM under node (`--vm micropython`, sim_hardware/vm_host.mjs).
This module is the I/O around it: the engines, the link served like a board's
UART (a TCP listener as ser2net does, or a pty; sim_hardware/mqtt_link.py is
the MQTT one), a JSON-lines control interface on a local TCP socket.
sim_hardware/host.py runs one or more chargers on them in real time (10 ms
ticks, `--time-scale N` for N times faster). docs/sim_hardware.md documents the
command line and the control protocol.
"""

import itertools
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# SIM_HARDWARE_FIRMWARE: another firmware/ tree for the CPython engine (the conformance
# suite checks a modified copy this way, conformance/__main__.py --firmware)
FIRMWARE = os.environ.get("SIM_HARDWARE_FIRMWARE") or str(ROOT / "firmware")
for _p in (FIRMWARE, str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from sim_hardware.engine import Engine  # noqa: E402

TICK_S = 0.010
MAX_BATCH = 100  # ticks per engine request: 1 s of virtual time
MAX_LINE = 65536
VM_HOST = Path(__file__).resolve().parent / "vm_host.mjs"
INTERNAL = ("init", "tick")  # engine requests the control interface does not pass on


_ENGINE_IDS = itertools.count(1)


class LocalEngine:
    name = "CPython %d.%d" % sys.version_info[:2]

    def __init__(self):
        self.engine = Engine()
        self.lock = threading.Lock()  # the meter's pty thread asks too
        # the charger's update slots (firmware/fwboot.py): made by the first install only,
        # so a sim that is never updated writes nothing; removed by close()
        self.fw_root = os.path.join(tempfile.gettempdir(), "sim_hardware_fw_%d_%d" % (
            os.getpid(), next(_ENGINE_IDS)))

    def request(self, req):
        with self.lock:
            return self.engine.handle(req)

    def close(self):
        shutil.rmtree(self.fw_root, ignore_errors=True)


class VmEngine:
    """Engine requests as JSON lines to vm_host.mjs (the MicroPython VM)."""

    fw_root = "/fw"  # the update slots in the VM's own (in-memory) filesystem, as on a board

    def __init__(self, node):
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([node, str(VM_HOST)], cwd=str(ROOT), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        first = self.proc.stdout.readline()
        try:
            self.name = json.loads(first)["vm"]
        except (ValueError, KeyError, TypeError):
            self.close()
            raise RuntimeError("the MicroPython VM did not start: %r" % first) from None

    def request(self, req):
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MicroPython VM stopped")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def serve_meter(engine, baud, parity):
    """The charger's emulated meter on its own pty (issue 4's PtyMeter), answering
    from the engine's meter, the one the firmware polls: -> the PtyMeter."""
    from sim_hardware.meter_emulator import PtyMeter

    def respond(frame):
        rep = engine.request({"cmd": "meter_request", "frame": frame.hex()})
        return bytes.fromhex(rep["answer"]) if rep.get("answer") else None

    pty = PtyMeter(respond, baud, parity)
    pty.start()
    return pty


class SocketLink:
    """The link as ser2net serves a UART: one TCP client at a time (a new one
    replaces the old), bytes with nothing connected are dropped."""

    def __init__(self, sel, host, port):
        self.sel = sel
        self.server = socket.create_server((host, port))
        self.server.setblocking(False)
        host, port = self.server.getsockname()[:2]
        self.url = "socket://%s:%d" % (host, port)
        self.client = None
        self.pending = bytearray()  # from the gateway, for the next tick
        sel.register(self.server, selectors.EVENT_READ, self._accept)

    def _accept(self):
        conn, _addr = self.server.accept()
        self._drop()
        conn.setblocking(False)
        self.client = conn
        self.sel.register(conn, selectors.EVENT_READ, self._read)

    def _drop(self):
        if self.client is not None:
            self.sel.unregister(self.client)
            self.client.close()
            self.client = None

    def _read(self):
        try:
            data = self.client.recv(4096)
        except OSError:
            data = b""
        if data:
            self.pending.extend(data)
        else:
            self._drop()

    def take(self):
        data = bytes(self.pending)
        self.pending.clear()
        return data

    def write(self, data):
        if self.client is not None:
            try:
                self.client.sendall(data)
            except OSError:  # full or gone: a UART drops bytes too
                self._drop()

    def connected(self):
        return self.client is not None

    def status(self):
        return {}

    def close(self):
        self._drop()
        self.sel.unregister(self.server)
        self.server.close()


class PtyLink:
    """The link on a pseudo-terminal: the gateway opens `url` like a USB UART."""

    def __init__(self, sel):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.url = os.ttyname(self.slave)
        self.pending = bytearray()
        sel.register(self.master, selectors.EVENT_READ, self._read)
        self.sel = sel

    def _read(self):
        try:
            self.pending.extend(os.read(self.master, 4096))
        except (BlockingIOError, OSError):
            pass

    def take(self):
        data = bytes(self.pending)
        self.pending.clear()
        return data

    def write(self, data):
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reads the other end: dropped, as on a UART

    def connected(self):
        return True

    def status(self):
        return {}

    def close(self):
        self.sel.unregister(self.master)
        os.close(self.master)
        os.close(self.slave)


class Control:
    """JSON lines over TCP: one request per line, one reply per line."""

    def __init__(self, sel, host, port, handle):
        self.sel = sel
        self.handle = handle
        self.server = socket.create_server((host, port))
        self.server.setblocking(False)
        self.address = "%s:%d" % self.server.getsockname()[:2]
        self.buffers = {}
        sel.register(self.server, selectors.EVENT_READ, self._accept)

    def _accept(self):
        conn, _addr = self.server.accept()
        conn.setblocking(True)
        self.buffers[conn] = bytearray()
        self.sel.register(conn, selectors.EVENT_READ, lambda c=conn: self._read(c))

    def _close(self, conn):
        self.sel.unregister(conn)
        self.buffers.pop(conn, None)
        conn.close()

    def _read(self, conn):
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        buf = self.buffers[conn]
        buf.extend(data)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if line.strip():
                self._reply(conn, self._answer(line))
        if len(buf) > MAX_LINE:
            self._reply(conn, {"ok": False, "error": "line longer than %d bytes" % MAX_LINE})
            self._close(conn)

    def _answer(self, line):
        try:
            req = json.loads(line)
        except ValueError as e:
            return {"ok": False, "error": "bad JSON: %s" % e}
        if not isinstance(req, dict):
            return {"ok": False, "error": "a JSON object expected"}
        reply = self.handle(req)
        if "id" in req:
            reply["id"] = req["id"]
        return reply

    def _reply(self, conn, reply):
        try:
            conn.sendall((json.dumps(reply) + "\n").encode())
        except OSError:
            self._close(conn)

    def close(self):
        for conn in list(self.buffers):
            self._close(conn)
        self.sel.unregister(self.server)
        self.server.close()
