"""What a person watches: LiveDashboard (rich, redrawn in place a few times a second) on a
terminal, PlainProgress (one line per step, event and OCPP message, and a status line every
few seconds) when stdout is not a terminal. Both take the same calls: say(text) before the
parts run, attach(observer), start(), refresh() (cheap: draws at most REDRAW_S apart),
step(i, row, facts, error), stop()."""

import time

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from protocols import iec61851
from sim_hardware.demo.script import STEPS

REDRAW_S = 0.25
PLAIN_STATUS_S = 5.0
CP_MEANING = {"A": "no EV", "B": "EV connected", "C": "EV charging", "D": "ventilation asked",
              "E": "CP short", "F": "EVSE unavailable", "-": "unpowered"}
# firmware limit source -> who sets it (DESIGN §5)
SET_BY = {"hardware": "EVSE rating", "cable": "cable (PP)", "site": "site limit",
          "schedule": "CSMS profile", "csms": "CSMS", "hems": "HEMS (MQTT)",
          "dno": "DNO (MQTT)", "failsafe": "failsafe (link lost)", "window": "UK-10 hours",
          "meter": "meter fault", "power_quality": "power quality"}
UNLIMITED_MA = 80000  # Annex A's highest offer: a "limit" of 80 A limits nothing
SMART = ("schedule", "csms", "hems", "dno", "window")  # lifted by the override (AG-12)


def amps(ma):
    return "—" if ma is None else "%.1f A" % (ma / 1000)


def clock(s):
    return "%d:%02d" % (int(s) // 60, int(s) % 60)


def duty_text(duty):
    got = iec61851.current_from_duty(duty)
    if got == iec61851.DUTY_NO_PWM:
        return "%d ‰ (steady, no PWM offer)" % duty
    return "%d ‰ → %s" % (duty, amps(got)) if got >= 0 else "%d ‰" % duty


def charger_rows(st):
    m = st.get("measured") or {}
    meter = st.get("meter") or {}
    cp = st.get("cp", "-")
    return [
        ("pilot", "%s  %s" % (cp, CP_MEANING.get(cp, ""))),
        ("PWM duty", duty_text(st.get("duty_permille", 0))),
        ("contactor", "closed" if st.get("contactor") else "open"),
        ("offered", amps(st.get("offered_ma"))),
        ("measured", "%s (MID meter, L1)" % amps(m.get("i1_ma"))),
        ("EV draws", "%s per phase" % amps(st.get("draw_ma"))),
        ("power", "—" if m.get("p_total_w") is None else "%.2f kW" % (m["p_total_w"] / 1000)),
        ("energy", "%s Wh (meter %s Wh)" % (m.get("session_wh", "—"),
                                            meter.get("import_wh", "—"))),
        ("random delay", "%d s left" % st["delay_remaining_s"]
         if st.get("delay_remaining_s") else "—"),
        ("override", "ON: smart limits lifted" if st.get("override") else "off"),
        ("session", "%s (%s)" % (st.get("session", "?"), st.get("wire_session", "?"))),
        ("mains", "on" if st.get("power") else "OFF (power cut)"),
    ]


def limit_rows(st, mqtt_state):
    """(source, A, set by, note) of every limit in force, the binding one first."""
    expiry = {lim.get("source"): lim.get("expires_in_s")
              for lim in (mqtt_state or {}).get("limits", [])}
    binding = st.get("limit_source")
    rows = []
    for source, ma in sorted((st.get("limits") or {}).items(), key=lambda kv: kv[1]):
        if ma >= UNLIMITED_MA:  # e.g. the schedule the gateway pushes without a profile
            continue
        notes = []
        if st.get("override") and source in SMART:
            notes.append("lifted (override)")
        elif source == binding:
            notes.append("binding")
        if expiry.get(source):
            notes.append("ends in %d s" % expiry[source])
        rows.append((source, amps(ma), SET_BY.get(source, source), ", ".join(notes)))
    return rows


class LiveDashboard:
    def __init__(self, console, opts, header, keys_help=None):
        self.console = console
        self.opts = opts
        self.header = header
        self.keys_help = keys_help
        self.obs = None
        self.live = None
        self.current = None  # (index, row)
        self.done = {}  # index -> True / False
        self._drawn = 0.0

    def say(self, text):
        self.console.print("[dim]demo:[/] " + text)

    def attach(self, obs):
        self.obs = obs

    def start(self):
        self.live = Live(self._render(), console=self.console, auto_refresh=False,
                         transient=False)
        self.live.start()

    def stop(self):
        if self.live is not None:
            self.live.update(self._render(), refresh=True)
            self.live.stop()
            self.live = None

    def refresh(self, force=False):
        if self.live is None or (not force and time.monotonic() - self._drawn < REDRAW_S):
            return
        self._drawn = time.monotonic()
        self.live.update(self._render(), refresh=True)

    def step(self, i, row, facts, error):
        if facts is None and error is None:
            self.current = (i, row)
        else:
            self.done[i] = error is None
        self.refresh(force=True)

    # --- drawing -----------------------------------------------------------------------------

    def _steps(self):
        t = Text()
        for i, (key, _title, _d, _f) in enumerate(STEPS):
            mark, style = {True: ("✓", "green"), False: ("✗", "bold red")}.get(
                self.done.get(i), ("▶", "bold yellow") if self.current and
                self.current[0] == i else ("·", "dim"))
            t.append("%s %s  " % (mark, key.replace("_", " ")), style=style)
        return t

    def _rows(self):
        """Event and OCPP lines that fit the terminal's height (the rest is ~32 lines)."""
        return max(3, min(10, (self.console.height - 32) // 2))

    def _render(self):
        obs = self.obs
        parts = [Panel(Text(self.header), title="[b]Smart charger demo[/b]",
                       border_style="blue")]
        if self.current is not None:
            i, (_k, title, detail, _f) = self.current
            body = Group(Text("Step %d/%d  %s" % (i + 1, len(STEPS), title), style="bold"),
                         Text(detail.format(delay=self.opts.random_delay_max_s)),
                         self._steps())
            parts.append(Panel(body, border_style="yellow"))
        if obs is None or not obs.status:
            return Group(*parts)
        st = obs.status
        left = Table.grid(padding=(0, 2))
        left.add_column(style="dim")
        left.add_column()
        for k, v in charger_rows(st):
            left.add_row(k, v)
        left.add_row("clock", "charger %s (x%g), wall %s" % (
            clock(obs.vs()), self.opts.time_scale, clock(obs.ws())))
        right = Table(box=None, padding=(0, 1), expand=True)
        for col, width in (("source", 8), ("limit", 6), ("set by", 14)):
            right.add_column(col, width=width, no_wrap=True)
        right.add_column("", style="dim", ratio=1, no_wrap=True, overflow="ellipsis")
        for row in limit_rows(st, obs.em.state):
            right.add_row(*row)
        mq = obs.em.state or {}
        mqtt = Text("\nthe gateway's MQTT state: %s, offered %s, override %s, limits %s" % (
            mq.get("status", "—"), amps(mq.get("offered_ma")),
            "on" if mq.get("override") else "off",
            ", ".join("%s %s" % (lim.get("source"), amps(lim.get("current_ma")))
                      for lim in mq.get("limits", [])) or "—"), style="dim")
        top = Table.grid(expand=True)
        top.add_column(ratio=1)
        top.add_column(ratio=1)
        top.add_row(Panel(left, title="Charger (firmware core on %s)" % self.opts.vm),
                    Panel(Group(right, mqtt), title="Limits in force, and who set them"))
        parts.append(top)
        n = self._rows()
        ev = Table.grid(padding=(0, 1), expand=True)
        for width in (5, 8, 7):
            ev.add_column(style="dim", width=width, no_wrap=True)
        ev.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        for ws, vs, who, text in list(obs.events)[-n:]:
            ev.add_row(clock(ws), "sim " + clock(vs), who, text)
        parts.append(Panel(ev, title="Events"))
        oc = Table.grid(padding=(0, 1), expand=True)
        oc.add_column(style="dim", width=5, no_wrap=True)
        oc.add_column(style="cyan", width=7, no_wrap=True)
        oc.add_column(style="bold", width=24, no_wrap=True)
        oc.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        for ws, arrow, action, text in list(obs.ocpp)[-n:]:
            oc.add_row(clock(ws), arrow, action, text)
        parts.append(Panel(oc, title="OCPP %s messages (recorded by the CSMS)"
                           % self.opts.ocpp))
        if self.keys_help:
            parts.append(Text(self.keys_help, style="bold"))
        return Group(*parts)


class PlainProgress:
    """Progress as lines (CI logs, a pipe): steps, events, OCPP messages, a status line."""

    def __init__(self, out, opts, header, keys_help=None):
        self.out = out
        self.opts = opts
        self.header = header  # printed once, here
        self.obs = None
        self._status_at = 0.0
        self._print(header)

    def _print(self, text):
        print(text, file=self.out, flush=True)

    def _stamp(self, ws=None, vs=None):
        if self.obs is None:
            return "[demo]"
        ws = self.obs.ws() if ws is None else ws
        vs = self.obs.vs() if vs is None else vs
        return "[%6.1f s | sim %6.1f s]" % (ws, vs)

    def say(self, text):
        self._print("demo: " + text)

    def attach(self, obs):
        self.obs = obs

    def start(self):
        pass

    def stop(self):
        self.refresh()

    def refresh(self, force=False):
        if self.obs is None:
            return
        for kind, ws, a, b, c in self.obs.take_new():
            if kind == "event":  # (ws, vs, who, text)
                self._print("%s %s: %s" % (self._stamp(ws, a), b, c))
            else:  # (ws, arrow, action, text)
                self._print("%s OCPP %s %s %s" % (self._stamp(ws), a, b, c))
        if time.monotonic() - self._status_at >= PLAIN_STATUS_S and self.obs.status:
            self._status_at = time.monotonic()
            st = self.obs.status
            m = st.get("measured") or {}
            self._print("%s status: pilot %s, duty %s, contactor %s, offered %s, measured %s, "
                        "limit %s%s, energy %s Wh" % (
                            self._stamp(), st.get("cp"), duty_text(st.get("duty_permille", 0)),
                            "closed" if st.get("contactor") else "open",
                            amps(st.get("offered_ma")), amps(m.get("i1_ma")),
                            st.get("limit_source"), ", OVERRIDE" if st.get("override") else "",
                            m.get("session_wh", "—")))

    def step(self, i, row, facts, error):
        _key, title, detail, _fn = row
        self.refresh()
        if facts is None and error is None:
            self._print("%s ▶ step %d/%d: %s. %s" % (
                self._stamp(), i + 1, len(STEPS), title,
                detail.format(delay=self.opts.random_delay_max_s)))
        elif error is None:
            self._print("%s ✓ %s" % (self._stamp(), title))
        else:
            self._print("%s ✗ %s: %s" % (self._stamp(), title, error))
