"""Requirements about the back-end and the energy manager, checked end to end: the
gateway, the bundled CSMS over OCPP 1.6J WebSockets and the energy manager's MQTT
interface (docs/mqtt.md) around the emulated charger, in real time."""

import contextlib

from ocpp.v16 import call

from conformance.registry import check

NEEDS = ("backend", "energy_manager", "pilot")
STATUS_LIMIT_S = 5  # a state change seen by the back-end and the energy manager
APPLY_LIMIT_S = 3  # an energy-manager demand on the pilot


@contextlib.contextmanager
def _lab(target, **kw):
    lab = target.backend_lab(**kw)
    try:
        yield lab
    finally:
        lab.close()


def _csms_status(lab, status, since_n):
    return lambda: status in lab.csms.statuses(1)[since_n:]


def _mqtt_status(lab, status):
    return lambda: (lab.state() or {}).get("status") == status


@check("AG-06", needs=NEEDS)
def charging_state_reported(target, r):
    """The EV's states as the back-end (StatusNotification) and the energy manager (MQTT
    state) see them: available, connected (Preparing), charging, standby (SuspendedEV: the
    EV stops asking; SuspendedEVSE: the charger is held), available again; each within 5 s."""
    with _lab(target) as lab:
        steps = (("connected", ("plug", {"state": "B", "pp_ohms": 220}), ("Preparing",
                                                                            "SuspendedEV")),
                 ("charging", ("draw", {"a": 16, "phases": 3}), ("Charging",)),
                 ("standby: EV stops asking", ("set_ev", {"ready": 0}), ("SuspendedEV",)),
                 ("available: unplugged", ("unplug", {}), ("Available",)))
        lab.csms.wait_status(1, "Available", timeout_s=20)
        for what, (cmd, args), statuses in steps:
            n = len(lab.csms.statuses(1))
            lab.do(cmd, **args)
            t = lab.wait_until(lambda st=statuses, n=n: any(
                s in lab.csms.statuses(1)[n:] for s in st), 15)
            r.measure("%s -> StatusNotification %s" % (what, "/".join(statuses)),
                      -1 if t is None else round(t, 2), "s", "<=", STATUS_LIMIT_S)
            t = lab.wait_until(lambda st=statuses: (lab.state() or {}).get("status") in st, 15)
            r.measure("%s -> MQTT state %s" % (what, "/".join(statuses)),
                      -1 if t is None else round(t, 2), "s", "<=", STATUS_LIMIT_S)
        r.measure("discharging", "not applicable: the charger is not bidirectional", "")
        r.did("plug in, charge 16 A, EV stops asking, unplug; statuses at the CSMS: %s"
              % ", ".join(lab.csms.statuses(1)))


@check("AG-05", needs=NEEDS)
def energy_manager_exchange(target, r):
    """The home energy manager over MQTT: it reads the charger's state (status, offered
    and measured current, energy), sets a limit that reaches the pilot within 3 s and
    expires after its duration, and gets a clear refusal for a bad command."""
    with _lab(target) as lab:
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        lab.wait_until(lab.contactor_closed, 20)
        t = lab.wait_until(lambda: (lab.state() or {}).get("status") == "Charging", 10)
        st = lab.state() or {}
        r.expect(t is not None and st.get("offered_ma", 0) > 0 and "energy_wh" in st,
                 "state topic: Charging with offered current and energy")
        lab.publish("evse/1/limit/set", {"source": "hems", "current_ma": 10000,
                                         "duration_s": 8})
        t = lab.wait_until(lambda: lab.duty_permille() == 166, 10)
        r.measure("HEMS limit 10 A -> duty 166 permille", -1 if t is None else round(t, 2),
                  "s", "<=", APPLY_LIMIT_S)
        t = lab.wait_until(lambda: lab.duty_permille() != 166, 20)
        r.measure("the 8 s limit expires -> duty back", -1 if t is None else round(t + 0, 2),
                  "s", "<=", 8 + APPLY_LIMIT_S)
        n = len(lab.mqtt_log)
        lab.publish("evse/1/limit/set", {"source": "hems", "current_ma": 999999999})
        t = lab.wait_until(lambda: any(tp.endswith("/reply") and isinstance(p, dict)
                                       and p.get("ok") is False
                                       for _, tp, p in lab.mqtt_log[n:]), 5)
        r.expect(t is not None, "an out-of-range limit gets ok: false with the reason")


@check("AG-07", needs=NEEDS)
def state_of_charge_reported(target, r):
    """An EV's state of charge given by the energy manager (or the vehicle's cloud) is
    reported to the back-end as the SoC measurand of MeterValues."""
    with _lab(target) as lab:
        lab.csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval", value="2"))
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        lab.csms.wait_for("StartTransaction", timeout_s=20)
        lab.publish("evse/1/soc/set", {"soc_percent": 42})

        def soc_seen():
            for mv in lab.csms.calls("MeterValues"):
                for v in mv["meterValue"]:
                    for s in v["sampledValue"]:
                        if s.get("measurand") == "SoC" and s["value"] == "42":
                            return True
            return False

        t = lab.wait_until(soc_seen, 15)
        r.measure("SoC 42 % over MQTT -> MeterValues SoC at the CSMS",
                  -1 if t is None else round(t, 2), "s", "<=", 5)


@check("AG-12", needs=NEEDS + ("button",))
def override_visible_upstream(target, r):
    """The owner's override button: seen by the energy manager (state topic override) and
    by the back-end (StatusNotification info / DataTransfer, docs/ocpp.md) within 5 s."""
    with _lab(target) as lab:
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        lab.wait_until(lab.contactor_closed, 20)
        n_calls = len(lab.csms.messages)

        def csms_saw():
            return any(m[0] == "in" and "override" in str(m[3]).lower()
                       for m in lab.csms.messages[n_calls:])

        seen = {}
        pressed = lab.now_s()
        lab.do("press_button", ms=200)

        def both():
            for name, pred in (("mqtt", lambda: (lab.state() or {}).get("override") is True),
                               ("csms", csms_saw)):
                if name not in seen and pred():
                    seen[name] = lab.now_s() - pressed
            return len(seen) == 2

        lab.wait_until(both, 10)
        r.measure("button -> MQTT state override", round(seen.get("mqtt", -1), 2), "s", "<=",
                  STATUS_LIMIT_S)
        r.measure("button -> the CSMS told (override)", round(seen.get("csms", -1), 2), "s",
                  "<=", STATUS_LIMIT_S)
        r.expect(len(seen) == 2, "both the energy manager and the CSMS saw the override")


@check("AG-04", needs=NEEDS)
def interoperable_and_in_emergency(target, r):
    """Back-end agnostic control (an OCPP TxDefaultProfile of 10 A applies) and a network
    emergency with the back-end gone: a DNO load-management limit of 8 A over MQTT still
    reaches the pilot."""
    with _lab(target) as lab:
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        lab.wait_until(lab.contactor_closed, 20)
        lab.csms.request(call.SetChargingProfile(connector_id=1, cs_charging_profiles={
            "chargingProfileId": 1, "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 10}]}}))
        t = lab.wait_until(lambda: lab.duty_permille() == 166, 10)
        r.measure("OCPP TxDefaultProfile 10 A -> duty 166", -1 if t is None else round(t, 2),
                  "s", "<=", APPLY_LIMIT_S)
        lab.csms.go_down()
        r.did("the CSMS goes down (connections refused)")
        lab.publish("evse/1/limit/set", {"source": "dno", "current_ma": 8000,
                                         "duration_s": 600})
        t = lab.wait_until(lambda: lab.duty_permille() == 133, 10)
        r.measure("back-end down: DNO limit 8 A over MQTT -> duty 133",
                  -1 if t is None else round(t, 2), "s", "<=", APPLY_LIMIT_S)


def _tx_default(limit_a, profile_id=1):
    return call.SetChargingProfile(connector_id=1, cs_charging_profiles={
        "chargingProfileId": profile_id, "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": limit_a}]}})


@check("UK-6", needs=NEEDS)
def kept_across_suppliers(target, r):
    """UK reg 6: the smart functionality survives a change of supplier: the station is
    moved to another back-end (a second CSMS; the gateway restarted against it) and that
    back-end's charging profile and the energy manager's limit both still control the
    charge."""
    with _lab(target) as lab:
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        lab.wait_until(lab.contactor_closed, 20)
        lab.csms.request(_tx_default(10))
        t = lab.wait_until(lambda: lab.duty_permille() == 166, 10)
        r.measure("supplier A: TxDefaultProfile 10 A -> duty 166", -1 if t is None
                  else round(t, 2), "s", "<=", APPLY_LIMIT_S)
        old_url = lab.csms.url
        lab.switch_csms()
        r.did("the station moved from %s to %s (gateway restarted, its state kept)"
              % (old_url, lab.csms.url))
        r.expect(bool(lab.csms.calls("BootNotification")), "supplier B: BootNotification")
        st = lab.csms.request(_tx_default(8, profile_id=2))
        r.expect(getattr(st, "status", None) == "Accepted",
                 "supplier B: its TxDefaultProfile Accepted")
        t = lab.wait_until(lambda: lab.duty_permille() == 133, 10)
        r.measure("supplier B: TxDefaultProfile 8 A -> duty 133", -1 if t is None
                  else round(t, 2), "s", "<=", APPLY_LIMIT_S)
        lab.publish("evse/1/limit/set", {"source": "hems", "current_ma": 6000,
                                         "duration_s": 60})
        t = lab.wait_until(lambda: lab.duty_permille() == 100, 10)
        r.measure("after the switch: energy manager 6 A -> duty 100", -1 if t is None
                  else round(t, 2), "s", "<=", APPLY_LIMIT_S)


@check("AG-02", needs=NEEDS)
def realtime_backend_exchange(target, r):
    """Bidirectional real-time exchange with the back-end over OCPP-J WebSockets: a
    CSMS-initiated call answered at once, station-initiated messages as things happen, and
    the charger's clock: the StartTransaction timestamp against the CSMS's own clock."""
    with _lab(target) as lab:
        t0 = lab.now_s()
        res = lab.csms.request(call.GetConfiguration(key=["HeartbeatInterval"]))
        r.measure("CSMS GetConfiguration -> answer", round(lab.now_s() - t0, 3), "s", "<=", 2)
        r.expect(bool(getattr(res, "configuration_key", None)), "the answer carries the key")
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        start = lab.csms.wait_for("StartTransaction", timeout_s=20)
        received = lab.csms.received_at("StartTransaction")
        skew = abs(_unix_s(start["timestamp"]) - received)
        r.measure("StartTransaction timestamp against the CSMS clock", round(skew, 2), "s",
                  "<=", 2)


def _unix_s(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
