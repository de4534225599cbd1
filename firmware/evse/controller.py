# The charger controller: one tick() wires the pilot, the session table, the
# limits, the randomised delay, the failsafe, the owner's button, the MID
# meter and the link (DESIGN §3.2). Pure: the board is injected and is the
# only way out.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from evse import events as events_mod
from evse import limits as lim
from evse import power_quality as pq_mod
from evse import restart, session
from evse import settings as settings_mod
from evse.failsafe import Failsafe
from evse.meter import Meter
from evse.override import PRESS_LONG, PRESS_SHORT, Button
from evse.pilot import Pilot
from evse.tamper import Tamper
from evse.uplink import WIRE_SOURCE, Uplink, wire_reason
from evse.windows import EPOCH_UNIX_S, Windows
from hal import base as hal
from protocols import iec61851
from protocols import link_messages as lm

_WELD_DETECT_MS = const(200)  # feedback still closed this long after "open": welded
_CLOSE_DETECT_MS = const(1000)  # feedback still open this long after "close": failed to close
_EVENT_FLUSH_MS = const(1000)  # event log writes at most once a second (flash wear)
_TAMPER_FLUSH_MS = const(10000)  # a tamper event written at once, at most this often

# session state -> TELEMETRY.session (lm.SESSION_STATES, modelled on OCPP statuses):
# CONNECTED offers nothing (a pause, a delay, a 0 A limit): suspended_evse; OFFERED
# offers and the EV does not take it: suspended_ev
_WIRE_SESSION = (0, 3, 4, 2, 3, 3, 6, 7)
_WIRE_FINISHING = const(5)


class Controller:
    def __init__(self, board, settings=None):
        self.board = board
        now = board.ticks_ms()
        # AG-13: idle from the very first instant: no PWM offer, contactor open.
        board.set_contactor(0)
        board.set_pwm(iec61851.DUTY_X1_PERMILLE)
        self.duty_permille = iec61851.DUTY_X1_PERMILLE
        self.contactor = 0
        self.indicator = -1  # hal.base IND_* last shown
        self.contactor_since_ms = now
        self.boot_ms = now
        self.events = events_mod.EventLog(board, autoflush=False)
        problem = None
        if settings is None:
            settings, problem = settings_mod.load(board)
        else:
            settings, errors = settings_mod.validate(settings)
            if errors:
                raise ValueError("settings refused: %r" % (errors,))
        self.settings = settings
        self.reset_cause = board.reset_cause()
        # Wall clock in wall seconds (evse.windows: since 2020-01-01 UTC, small
        # ints on the boards; <= 0 = no valid time), set by TIME_SYNC.
        self.clock_synced = False
        self.wall_base_s = 0  # wall seconds at wall_base_ms
        self.wall_base_ms = 0
        self.wall_s = 0  # wall time now (whole seconds), updated once a second
        self._wall_next_ms = 0
        self.pilot = Pilot()
        self.session = session.Session(now)
        self.limits = lim.Limits(settings["max_current_ma"], settings["site_limit_ma"],
                                 settings["current_step_ma"], settings["pwm_min_interval_ms"])
        self.delay = restart.RandomDelay()
        self.windows = Windows(settings["no_charge_windows"], settings["utc_offset_mode"])
        self.window_blocked = False
        self.failsafe = Failsafe(settings["link_timeout_ms"])
        self._apply_failsafe_current(now)
        self.button = Button(board.button_pressed())
        self.tamper = Tamper(board.tamper(), now)  # UK-S8: logged; stops only if set to
        self.tamper_stops = settings["tamper_action"] == "stop"
        self.override = False  # AG-12: this session charges now, smart limits lifted
        self.owner_paused = False
        self.stopped = False  # CMD_STOP: no offer until unplugged
        self.available = True
        self.reset_request = -1  # CMD_RESET arg waiting for the contactor to open
        self.reset_now = -1  # main.py resets the board (0 soft, 1 hard) when >= 0
        self.fw = None  # the firmware update job (evse.fw_update), from the first FW_* message
        self.fw_resume = None  # (sha256 so far, bytes) of a stage the boot code re-hashed
        self.session_id = 0  # the current or last session (ids continue across boots)
        self.plugged = False
        self.cable_left = False  # the EV left, its cable is still in the socket (PP)
        self.ev_absent_seen = False  # state A read since boot: a later B/C/D is a real plug-in
        self._sched_seen_ma = -1  # schedule value last seen, for the UK-11 rate-change delay
        self.fault = 0
        self.ventilation_refused = False
        self._last_flush_ms = now
        self._tamper_flush_ms = now - _TAMPER_FLUSH_MS
        self.uplink = Uplink(self, board, now)
        self.log(lm.EV_BOOT, self.reset_cause)
        if self.events.problem:
            self.log(lm.EV_LOG_RESET, 0, 0, self.events.dropped, 0)
        if problem:
            self.log(lm.EV_SETTINGS, 1, 0, 0, 0)
        # AG-03 / UK-9: the meter poller; session ids continue across boots
        self.meter = Meter(board, settings["meter"], now, self.log)
        self.session_id = self.meter.energy.session_id
        self.pq = pq_mod.PowerQuality(settings)  # T7-PQ: the meter's voltage and frequency
        # AG-13 / UK-11: after power restoration stay idle for a random delay.
        delay_s = self._start_delay(now, restart.CAUSE_RESTORATION)
        self.log(lm.EV_POWER_RESTORED, self.reset_cause, 0, delay_s, 0)
        self.events.flush()

    # --- helpers -------------------------------------------------------------

    def log(self, code, a=0, b=0, c=0, d=0):
        """Append an event (delivered upstream at least once, events.py)."""
        if self.wall_s > 0:
            self.events.wall_clock = 1
            t = self.wall_s + EPOCH_UNIX_S  # the log and the link keep unix seconds
        else:
            self.events.wall_clock = 0
            t = (self.board.ticks_ms() - self.boot_ms) // 1000
        return self.events.add(t, code, a, b, c, d)

    def log_limit(self, wire_source=-1):
        """T7-LOG: the record of the last limits request, upstream; wire_source
        is the link's SRC_* of the requester (default: from the record)."""
        L = self.limits
        if wire_source < 0:
            wire_source = WIRE_SOURCE[L.rec_source] if L.rec_source >= 0 else 0
        self.log(lm.EV_LIMIT_APPLIED, wire_source, wire_reason(L.rec_reason), L.rec_asked_ma,
                 L.rec_applied_ma)

    def _log_expired(self, mask):
        # T7-LOG: a limit that ran out changed the offer like a removal did.
        s = 0
        while mask:
            if mask & 1:
                self.log(lm.EV_LIMIT_APPLIED, WIRE_SOURCE[s], lm.R_EXPIRED, -1,
                         self.limits.target_ma)
            mask >>= 1
            s += 1

    def _start_delay(self, now_ms, cause):
        max_s = self.settings["random_delay_max_s"]
        if not restart.should_delay(self.override, self.limits.dno_active, max_s):
            return 0
        delay_s = self.delay.start(now_ms, max_s, self.board.random_u32, cause)
        if delay_s:
            self.log(lm.EV_DELAY, 1, cause, delay_s, 0)
        return delay_s

    def _apply_failsafe_current(self, now_ms):
        self.limits.set(lim.SRC_FAILSAFE, self.settings["failsafe_current_ma"], now_ms)

    def failsafe_timeout_ms(self):
        """link_timeout_ms, or with 0 ("standalone") the timeout of a gateway that said
        HELLO: a charger behind a gateway always has its failsafe (AG-11)."""
        return self.settings["link_timeout_ms"] or self.uplink.peer_timeout_ms

    def apply_settings(self, now_ms):
        """A setting changed over the link (already validated): persist it and
        hand the new values to the parts that hold them."""
        s = self.settings
        settings_mod.save(self.board, s)
        L = self.limits
        L.configure(s["current_step_ma"], s["pwm_min_interval_ms"])
        L.set(lim.SRC_HARDWARE, s["max_current_ma"], now_ms)
        L.set(lim.SRC_SITE, s["site_limit_ma"], now_ms)
        self._apply_failsafe_current(now_ms)
        self.windows.configure(s["no_charge_windows"], s["utc_offset_mode"])
        self.failsafe.timeout_ms = self.failsafe_timeout_ms()
        if s["meter"] is not self.meter.cfg:  # set_value replaces the meter dict
            self.meter.configure(s["meter"], now_ms)
        self._apply_meter_action(now_ms)
        self.pq.configure(s)
        self._apply_pq_limit(now_ms)
        self.tamper_stops = s["tamper_action"] == "stop"
        self.log(lm.EV_SETTINGS, 0, 0, 0, 0)
        self.uplink.changed = True

    def set_wall_clock(self, wall_ms, now_ms):
        """TIME_SYNC from the gateway (AG-02), in wall ms (the uplink converts
        the link's unix_ms: unix_ms - EPOCH_UNIX_S * 1000)."""
        self.clock_synced = True
        self.wall_base_s = wall_ms // 1000
        self.wall_base_ms = now_ms - wall_ms % 1000
        self.wall_s = self.wall_base_s + (now_ms - self.wall_base_ms) // 1000
        self._wall_next_ms = self.wall_base_ms + (self.wall_s - self.wall_base_s + 1) * 1000

    def _clock(self, now_ms):
        # Whole wall seconds, recomputed once a second: small ints only (wall
        # seconds until 2054, ticks_ms below 2**30 = 12.4 days of uptime).
        if self.clock_synced and now_ms >= self._wall_next_ms:
            self.wall_s = self.wall_base_s + (now_ms - self.wall_base_ms) // 1000
            self._wall_next_ms += 1000
        return self.wall_s

    # --- owner and link requests ---------------------------------------------

    def set_override(self, on, by_link, now_ms):
        """AG-12: start or end the owner's override; reported upstream."""
        on = bool(on)
        if on == self.override:
            return
        self.override = on
        if on:
            self.owner_paused = False
            if self.delay.cancel():
                self.log(lm.EV_DELAY, 0, 1, 0, 0)
        self.log(lm.EV_OVERRIDE, int(on), int(by_link), 0, 0)

    def command(self, cmd, arg, now_ms):
        """Link COMMAND -> ST_* status. Every command is logged (T7-LOG)."""
        st = lm.ST_OK
        if cmd == lm.CMD_START:
            self.stopped = False
            self.owner_paused = False
        elif cmd == lm.CMD_STOP:
            self.stopped = self.session.state != session.IDLE
        elif cmd == lm.CMD_PAUSE:
            self.owner_paused = True
        elif cmd == lm.CMD_RESUME:
            self.owner_paused = False
        elif cmd == lm.CMD_AVAILABILITY:
            self.available = bool(arg)
            self.log(lm.EV_AVAILABILITY, int(self.available), 0, 0, 0)
        elif cmd == lm.CMD_RESET:
            self.reset_request = 1 if arg else 0
        elif cmd == lm.CMD_OVERRIDE:
            if arg and self.session.state == session.IDLE:
                st = lm.ST_REJECTED  # nothing plugged: override is per session
            else:
                self.set_override(arg, True, now_ms)
        elif cmd == lm.CMD_UNLOCK:
            st = lm.ST_UNSUPPORTED  # no lock actuator on the reference boards
        else:
            st = lm.ST_UNKNOWN
        self.log(lm.EV_COMMAND, cmd, st, arg, 0)
        return st

    # --- the control step -----------------------------------------------------

    def _hardware_fault(self, now_ms):
        b = self.board
        if b.rcd_fault():
            return lm.FAULT_RCD
        fb = b.contactor_feedback()
        if fb >= 0 and fb != self.contactor:
            waited = now_ms - self.contactor_since_ms
            if self.contactor == 0 and waited >= _WELD_DETECT_MS:
                return lm.FAULT_WELDED
            if self.contactor == 1 and waited >= _CLOSE_DETECT_MS:
                return lm.FAULT_NOT_CLOSED
        if self.pilot.invalid_fault:
            return lm.FAULT_PILOT
        if self.limits.limit_ma(lim.SRC_CABLE) == 0 and self.session.state != session.IDLE:
            return lm.FAULT_PP
        return 0

    def _on_plug(self, now_ms):
        # IEC-PP: the cable's rating caps the offer for this session.
        tethered_ma = self.settings["tethered_cable_ma"]
        rating = tethered_ma if tethered_ma else iec61851.cable_rating_ma(self.board.pp_ohms())
        self.limits.set(lim.SRC_CABLE, rating if rating > 0 else 0, now_ms)
        self.plugged = True
        self.cable_left = False
        self.log(lm.EV_PLUG, self.pilot.state - iec61851.STATE_A, 0, rating, 0)
        # UK-9: the session's energy counts from the import register now
        self.session_id, register_wh = self.meter.session_start(now_ms)
        self.log(lm.EV_SESSION_START, 0, 0, self.session_id, register_wh)
        # UK-11: a random delay when charging would start. An EV already
        # plugged in at boot is covered by the restoration delay (AG-13): a
        # second draw would make short delays rarer than uniform.
        if self.ev_absent_seen and not self.delay.active(now_ms):
            self._start_delay(now_ms, restart.CAUSE_CHARGE_START)

    def _on_unplug(self, now_ms):
        self.plugged = False
        # Unplugged at the EV end only: the socket still reads the cable's PP resistor
        # (OCPP 1.6 Finishing until it is taken out). A tethered cable never leaves.
        self.cable_left = (not self.settings["tethered_cable_ma"]
                           and iec61851.cable_rating_ma(self.board.pp_ohms()) > 0)
        self.limits.clear(lim.SRC_CABLE, now_ms)
        self.set_override(False, False, now_ms)
        self.owner_paused = False
        self.stopped = False
        self.log(lm.EV_UNPLUG)
        self.log(lm.EV_SESSION_STOP, lm.STOP_UNPLUG, 0, self.session_id,
                 self.meter.energy.stop(now_ms))

    def _apply_meter_action(self, now_ms):
        """AG-03: what a meter fault does to charging (meter_fault_action:
        continue, limit to meter_fault_limit_ma, stop). The meter can only
        lower the offer; nothing that keeps the charge safe waits for it."""
        s = self.settings
        action = s["meter_fault_action"]
        want = -1
        if self.meter.fault and action != "continue":
            want = s["meter_fault_limit_ma"] if action == "limit" else 0
        L = self.limits
        if want != L.limit_ma(lim.SRC_METER):
            if want < 0:
                L.clear(lim.SRC_METER, now_ms)
            else:
                L.set(lim.SRC_METER, want, now_ms)
            self.log_limit()
        self.uplink.changed = True

    def _on_power_quality(self, event, now_ms):
        """T7-PQ: the supply left the band (ENTERED) or is back in it for the
        hold (LEFT): reported upstream, the response's limit applies at once;
        on leaving, the rate rises only after the UK-11 randomised delay
        (charging would start or rise), the limit holding meanwhile."""
        q = self.pq
        entered = event == pq_mod.ENTERED
        self.log(lm.EV_POWER_QUALITY, 1 if entered else 0, q.cause | q.phase << 8,
                 q.voltage_mv, q.frequency_mhz)
        if not entered:
            # only a limit that binds makes the rate rise when it goes
            if (self.limits.binding_source == lim.SRC_POWER_QUALITY and self.plugged
                    and not self.delay.active(now_ms)):
                self._start_delay(now_ms, restart.CAUSE_CHARGE_START if q.limit_ma == 0
                                  else restart.CAUSE_RATE_CHANGE)
            if not self.delay.active(now_ms):
                q.resumed()
        self._apply_pq_limit(now_ms)
        self.uplink.changed = True

    def _apply_pq_limit(self, now_ms):
        # the response's limit (SRC_POWER_QUALITY) while one is in force
        want = self.pq.limit_in_force_ma()
        L = self.limits
        if want != L.limit_ma(lim.SRC_POWER_QUALITY):
            if want < 0:
                L.clear(lim.SRC_POWER_QUALITY, now_ms)
            else:
                L.set(lim.SRC_POWER_QUALITY, want, now_ms)
            self.log_limit()

    def meter_service(self):
        """Between control ticks (main.py calls it while meter.busy): the
        Modbus transaction moves on as soon as the line allows (P7); a fault
        it finds is acted on at the next tick."""
        m = self.meter
        try:
            m.tick(self.board.ticks_ms())
        except Exception as e:  # safety never depends on the meter
            m.crashed(e, self.board.ticks_ms())

    def _on_transition(self, prev, state, now_ms):
        if state == session.FAULT:
            self.log(lm.EV_FAULT, self.session.fault, 1, 0, 0)
        if prev == session.FAULT:
            self.log(lm.EV_FAULT, self.session.last_fault, 0, 0, 0)
        self.log(lm.EV_STATE, prev, state, 0, 0)
        self.uplink.changed = True

    def _update_window(self, wall_s, now_ms):
        blocked = self.windows.blocked(wall_s)
        if blocked != self.window_blocked:
            self.window_blocked = blocked
            if blocked:
                self.limits.set(lim.SRC_WINDOW, 0, now_ms)
            else:
                self.limits.clear(lim.SRC_WINDOW, now_ms)
            self.log_limit()
            if not blocked and self.plugged and not self.delay.active(now_ms):
                # UK-11: the end of a no-charge window is when charging would start
                self._start_delay(now_ms, restart.CAUSE_CHARGE_START)

    def tick(self):
        b = self.board
        now = b.ticks_ms()
        self.uplink.receive(now)
        wall_s = self._clock(now)
        press = self.button.update(now, b.button_pressed())
        if press:
            self._on_press(press, now)
        sec = self.tamper.update(now, b.tamper())
        if sec:
            self.log(lm.EV_SECURITY, sec)
            # in flash (and so sendable) at once, not at the next 1 s flush: the record
            # survives a power cut right after the lid came off. At most one such write per
            # _TAMPER_FLUSH_MS: a chattering switch falls back to the 1 s flush (wear).
            if now - self._tamper_flush_ms >= _TAMPER_FLUSH_MS:
                self._tamper_flush_ms = now
                self._last_flush_ms = now
                self.events.flush()
            self.uplink.changed = True
            if (sec == lm.SEC_TAMPER_CLOSED and self.tamper_stops and self.plugged
                    and not self.delay.active(now)):
                # UK-11: the lid back on is when charging would start again
                self._start_delay(now, restart.CAUSE_CHARGE_START)
        fs = self.failsafe.update(now)
        if fs:
            self.log(lm.EV_FAILSAFE, 1 if fs > 0 else 0, 0,
                     self.settings["failsafe_current_ma"], 0)
            self.uplink.changed = True
        m = self.meter
        try:
            m.tick(now)
        except Exception as e:  # safety never depends on the meter: the tick goes on
            m.crashed(e, now)
        if m.changed:
            m.changed = False
            self._apply_meter_action(now)
        q = self.pq
        pq = q.update(m, now)
        if pq:
            self._on_power_quality(pq, now)
        elif q.state == pq_mod.RESUMING and not self.delay.active(now):
            q.resumed()  # the randomised delay is over: the rate may rise
            self._apply_pq_limit(now)
            self.uplink.changed = True
        drive = session.DRIVE[self.session.state]
        if drive == session.DRIVE_F:
            cp = self.pilot.read_in_f(b)
        else:
            cp = self.pilot.read(b, now, drive == session.DRIVE_PWM)
        if self.plugged:
            if cp == iec61851.STATE_A:
                self._on_unplug(now)
        elif iec61851.STATE_B <= cp <= iec61851.STATE_D:
            self._on_plug(now)
        elif cp == iec61851.STATE_A:
            self.ev_absent_seen = True
            if self.cable_left and iec61851.cable_rating_ma(b.pp_ohms()) <= 0:
                self.cable_left = False  # the cable is out of the socket too
                self.uplink.changed = True
        self._update_window(wall_s, now)
        L = self.limits
        link_lost = self.failsafe.active
        L.offered_ma(now, wall_s, self.override, link_lost)
        self._follow_schedule(now)
        applied = L.update(now, wall_s, self.override, link_lost)
        if L.expired_mask:
            self._log_expired(L.take_expired())
            self.uplink.changed = True
        delaying = self.delay.active(now)
        if self.delay.ran_out:  # UK-11: the end of a delay is reported like its start
            self.delay.ran_out = False
            self.log(lm.EV_DELAY, 0, 0, 0, 0)
        if delaying and (self.override or L.dno_active):
            self.delay.cancel()  # UK-11: not during override or a DSR response
            self.log(lm.EV_DELAY, 0, 1, 0, 0)
            delaying = False
        # A rate-change delay holds the old rate; the others hold the EVSE idle.
        held_idle = delaying and self.delay.cause != restart.CAUSE_RATE_CHANGE
        tamper_held = self.tamper_stops and self.tamper.open
        offer = (applied > 0 and not held_idle and not self.owner_paused and not self.stopped
                 and not tamper_held)
        prev = self.session.state
        state = self.session.step(now, cp, offer, self._hardware_fault(now),
                                  self.settings["allow_ventilation"], self.available,
                                  self.pilot.diode_checked())
        if state != prev:
            self._on_transition(prev, state, now)
        self._drive(state, applied, now)
        self._show(state, held_idle, now)
        if self.fw is not None:  # an update waits for the charger to be idle to swap
            self.fw.tick(now)
        if self.reset_request >= 0 and not self.contactor:
            self.reset_now = self.reset_request
            self.reset_request = -1
            self.events.flush()
        self.uplink.transmit(now)
        if self.events.dirty and now - self._last_flush_ms >= _EVENT_FLUSH_MS:
            self._last_flush_ms = now
            self.events.flush()
        b.wdt_feed()

    def _follow_schedule(self, now_ms):
        # UK-11: a schedule-driven rise or fall waits out a random delay; the
        # old rate holds meanwhile (limits.hold_schedule).
        L = self.limits
        sched_ma = L.schedule_ma
        if sched_ma != self._sched_seen_ma:
            old_ma = self._sched_seen_ma
            self._sched_seen_ma = sched_ma
            if self.plugged and not self.delay.active(now_ms):
                if self._start_delay(now_ms, restart.CAUSE_RATE_CHANGE):
                    L.hold_schedule(old_ma)
        if L.schedule_held and not self.delay.active(now_ms):
            L.release_schedule()

    def _on_press(self, press, now_ms):
        if press == PRESS_SHORT and self.session.state != session.IDLE:
            self.set_override(not self.override, False, now_ms)
        elif press == PRESS_LONG:
            self.owner_paused = not self.owner_paused
            self.log(lm.EV_COMMAND, lm.CMD_PAUSE if self.owner_paused else lm.CMD_RESUME,
                     lm.ST_OK, 0, 1)

    def _drive(self, state, applied_ma, now_ms):
        drive = session.DRIVE[state]
        if drive == session.DRIVE_PWM:
            duty = iec61851.duty_from_current(applied_ma)
        elif drive == session.DRIVE_F:
            duty = iec61851.DUTY_F_PERMILLE
        else:
            duty = iec61851.DUTY_X1_PERMILLE
        b = self.board
        contactor = session.CONTACTOR[state]
        if contactor != self.contactor:
            self.contactor = contactor
            self.contactor_since_ms = now_ms
            b.set_contactor(contactor)
            self.uplink.changed = True
        if duty != self.duty_permille:
            self.duty_permille = duty
            b.set_pwm(duty)
            self.uplink.changed = True

    def _show(self, state, held_idle, now_ms):
        # The LED / display (hal.base IND_*): what a person at the charger needs.
        if state == session.FAULT or state == session.UNAVAILABLE:
            code = hal.IND_FAULT
        elif self.override and state != session.IDLE:
            code = hal.IND_OVERRIDE
        elif state == session.CHARGING or state == session.PAUSING:
            code = hal.IND_CHARGING
        elif held_idle:
            code = hal.IND_DELAYED
        elif state == session.IDLE:
            code = hal.IND_READY
        elif (self.limits.target_ma == 0 or self.owner_paused or self.stopped
              or (self.tamper_stops and self.tamper.open)):
            code = hal.IND_PAUSED
        else:
            code = hal.IND_CONNECTED
        if code != self.indicator:
            self.indicator = code
            self.board.set_indicator(code)

    # --- status ---------------------------------------------------------------

    def wire_session(self):
        if self.stopped and self.session.state != session.IDLE:
            return _WIRE_FINISHING
        if self.cable_left and self.session.state == session.IDLE:
            return _WIRE_FINISHING
        return _WIRE_SESSION[self.session.state]

    def status(self):
        """A dict for tests, the sim and the gateway's diagnostics (DESIGN §3.2)."""
        now = self.board.ticks_ms()
        L = self.limits
        return {
            "cp_state": iec61851.STATE_NAMES[self.pilot.state],
            "cp_high_mv": self.pilot.high_mv,
            "cp_low_mv": self.pilot.low_mv,
            "duty_permille": self.duty_permille,
            "offered_ma": L.applied_ma if session.DRIVE[self.session.state] == 1 else 0,
            "target_ma": L.target_ma,
            "limit_source": lim.SOURCE_NAMES[L.binding_source],
            "contactor": self.contactor,
            "session": session.NAMES[self.session.state],
            "fault": self.session.fault,
            "failsafe": self.failsafe.active,
            "override": self.override,
            "owner_paused": self.owner_paused,
            "stopped": self.stopped,
            "available": self.available,
            "tamper": self.tamper.state(),
            "delay_remaining_s": self.delay.remaining_s(now),
            "window_blocked": self.window_blocked,
            "unix_s": self.wall_s + EPOCH_UNIX_S if self.clock_synced else 0,
            "wall_s": self.wall_s,
            "events_pending": self.events.pending_count(),
            "event_seq": self.events.next_seq,
            "reset_now": self.reset_now,
            "meter": self.meter.status(now),
            "power_quality": self.pq.status(),
        }
