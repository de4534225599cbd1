"""conformance/result.py: a verdict never passes on something that was not observed."""

from conformance.result import Result


def test_an_event_never_observed_fails_its_time_limit():
    """A check records a wait that ran out as None or -1 (s / ms): that is "never", and it
    fails a "<=" limit instead of passing it as a very short time."""
    r = Result("AG-09", "demo")
    assert r.measure("demand -> pilot", None, "ms", "<=", 5000) is False
    assert r.measure("status seen", -1, "s", "<=", 5) is False
    assert [f.value for f in r.figures] == ["never", "never"]
    assert len(r.failures) == 2 and "never ms" in r.failures[0]
    assert r.measure("on time", 120, "ms", "<=", 5000) is True
    assert r.measure("a current of -1 mA is a value", -1, "mA", "<=", 0) is True
