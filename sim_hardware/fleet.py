"""Fleet restoration (AG-13 at scale, DESIGN §7 P6): N chargers, each with an EV
that was charging when the power went, through one power restoration at t = 0,
with and without the randomised delay. Writes the aggregate load curve as CSV
and a PNG plot, and returns (prints) the peaks and their ratio.

    python -m sim_hardware.fleet --n 10000 --out DIR [--max-delay-s 600] [--seed 1]

Method (10,000 chargers in well under 10 s, because only a few are simulated):

1. Calibration on the real firmware. For each EV class (CLASSES) one charger,
   sim board + the firmware's Controller + the EV model, boots with its EV
   plugged in and asking (state C) and random_delay_max_s = 0; its power
   (sum over phases of current x mains voltage) is recorded every 10 ms tick:
   the class's template (pilot debounce, PWM offer, diode check, contactor
   closing time, the EV's response delay and current ramp, then steady power).
2. The delay. Charger i has its own entropy: a SimBoard seeded from the fleet
   seed, whose xorshift32 stream is what its Controller would draw from; its
   delay is evse.restart.draw_s(max_delay_s, that stream), the firmware's own
   function, so the distribution is the firmware's (uniform whole seconds).
3. Check on a sample: `sample` chargers are booted with the real controller
   and the delay on; each must draw exactly the delay of step 2 and start
   drawing current exactly at shift + the template's onset (to the tick), where
   shift = max(delay, offer time of the template) - offer time. A mismatch
   raises: the analytic fleet would no longer be the firmware's behaviour.
4. The fleet. Charger i's load is its class template shifted by shift_i until
   its EV has taken the energy it still needs (0.2 kWh plus an exponential,
   mean mean_kwh in all, at most 40 kWh: most EVs plugged in at home need a
   top-up, a few a full charge), then 0 after the EV's response time (it is full: SuspendedEV). The
   sum is built with a histogram of shifts convolved with each class's ramp
   and a difference array for the steady part, at 10 ms, averaged per second.

Peaks are of the 1 s averages. The peak ratio (with / without delay) depends
on how long the EVs still charge: the delay spreads when each charger starts
over max_delay_s, it does not shorten a charge; the largest 1 s load step
(the sudden switch-on the delay is there to prevent) shrinks with the number
of chargers per second of spread, and is reported too.
"""

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT / "firmware"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from evse import restart  # noqa: E402
from sim_hardware.charger import TICK_MS, Charger  # noqa: E402
from sim_hardware.plot_png import plot  # noqa: E402
from sim_hardware.sim_board import SimBoard  # noqa: E402

# (name, share in %, EV parameters): what plugs into a home charger
CLASSES = (
    ("7 kW 1-phase", 50, {"phases": 1, "max_ma": 32000, "response_ms": 1000,
                          "ramp_ma_per_s": 10000}),
    ("11 kW 3-phase", 30, {"phases": 3, "max_ma": 16000, "response_ms": 1500,
                           "ramp_ma_per_s": 8000}),
    ("3.7 kW 1-phase", 20, {"phases": 1, "max_ma": 16000, "response_ms": 500,
                            "ramp_ma_per_s": 0}),
)
TEMPLATE_MS = 20000
ENERGY_KWH = (0.2, 40.0)


def _power_w(ch):
    b = ch.board
    return sum(b.ev_current_ma[i] * b.mains_mv[i] for i in range(3)) / 1e6  # mA x mV = uW


def restoration(seed, ev_params, max_delay_s):
    """A charger booting (power back) with its EV plugged in and asking (C)."""
    ch = Charger({"random_delay_max_s": max_delay_s}, seed, trace=False)
    ch.ev.configure(soc_permille=200, **ev_params)
    ch.ev.plug("C", 220)
    return ch


class Template:
    """One EV class's power after a restoration without delay, per 10 ms tick."""

    def __init__(self, ev_params):
        ch = restoration(1, ev_params, 0)
        self.power = []
        self.offer_ms = -1
        for _ in range(TEMPLATE_MS // TICK_MS):
            ch.tick()
            if self.offer_ms < 0 and 0 < ch.board.duty_permille < 1000:
                self.offer_ms = ch.board.now_ms
            self.power.append(_power_w(ch))
        self.steady_w = self.power[-1]
        if self.steady_w <= 0 or self.offer_ms < 0:
            raise RuntimeError("calibration: the EV never charged")
        reach = len(self.power)
        while reach > 0 and self.power[reach - 1] == self.steady_w:
            reach -= 1
        self.ramp = self.power[:reach]  # ticks before steady power
        self.onset_ms = next(i for i, p in enumerate(self.power) if p > 0) * TICK_MS + TICK_MS
        self.ramp_wms = sum(self.ramp) * TICK_MS
        self.response_ms = ev_params["response_ms"]

    def shift_ms(self, delay_s):
        return max(delay_s * 1000, self.offer_ms) - self.offer_ms

    def end_ms(self, energy_wh):
        """ms after the shift when the EV stops drawing (full + its response)."""
        rest_wms = max(energy_wh * 3600e3 - self.ramp_wms, 0.0)
        ticks = int(rest_wms / self.steady_w / TICK_MS) + 1
        return (len(self.ramp) + ticks) * TICK_MS + self.response_ms


def draw_fleet(n, max_delay_s, seed, mean_kwh):
    """-> per charger (board seed, class index, delay_s, energy_wh)."""
    rng = random.Random(seed)
    weights = [share for _, share, _ in CLASSES]
    out = []
    for _ in range(n):
        board_seed = rng.getrandbits(32) or 1
        cls = rng.choices(range(len(CLASSES)), weights)[0]
        kwh = min(ENERGY_KWH[0] + rng.expovariate(1.0 / max(mean_kwh - ENERGY_KWH[0], 0.01)),
                  ENERGY_KWH[1])
        delay_s = restart.draw_s(max_delay_s, SimBoard(seed=board_seed, logs=False).random_u32)
        out.append((board_seed, cls, delay_s, kwh * 1000.0))
    return out


def check_sample(fleet, templates, max_delay_s, k):
    """Step 3: the real controller on k chargers of the fleet."""
    for board_seed, cls, delay_s, _wh in fleet[:k]:
        tpl = templates[cls]
        ch = restoration(board_seed, CLASSES[cls][2], max_delay_s)
        if ch.ctl.delay.delay_s != delay_s:
            raise RuntimeError("sample: controller drew %d s, fleet %d s"
                               % (ch.ctl.delay.delay_s, delay_s))
        expect_ms = tpl.shift_ms(delay_s) + tpl.onset_ms
        for _ in range(10):
            ch.tick()
        jump_ms = delay_s * 1000 - 200 - ch.board.now_ms  # to 200 ms before the delay ends
        if jump_ms > 0:
            ch.tick(jump_ms)  # nothing happens meanwhile: the delay runs
        while _power_w(ch) <= 0 and ch.board.now_ms < expect_ms + 5000:
            ch.tick()
        if ch.board.now_ms != expect_ms:
            raise RuntimeError("sample: charger %d started at %d ms, model %d ms"
                               % (board_seed, ch.board.now_ms, expect_ms))
    return k


def load_curve(fleet, templates, horizon_s, delayed):
    """Aggregate W per second for [0, horizon_s): histogram x ramp + steady."""
    bins = horizon_s * 1000 // TICK_MS
    diff = [0.0] * (bins + 1)
    load = [0.0] * bins
    starts = {}  # (class, shift bin) -> chargers
    for _seed, cls, delay_s, wh in fleet:
        tpl = templates[cls]
        shift = tpl.shift_ms(delay_s if delayed else 0) // TICK_MS
        starts[(cls, shift)] = starts.get((cls, shift), 0) + 1
        a = min(shift + len(tpl.ramp), bins)
        b = min(shift + tpl.end_ms(wh) // TICK_MS, bins)
        if b > a:
            diff[a] += tpl.steady_w
            diff[b] -= tpl.steady_w
    for (cls, shift), count in starts.items():
        ramp = templates[cls].ramp
        for j in range(min(len(ramp), bins - shift)):
            load[shift + j] += count * ramp[j]
    level = 0.0
    for i in range(bins):
        level += diff[i]
        load[i] += level
    per_s = 1000 // TICK_MS
    return [sum(load[i:i + per_s]) / per_s for i in range(0, bins, per_s)]


def _peak(curve):
    i = max(range(len(curve)), key=curve.__getitem__)
    return curve[i], i


def _step(curve):
    return max((curve[i] - curve[i - 1] for i in range(1, len(curve))), default=0.0)


def run(n=10000, out=None, max_delay_s=600, seed=1, mean_kwh=5.0, horizon_s=10800,
        sample=12, plot_s=None):
    t0 = time.perf_counter()
    templates = [Template(params) for _, _, params in CLASSES]
    fleet = draw_fleet(n, max_delay_s, seed, mean_kwh)
    checked = check_sample(fleet, templates, max_delay_s, min(sample, n))
    without = load_curve(fleet, templates, horizon_s, False)
    with_delay = load_curve(fleet, templates, horizon_s, True)
    p0, t_p0 = _peak(without)
    p1, t_p1 = _peak(with_delay)
    s0, s1 = _step(without), _step(with_delay)
    res = {"n": n, "max_delay_s": max_delay_s, "seed": seed, "sampled": checked,
           "peak_without_mw": p0 / 1e6, "peak_without_t_s": t_p0,
           "peak_with_mw": p1 / 1e6, "peak_with_t_s": t_p1, "peak_ratio": p1 / p0,
           "step_without_mw": s0 / 1e6, "step_with_mw": s1 / 1e6,
           "step_ratio": s1 / s0 if s0 else 0.0,
           "onset_ms": [t.onset_ms for t in templates]}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "fleet_load.csv", "w") as f:
            f.write("t_s,without_delay_kw,with_delay_kw\n")
            for i in range(len(without)):
                f.write("%d,%.3f,%.3f\n" % (i, without[i] / 1e3, with_delay[i] / 1e3))
        x_max = plot_s or min(horizon_s - 1, max_delay_s + 600)
        mw = 1e6
        plot(out / "fleet_load.png",
             [("without delay", (200, 40, 40), [v / mw for v in without]),
              ("random delay 0-%d s" % max_delay_s, (30, 80, 200),
               [v / mw for v in with_delay])],
             "%d chargers: power restored at t = 0" % n, "time after restoration (s)",
             "load (MW)", x_max)
        res["csv"] = str(out / "fleet_load.csv")
        res["png"] = str(out / "fleet_load.png")
    res["wall_s"] = time.perf_counter() - t0
    return res


def report(res):
    lines = [
        "fleet: %d chargers, delay 0..%d s, seed %d; %d sampled on the real controller, all "
        "matched" % (res["n"], res["max_delay_s"], res["seed"], res["sampled"]),
        "wall time %.2f s" % res["wall_s"],
        "peak load without delay %.2f MW (t=%d s); with delay %.2f MW (t=%d s); ratio %.3f" % (
            res["peak_without_mw"], res["peak_without_t_s"], res["peak_with_mw"],
            res["peak_with_t_s"], res["peak_ratio"]),
        "largest 1 s load step without delay %.3f MW; with delay %.3f MW; ratio %.4f" % (
            res["step_without_mw"], res["step_with_mw"], res["step_ratio"]),
    ]
    if "png" in res:
        lines.append("wrote %s and %s" % (res["csv"], res["png"]))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim_hardware.fleet", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10000, help="chargers (default 10000)")
    p.add_argument("--out", required=True, help="directory for fleet_load.csv / .png")
    p.add_argument("--max-delay-s", type=int, default=600, help="random_delay_max_s (600)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mean-kwh", type=float, default=5.0,
                   help="mean energy the EVs still need (default 5)")
    p.add_argument("--horizon-s", type=int, default=10800, help="curve length (default 3 h)")
    p.add_argument("--sample", type=int, default=12, help="chargers checked on the controller")
    args = p.parse_args(argv)
    if args.n < 1 or not 0 <= args.max_delay_s <= restart.CEILING_S or args.mean_kwh <= 0 \
            or args.horizon_s < 60 or args.sample < 0:
        p.error("need --n >= 1, --max-delay-s 0..%d, --mean-kwh > 0, --horizon-s >= 60, "
                "--sample >= 0" % restart.CEILING_S)
    print(report(run(args.n, args.out, args.max_delay_s, args.seed, args.mean_kwh,
                     args.horizon_s, args.sample)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
