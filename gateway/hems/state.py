"""Payloads the energy-manager MQTT interface publishes (docs/mqtt.md), built from what the
link gives: the firmware's TELEMETRY (gateway.link.Telemetry), its EVENT and SESSION records,
the station's connector status and session, and the limits the gateway itself asked of the
firmware (the store's LIMIT / SCHEDULE requests with their expiry). Pure functions of their
inputs and `now_s`."""

import math
from datetime import UTC, datetime

from gateway.link.values import SOURCE_NAMES
from protocols import link_messages as lm

STOP_NAMES = {v: k[5:].lower() for k, v in vars(lm).items()
              if k.startswith("STOP_") and isinstance(v, int)}
FAULT_NAMES = {v: k[6:].lower() for k, v in vars(lm).items()
               if k.startswith("FAULT_") and isinstance(v, int)}
REASON_NAMES = {v: k[2:].lower() for k, v in vars(lm).items()
                if k.startswith("R_") and isinstance(v, int)}
CMD_NAMES = {v: k[4:].lower() for k, v in vars(lm).items()
             if k.startswith("CMD_") and isinstance(v, int)}
SOURCE_OF_ENTITY = {lm.SRC_CSMS: "csms", lm.SRC_HEMS: "hems", lm.SRC_DNO: "dno",
                    lm.SRC_OWNER: "owner", lm.SRC_LOAD_MGMT: "load_mgmt"}


def iso(unix_s):
    return datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


# --- limits -------------------------------------------------------------------------------

def _entity_limit(body, now_s):
    """A stored LIMIT body -> (current_ma, expires_in_s) in force at now_s, or None."""
    if body is None or body.get("limit_ma") is None:
        return None
    expires = body.get("expires_unix_s")
    if expires is None:
        return body["limit_ma"], None
    left = math.ceil(expires - now_s)
    return (body["limit_ma"], left) if left > 0 else None


def _schedule_limit(body, now_s):
    """The period of a stored SCHEDULE body in force at now_s -> (current_ma, seconds until
    the next change or None), or None. The same lookup as the firmware's
    (firmware/evse/limits.py _schedule_ma): before the start and after start + duration
    nothing; repeat_s restarts the periods every repeat_s."""
    if body is None or not body.get("periods"):
        return None
    start, duration, repeat = body["start_unix_s"], body["duration_s"], body["repeat_s"]
    end = start + duration if duration else None
    now_s = int(now_s)
    if now_s < start or (end is not None and now_s >= end):
        return None
    off = now_s - start
    if repeat:
        off %= repeat
    cycle = now_s - off
    periods = body["periods"]
    i = 0
    while i < len(periods) and periods[i][0] <= off:
        i += 1
    if i == 0 or periods[i - 1][1] is None:
        return None
    if i < len(periods):
        change = cycle + periods[i][0]
    elif repeat:
        change = cycle + repeat
    else:
        change = None
    if end is not None and (change is None or change > end):
        change = end
    return periods[i - 1][1], None if change is None else change - now_s


def limits(requests, now_s, failsafe_ma=None):
    """[{"source", "current_ma", "expires_in_s"}] of what limits this EVSE now, as far as
    the gateway knows: every entity LIMIT it asked that has not expired, the period in force
    of the CSMS's schedule ("schedule"), and the failsafe current while the firmware runs in
    failsafe (failsafe_ma: from its last EV_FAILSAFE event; None: not in failsafe or not
    known). requests: gateway.store.Request list of the EVSE."""
    out = []
    for r in requests:
        if r.kind == lm.LIMIT and r.entity in SOURCE_OF_ENTITY:
            got = _entity_limit(r.body, now_s)
            source = SOURCE_OF_ENTITY[r.entity]
        elif r.kind == lm.SCHEDULE and r.entity == lm.SRC_CSMS:
            got = _schedule_limit(r.body, now_s)
            source = "schedule"
        else:
            continue
        if got is not None:
            out.append({"source": source, "current_ma": got[0], "expires_in_s": got[1]})
    if failsafe_ma is not None:
        out.append({"source": "failsafe", "current_ma": failsafe_ma, "expires_in_s": None})
    return out


# --- state -------------------------------------------------------------------------------

def state(t, *, status, error_code, online, session_energy_wh, soc_percent, limit_list,
          now_s):
    """The retained state of one EVSE from its latest Telemetry t (docs/mqtt.md)."""
    return {
        "status": status,
        "error_code": error_code,
        "cp_state": t.cp_state,
        "duty_permille": t.duty_permille,
        "contactor": t.contactor,
        "offered_ma": t.offered_ma,
        "current_ma": list(t.current_ma),
        "voltage_mv": list(t.voltage_mv),
        "power_w": t.power_w,
        "energy_wh": t.energy_import_wh,
        "energy_export_wh": t.energy_export_wh,
        "frequency_mhz": t.frequency_mhz,
        "meter_fresh": not t.has("meter_stale") and t.meter_age_ms is not None,
        "session_energy_wh": session_energy_wh,
        "soc_percent": soc_percent,
        "limits": limit_list,
        "limit_source": t.limit_source,
        "override": t.has("override"),
        "failsafe": t.has("failsafe"),
        "delay_remaining_s": t.delay_remaining_s,
        "flags": sorted(t.flags),
        "link": "online" if online else "offline",
        "time": iso(now_s),
    }


def session_energy_wh(session, t):
    """Energy of the firmware session in progress (register now - register at plug-in)."""
    if not session or t is None:
        return 0
    return max(0, t.energy_import_wh - session.get("meter_start_wh", t.energy_import_wh))


# --- events ------------------------------------------------------------------------------

def _limit_applied(args):
    reason = args["reason"]
    named = {"source": SOURCE_NAMES.get(args["source"], args["source"]),
             "reason": REASON_NAMES.get(reason & 0xFF, reason & 0xFF),
             "asked_ma": args["asked_ma"], "applied_ma": args["applied_ma"]}
    if reason & 0xFF == lm.R_CAPPED:
        named["capped_by"] = SOURCE_NAMES.get(reason >> 8, reason >> 8)
    return named, named["source"]


def _named(table, key, source="firmware"):
    def name(args):
        out = dict(args)
        out[key] = table.get(args[key], args[key])
        return out, source
    return name


def _state_change(args):
    states = lm.EVSE_STATES  # the controller's states, not TELEMETRY's session (LINK.md)
    name = {k: states[v] if 0 <= v < len(states) else v for k, v in args.items()}
    return name, "firmware"


# event name -> args with codes named, and who caused it ("source")
EVENT_ARGS = {
    "limit_applied": _limit_applied,
    "override": lambda a: (dict(a, on=bool(a["on"]), by_link=bool(a["by_link"])),
                           "link" if a["by_link"] else "button"),
    "fault": lambda a: (dict(a, fault=FAULT_NAMES.get(a["fault"], a["fault"]),
                             active=bool(a["active"])), "firmware"),
    "session_stop": _named(STOP_NAMES, "stop_reason"),
    "state": _state_change,
    "command": _named(CMD_NAMES, "command", "gateway"),
    "failsafe": lambda a: (dict(a, on=bool(a["on"])), "firmware"),
}


def event(rec):
    """A committed EVENT or SESSION record (gateway.store.Record) -> the event payload."""
    unix_s = rec.unix_s if rec.unix_s > 1_000_000_000 else rec.received_unix_ms // 1000
    out = {"seq": rec.seq, "time": iso(unix_s), "unix_s": unix_s,
           "time_from_firmware": rec.unix_s > 1_000_000_000}
    f = rec.fields
    if rec.mtype == lm.SESSION:
        args = {k: f[k] for k in ("session_id", "start_unix_s", "stop_unix_s", "charging_s",
                                  "energy_import_wh", "energy_export_wh")}
        args["stop_reason"] = STOP_NAMES.get(f["stop_reason"], f["stop_reason"])
        return dict(out, code="session_record", args=args, source="firmware")
    name, args = lm.event_args(f)
    if name is None:
        return dict(out, code="unknown_%d" % f["code"],
                    args={k: f[k] for k in ("a", "b", "c", "d")}, source="firmware")
    named, source = EVENT_ARGS.get(name, lambda a: (a, "firmware"))(args)
    return dict(out, code=name, args=named, source=source)
