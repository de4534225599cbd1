"""What one check found: the steps it took, the figures it measured against their limits,
the plots it drew, and the verdict that follows from them.

Verdicts (issue 8): pass, fail, not applicable, not shown. A result passes only when the
check measured or asserted something and nothing failed; a check that raised NotShown or
NotApplicable says why; a check that crashed is a fail with the error (never a pass)."""

PASS = "pass"
FAIL = "fail"
NOT_APPLICABLE = "not applicable"
NOT_SHOWN = "not shown"
VERDICTS = (PASS, FAIL, NOT_APPLICABLE, NOT_SHOWN)


class NotShown(Exception):
    """The target cannot exercise this (e.g. the rig has no mains relay): say why."""


class NotApplicable(Exception):
    """The requirement does not apply to this charger (e.g. discharge on a charger without
    bidirectional power): say why."""


class Figure:
    __slots__ = ("name", "value", "unit", "limit", "ok")

    def __init__(self, name, value, unit, limit, ok):
        self.name = name
        self.value = value
        self.unit = unit
        self.limit = limit  # text, e.g. "<= 100 ms", or "" when only reported
        self.ok = ok  # True / False, or None when only reported

    def as_dict(self):
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "limit": self.limit, "ok": self.ok}


TIME_UNITS = ("s", "ms")

_OPS = {
    "<=": lambda v, lim: v <= lim,
    "<": lambda v, lim: v < lim,
    ">=": lambda v, lim: v >= lim,
    ">": lambda v, lim: v > lim,
    "==": lambda v, lim: v == lim,
}


class Result:
    def __init__(self, req_id, check_name):
        self.req_id = req_id
        self.check_name = check_name
        self.steps = []  # what was done, in order
        self.figures = []
        self.plots = []  # plot specs; conformance/plots.py draws them next to the report
        self.failures = []  # what did not hold
        self.verdict = None
        self.reason = ""  # for not shown / not applicable / an error
        self.duration_s = 0.0

    def did(self, text):
        self.steps.append(text)

    def measure(self, name, value, unit, op=None, limit=None):
        """A measured figure; with op and limit also a condition that must hold. A time
        (s, ms) that is None or negative is an event never observed within the wait: it
        fails any condition (it never "took less than the limit")."""
        ok = None
        limit_text = ""
        never = unit in TIME_UNITS and (value is None or value < 0)
        if never:
            value = "never"
        if op is not None:
            ok = not never and bool(_OPS[op](value, limit))
            limit_text = "%s %s" % (op, limit)
            if not ok:
                self.failures.append("%s = %s %s, limit %s" % (name, value, unit, limit_text))
        self.figures.append(Figure(name, value, unit, limit_text, ok))
        return ok

    def expect(self, ok, what):
        """A condition that is not a number: what must hold, in words."""
        self.figures.append(Figure(what, "yes" if ok else "no", "", "yes", bool(ok)))
        if not ok:
            self.failures.append(what)
        return bool(ok)

    def histogram(self, title, values, low, high, bins, x_label):
        width = (high - low) / bins
        counts = [0] * bins
        for v in values:
            counts[min(int((v - low) / width), bins - 1)] += 1
        self.plots.append({"kind": "histogram", "title": title, "counts": counts,
                           "low": low, "high": high, "x_label": x_label,
                           "expected": len(values) / bins})

    def timeline(self, title, samples):
        """samples: the lab's [(t_ms, duty_permille, contactor, ev_current_ma)]."""
        self.plots.append({"kind": "timeline", "title": title, "samples": list(samples)})

    def finish(self, error=None):
        checked = [f for f in self.figures if f.ok is not None]
        if error is not None:
            self.verdict = FAIL
            self.reason = error
        elif self.failures:
            self.verdict = FAIL
        elif not checked:
            self.verdict = FAIL
            self.reason = "the check asserted nothing: a suite defect, never a pass"
        else:
            self.verdict = PASS
        return self

    def as_dict(self):
        return {"id": self.req_id, "check": self.check_name, "verdict": self.verdict,
                "reason": self.reason, "steps": self.steps,
                "figures": [f.as_dict() for f in self.figures],
                "failures": self.failures, "plots": self.plots,
                "duration_s": round(self.duration_s, 3)}
