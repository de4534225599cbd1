"""The SIGKILL loss machinery shared by the loss tests of both OCPP versions
(test_ocpp16_loss.py, test_ocpp201_loss.py): `python -m sim_hardware --meter SDM630` drives
charging sessions while a Killer thread SIGKILLs `python -m gateway` at random points and
starts it again with the same --state-dir; `run` returns what happened, for the version's
own checks against the test CSMS's record.

Half of the kills are aimed: 0-20 ms after the CSMS received a transaction message, inside
the window between a frame leaving and its answer being stored, so the queue recovery
(docs/ocpp.md "Exactly once and kill -9") runs in every run. Seeded: the seed is printed;
LOSS_SEED=N reruns one."""

import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from ocpp16_fixture import FAST_METER_ARGS, Gateway, Sim

TIME_SCALE = 2  # virtual seconds per real second: the sim's sessions run twice as fast
RECOVERY = re.compile(r"queue recovery: (\w+) (\d+) was in flight \(written (\d)\): (.*)")
CONFIG = {"reconnect_max_s": 1}


class Killer:
    """Kills the gateway at random points and starts it again (same --state-dir), on its
    own thread, until stopped. Each life lasts uniform(0.5, 4) s, or (aimed, half of
    them) ends 0-20 ms after the CSMS received a call of one of tx_actions."""

    def __init__(self, csms, sim, state_dir, rng, tx_actions, config=CONFIG):
        self.csms, self.sim, self.state_dir, self.rng = csms, sim, state_dir, rng
        self.tx_actions = frozenset(tx_actions)
        self.config = config
        self.gw = None
        self.kills = []  # "aimed" / "timed", in order: kill i ended life i
        self.logs = []  # the gateway's log of each life
        self._received = threading.Event()
        self._stop = threading.Event()
        csms.on_call = self._on_call
        self.thread = threading.Thread(target=self._run, name="killer", daemon=True)

    def _on_call(self, action, payload):
        if action in self.tx_actions:
            self._received.set()

    def start_gateway(self):
        self.gw = Gateway(self.csms.url, [self.sim.link_url], self.state_dir,
                          config=self.config,
                          ocpp=getattr(self.csms, "OCPP_VERSION", "1.6"))

    def _end_life(self):
        self.gw.stop()  # after a SIGKILL: only closes the log
        self.logs.append(self.gw.log_text())

    def _run(self):
        while not self._stop.is_set():
            if self.rng.random() < 0.5:
                self._received.clear()
                deadline = time.monotonic() + 5
                while not self._received.wait(0.05):
                    if self._stop.is_set() or time.monotonic() > deadline:
                        break
                time.sleep(self.rng.uniform(0.0, 0.02))
                kind = "aimed" if self._received.is_set() else "timed"
            else:
                self._stop.wait(self.rng.uniform(0.5, 4.0))
                kind = "timed"
            if self._stop.is_set():
                break
            self.gw.proc.kill()
            self.gw.proc.wait(5)
            self.kills.append(kind)
            self._end_life()
            self.start_gateway()

    def stop(self):
        self._stop.set()
        self.thread.join(30)


def session(sim, rng):
    """Plug in, charge 16 A on 3 phases for a moment, stop drawing, let the meter be read,
    unplug. -> the meter's import register (Wh) before and after: its truth."""
    before = sim.status()["meter"]["import_wh"]
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    sim.wait(lambda s: s["draw_ma"] > 0, 30, "current to flow")
    time.sleep(rng.uniform(0.6, 1.6))
    sim.control("draw", a=0)
    st = sim.wait(lambda s: s["draw_ma"] == 0 and not s["contacts"], 30, "the EV to stop")
    t0 = st["time_ms"]  # a meter poll after the current stopped: the firmware's last reading
    sim.wait(lambda s: s["time_ms"] >= t0 + 3 * 200, 30, "a meter poll")
    after = sim.status()["meter"]["import_wh"]
    sim.control("unplug")
    sim.wait(lambda s: s.get("wire_session") == "available", 30, "the session to end")
    return before, after


@dataclass
class LossRun:
    seed: int
    truth: list  # (meter register before, after) of each session, Wh
    kills: list  # "aimed" / "timed"
    recovered: list  # (action, message id, written "0"/"1", what) of each recovery logged
    in_flight: Counter  # (kill kind, action, written, decision) -> how many
    elapsed_s: float

    def report(self, sessions):
        print("loss test: %d sessions in %.0f s, %d kills (%s)" % (
            sessions, self.elapsed_s, len(self.kills), dict(Counter(self.kills))))
        for (kind, action, written, what), n in sorted(self.in_flight.items()):
            print("  after a %s kill: %s in flight, %s: %s (%d)" % (kind, action, written,
                                                                   what, n))


def run(csms, state_dir, sessions, tx_actions, configure, drained):
    """Start the sim and a gateway on csms, configure(csms) once the station is up, run
    `sessions` sessions under the Killer, then let the last life drain its queue until
    drained(csms) (60 s at most). -> LossRun."""
    seed = int(os.environ.get("LOSS_SEED", random.SystemRandom().randrange(1, 10**6)))
    print("loss test seed %d (LOSS_SEED=%d reruns it)" % (seed, seed))
    rng = random.Random(seed)
    t_start = time.monotonic()
    sim = Sim(extra_args=FAST_METER_ARGS + ("--time-scale", str(TIME_SCALE)))
    killer = None
    try:
        sim.control("set_ev", response_ms=100)
        killer = Killer(csms, sim, state_dir, rng, tx_actions)
        killer.start_gateway()
        csms.wait_status(1, "Available", timeout_s=20)
        configure(csms)
        killer.thread.start()
        truth = [session(sim, rng) for _ in range(sessions)]
        killer.stop()
        gw = killer.gw
        csms.wait_until(lambda: drained(csms), 60, "the queue to drain")
        time.sleep(1.5)  # a message or a copy still on its way
        gw.stop()
        killer.logs.append(gw.log_text())
    finally:
        if killer is not None:
            killer.stop()
            if killer.gw is not None:
                killer.gw.stop()
        sim.stop()
    elapsed = time.monotonic() - t_start

    # life i + 1 starts with the recovery of what kill i left in flight
    recovered = []
    in_flight = Counter()
    for kind, log in zip(killer.kills, killer.logs[1:], strict=False):
        for m in RECOVERY.finditer(log):
            recovered.append(m.groups())
            action, _, written, what = m.groups()
            in_flight[(kind, action, "written" if written == "1" else "not written",
                       what.split(":")[0])] += 1
    return LossRun(seed, truth, killer.kills, recovered, in_flight, elapsed)
