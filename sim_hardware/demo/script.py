"""The scripted session: STEPS is the table a person follows on the dashboard, one row per
step (key, title, what to watch, the function that does it). Each function acts on the
charger (its control socket: what a person and the car do), the CSMS (OCPP) or the DNO's
MQTT client, waits for what must follow (bounded waits: Runner.wait raises StepFailed
naming what did not happen) and returns the facts it measured for the summary. The same
steps run on OCPP 1.6 and 2.0.1: the calls come from sim_hardware/csms_calls.py (`r.v`), what
the CSMS recorded is read by sim_hardware/csms_view.py (transactions, notices)."""

import time

from protocols.iec61851 import duty_from_current
from sim_hardware.csms_calls import for_csms
from sim_hardware.csms_view import device, transactions_of
from sim_hardware.demo.processes import PartFailed

PLUG_PP_OHMS = 220  # a 32 A cable (IEC 61851-1 PP)
EV_A = 32  # the EV's on-board charger, per phase, 3 phases
PROFILE_A = 10
DNO_A = 8
DNO_DURATION_S = 900  # a 15-minute load-management event (lifted early by the DNO)
CHARGE_HOLD_S = 10  # charger seconds to watch a steady state (5 s of wall time at x2)
POWER_CUT_S = 5
WAIT_S = 30  # wall seconds for anything that takes no virtual time (messages, replies)


class StepFailed(Exception):
    pass


class Runner:
    """What the step functions use: the parts, the observer, the DNO's MQTT client, the
    dashboard (refreshed while waiting) and the options."""

    def __init__(self, parts, obs, em, ui, opts):
        self.parts, self.obs, self.em, self.ui, self.opts = parts, obs, em, ui, opts
        self.charger = parts.charger
        self.csms = parts.csms
        self.v = for_csms(parts.csms)  # the CSMS-initiated calls of its OCPP version

    def txs(self):
        """The transactions the CSMS saw, oldest first (csms_view: id, reason, energy_wh...)."""
        return transactions_of(self.csms)

    def ended(self):
        return [t for t in self.txs() if not t["active"]]

    def tick(self):
        self.obs.poll()
        self.ui.refresh()

    def wait(self, pred, what, timeout_s=WAIT_S):
        """pred() once it is truthy; StepFailed after timeout_s wall seconds."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.tick()
            value = pred()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StepFailed("%s did not happen within %.0f s" % (what, timeout_s))
            time.sleep(0.2)

    def virtual_timeout(self, virtual_s):
        """Wall seconds to allow for virtual_s of charger time, with margin."""
        return virtual_s / self.opts.time_scale + WAIT_S

    def hold(self, virtual_s):
        """Let virtual_s of charger time pass (the dashboard keeps updating)."""
        end = self.obs.vs() + virtual_s
        self.wait(lambda: self.obs.vs() >= end, "%g s of charger time" % virtual_s,
                  self.virtual_timeout(virtual_s))

    def st(self):
        return self.obs.status

    def ocpp(self, payload, what):
        """A CSMS request, waited for while the dashboard runs -> its call_result."""
        fut = self.csms.send(payload)
        self.wait(fut.done, "the answer to " + what)
        try:
            return fut.result()
        except Exception as e:  # a CallError, the station gone
            raise StepFailed("the CSMS's %s failed: %r" % (what, e)) from None

    def mqtt(self, sent, what):
        """Wait for the gateway's reply to a command the DNO published; fail if refused."""
        cid, payload = sent
        reply = self.wait(lambda: self.em.reply(cid), "the gateway's MQTT reply to " + what)
        if not reply.get("ok"):
            raise StepFailed("the gateway refused %s %s: %s" % (what, payload,
                                                               reply.get("error")))
        return reply

    def charging(self):
        st = self.st()
        return st.get("contactor") == 1 and st.get("draw_ma", 0) > 0

    def delay_seen(self, since_vs):
        """The randomised delay (whole s) seen since since_vs: what the gateway reported to
        the CSMS (RandomisedDelay: 1.6 DataTransfer, 2.0.1 NotifyEvent) if it did, else the
        largest remaining time the charger's status showed."""
        return max([s for vs, s in self.obs.delays if vs >= since_vs] or [0])


def _duty(amps):
    return duty_from_current(amps * 1000)


def tx_default_profile(r, profile_id, amps):
    """SetChargingProfile of a TxDefaultProfile of `amps` per phase on EVSE 1, in the CSMS's
    OCPP version, from a minute ago, no end."""
    return r.v.set_profile("TxDefaultProfile", 1, amps, profile_id)


# --- the steps ---------------------------------------------------------------------------

def start(r):
    r.wait(lambda: r.obs.calls("BootNotification"), "the gateway's BootNotification")
    r.wait(lambda: "Available" in r.csms.statuses(1), "StatusNotification Available")
    sent = r.v.set_sample_interval(5)  # 1.6 MeterValueSampleInterval, 2.0.1 TxUpdatedInterval
    res = r.v.accepted(r.ocpp(sent, type(sent).__name__))
    state = r.wait(lambda: r.em.state, "the gateway's state on MQTT")
    boot = r.obs.calls("BootNotification")[0]
    return dict({"boot": boot, "meter_value_interval": res,
                 "mqtt_state_link": state.get("link")}, **device(boot, r.v.version))


def plug_in(r):
    t0 = r.obs.vs()
    tx_before = len(r.txs())
    r.charger.control("plug", state="B", pp_ohms=PLUG_PP_OHMS)
    r.charger.control("draw", a=EV_A, phases=3)
    r.wait(lambda: len(r.txs()) > tx_before, "the transaction's start at the CSMS")
    r.wait(r.charging, "the contactor closing and current flowing",
           r.virtual_timeout(r.opts.random_delay_max_s + 20))
    return {"transaction_id": r.txs()[-1]["id"],
            "delay_s": r.delay_seen(t0), "plug_to_current_s": round(r.obs.vs() - t0, 1)}


def charging(r):
    r.hold(CHARGE_HOLD_S)
    st = r.st()
    if st["duty_permille"] != _duty(EV_A):
        raise StepFailed("duty %d permille, expected %d for %d A"
                         % (st["duty_permille"], _duty(EV_A), EV_A))
    return {"duty_permille": st["duty_permille"], "offered_ma": st["offered_ma"],
            "draw_ma": st["draw_ma"], "measured_ma": (st.get("measured") or {}).get("i1_ma")}


def profile(r):
    t0 = r.obs.vs()
    res = r.ocpp(tx_default_profile(r, 1, PROFILE_A), "SetChargingProfile")
    if res.status != "Accepted":
        raise StepFailed("SetChargingProfile answered %s" % res.status)
    r.wait(lambda: r.st()["duty_permille"] == _duty(PROFILE_A),
           "the %d A duty (%d permille)" % (PROFILE_A, _duty(PROFILE_A)),
           r.virtual_timeout(r.opts.random_delay_max_s + 10))
    waited = round(r.obs.vs() - t0, 1)
    r.hold(CHARGE_HOLD_S)
    return {"status": res.status, "duty_permille": r.st()["duty_permille"],
            "delay_s": r.delay_seen(t0), "profile_to_duty_s": waited}


def dno_limit(r):
    t0 = r.obs.vs()
    reply = r.mqtt(r.em.limit("dno", DNO_A * 1000, DNO_DURATION_S), "the DNO limit")
    r.wait(lambda: r.st()["duty_permille"] == _duty(DNO_A)
           and r.st().get("limits", {}).get("dno") == DNO_A * 1000,
           "the %d A duty under the DNO limit" % DNO_A, r.virtual_timeout(10))
    took = round(r.obs.vs() - t0, 1)
    binding = r.st()["limit_source"]
    state = r.wait(lambda: _mqtt_limit(r, "dno"), "the DNO limit in the gateway's MQTT state")
    r.hold(CHARGE_HOLD_S)
    return {"reply": reply, "duty_permille": r.st()["duty_permille"], "limit_source": binding,
            "mqtt_state_limit": state, "limit_to_duty_s": took,
            "delay_s": r.delay_seen(t0)}


def _mqtt_limit(r, source):
    state = r.em.state or {}
    return next((lim for lim in state.get("limits", []) if lim.get("source") == source), None)


def override(r):
    t0 = r.obs.vs()
    r.charger.control("press_button", ms=300)
    r.wait(lambda: r.st().get("override"), "the firmware's override")
    r.wait(lambda: r.st()["duty_permille"] == _duty(EV_A),
           "the full %d A duty (the override lifts the smart limits)" % EV_A,
           r.virtual_timeout(10))
    took = round(r.obs.vs() - t0, 1)
    csms = r.wait(lambda: [n for n in r.obs.notices("ManualOverride") if n.get("active")],
                  "%s ManualOverride at the CSMS" % r.v.notice_action)
    mqtt = r.wait(lambda: (r.em.state or {}).get("override"), "override in the MQTT state")
    r.hold(CHARGE_HOLD_S)
    return {"override": True, "duty_permille": r.st()["duty_permille"],
            "press_to_duty_s": took, "reported_to_csms": csms[-1], "reported_on_mqtt": mqtt}


def dno_lifted(r):
    reply = r.mqtt(r.em.limit("dno", None), "the DNO clearing its limit")
    r.wait(lambda: "dno" not in r.st().get("limits", {}), "the firmware dropping the DNO limit")
    r.wait(lambda: r.em.state and not _mqtt_limit(r, "dno"),
           "the DNO limit gone from the MQTT state")
    return {"reply": reply, "limits": r.st().get("limits")}


def power_cut(r):
    boots = len(r.obs.boots)
    stops = len(r.ended())
    r.charger.control("power_cut", s=POWER_CUT_S)
    r.wait(lambda: r.st().get("power") == 0, "the power going off")
    r.wait(lambda: len(r.obs.boots) > boots and r.st().get("power") == 1,
           "the power coming back", r.virtual_timeout(POWER_CUT_S))
    back_vs, cause, delay_s = r.obs.boots[-1]
    r.wait(r.charging, "charging again after the randomised delay",
           r.virtual_timeout(r.opts.random_delay_max_s + 20))
    restart_s = round(r.obs.vs() - back_vs, 1)
    r.wait(lambda: r.st()["duty_permille"] == _duty(PROFILE_A),
           "the %d A TxDefaultProfile in force again" % PROFILE_A,
           r.virtual_timeout(r.opts.random_delay_max_s + 10))
    r.hold(CHARGE_HOLD_S)
    return {"reset_cause": cause, "delay_drawn_s": delay_s, "power_back_to_current_s": restart_s,
            "override_after": bool(r.st().get("override")),
            "duty_permille": r.st()["duty_permille"],
            "stop_transactions": r.ended()[stops:]}


def unplug(r):
    stops = len(r.ended())
    avail = r.csms.statuses(1).count("Available")
    r.charger.control("unplug")
    r.wait(lambda: len(r.ended()) > stops, "the transaction's end at the CSMS")
    r.wait(lambda: r.csms.statuses(1).count("Available") > avail,
           "StatusNotification Available")
    r.hold(4)  # the meter's last readings, for the plot
    stop = r.ended()[-1]  # energy: 1.6 meterStop - meterStart, 2.0.1 Transaction.End - .Begin
    return {"transaction_id": stop["id"], "reason": stop["reason"],
            "energy_wh": stop["energy_wh"], "meter_start_wh": stop["meter_start_wh"],
            "meter_stop_wh": stop["meter_stop_wh"], "transactions": len(r.txs())}


# key, title, what to watch, function
STEPS = (
    ("start", "The station comes up",
     "The gateway connects to the CSMS (BootNotification) and to the charger's firmware "
     "over the link; it publishes the charger's state on MQTT for energy managers.", start),
    ("plug_in", "Plug in",
     "The EV plugs in (32 A cable) and asks for 32 A on 3 phases. The gateway starts a "
     "free-vend transaction. Before the current flows the firmware waits a randomised delay "
     "(UK Smart Charge Points Regulations reg 11: up to 600 s by default; this demo sets "
     "random_delay_max_s={delay} to stay short).", plug_in),
    ("charging", "Charging",
     "Full speed: 32 A per phase, pilot duty 533 permille (IEC 61851-1 Annex A: "
     "I = 0.6 A x duty %).", charging),
    ("profile", "The CSMS sets a TxDefaultProfile of 10 A",
     "OCPP SetChargingProfile; the gateway turns it into the firmware's limit schedule. A "
     "schedule that changes the rate waits out a new randomised delay first (reg 11), then "
     "the duty becomes 166 permille (10 A).", profile),
    ("dno_limit", "A DNO load-management limit arrives over MQTT",
     "The DNO asks for 8 A on demo/evse/1/limit/set (source dno). It applies at once, with "
     "no randomised delay while a load-management limit is followed: duty 133 permille.",
     dno_limit),
    ("override", "The owner presses the override button",
     "Charge now: the override lifts the smart limits (profile, DNO) but never the cable or "
     "hardware rating; it is reported to the CSMS (ManualOverride: OCPP 1.6 DataTransfer, "
     "2.0.1 NotifyEvent) and on MQTT.",
     override),
    ("dno_lifted", "The DNO lifts its limit",
     "The DNO clears its limit (current_ma null) before its 15 minutes are up.", dno_lifted),
    ("power_cut", "Power cut and stochastic restart",
     "Mains lost for 5 s. When it returns the firmware stays idle (no PWM, contactor open) "
     "for a new randomised delay, then restarts (AG-13); the override ended with the power.",
     power_cut),
    ("unplug", "Unplug",
     "The EV leaves: the contactor opens, the gateway stops the transaction and the "
     "connector is Available again.", unplug),
)


def run(r, on_step, results):
    """Run STEPS in order, appending (key, title, ok, facts or error text) to results as
    each ends (what ran survives a Ctrl-C); on_step(index, row, facts or None, error or
    None) before and after each. A step that fails (or a part that stops) ends the run."""
    for i, row in enumerate(STEPS):
        key, title, _detail, fn = row
        on_step(i, row, None, None)
        try:
            facts = fn(r)
        except (StepFailed, PartFailed) as e:
            results.append((key, title, False, str(e)))
            on_step(i, row, None, str(e))
            return results
        results.append((key, title, True, facts))
        on_step(i, row, facts, None)
    return results
