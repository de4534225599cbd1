"""What the charger measures and reports: the MID meter's readings against the lab's
truth (AG-03, UK-9), the near-real-time telemetry (AG-08) and the clock (AG-02)."""

from conformance.checks.common import QUICK, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

METER = "SDM630"
MID_CLASS_B_PERMILLE = 10  # MID class B: 1 % on active energy; the lab holds current to it
T0_UNIX_MS = 1767268800000  # 2026-01-01T12:00:00Z


def _error_permille(measured, true):
    return abs(measured - true) * 1000 // max(abs(true), 1)


@check("AG-03", needs=("pilot", "load", "meter", "link"))
def meter_accuracy(target, r):
    """Charging 16 A on three phases for 10 minutes: the current, voltage and energy the
    charger reports (from its MID meter over Modbus RTU) against what flowed."""
    lab = target.lab(settings=dict(QUICK, telemetry_interval_s=1), meter=METER)
    lab.link_connect()
    plug_and_charge(lab, r, amps=16)
    lab.advance(5000)
    start_wh, start_tel = _fresh_telemetry(lab)
    lab.advance(10 * 60 * 1000, step_ms=100)
    true_wh, tel = _fresh_telemetry(lab)
    true_ma = lab.ev_current_ma()
    r.did("an emulated %s on the RS-485 port; 16 A, 3 phases, 10 minutes" % METER)
    r.measure("current L1: reported", tel["current_l1_ma"], "mA")
    r.measure("current L1: error", _error_permille(tel["current_l1_ma"], true_ma), "permille",
              "<=", MID_CLASS_B_PERMILLE)
    r.measure("voltage L1: error against 230 V", _error_permille(tel["voltage_l1_mv"], 230000),
              "permille", "<=", 5)
    r.measure("energy: reported register", tel["energy_import_wh"], "Wh")
    r.measure("energy over the 10 min: error",
              _error_permille(tel["energy_import_wh"] - start_tel["energy_import_wh"],
                              true_wh - start_wh), "permille", "<=", MID_CLASS_B_PERMILLE)


def _fresh_telemetry(lab):
    """-> (the meter's true import Wh, the telemetry frame) at the arrival of the next frame,
    so both describe the same moment (up to the frame's meter_age_ms)."""
    n = len(lab.received(lm.TELEMETRY))
    lab.wait_until(lambda: len(lab.received(lm.TELEMETRY)) > n, 5000)
    return lab.meter_truth_wh(), lab.received(lm.TELEMETRY)[-1][1]


@check("UK-9", needs=("pilot", "load", "meter", "link"))
def measuring_system(target, r):
    """UK reg 9: energy imported and exported and the charging time of a session measured
    and reported: a 20-minute session at 16 A; the session's energy (EV_SESSION_STOP) and
    its start and stop times against the lab's meter truth and clock."""
    lab = target.lab(settings=QUICK, meter=METER)
    lab.link_connect()
    lab.time_sync(T0_UNIX_MS)
    start_wh = lab.meter_truth_wh()
    plug_at = lab.now_ms
    plug_and_charge(lab, r, amps=16)
    lab.advance(20 * 60 * 1000, step_ms=100)
    lab.do("unplug")
    unplug_at = lab.now_ms
    lab.advance(5000)
    true_wh = lab.meter_truth_wh() - start_wh
    started = lab.events(lm.EV_SESSION_START)
    stopped = lab.events(lm.EV_SESSION_STOP)
    r.expect(len(started) == 1 and len(stopped) == 1, "one session start and one stop reported")
    if not (started and stopped):
        return
    energy = stopped[0][1]["d"]
    r.measure("session energy reported", energy, "Wh")
    r.measure("session energy: error against the meter's truth (%d Wh)" % true_wh,
              _error_permille(energy, true_wh), "permille", "<=", MID_CLASS_B_PERMILLE)
    r.measure("session energy: error (regulation's 10 %)", _error_permille(energy, true_wh),
              "permille", "<=", 100)
    span_s = stopped[0][1]["unix_s"] - started[0][1]["unix_s"]
    true_s = (unplug_at - plug_at) // 1000
    r.measure("session duration from the reported times", span_s, "s")
    r.measure("session duration: error against the lab's clock (%d s)" % true_s,
              abs(span_s - true_s), "s", "<=", 2)
    tel = lab.received(lm.TELEMETRY)[-1][1]
    r.measure("export register (no discharge: the truth is 0)", tel["energy_export_wh"], "Wh",
              "==", lab.ch.meter.energy_wh()[1])


@check("AG-08", needs=("pilot", "load", "meter", "link"))
def near_real_time_data(target, r):
    """Telemetry during a charge: current, voltage and the offered current (the bandwidth
    the cable and the EV allow) every telemetry_interval_s; 1 s and 300 s (5 min) are both
    accepted and kept to, 301 s refused; the meter reading is at most 2 s old."""
    for interval_s, window_s in ((1, 60), (300, 1800)):
        lab = target.lab(settings=dict(QUICK, telemetry_interval_s=interval_s), meter=METER)
        lab.link_connect()
        plug_and_charge(lab, r, amps=16)
        lab.advance(2000)
        since = lab.now_ms
        lab.advance(window_s * 1000, step_ms=10 if interval_s < 10 else 100)
        tel = lab.received(lm.TELEMETRY, since)
        periodic = _periodic(tel)
        gaps = [b - a for a, b in zip(periodic, periodic[1:], strict=False)]
        r.measure("interval %d s: longest gap between telemetry" % interval_s,
                  max(gaps) if gaps else -1, "ms", "<=", interval_s * 1000 + 100)
        r.measure("interval %d s: frames in %d s" % (interval_s, window_s), len(tel), "", ">=",
                  window_s // interval_s - 1)
        ages = [f["meter_age_ms"] for _, f in tel]
        r.measure("interval %d s: oldest meter reading in a frame" % interval_s, max(ages), "ms",
                  "<=", 2000)
        last = tel[-1][1]
        r.expect(last["current_l1_ma"] > 0 and last["voltage_l1_mv"] > 0
                 and last["offered_ma"] > 0, "current, voltage and offered current in each frame")
    st, _ = lab.setting("telemetry_interval_s", 301)
    r.expect(st == lm.ST_INVALID, "telemetry_interval_s 301 refused")


def _periodic(tel):
    """Times of the frames, less those sent early on a change (they do not delay the next)."""
    return [t for t, _ in tel]


@check("AG-02", needs=("link",))
def clock_and_duplex(target, r):
    """The charger answers the gateway's HELLO, sends heartbeats both ways, and takes the
    gateway's time: its event timestamps after a TIME_SYNC match the lab's clock."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    lab.advance(1000)
    hello = [f for _, f in lab.received(lm.HELLO) if f["role"] == lm.ROLE_FIRMWARE]
    r.expect(bool(hello), "the firmware's HELLO came back")
    lab.time_sync(T0_UNIX_MS)
    lab.advance(20000)
    r.measure("firmware heartbeats in 20 s", len(lab.received(lm.HEARTBEAT)), "", ">=", 1)
    synced_at = lab.now_ms
    lab.advance(3600 * 1000, step_ms=1000)
    lab.do("plug", state="B", pp_ohms=220)
    lab.advance(3000)
    plugs = lab.events(lm.EV_PLUG)
    r.expect(bool(plugs), "plug-in event reported")
    if plugs:
        t_ms, f = plugs[-1]
        lab_unix_s = (T0_UNIX_MS + t_ms - synced_at + 20000) // 1000
        r.measure("event time against the lab's clock, 1 h after TIME_SYNC",
                  abs(f["unix_s"] - lab_unix_s), "s", "<=", 1)
