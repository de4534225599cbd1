"""The notices of gateway/notices.py (what the firmware decides on its own) in OCPP 2.0.1:
NotifyEvent (Part 2 N07: a Delta event of a variable of the EVSE's component). The enclosure's
tamper switch is also a security event (UK-S8, A04): the station's security log sends its
SecurityEventNotification (gateway/security_log.py).

| notice | component / variable | actualValue |
| --- | --- | --- |
| Failsafe (AG-11) | EVSE n / Failsafe | true / false |
| RandomisedDelay (UK-11) | EVSE n / RandomisedDelay | true / false |
| ManualOverride (AG-12) | EVSE n / ManualOverride | true / false |
| MeterFault (AG-03) | EVSE n / Problem | true / false (techInfo names the meter fault) |
| MeterEnergyFlag (UK-9) | EVSE n / MeterEnergyFlag | the reason |
| PowerQuality (T7-PQ) | EVSE n / PowerQuality | true / false |
| SecurityEvent (UK-S8) | ChargingStation / Tampered | true / false |

techInfo carries the notice's data as compact JSON (at most 500 characters), so nothing the
1.6 DataTransfer tells is lost. eventId: the queued message's id, unique and stable across a
resend. A CallError answer (a CSMS that refuses it) is logged and the notice is done: a notice
never holds a transaction message back."""

import json
import logging

from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from gateway.ocpp201.pdus import iso

log = logging.getLogger(__name__)

# kind -> (component name, variable name, actualValue of the data); None: EVSE n
VARIABLES = {
    "Failsafe": (None, "Failsafe", lambda d: _bool(d["active"])),
    "RandomisedDelay": (None, "RandomisedDelay", lambda d: _bool(d["active"])),
    "ManualOverride": (None, "ManualOverride", lambda d: _bool(d["active"])),
    "MeterFault": (None, "Problem", lambda d: _bool(d["active"])),
    "MeterEnergyFlag": (None, "MeterEnergyFlag", lambda d: d["reason"]),
    "PowerQuality": (None, "PowerQuality", lambda d: _bool(d["active"])),
    "SecurityEvent": ("ChargingStation", "Tampered",
                      lambda d: _bool(d["type"] == "TamperDetected")),
}


def _bool(v):
    return "true" if v else "false"


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def event_data(p, event_id):
    """The NotifyEvent eventData of one queued notice."""
    component, variable, actual = VARIABLES[p["kind"]]
    comp = {"name": component} if component else {"name": "EVSE",
                                                  "evse": {"id": p["connector_id"]}}
    return {"eventId": event_id, "timestamp": iso(p["unix_s"]), "trigger": "Delta",
            "actualValue": actual(p["data"]), "techInfo": _json(p["data"])[:500],
            "eventNotificationType": "HardWiredNotification", "component": comp,
            "variable": {"name": variable}}


async def send_notice(cp, p):
    """One queued notice (its payload p with "event_id" the queue id) as NotifyEvent; True once
    the CSMS answered (a CallError too)."""
    if p["kind"] not in VARIABLES:
        log.warning("notice %s has no 2.0.1 event: dropped", p["kind"])
        return True
    data = event_data(p, p.get("event_id", 0))
    try:
        await cp.call(call.NotifyEvent(generated_at=data["timestamp"], seq_no=0,
                                       event_data=[data]), suppress=False)
    except OCPPError as e:
        log.warning("NotifyEvent %s refused by the CSMS: %s", p["kind"], e)
        return True
    log.info("NotifyEvent %s EVSE %d: %s", p["kind"], p["connector_id"], data["actualValue"])
    return True
