"""What the demo sees, gathered by poll() from every side at once: the charger's status and
trace (its control socket), what the gateway publishes to energy managers (MQTT), and every
OCPP message the bundled CSMS recorded. It keeps the latest of each, the last events and
OCPP messages as display lines, and a sample per poll for the plot. Virtual time (`vs`) is
the charger's clock in seconds from the first poll; `ws` is wall seconds from the start."""

import time
from collections import deque

from sim_hardware.csms_view import notices, notices_in

KEEP_LINES = 12
# trace keys worth an event line (duty, offer and draw are on the dashboard and the plot)
TRACE_WORDS = {
    "cp": lambda v: "pilot " + ("unpowered" if v == "-" else v),
    "contactor": lambda v: "contactor " + ("closed" if v == "1" else "open"),
    "session": lambda v: "session " + v,
}
SKIP_ARGS = ("seq", "time", "unix_s", "time_from_firmware")
DELAY_CAUSES = {1: "power restored", 2: "charge start", 3: "rate change"}  # evse/restart.py


def _ma(v):
    return "cleared" if v is None or v < 0 else "%.1f A" % (v / 1000)


def _delay(a):
    if a.get("on"):
        return "randomised delay of %s s (%s)" % (a.get("delay_s"),
                                                  DELAY_CAUSES.get(a.get("why"), "?"))
    return "randomised delay over (%s)" % ("cancelled" if a.get("why") else "ran out")


# event code published on PREFIX/evse/<n>/event -> its line; None: not shown ("state": the
# charger's own trace shows each session change)
EVENT_TEXT = {
    "delay": _delay,
    "limit_applied": lambda a: "limit %s: asked %s, offered %s (%s)" % (
        a.get("source"), _ma(a.get("asked_ma")), _ma(a.get("applied_ma")), a.get("reason")),
    "override": lambda a: "override %s (%s)" % ("on" if a.get("on") else "off",
                                                "link" if a.get("by_link") else "button"),
    "power_restored": lambda a: "power restored, randomised delay %s s" % a.get("delay_s"),
    "session_stop": lambda a: "session %s ended (%s), %s Wh" % (
        a.get("session_id"), a.get("stop_reason"), a.get("energy_wh")),
    "state": None,
}


def _short(value, width=80):
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def flat(payload, width=90):
    """A JSON-ish payload as `key=value …` on one line (nested values compacted)."""
    if not isinstance(payload, dict):
        return _short(payload, width)
    parts = []
    for k, v in payload.items():
        if isinstance(v, dict):
            v = "{" + flat(v, 40) + "}"
        elif isinstance(v, list):
            v = "[%d]" % len(v) if v and isinstance(v[0], (dict, list)) else v
        parts.append("%s=%s" % (k, v))
    return _short(" ".join(parts), width)


def _samples(payload):
    """`Energy.Import=1234 Wh, …` of a payload's first MeterValue (1.6 unit, 2.0.1
    unitOfMeasure), or None without one."""
    try:
        sampled = payload["meterValue"][0]["sampledValue"]
    except (KeyError, IndexError, TypeError):
        return None
    parts = []
    for s in sampled[:4]:
        unit = s.get("unit") or (s.get("unitOfMeasure") or {}).get("unit")
        parts.append("%s=%s%s" % (s.get("measurand", "Energy.Active.Import.Register")
                                  .replace(".Active", "").replace(".Register", ""),
                                  s.get("value"), (" " + unit) if unit else ""))
    return ", ".join(parts)


def meter_values(payload):
    """MeterValues (1.6 connectorId, 2.0.1 evseId) -> `connector 1: Energy.Import=1234 Wh …`
    of its first sample."""
    values = _samples(payload)
    if values is None:
        return flat(payload)
    return "connector %s: %s" % (payload.get("connectorId", payload.get("evseId")), values)


def transaction_event(p):
    """2.0.1 TransactionEvent -> `Updated MeterValuePeriodic tx … #3 Charging: Energy…`."""
    info = p.get("transactionInfo") or {}
    words = [p.get("eventType"), p.get("triggerReason"), "tx %s" % info.get("transactionId"),
             "#%s" % p.get("seqNo"), info.get("chargingState"), info.get("stoppedReason")]
    values = _samples(p)
    return " ".join(w for w in words if w) + (": " + values if values else "")


def notify_event(p):
    """2.0.1 NotifyEvent -> `EVSE 1 ManualOverride=true {techInfo}` per event."""
    out = []
    for e in p.get("eventData") or []:
        comp = e.get("component") or {}
        where = "EVSE %s" % comp["evse"].get("id") if comp.get("evse") else comp.get("name")
        out.append("%s %s=%s %s" % (where, (e.get("variable") or {}).get("name"),
                                    e.get("actualValue"), e.get("techInfo", "")))
    return _short("; ".join(out), 90)


# OCPP version -> the label of a CallResult (1.6 "…conf", 2.0.1 "…Response")
RESULT_SUFFIX = {"1.6": ".conf", "2.0.1": "Response"}
# action -> its line on the dashboard (flat() for the others)
CALL_TEXT = {"MeterValues": meter_values, "TransactionEvent": transaction_event,
             "NotifyEvent": notify_event}


def trace_event(line):
    """A charger trace line -> (virtual ms, event text) or None when it is only numbers."""
    head, _, rest = line.partition(" ")
    if not head.isdigit():
        return None
    if rest.startswith("boot "):
        kv = dict(w.split("=", 1) for w in rest.split()[1:] if "=" in w)
        return int(head), "firmware boots (%s): randomised delay %s s" % (
            kv.get("reset_cause", "?").replace("_", " "), kv.get("delay_s", "?"))
    if rest.startswith(">") or rest.startswith("!"):
        return None
    words = []
    for w in rest.split():
        key, _, value = w.partition("=")
        if key in TRACE_WORDS:
            words.append(TRACE_WORDS[key](value))
    return (int(head), ", ".join(words)) if words else None


class Observer:
    def __init__(self, parts, energy_manager):
        self.parts = parts
        self.charger = parts.charger
        self.csms = parts.csms
        self.result_suffix = RESULT_SUFFIX[parts.opts.ocpp]
        self.em = energy_manager
        self.started = time.monotonic()
        self.t0_ms = None
        self.status = {}
        self.samples = []  # (vs, offered_ma, draw_ma, measured_ma, duty_permille)
        self.boots = []  # (vs, reset cause, delay_s) from the trace
        # (vs, s) of each randomised delay seen: the remaining time in the charger's status,
        # the drawn delay of each RandomisedDelay notice the CSMS received (1.6 DataTransfer,
        # 2.0.1 NotifyEvent)
        self.delays = []
        self.events = deque(maxlen=KEEP_LINES)  # (ws, vs, who, text)
        self.ocpp = deque(maxlen=KEEP_LINES)  # (ws, arrow, action, text)
        self.new_lines = []  # event and OCPP lines since the last take_new() (plain mode)
        self.actions = []  # (ws, vs, "you", text) of each key pressed (DEMO=interactive)
        self._trace_next = 0
        self._csms_next = 0
        self._mqtt_events_seen = 0
        self._open_calls = {"in": deque(), "out": deque()}  # unanswered calls per direction

    # --- clocks ---------------------------------------------------------------------------

    def ws(self):
        return time.monotonic() - self.started

    def vs(self):
        return self.vs_of(self.status.get("time_ms", self.t0_ms or 0))

    def vs_of(self, time_ms):
        return (time_ms - (self.t0_ms or 0)) / 1000.0

    # --- gathering --------------------------------------------------------------------------

    def note(self, who, text):
        entry = (self.ws(), self.vs(), who, text)
        if who == "you":
            self.actions.append(entry)
        self.events.append(entry)
        self.new_lines.append(("event",) + entry)

    def poll(self):
        self.parts.check()
        st = self.charger.control("status")["status"]
        if self.t0_ms is None:
            self.t0_ms = st["time_ms"]
        self.status = st
        measured = (st.get("measured") or {}).get("i1_ma")
        self.samples.append((self.vs(), st["offered_ma"], st["draw_ma"], measured,
                             st["duty_permille"]))
        if st.get("delay_remaining_s"):
            self.delays.append((self.vs(), st["delay_remaining_s"]))
        self._trace()
        self._ocpp()
        self._mqtt()

    def _trace(self):
        rep = self.charger.control("trace", since=self._trace_next)
        self._trace_next = rep["total"]
        for line in rep["lines"]:
            ev = trace_event(line)
            if ev is None:
                continue
            ms, text = ev
            if text.startswith("firmware boots"):
                words = dict(w.split("=", 1) for w in line.split()[2:] if "=" in w)
                self.boots.append((self.vs_of(ms), words.get("reset_cause"),
                                   int(words.get("delay_s", 0))))
            entry = (self.ws(), self.vs_of(ms), "charger", text)
            self.events.append(entry)
            self.new_lines.append(("event",) + entry)

    def _ocpp(self):
        msgs = self.csms.messages
        n = len(msgs)
        for direction, mtype, action, payload in msgs[self._csms_next:n]:
            arrow = "CS→CSMS" if direction == "in" else "CSMS→CS"
            if mtype == 2:
                self._open_calls[direction].append(action)
                text = CALL_TEXT.get(action, flat)(payload)
                label = action
                if direction == "in":
                    self._notice(action, payload)
            else:
                # the answer to the oldest open call of the other direction
                other = self._open_calls["out" if direction == "in" else "in"]
                label = (other.popleft() if other else "?") + (
                    self.result_suffix if mtype == 3 else " error")
                text = flat(payload)
            entry = (self.ws(), arrow, label, text)
            self.ocpp.append(entry)
            self.new_lines.append(("ocpp",) + entry)
        self._csms_next = n

    def _mqtt(self):
        _state, events = self.em.snapshot()
        for _t, ev in events[self._mqtt_events_seen:]:
            args = {k: v for k, v in (ev.get("args") or {}).items() if k not in SKIP_ARGS}
            code = ev.get("code")
            fn = EVENT_TEXT.get(code, lambda a, code=code: "%s %s" % (code, flat(a, 70)))
            if fn is not None:
                self.note("mqtt", fn(args))
        self._mqtt_events_seen = len(events)

    def _notice(self, action, payload):
        for kind, data in notices_in(action, payload):
            if kind == "RandomisedDelay" and data.get("active"):
                self.delays.append((self.vs(), data.get("delayS", 0)))

    def take_new(self):
        lines, self.new_lines = self.new_lines, []
        return lines

    # --- queries for the script --------------------------------------------------------------

    def calls(self, action):
        return self.csms.calls(action)

    def notices(self, kind):
        """The data of the gateway's notices of kind (gateway/notices.py): 1.6 DataTransfer,
        2.0.1 NotifyEvent."""
        return notices(self.csms, kind)
