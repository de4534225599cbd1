"""The lab on the emulated charger: sim_hardware's Charger (the firmware controller on the
sim board, with an EV, the mains and an emulated MID meter) in virtual time, and this lab
as the gateway on its link. Every observation is one a test lab makes from outside: the
duty and the contacts on the board's pins, the current the EV draws, the link's frames."""

from conformance.link_peer import LinkPeer
from sim_hardware import commands
from sim_hardware.charger import TICK_MS, Charger

SAMPLE_MS = 100  # plot resolution


class SimLab(LinkPeer):
    capabilities = frozenset(("pilot", "contactor", "load", "meter", "mains", "button", "link",
                              "restorations", "tamper"))
    virtual_time = True

    def __init__(self, settings=None, seed=1, meter=None, ev="basic"):
        self.ch = Charger(settings, seed=seed, ev=ev, trace=False, meter=meter)
        self.board = self.ch.board
        self._link_init()
        self.samples = []
        self._next_sample = 0

    # --- time ---------------------------------------------------------------------

    @property
    def now_ms(self):
        return self.board.now_ms

    def _tick(self, ms=TICK_MS):
        self.ch.tick(ms)
        now = self.board.now_ms
        self._link_feed(self.board.link_take())
        self._link_poll()
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_MS
            self.samples.append((now, self.duty_permille(), int(self.contactor_closed()),
                                 self.ev_current_ma()))

    def advance(self, ms, step_ms=TICK_MS):
        """ms of the lab's clock; step_ms > 10 samples coarser (long holds, many
        restorations): the charger then sees one tick per step."""
        for _ in range(max(ms // step_ms, 1)):
            self._tick(step_ms)

    def wait_until(self, pred, timeout_ms, step_ms=TICK_MS):
        """-> ms until pred() held (checked after every step), None after timeout_ms."""
        start = self.now_ms
        while not pred():
            if self.now_ms - start >= timeout_ms:
                return None
            self._tick(step_ms)
        return self.now_ms - start

    # --- the world ----------------------------------------------------------------

    def do(self, command, **args):
        reply, _ = commands.run(self.ch, command, args)
        return reply

    def force_cp(self, high_mv, low_mv):
        """The pilot line held at a voltage no EV state gives (a programmable load)."""
        self.board.force_cp(high_mv, low_mv)

    def release_cp(self):
        self.board.release_cp()

    def restore_now(self):
        """Power back at once after a power_cut (the cut's own timer otherwise)."""
        self.ch.restore()

    # --- what is measured -------------------------------------------------------

    def duty_permille(self):
        return self.board.duty_permille

    def contactor_closed(self):
        return bool(self.board.contacts_closed())

    def ev_current_ma(self):
        return self.board.ev_current_ma[0]

    def cp_high_mv(self):
        return self.board.cp_high_mv()

    def meter_truth_wh(self):
        return self.ch.meter.energy_wh()[0]

    # --- the link, as the gateway (conformance/link_peer.py) -------------------------

    def _link_write(self, data):
        self.board.link_inject(data)
