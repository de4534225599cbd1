"""What the firmware decides on its own, made visible upstream (issue 6): the failsafe
(AG-11), the randomised delay (UK-11, AG-13), the owner's manual override (AG-12), meter
faults (AG-03), the power-quality response (T7-PQ) and the tamper switch (UK-S8). The
firmware reports each as a link EVENT record (protocols/LINK.md §4, EV_*); `notice(code,
args)` turns one into a version-neutral notice `(kind, data)` by ONE table, NOTICES. The
Station enqueues it in the durable queue in the same SQLite transaction that marks the
record processed, so none is lost or doubled; the OCPP 1.6 adapter sends it as a
DataTransfer whose messageId is the kind (gateway/ocpp16/vendor.py, docs/ocpp.md).

data is JSON-ready (camelCase keys, integers with their unit in the name)."""

from protocols import link_messages as lm

# EV_METER reason: firmware/evse/meter.py R_* (docs/meter.md)
METER_REASONS = {0: "ok", 1: "no_answer", 2: "crc", 3: "exception", 4: "wrong_unit",
                 5: "frame", 6: "implausible", 7: "word_order", 8: "frozen", 9: "internal",
                 16: "energy_backwards", 17: "energy_jump"}
# EV_DELAY why: on = 1 firmware/evse/restart.py CAUSE_*; on = 0 how it ended
DELAY_CAUSES = {1: "restoration", 2: "charge_start", 3: "rate_change"}
DELAY_ENDS = {0: "ran_out", 1: "cancelled"}


def _name(table, code):
    return table.get(code, "code_%d" % code)


def _failsafe(a):
    return "Failsafe", {"active": bool(a["on"]), "failsafeCurrentMa": a["current_ma"]}


def _delay(a):
    if a["on"]:
        return "RandomisedDelay", {"active": True, "cause": _name(DELAY_CAUSES, a["why"]),
                                   "delayS": a["delay_s"]}
    return "RandomisedDelay", {"active": False, "ended": _name(DELAY_ENDS, a["why"])}


def _override(a):
    return "ManualOverride", {"active": bool(a["on"]),
                              "by": "link" if a["by_link"] else "button"}


def _meter(a):
    reason = _name(METER_REASONS, a["reason"])
    if not a["ok"]:
        return "MeterFault", {"active": True, "reason": reason}
    if a["reason"] == 0:
        return "MeterFault", {"active": False, "reason": reason}
    # the meter works but its register jumped or went back: the session keeps its energy
    return "MeterEnergyFlag", {"reason": reason, "oldWh": a["value"], "newWh": a["value2"]}


PQ_CAUSES = ((lm.PQ_UNDERVOLTAGE, "undervoltage"), (lm.PQ_OVERVOLTAGE, "overvoltage"),
             (lm.PQ_UNDERFREQUENCY, "underfrequency"), (lm.PQ_OVERFREQUENCY, "overfrequency"),
             (lm.PQ_METER_FAULT, "meter_fault"))


def _power_quality(a):
    """T7-PQ: the supply left (on) or is back in (off) the firmware's band."""
    cause = a["cause"]
    data = {"active": bool(a["on"]), "causes": [n for bit, n in PQ_CAUSES if cause & bit],
            "phase": (cause >> 8) & 3, "voltageMv": a["voltage_mv"],
            "frequencyMhz": a["frequency_mhz"]}
    return "PowerQuality", data


# EV_SECURITY code -> the event's type (UK-S8: the enclosure's tamper switch)
SECURITY_TYPES = {lm.SEC_TAMPER_OPEN: "TamperDetected", lm.SEC_TAMPER_CLOSED: "TamperCleared"}


def _security(a):
    """UK Schedule 1 para 8: the firmware saw the lid opened or closed; it logs it and
    the charge goes on (docs/hardware.md, "Tamper")."""
    return "SecurityEvent", {"type": _name(SECURITY_TYPES, a["code"])}


# EV_* -> fn(named event args) -> (kind, data)
NOTICES = {
    lm.EV_FAILSAFE: _failsafe,
    lm.EV_DELAY: _delay,
    lm.EV_OVERRIDE: _override,
    lm.EV_METER: _meter,
    lm.EV_POWER_QUALITY: _power_quality,
    lm.EV_SECURITY: _security,
}
KINDS = ("Failsafe", "RandomisedDelay", "ManualOverride", "MeterFault", "MeterEnergyFlag",
         "PowerQuality", "SecurityEvent")


def notice(code, args):
    """(kind, data) for an EVENT code and its named args (link_messages.event_args), or
    None when the event is not one the firmware decides on its own."""
    fn = NOTICES.get(code)
    return fn(args) if fn is not None else None
