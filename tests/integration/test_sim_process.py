"""`python -m sim_hardware` started as a new user would (a subprocess in the repo
root), driven through its JSON-lines control socket, with the link reached the
way the gateway reaches a board: pyserial's serial_for_url("socket://...") (or the
pty path), a HELLO frame built with protocols.link, TELEMETRY read back. On the
CPython core and on the MicroPython VM (--vm micropython). Bad arguments exit 2."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from protocols import link
from protocols import link_messages as lm

REPO = Path(__file__).resolve().parents[2]
SCALE = "20"


def start(*args):
    proc = subprocess.Popen([sys.executable, "-m", "sim_hardware", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = {}
    deadline = time.monotonic() + 30
    while "control" not in info:
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("sim_hardware did not start: %s" % proc.stderr.read())
        key, sep, value = line.strip().partition(": ")
        if sep:
            info[key] = value
    return proc, info


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "sim_hardware: stopped" in out
    return out


class ControlClient:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.file = self.sock.makefile("rw")

    def __call__(self, cmd, **fields):
        self.file.write(json.dumps(dict(fields, cmd=cmd)) + "\n")
        self.file.flush()
        return json.loads(self.file.readline())

    def wait(self, pred, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self("status")["status"]
            if pred(st):
                return st
            time.sleep(0.02)
        pytest.fail("condition never held; last status %r" % st)


def hello_frame(tag=1):
    return link.encode_frame(lm.HELLO, {
        "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR, "role": lm.ROLE_GATEWAY,
        "flags": 0, "phases": 0, "capabilities": 0, "max_current_ma": 0, "link_timeout_ms": 0,
        "unacked_seq": 0, "sw_version": "test"}, tag)


def read_messages(port, want, timeout_s=10, after=None):
    """Decode frames from the port until a message of type `want` arrives
    (after one of type/tag `after`, when given)."""
    dec = link.FrameDecoder()
    got = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = port.read(512)
        i = 0
        while i < len(data):
            i += dec.feed(data, i)
            if dec.length:
                status, mtype, tag, fields = link.decode(bytes(dec.payload()))
                assert status == lm.OK
                got.append((mtype, tag, fields))
                if after is not None and (mtype, tag) == after:
                    after = None
                elif mtype == want and after is None:
                    return got
    pytest.fail("no message %d on the link; got %r" % (want, [g[:2] for g in got]))


def drive_a_session(info, vm):
    ctl = ControlClient(info["control"])
    assert ctl("plug", state="B", pp_ohms=220, id=7) == {"ok": True, "id": 7}
    assert ctl("set_ev", max_a=16, phases=1)["ok"]
    port = serial.serial_for_url(info["link"], timeout=0.1)
    try:
        port.write(hello_frame(tag=3))
        got = read_messages(port, lm.TELEMETRY, after=(lm.HELLO, 3))  # the firmware's reply
        assert got[-1][0] == lm.TELEMETRY
        st = ctl.wait(lambda s: s["session"] == "charging" and s["current_ma"][0] > 0)
        assert st["current_ma"] == [16000, 0, 0] and st["duty_permille"] == 533  # its own 16 A
        assert st["contactor"] == 1 and st["offered_ma"] == 32000
        assert st["link"]["connected"] is True and st["link"]["url"] == info["link"]
        tel = read_messages(port, lm.TELEMETRY)[-1][2]
        assert tel["duty_permille"] == 533 and tel["contactor"] == 1
        assert tel["session"] == 2  # charging (LINK.md TELEMETRY.session)
    finally:
        port.close()
    assert ctl("mains", voltage_v=207.5, frequency_hz=49.9, phase=2)["ok"]
    st = ctl("status")["status"]
    assert st["voltage_mv"] == [230000, 207500, 230000] and st["frequency_mhz"] == 49900
    assert ctl("press_button", ms=100)["ok"]
    ctl.wait(lambda s: s["override"])
    assert ctl("power_cut", s=2)["ok"]
    st = ctl("status")["status"]
    assert st["power"] == 0 and st["session"] == "off" and st["duty_permille"] == 0
    ctl.wait(lambda s: s["power"] == 1 and s["resets"] == 1)
    ctl.wait(lambda s: s["session"] == "charging")
    assert ctl("fly")["ok"] is False and "unknown command" in ctl("fly")["error"]
    assert ctl("tick", n=5)["ok"] is False  # internal to the engine
    assert "set_ev" in ctl("help")["help"]
    ctl("unplug")
    ctl.wait(lambda s: s["session"] == "idle" and s["cp"] == "A")


@pytest.mark.parametrize("vm", ["cpython", "micropython"])
def test_charger_process_control_and_socket_link(vm):
    proc, info = start("--vm", vm, "--link", "socket://127.0.0.1:0", "--control",
                       "127.0.0.1:0", "--time-scale", SCALE, "--setting", "random_delay_max_s=0")
    try:
        assert info["link"].startswith("socket://127.0.0.1:")
        assert ("MicroPython" in info["sim_hardware"]) == (vm == "micropython")
        drive_a_session(info, vm)
    finally:
        if proc.poll() is None:
            stop(proc)


def test_charger_process_link_on_a_pty_and_sigint():
    proc, info = start("--link", "pty", "--control", "127.0.0.1:0", "--time-scale", SCALE,
                       "--setting", "random_delay_max_s=0")
    try:
        assert os.path.exists(info["link"])
        port = serial.serial_for_url(info["link"], timeout=0.1)
        port.write(hello_frame())
        assert read_messages(port, lm.TELEMETRY)
        port.close()
    finally:
        stop(proc, signal.SIGINT)


def test_emulated_meter_on_its_own_pty_polled_by_the_firmware():
    """--meter: the emulated MID meter (issue 4) on the charger's RS-485 port,
    polled by the firmware (its values reach TELEMETRY), and on its own pty
    for any Modbus master (pymodbus here)."""
    from pymodbus.client import ModbusSerialClient

    proc, info = start("--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0",
                       "--time-scale", SCALE, "--setting", "random_delay_max_s=0",
                       "--meter", "SDM630")
    try:
        ctl = ControlClient(info["control"])
        assert ctl("plug", state="B")["ok"]
        ctl.wait(lambda s: s["current_ma"][0] == 31980)
        client = ModbusSerialClient(info["meter"].split()[0], baudrate=9600, timeout=2)
        assert client.connect()
        regs = client.read_input_registers(0x00, count=12, device_id=1).registers
        client.close()
        floats = [struct.unpack(">f", struct.pack(">HH", *regs[i:i + 2]))[0]
                  for i in range(0, 12, 2)]
        assert floats[:3] == [230.0, 230.0, 230.0]  # V L1-L3
        assert [round(a, 2) for a in floats[3:]] == [31.98, 31.98, 31.98]  # I L1-L3
        port = serial.serial_for_url(info["link"], timeout=0.1)
        port.write(hello_frame())
        deadline = time.monotonic() + 10
        while True:
            tel = read_messages(port, lm.TELEMETRY)[-1][2]
            if tel["voltage_l1_mv"] or time.monotonic() > deadline:
                break
        port.close()
        assert tel["voltage_l1_mv"] == 230000 and abs(tel["current_l1_ma"] - 31980) <= 10
        st = ctl("status")["status"]
        assert st["meter"]["model"] == "SDM630" and st["meter"]["requests"] > 0
    finally:
        stop(proc)


def test_shutdown_command_stops_the_process():
    proc, info = start("--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0")
    assert ControlClient(info["control"])("shutdown") == {"ok": True}
    assert proc.wait(10) == 0


def test_scenario_file_runs_then_exits_0_or_1(tmp_path):
    good = tmp_path / "good.scn"
    good.write_text("settings random_delay_max_s=0\nplug B\nwait_state C 5\nsleep 2\n"
                    "expect draw_ma 31980\nunplug\nsleep 0.1\n")
    out = subprocess.run([sys.executable, "-m", "sim_hardware", "--scenario", str(good),
                          "--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0",
                          "--time-scale", "100"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "2070 draw_ma=31980" in out.stdout and "> expect draw_ma 31980" in out.stdout
    bad = tmp_path / "bad.scn"
    bad.write_text("plug B\nexpect session charging\n")
    out = subprocess.run([sys.executable, "-m", "sim_hardware", "--scenario", str(bad),
                          "--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "scenario failed: line 2: expect session charging" in out.stderr


@pytest.mark.parametrize("args, words", [
    (["--time-scale", "0"], "--time-scale"),
    (["--link", "serial0"], "--link must be socket://HOST:PORT, pty or mqtt://"),
    (["--link", "socket://127.0.0.1"], "HOST:PORT"),
    (["--control", "nowhere"], "--control must be HOST:PORT"),
    (["--vm", "jython"], "invalid choice"),
    (["--ev", "hovercraft"], "invalid choice"),
    (["--setting", "site_limit_ma=1"], "settings refused"),
    (["--setting", "novalue"], "KEY=VALUE"),
    (["--scenario", "/nonexistent.scn"], "No such file"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_exit_2_with_a_clear_message(args, words):
    out = subprocess.run([sys.executable, "-m", "sim_hardware", "--control", "127.0.0.1:0",
                          *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert words in out.stderr and "usage:" in out.stderr


def test_port_in_use_exits_2():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "sim_hardware", "--link",
                              "socket://127.0.0.1:%d" % port, "--control", "127.0.0.1:0"],
                             cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "cannot listen" in out.stderr
