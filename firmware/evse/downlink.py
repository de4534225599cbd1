# What the gateway asks of the firmware (protocols/LINK.md §4-5): one handler
# per message type, in a table; each answers through the Uplink that received
# the frame and acts through the controller. Generations per (kind, entity)
# make limits and schedules idempotent (latest wins, LINK.md 5.2); a gateway
# HELLO starts a new epoch.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import json

from evse import events as ev
from evse import limits as lim
from evse import settings as settings_mod
from evse.windows import EPOCH_UNIX_S
from protocols import link_messages as lm

_ENTITY_SOURCE = {lm.SRC_CSMS: lim.SRC_CSMS, lm.SRC_HEMS: lim.SRC_HEMS,
                  lm.SRC_DNO: lim.SRC_DNO, lm.SRC_LOAD_MGMT: lim.SRC_DNO}
_KIND_LIMIT = const(0)
_KIND_SCHEDULE = const(1)


def _newer(g, last):
    """RFC 1982 serial-number order on u32 generations (LINK.md 5.2)."""
    d = (g - last) & 0xFFFFFFFF
    return 0 < d < 0x80000000


def _result(up, mtype, tag, status, value, now_ms):
    if tag:
        up.send_values(lm.RESULT, tag, (mtype, status, value), now_ms)

def on_hello(up, f, tag, now_ms):
    up.peer_timeout_ms = f["link_timeout_ms"]
    up.ctl.failsafe.timeout_ms = up.ctl.failsafe_timeout_ms()  # AG-11 behind a gateway
    up.gateway_hello = True
    up.generations = {}  # a new epoch: the gateway re-sends every limit (5.2)
    up.last_cmd_tag = 0  # a new gateway's first COMMAND is not a resend
    up.event_next_seq = 0  # and events go again from the oldest (5.1)
    if not f["flags"] & lm.HELLO_REPLY:
        up.send_hello(lm.HELLO_REPLY, tag, now_ms)

def on_time_sync(up, f, tag, now_ms):
    c = up.ctl
    wall_ms = f["unix_ms"] - EPOCH_UNIX_S * 1000  # unix -> wall (evse.windows) on receipt
    before_ms = c.wall_base_s * 1000 + (now_ms - c.wall_base_ms)
    fix_ms = wall_ms - before_ms if c.clock_synced else 0
    c.set_wall_clock(wall_ms, now_ms)
    _result(up, lm.TIME_SYNC, tag, lm.ST_OK, max(-0x80000000, min(0x7FFFFFFF, fix_ms)),
                 now_ms)

def on_event_ack(up, f, tag, now_ms):
    if up.ctl.events.ack(f["seq"]) > 0:
        up.event_progress_ms = now_ms

def _fresh(up, kind, entity, generation):
    key = kind << 8 | entity
    last = up.generations.get(key)
    if last is not None and generation != last and not _newer(generation, last):
        return lm.ST_STALE
    if last == generation:
        return -1  # already applied: nothing changes, ST_OK
    up.generations[key] = generation
    return lm.ST_OK

def on_limit(up, f, tag, now_ms):
    c = up.ctl
    c.failsafe.limits_received(now_ms)
    source = _ENTITY_SOURCE.get(f["entity"])
    if source is None:  # refused, and logged like every request (T7-LOG)
        c.log(lm.EV_LIMIT_APPLIED, f["entity"], lm.R_INVALID, f["limit_ma"] & 0x7FFFFFFF,
              c.limits.target_ma)
        return _result(up, lm.LIMIT, tag, lm.ST_UNKNOWN, c.limits.target_ma, now_ms)
    fresh = _fresh(up, _KIND_LIMIT, f["entity"], f["generation"])
    if fresh == lm.ST_STALE:
        c.log(lm.EV_LIMIT_APPLIED, f["entity"], lm.R_STALE, f["limit_ma"] & 0x7FFFFFFF,
              c.limits.target_ma)
        return _result(up, lm.LIMIT, tag, lm.ST_STALE, c.limits.target_ma, now_ms)
    st = lm.ST_OK
    if fresh == lm.ST_OK:
        try:
            if f["limit_ma"] == lm.LIMIT_NONE:
                c.limits.clear(source, now_ms)
            else:
                c.limits.set(source, f["limit_ma"], now_ms, f["duration_s"] * 1000)
        except ValueError:
            st = lm.ST_INVALID
        c.log_limit(f["entity"])  # the requester: DNO and load management share a slot
        c.uplink.changed = True
    _result(up, lm.LIMIT, tag, st, c.limits.target_ma, now_ms)

def on_schedule(up, f, tag, now_ms):
    c = up.ctl
    c.failsafe.limits_received(now_ms)
    fresh = _fresh(up, _KIND_SCHEDULE, f["entity"], f["generation"])
    if fresh == lm.ST_STALE:
        return _result(up, lm.SCHEDULE, tag, lm.ST_STALE, 0, now_ms)
    periods = f["periods"]
    st = lm.ST_OK
    if fresh == lm.ST_OK:
        try:
            if not periods:
                c.limits.clear(lim.SRC_SCHEDULE, now_ms)
            else:
                up.sched_counter += 1
                c.limits.set_schedule(
                    up.sched_counter, f["start_unix_s"] - EPOCH_UNIX_S,  # unix -> wall
                    [(o, lim.MAX_OFFER_MA if ma == lm.LIMIT_NONE else ma)
                     for o, ma in periods], f["duration_s"], now_ms, f["repeat_s"])
        except ValueError:
            st = lm.ST_INVALID
        c.log_limit()
    _result(up, lm.SCHEDULE, tag, st, len(periods), now_ms)

def _setting_value(up, key, tag, status, value, now_ms):
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    up.send(lm.SETTING_VALUE, tag, {"status": status, "key": key, "value": value}, now_ms)

def _stored(up, key):
    """-> (known, value) of a setting; "meter.baud" style keys name one meter field."""
    s = up.ctl.settings
    if key[:6] == "meter." and key[6:] in s["meter"]:
        return True, s["meter"][key[6:]]
    return key in s, s.get(key)

def on_setting_get(up, f, tag, now_ms):
    key = f["key"]
    if not key:  # LINK.md: ST_UNKNOWN, in a RESULT: SETTING_VALUE has no empty key (fuzzing)
        return _result(up, lm.SETTING_GET, tag, lm.ST_UNKNOWN, 0, now_ms)
    known, value = _stored(up, key)
    if known:
        _setting_value(up, key, tag, lm.ST_OK, value, now_ms)
    else:
        _setting_value(up, key, tag, lm.ST_UNKNOWN, "unknown setting", now_ms)

def on_setting_set(up, f, tag, now_ms):
    c = up.ctl
    key = f["key"]
    value = f["value"]
    if isinstance(value, str) and isinstance(settings_mod.defaults().get(key), (list, dict)):
        if value != "uk":
            try:
                value = json.loads(value)
            except ValueError:
                return _setting_value(up, key, tag, lm.ST_INVALID,
                                           key + ": not valid JSON", now_ms)
    reason = settings_mod.set_value(c.settings, key, value)
    if reason:
        st = lm.ST_INVALID if _stored(up, key)[0] else lm.ST_UNKNOWN
        return _setting_value(up, key, tag, st, reason, now_ms)
    c.apply_settings(now_ms)
    _setting_value(up, key, tag, lm.ST_OK, _stored(up, key)[1], now_ms)

def on_command(up, f, tag, now_ms):
    if tag and tag == up.last_cmd_tag:  # a resend: answer again, do not run twice
        return _result(up, lm.COMMAND, tag, up.last_cmd_status, up.last_cmd_value,
                            now_ms)
    cmd = f["command"]
    if cmd == lm.CMD_TRIGGER:
        st = lm.ST_OK
        if f["arg"] == lm.HELLO:
            up.send_hello(0, 0, now_ms)
        elif f["arg"] == lm.TELEMETRY:
            up.changed = True
        elif f["arg"] == lm.FW_STATUS:  # untagged: the state of the update job
            up.send_values(lm.FW_STATUS, 0, fw_job(up.ctl).answer(), now_ms)
        else:
            st = lm.ST_UNSUPPORTED
    else:
        st = up.ctl.command(cmd, f["arg"], now_ms)
    up.last_cmd_tag = tag
    up.last_cmd_status = st
    up.last_cmd_value = up.ctl.session_id
    _result(up, lm.COMMAND, tag, st, up.ctl.session_id, now_ms)

def fw_job(ctl):
    """The update job, created on the first FW_* message: fw_update is imported
    only then, so a charger that is not being updated keeps its heap (P3)."""
    if ctl.fw is None:
        from evse.fw_update import FwUpdate

        ctl.fw = FwUpdate(ctl)
    return ctl.fw


def on_fw(up, f, tag, now_ms, mtype=0):
    st = fw_job(up.ctl).handle(mtype, f)
    if tag:
        up.send_values(lm.FW_STATUS, tag, st, now_ms)


def on_fw_begin(up, f, tag, now_ms):
    on_fw(up, f, tag, now_ms, lm.FW_BEGIN)


def on_fw_chunk(up, f, tag, now_ms):
    on_fw(up, f, tag, now_ms, lm.FW_CHUNK)


def on_fw_end(up, f, tag, now_ms):
    on_fw(up, f, tag, now_ms, lm.FW_END)

def on_log_request(up, f, tag, now_ms):
    data = b""
    if f["log"] == lm.LOG_EVENTS:
        up.ctl.events.flush()
        data = up.board.storage_read(ev.FILE) or b""
    off = min(f["offset"], len(data))
    up.send(lm.LOG_DATA, tag, {"log": f["log"], "offset": off, "total": len(data),
                                 "data": data[off:off + 238]}, now_ms)


HANDLERS = {
    lm.HELLO: on_hello,
    lm.HEARTBEAT: lambda up, f, tag, now_ms: None,
    lm.TIME_SYNC: on_time_sync,
    lm.EVENT_ACK: on_event_ack,
    lm.LIMIT: on_limit,
    lm.SCHEDULE: on_schedule,
    lm.SETTING_GET: on_setting_get,
    lm.SETTING_SET: on_setting_set,
    lm.COMMAND: on_command,
    lm.FW_BEGIN: on_fw_begin,
    lm.FW_CHUNK: on_fw_chunk,
    lm.FW_END: on_fw_end,
    lm.LOG_REQUEST: on_log_request,
}
