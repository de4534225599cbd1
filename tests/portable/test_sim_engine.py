# The engine behind `python -m sim_hardware` (sim_hardware/engine.py): the
# JSON-able requests of the control interface, the same on CPython and on the
# MicroPython VM (where `--vm micropython` runs it).
import binascii
import json

from protocols import link
from protocols import link_messages as lm
from protocols import modbus_rtu as rtu
from sim_hardware.engine import Engine


def _engine(**settings):
    e = Engine()
    assert e.handle({"cmd": "init", "settings": settings, "seed": 5}) == {"ok": True}
    return e


def test_requests_before_init_and_bad_requests_are_refused():
    e = Engine()
    assert e.handle({"cmd": "status"})["ok"] is False
    e = _engine(random_delay_max_s=0)
    for req, words in (({"cmd": "fly"}, "unknown command"), ([1], "JSON object"),
                       ({"cmd": "plug", "state": "Q"}, "state B, C or D"),
                       ({"cmd": "set_ev", "max_a": "x"}, "max_a"),
                       ({"cmd": "mains", "phase": 9, "voltage_v": 230}, "phase"),
                       ({"cmd": "tick", "n": "many"}, "integer")):
        rep = e.handle(req)
        assert rep["ok"] is False and words in rep["error"], (req, rep)
    assert json.loads(e.handle_line("{nope"))["ok"] is False


def test_plug_tick_status_through_json():
    e = _engine(random_delay_max_s=0, site_limit_ma=16000)
    assert e.handle({"cmd": "plug", "state": "B", "pp_ohms": 220}) == {"ok": True}
    assert e.handle({"cmd": "set_ev", "max_a": 10, "phases": 1})["ok"]
    rep = json.loads(e.handle_line(json.dumps({"cmd": "tick", "n": 300})))
    assert rep["ok"] and rep["time_ms"] == 3000
    assert "1040 cp=C contactor=1 session=charging" in rep["trace"]
    st = e.handle({"cmd": "status"})["status"]
    assert st["session"] == "charging" and st["duty_permille"] == 266
    assert st["current_ma"] == [10000, 0, 0] and st["contactor"] == 1
    assert st["offered_ma"] == 16000 and st["delay_remaining_s"] == 0
    assert st["voltage_mv"] == [230000, 230000, 230000] and st["soc"] == 50
    assert e.handle({"cmd": "tick"})["trace"] == []  # only new lines
    assert e.handle({"cmd": "trace", "since": 0})["lines"][0].startswith("0 boot")


def test_link_bytes_in_and_out_as_hex():
    """HELLO in, the firmware's HELLO reply and telemetry out (protocols/LINK.md)."""
    e = _engine(random_delay_max_s=0)
    hello = link.encode_frame(lm.HELLO, {
        "major": 1, "minor": 0, "role": lm.ROLE_GATEWAY, "flags": 0, "phases": 0,
        "capabilities": 0, "max_current_ma": 0, "link_timeout_ms": 0, "unacked_seq": 0,
        "sw_version": "t"}, 7)
    rep = e.handle({"cmd": "tick", "n": 2, "link_in": binascii.hexlify(hello).decode()})
    data = binascii.unhexlify(rep["link_out"])
    dec = link.FrameDecoder()
    got = []
    i = 0
    while i < len(data):
        i += dec.feed(data, i)
        if dec.length:
            st, mtype, tag, fields = link.decode(bytes(dec.payload()))
            got.append((mtype, tag, fields.get("flags", 0)))
    assert (lm.HELLO, 7, lm.HELLO_REPLY) in got
    assert lm.TELEMETRY in [m for m, _, _ in got]


def test_power_cut_and_scenario_run_on_the_engine_clock():
    e = _engine(random_delay_max_s=0)
    assert e.handle({"cmd": "power_cut", "s": 0.5})["ok"]
    st = e.handle({"cmd": "status"})["status"]
    assert st["power"] == 0 and st["session"] == "off"
    e.handle({"cmd": "tick", "n": 60})
    assert e.handle({"cmd": "status"})["status"]["power"] == 1
    assert e.handle({"cmd": "scenario", "text": "plug B; wait_state C 5; expect ev_state C"})["ok"]
    rep = e.handle({"cmd": "tick", "n": 300})
    assert rep["scenario"] == "passed"
    assert e.handle({"cmd": "scenario", "text": "sleep 0.1; expect cp A"})["ok"]
    rep = e.handle({"cmd": "tick", "n": 50})
    assert rep["scenario"].startswith("failed: line 1: expect cp A: cp is C"), rep["scenario"]
    assert e.handle({"cmd": "scenario", "text": "jump 3"})["ok"] is False


def test_emulated_meter_answers_for_the_pty_and_faults_on_request():
    """--meter: the engine's meter (issue 4's emulator on the board's RS-485)
    answers the frames the process's meter pty receives; meter_fault injects."""
    e = Engine()
    assert e.handle({"cmd": "init", "settings": {"random_delay_max_s": 0}, "meter": "SDM630"})["ok"]
    req = bytearray(8)
    rtu.build_read_request(req, 1, 4, 0, 2)  # V L1, input registers
    frame = binascii.hexlify(bytes(req)).decode()
    answer = binascii.unhexlify(e.handle({"cmd": "meter_request", "frame": frame})["answer"])
    assert answer[:3] == bytes((1, 4, 4)) and answer[3:7] == bytes((0x43, 0x66, 0, 0))  # 230.0
    assert e.handle({"cmd": "meter_fault", "kind": "silence", "count": 1})["ok"]
    assert e.handle({"cmd": "meter_request", "frame": frame})["answer"] == ""
    assert e.handle({"cmd": "meter_request", "frame": frame})["answer"] != ""
    e.handle({"cmd": "tick", "n": 200})
    assert e.handle({"cmd": "status"})["status"]["meter"]["requests"] > 2  # the firmware polls
    e = _engine()
    assert "no emulated meter" in e.handle({"cmd": "meter_fault", "kind": "crc"})["error"]
