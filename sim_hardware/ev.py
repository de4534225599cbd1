# EV models on the sim board (IEC 61851-1 Annex A, DESIGN §8), MicroPython
# subset, integers only. The EV acts on the board the way a car acts on the
# pilot line: it switches its resistors (set_ev_state: B 2.74 kOhm, C 882 Ohm,
# D 246 Ohm), reads the offer from the PWM duty (what its pilot circuit
# measures: protocols.iec61851.current_from_duty), and draws current through the
# contactor (board.ev_current_ma, per phase, negative when it exports).
#
# The basic EV: B on plug-in; C once it wants energy and sees an offer (B2 ->
# C2, EVerest's iec_wait_pwr_ready); it draws min(offered, max_ma) on 1 or 3
# phases, response_ms after the contacts closed or the offer changed (Annex A
# gives an EV about 5 s to follow a new duty), ramping at ramp_ma_per_s
# (0 = a step); without PWM (x1, F) it stops drawing within response_ms and
# stays in its state (C1); at full_permille it stops drawing and goes back to
# B (SuspendedEV). Its battery integrates the energy that flowed (mains
# voltage x current, per phase) into the state of charge (AG-07).
#
# Variants are parameter sets (KINDS): needs ventilation (asks D), missing or
# shorted diode, CP shorted to PE (state E), slow to follow a lower duty,
# keeps drawing after the PWM stops, bidirectional (discharges: AG-06).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import iec61851

_MWS_PER_MWH = const(3600000)  # 1 mWh = 3,600,000 mW·ms

# Each parameter: (default, lowest, highest). Times in ms, currents in mA.
PARAMS = {
    "max_ma": (32000, 0, 80000),  # the on-board charger's limit per phase
    "phases": (3, 1, 3),  # 1 or 3 (2 is accepted: some EVs charge on two)
    "capacity_wh": (60000, 1, 200000),
    "soc_permille": (500, 0, 1000),  # state of charge now
    "full_permille": (1000, 1, 1000),  # stops charging here (the EV's target)
    "min_permille": (200, 0, 1000),  # a discharging EV stops here
    "response_ms": (1000, 0, 60000),  # reaction to an offer, a pause, a full battery
    "follow_down_ms": (-1, -1, 600000),  # reaction to a lower duty (-1: response_ms)
    "ramp_ma_per_s": (0, 0, 1000000),  # current rise per second (0: a step)
    "ready": (1, 0, 1),  # the driver wants energy
    "ventilation": (0, 0, 1),  # asks for state D instead of C
    "diode": (1, 0, 1),  # 0: diode missing or shorted (IEC-DIODE)
    "cp_short": (0, 0, 1),  # 1: CP shorted to PE (state E)
    "ignores_x1": (0, 0, 1),  # 1: keeps drawing after the PWM stops (IEC-X1)
    "bidirectional": (0, 0, 1),  # can export (V2G): AG-06 discharging
    "discharge": (0, 0, 1),  # a bidirectional EV asked to export
    "discharge_max_ma": (16000, 0, 80000),
}

# Behaviour of each model: every flag not named here is its default.
_FLAGS = ("ventilation", "diode", "cp_short", "ignores_x1", "bidirectional", "discharge",
          "follow_down_ms")
KINDS = {
    "basic": {},
    "ventilation": {"ventilation": 1},
    "no_diode": {"diode": 0},
    "cp_short": {"cp_short": 1},
    "slow_follow": {"follow_down_ms": 8000},  # over the ~5 s Annex A gives
    "ignores_x1": {"ignores_x1": 1},
    "bidirectional": {"bidirectional": 1},
}


class EV:
    """One EV on a SimBoard. plug() / unplug(), configure(**params), kind(name),
    step(now_ms) each tick. Read: state ("A" unplugged, "B", "C", "D"),
    draw_ma (signed, per phase, before the contactor), soc_permille(),
    soc_percent(), energy_in_wh() / energy_out_wh(), over_offer_ms (time spent
    drawing more than offered, contacts closed)."""

    def __init__(self, board, kind="basic", **params):
        self.board = board
        for name in PARAMS:
            if name != "soc_permille":  # not an attribute: the battery holds it
                setattr(self, name, PARAMS[name][0])
        self.state = "A"
        self.plugged = False
        self.pp_ohms = 220
        self.draw_ma = 0  # the on-board charger's current, signed
        self.target_ma = 0
        self._target_since_ms = 0
        self._ask = "A"  # state the EV is about to switch to
        self._ask_since_ms = 0
        self._last_ms = -1
        self._acc_mwms = 0  # energy not yet a whole mWh, mW·ms
        self.in_mwh = 0
        self.out_mwh = 0
        self.over_offer_ms = 0
        self.stored_mwh = self.capacity_wh * PARAMS["soc_permille"][0]  # Wh x permille = mWh
        self.kind_name = "basic"
        self.kind(kind)
        self.configure(**params)

    # --- configuration --------------------------------------------------------

    def kind(self, name):
        """Switch to one of KINDS: its flags, the others back to their defaults.
        Battery, current and phase settings stay."""
        if name not in KINDS:
            raise ValueError("EV kind must be one of %s, got %r"
                             % (", ".join(sorted(KINDS)), name))
        flags = {}
        for f in _FLAGS:
            flags[f] = PARAMS[f][0]
        preset = KINDS[name]
        for f in preset:
            flags[f] = preset[f]
        self.kind_name = name
        self.configure(**flags)

    def configure(self, **params):
        """Set parameters (names and ranges in PARAMS); ValueError names a bad one."""
        for name in params:
            if name not in PARAMS:
                raise ValueError("unknown EV parameter %r" % (name,))
            value = params[name]
            lo, hi = PARAMS[name][1], PARAMS[name][2]
            if type(value) is not int or not lo <= value <= hi:
                raise ValueError("EV %s must be an int in %d..%d, got %r" % (name, lo, hi, value))
        if params.get("discharge") and not params.get("bidirectional", self.bidirectional):
            raise ValueError("only a bidirectional EV can discharge")
        soc = params.get("soc_permille", self.soc_permille())  # kept when the capacity changes
        for name in params:
            if name != "soc_permille":
                setattr(self, name, params[name])
        if "soc_permille" in params or "capacity_wh" in params:
            self.stored_mwh = self.capacity_wh * soc
            self._acc_mwms = 0
        if self.plugged:
            self._apply_faults()

    def _apply_faults(self):
        b = self.board
        if self.diode:
            b.restore_diode()
        else:
            b.remove_diode()
        if self.cp_short:
            b.short_cp()
        else:
            b.clear_short()

    # --- plug -------------------------------------------------------------------

    def plug(self, state="B", pp_ohms=220):
        """The cable goes in with the EV in state B (or C / D: already asking)."""
        if state not in ("B", "C", "D"):
            raise ValueError("an EV plugs in in state B, C or D")
        self.board.plug(state, pp_ohms)
        self.plugged = True
        self.pp_ohms = pp_ohms
        self.state = state
        self._ask = state
        self._apply_faults()

    def unplug(self, keep_cable=False):
        """The EV leaves (state A). keep_cable: the cable is taken out at the EV end only and
        stays in the socket (its PP resistor still reads); a later unplug() takes it out."""
        if keep_cable:
            self.board.set_ev_state("A")
            self.board.restore_diode()
        else:
            self.board.unplug()
        self.board.clear_short()
        self.plugged = False
        self.state = "A"
        self._ask = "A"
        self.draw_ma = 0
        self.target_ma = 0
        self._write(0)

    # --- battery ------------------------------------------------------------------

    def soc_permille(self):
        return self.stored_mwh // self.capacity_wh  # mWh / Wh = permille

    def soc_percent(self):
        """AG-07: what the EV (or its maker's API) reports, whole percent."""
        return self.stored_mwh // (self.capacity_wh * 10)

    def energy_in_wh(self):
        return self.in_mwh // 1000

    def energy_out_wh(self):
        return self.out_mwh // 1000

    def _integrate(self, dt_ms, current_ma):
        if dt_ms <= 0 or current_ma == 0:
            return
        mains_mv = self.board.mains_mv
        p_mw = 0
        for i in range(self.phases):
            p_mw += current_ma * mains_mv[i] // 1000  # mA x mV = uW
        self._acc_mwms += p_mw * dt_ms
        whole = self._acc_mwms // _MWS_PER_MWH  # floor: also for a negative sum
        self._acc_mwms -= whole * _MWS_PER_MWH
        if whole > 0:
            self.in_mwh += whole
        else:
            self.out_mwh -= whole
        top = self.capacity_wh * 1000
        self.stored_mwh = min(max(self.stored_mwh + whole, 0), top)

    # --- one tick ------------------------------------------------------------------

    def _wants(self):
        soc = self.soc_permille()
        if self.discharge:
            return soc > self.min_permille
        return self.ready and soc < self.full_permille

    def step(self, now_ms):
        b = self.board
        dt = now_ms - self._last_ms if self._last_ms >= 0 else 0
        self._last_ms = now_ms
        if not self.plugged:
            self._write(0)
            return
        closed = b.contacts_closed()
        flowing = self.draw_ma if closed else 0
        self._integrate(dt, flowing)
        offered = iec61851.current_from_duty(b.duty_permille)
        pwm = offered > 0  # x1, F, 5 % (HLC) and illegal duties offer nothing
        if not pwm:
            offered = 0
        if (flowing > offered or -flowing > offered) and dt > 0:
            self.over_offer_ms += dt
        wants = self._wants()
        asking = self.state == "C" or self.state == "D"
        # the state the EV asks for
        if not wants:
            ask = "B"
        elif pwm:
            ask = "D" if self.ventilation else "C"
        else:
            ask = self.state  # C1 / B1: waits for an offer in the state it is in
        # the current it wants
        if asking and closed and pwm and wants:
            limit = self.discharge_max_ma if self.discharge else self.max_ma
            target = min(offered, limit)
            if self.discharge:
                target = -target
        elif asking and closed and self.ignores_x1 and not pwm and wants:
            target = self.target_ma  # IEC-X1 fault: carries on as if nothing happened
        else:
            target = 0
        if target != self.target_ma:
            self.target_ma = target
            self._target_since_ms = now_ms
        self._follow(now_ms, dt)
        if ask != self.state:
            if ask != self._ask:
                self._ask = ask
                self._ask_since_ms = now_ms
            if now_ms - self._ask_since_ms >= self.response_ms:
                self.state = ask
                b.set_ev_state(ask)
        else:
            self._ask = ask
        self._write(self.draw_ma if closed else 0)

    def _follow(self, now_ms, dt):
        target = self.target_ma
        draw = self.draw_ma
        if draw == target:
            return
        # a lower (non-zero) duty: follow_down_ms; a stop, a start or a rise: response_ms
        lower = (0 < target < draw) or (draw < target < 0)
        wait = self.follow_down_ms if lower and self.follow_down_ms >= 0 else self.response_ms
        if now_ms - self._target_since_ms < wait:
            return
        ramp = self.ramp_ma_per_s
        if lower or target == 0 or ramp == 0:
            self.draw_ma = target
            return
        step_ma = ramp * dt // 1000 if dt > 0 else ramp
        if step_ma < 1:
            step_ma = 1
        if target > draw:
            self.draw_ma = min(draw + step_ma, target)
        else:
            self.draw_ma = max(draw - step_ma, target)

    def _write(self, current_ma):
        out = self.board.ev_current_ma
        for i in range(3):
            out[i] = current_ma if i < self.phases else 0

    def describe(self):
        """The EV as a dict (control status, reports)."""
        return {"kind": self.kind_name, "plugged": self.plugged, "state": self.state,
                "draw_ma": self.draw_ma, "max_ma": self.max_ma, "phases": self.phases,
                "soc_percent": self.soc_percent(), "soc_permille": self.soc_permille(),
                "capacity_wh": self.capacity_wh, "energy_in_wh": self.energy_in_wh(),
                "energy_out_wh": self.energy_out_wh(), "ready": self.ready,
                "discharge": self.discharge, "over_offer_ms": self.over_offer_ms}
