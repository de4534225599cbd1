"""What the owner does and must not be able to do: the manual override (AG-12), unsafe
input refused (UK-8), the default no-charge hours (UK-10)."""

import json

from conformance.checks.common import QUICK, offered_ma, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

# [weekday mask (bit 0 Monday), start minute, end minute]: weekdays 08-11 and 16-22
UK_DEFAULT_WINDOWS = [[31, 480, 660], [31, 960, 1320]]
REPORT_LIMIT_MS = 2000  # override -> on the link to the gateway
WINTER_WEEKDAY_UNIX_S = 1768406400  # 2026-01-14T16:00:00Z, Wednesday 16:00 GMT
WINTER_SATURDAY_UNIX_S = 1768752000  # 2026-01-18T16:00:00Z, Saturday 16:00 GMT


@check("AG-12", needs=("pilot", "link", "button"))
def override_reported_by_firmware(target, r):
    """The owner presses the override button while a DNO limit pauses the charge: the
    smart limit is lifted (the charge resumes at the cable's rating) and the override goes
    up the link (EV_OVERRIDE event, F_OVERRIDE telemetry flag) within 2 s; a second press
    ends it and the DNO's limit applies again."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    plug_and_charge(lab, r)
    lab.limit(lm.SRC_DNO, 0)
    lab.advance(8000)
    r.expect(lab.duty_permille() == 1000, "DNO limit 0 A: paused (x1)")
    since = lab.now_ms
    lab.do("press_button", ms=200)
    t = lab.wait_until(lambda: lab.duty_permille() != 1000, 5000)
    r.measure("button -> offer again (smart limit lifted)", -1 if t is None else t, "ms", "<=",
              2000)
    t = lab.wait_until(lambda: lab.events(lm.EV_OVERRIDE, since), 5000)
    r.measure("button -> EV_OVERRIDE on the link", -1 if t is None else t + 200, "ms", "<=",
              REPORT_LIMIT_MS)
    lab.advance(1000)
    flagged = [f for _, f in lab.received(lm.TELEMETRY, since) if f["flags"] & lm.F_OVERRIDE]
    r.expect(bool(flagged), "telemetry carries the override flag")
    r.measure("offered during the override", offered_ma(lab), "mA", ">=", 31900)
    lab.advance(2000)
    since = lab.now_ms
    lab.do("press_button", ms=200)
    t = lab.wait_until(lambda: lab.duty_permille() == 1000, 5000)
    r.measure("second press -> the DNO's pause again", -1 if t is None else t, "ms", "<=", 2000)
    ended = [f for _, f in lab.events(lm.EV_OVERRIDE, since) if f["a"] == 0]
    lab.advance(2000)
    ended = [f for _, f in lab.events(lm.EV_OVERRIDE, since) if f["a"] == 0]
    r.expect(bool(ended), "the end of the override reported (EV_OVERRIDE on=0)")


UNSAFE = (("max_current_ma", 90000), ("site_limit_ma", 5000), ("failsafe_current_ma", 5000),
          ("random_delay_max_s", 1801), ("current_step_ma", 0), ("telemetry_interval_s", 301),
          ("no_charge_windows", "[[1, 900, 2000]]"), ("phases", 2))


@check("UK-8", needs=("pilot", "link"))
def unsafe_input_refused(target, r):
    """UK reg 8: settings outside their safe range are refused with the reason and change
    nothing; a demand above the cable's rating is capped to the cable; a demand below 6 A
    pauses (x1) rather than offering an illegal duty."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    plug_and_charge(lab, r, pp_ohms=1500)
    lab.advance(3000)
    before = lab.duty_permille()
    for key, value in UNSAFE:
        st, reason = lab.setting(key, value)
        r.expect(st == lm.ST_INVALID, "%s = %s refused (%s)" % (key, value, reason))
    lab.advance(1000)
    r.measure("duty after the refused settings (unchanged)", lab.duty_permille(), "permille",
              "==", before)
    lab.limit(lm.SRC_HEMS, 80000)
    lab.advance(1000)
    r.measure("demand 80 A on a 13 A cable: offered", offered_ma(lab), "mA", "<=", 13000)
    lab.limit(lm.SRC_HEMS, 4000)
    lab.advance(1000)
    d = lab.duty_permille()
    r.expect(d == 1000, "demand 4 A: paused with steady +12 V (duty %d permille)" % d)


def _plug_at(target, r, unix_s, windows="uk"):
    lab = target.lab(settings=dict(QUICK, no_charge_windows=windows))
    lab.link_connect()
    lab.time_sync(unix_s * 1000)
    lab.synced_at_ms = lab.now_ms
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("draw", a=16, phases=3)
    lab.advance(10000)
    return lab


@check("UK-10", needs=("pilot", "contactor", "link", "button"))
def default_no_charge_hours(target, r):
    """UK reg 10: the factory settings hold the default no-charge hours (weekdays 08:00-11:00
    and 16:00-22:00 local time); a weekday plug-in at 16:00 waits until 22:00, a Saturday
    one charges; the owner's override charges at once; the owner can change or remove them."""
    lab = target.lab(settings={})
    lab.link_connect()
    st, value = lab.setting_get("no_charge_windows")
    r.expect(st == lm.ST_OK and json.loads(value or "null") == UK_DEFAULT_WINDOWS,
             "factory setting no_charge_windows is the regulations' default (got %s)"
             % (value,))
    lab = _plug_at(target, r, WINTER_WEEKDAY_UNIX_S)
    r.expect(not lab.contactor_closed() and lab.duty_permille() == 1000,
             "weekday 16:00 GMT: no charge")
    t = lab.wait_until(lab.contactor_closed, 7 * 3600 * 1000, step_ms=1000)
    at_s = -1 if t is None else (lab.now_ms - lab.synced_at_ms) // 1000
    r.measure("weekday 16:00 plug-in: contactor closes at 16:00 +", at_s, "s", ">=", 6 * 3600)
    r.measure("weekday 16:00 plug-in: contactor closes at 16:00 + (upper)", at_s, "s", "<=",
              6 * 3600 + 5)
    lab = _plug_at(target, r, WINTER_SATURDAY_UNIX_S)
    r.expect(lab.contactor_closed(), "Saturday 16:00: charging")
    lab = _plug_at(target, r, WINTER_WEEKDAY_UNIX_S)
    lab.do("press_button", ms=200)
    t = lab.wait_until(lab.contactor_closed, 10000)
    r.expect(t is not None, "weekday 16:00 with the owner's override: charging")
    lab = _plug_at(target, r, WINTER_WEEKDAY_UNIX_S, windows=[[31, 0, 60]])
    r.expect(lab.contactor_closed(), "owner's own window (weekdays 00:00-01:00): 16:00 charges")
    lab = _plug_at(target, r, WINTER_WEEKDAY_UNIX_S, windows=[])
    r.expect(lab.contactor_closed(), "windows removed by the owner: 16:00 charges")
