# Smart charging through the whole controller on the sim board, driven over
# the link by a scripted gateway, in virtual time: AG-09 (current demands),
# AG-10 (managed steps and the Annex A duty rate), T7-MULTI (several
# entities), T7-PROFILE (a schedule followed without the gateway) and T7-LOG
# (every request reported upstream with source, reason, asked and applied).
from evse_rig import TICK_MS, Rig, charging_rig

from evse import limits
from evse.windows import days_from_civil
from protocols import iec61851
from protocols import link_messages as lm

STANDALONE = {"random_delay_max_s": 0}
T0 = days_from_civil(2026, 3, 2) * 86400 + 12 * 3600  # Monday 2026-03-02 12:00 UTC


def _duty(ma):
    return iec61851.duty_from_current(ma)


def _events(rig, code, n):
    """The first n events of code upstream, waiting for them (records go up
    once in flash: the controller flushes at most once a second)."""
    assert rig.run_until(lambda r: len(r.events(code)) >= n, 2000) >= 0, "no event %d" % code
    return rig.events(code)


def _last_limit_event(rig):
    return _events(rig, lm.EV_LIMIT_APPLIED, 1)[-1]


def _pwm_since(rig, start):
    """(now_ms, duty) changes of the pilot from pwm_log index start on."""
    return rig.board.pwm_log[start:]


# --- AG-09 -------------------------------------------------------------------


def test_ag09_limit_over_the_link_changes_the_offer_and_the_duty_follows():
    """AG-09: accept demands to change the charge current. A LIMIT lowers the
    offer at the next tick; the RESULT answers with the offer."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    assert rig.board.duty_permille == _duty(32000)
    rig.limit(lm.SRC_CSMS, 16000, 1, tag=5)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(16000), 100) == TICK_MS
    res = rig.results(5)
    assert len(res) == 1
    assert res[0]["request_type"] == lm.LIMIT and res[0]["status"] == lm.ST_OK
    assert res[0]["value"] == 16000
    st = rig.status()
    assert st["offered_ma"] == 16000 and st["limit_source"] == "csms"
    assert st["contactor"] == 1 and st["session"] == "charging"
    rig.run(20)
    tel = rig.telemetry()
    assert tel["offered_ma"] == 16000 and tel["duty_permille"] == _duty(16000)
    assert tel["limit_source"] == lm.SRC_CSMS
    # raised again: the duty follows (after the Annex A interval, AG-10)
    rig.limit(lm.SRC_CSMS, 20000, 2, tag=6)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(20000), 6000) > 0
    assert rig.results(6)[0]["status"] == lm.ST_OK
    # asked above what the site allows: the answer is the offer, not the ask
    rig.limit(lm.SRC_CSMS, 40000, 3, tag=7)
    rig.run(20)
    assert rig.results(7)[0]["value"] == 32000


def test_ag09_limit_zero_pauses_and_charging_resumes_when_raised():
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_HEMS, 0, 1, tag=1)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 100) == TICK_MS
    assert rig.results(1)[0]["value"] == 0
    rig.limit(lm.SRC_HEMS, 16000, 2)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(16000), 6000) > 0
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 1000) >= 0


# --- AG-10 -------------------------------------------------------------------


def test_ag10_steps_quantise_down_to_current_step_ma():
    """AG-10: the charge rate moves in managed blocks: step 2000 mA and a
    limit of 11500 mA offer 10000 mA."""
    rig = charging_rig({"random_delay_max_s": 0, "current_step_ma": 2000}, auto_ack=True)
    rig.limit(lm.SRC_CSMS, 11500, 1, tag=1)
    rig.run(20)
    assert rig.board.duty_permille == _duty(10000)
    assert rig.status()["offered_ma"] == 10000
    assert rig.results(1)[0]["value"] == 10000
    ev = _last_limit_event(rig)
    assert ev["b"] == lm.R_STEP and ev["c"] == 11500 and ev["d"] == 10000
    rig.limit(lm.SRC_CSMS, 7999, 2)
    rig.run(20)
    assert rig.status()["offered_ma"] == 6000 and rig.board.duty_permille == _duty(6000)


def test_ag10_steps_below_6a_pause_at_x1_never_an_illegal_duty():
    """AG-10 / Annex A: below 6 A after stepping the EVSE pauses (steady
    +12 V, x1) rather than offering a duty under 10 %."""
    rig = charging_rig({"random_delay_max_s": 0, "current_step_ma": 2000}, auto_ack=True)
    start = len(rig.board.pwm_log)
    rig.limit(lm.SRC_DNO, 5900, 1, tag=2)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 100) == TICK_MS
    assert rig.results(2)[0]["value"] == 0
    rig.run(7000)
    st = rig.status()
    assert st["contactor"] == 0 and st["session"] == "suspended"  # IEC-X1 after 6 s
    assert rig.telemetry()["flags"] & lm.F_LOW_LIMIT_PAUSE
    ev = _last_limit_event(rig)
    assert ev["a"] == lm.SRC_DNO and ev["b"] == lm.R_PAUSED and ev["d"] == 0
    rig.limit(lm.SRC_DNO, 7900, 2)  # 6000 after stepping: a legal offer again
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 8000) > 0
    assert rig.board.duty_permille == _duty(6000)
    for _, duty in _pwm_since(rig, start):
        assert duty in (0, 1000) or iec61851.current_from_duty(duty) >= 6000, duty


def test_ag10_increases_wait_pwm_min_interval_decreases_apply_at_once():
    """AG-10 / Annex A: the duty changes at most every pwm_min_interval_ms for
    load-driven rises; a fall applies at the next tick. Measured on the
    board's pwm_log."""
    rig = charging_rig({"random_delay_max_s": 0, "pwm_min_interval_ms": 5000})
    rig.run(6000)  # well past the last change
    start = len(rig.board.pwm_log)
    asks = []  # (ms the LIMIT is read, asked mA)

    def ask(ma, gen):
        rig.limit(lm.SRC_CSMS, ma, gen)
        asks.append((rig.now_ms + TICK_MS, ma))
        rig.tick()

    ask(10000, 1)  # fall: at once
    rig.run(1000)
    ask(20000, 2)  # rise 1 s after a change: waits until 5 s after it
    rig.run(6000)
    ask(8000, 3)  # fall: at once
    ask(16000, 4)  # rise right after: waits 5 s from the fall
    rig.run(6000)
    log = _pwm_since(rig, start)
    assert [d for _, d in log] == [_duty(10000), _duty(20000), _duty(8000), _duty(16000)]
    (t10, _), (t20, _), (t8, _), (t16, _) = log
    assert t10 == asks[0][0]
    assert t20 == t10 + 5000
    assert t8 == asks[2][0]
    assert t16 == t8 + 5000
    # every rise in the whole log came at least the interval after the change before it
    full = rig.board.pwm_log
    for i in range(1, len(full)):
        prev_t, prev_d = full[i - 1]
        t, d = full[i]
        rise = 0 < prev_d < 1000 and 0 < d < 1000 and d > prev_d
        assert not rise or t - prev_t >= 5000, (prev_t, prev_d, t, d)


def test_ag10_interval_setting_zero_lets_rises_apply_at_once():
    rig = charging_rig({"random_delay_max_s": 0, "pwm_min_interval_ms": 0})
    rig.limit(lm.SRC_CSMS, 10000, 1)
    rig.tick()
    rig.limit(lm.SRC_CSMS, 20000, 2)
    rig.tick()
    assert rig.board.duty_permille == _duty(20000)


# --- T7-MULTI ----------------------------------------------------------------


def test_t7_multi_csms_hems_dno_min_wins_each_expires_at_its_own_duration():
    """T7-MULTI: control by more than one entity. The lowest limit in force
    binds; each expires its own duration_s after it was applied."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_CSMS, 20000, 1, duration_s=30)
    rig.limit(lm.SRC_HEMS, 16000, 1, duration_s=20)
    rig.limit(lm.SRC_DNO, 10000, 1, duration_s=10)
    rig.tick()
    applied_ms = rig.now_ms
    assert rig.board.duty_permille == _duty(10000)
    assert rig.status()["limit_source"] == "dno"
    expected = ((10000, _duty(16000), "hems"), (20000, _duty(20000), "csms"),
                (30000, _duty(32000), "hardware"))
    for after_ms, duty, source in expected:
        t = rig.run_until(lambda r, d=duty: r.board.duty_permille == d, 31000)
        assert t > 0
        assert rig.now_ms - applied_ms == after_ms, (source, rig.now_ms - applied_ms)
        assert rig.status()["limit_source"] == source
    assert rig.status()["contactor"] == 1


def test_t7_multi_t7_log_each_expiry_reported_upstream():
    """T7-LOG: a limit that runs out changes the offer: reported as
    limit_applied with R_EXPIRED and the offer after it."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_HEMS, 16000, 1, duration_s=20)
    rig.limit(lm.SRC_DNO, 10000, 1, duration_s=10)
    rig.run(25000)
    evs = _events(rig, lm.EV_LIMIT_APPLIED, 4)
    expired = [(e["a"], e["d"]) for e in evs if e["b"] == lm.R_EXPIRED]
    assert expired == [(lm.SRC_DNO, 16000), (lm.SRC_HEMS, 32000)]


def test_t7_multi_limit_none_removes_one_entity_and_the_next_binds():
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_CSMS, 10000, 1)
    rig.limit(lm.SRC_HEMS, 16000, 1)
    rig.run(20)
    assert rig.status()["offered_ma"] == 10000
    rig.limit(lm.SRC_CSMS, lm.LIMIT_NONE, 2, tag=3)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(16000), 6000) > 0
    assert rig.results(3)[0]["status"] == lm.ST_OK
    assert rig.status()["limit_source"] == "hems"
    ev = _last_limit_event(rig)
    assert ev["a"] == lm.SRC_CSMS and ev["b"] == lm.R_REMOVED and ev["d"] == 16000
    rig.limit(lm.SRC_HEMS, lm.LIMIT_NONE, 2)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(32000), 6000) > 0


def test_t7_multi_a_higher_limit_does_not_lift_a_lower_one():
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_DNO, 12000, 1)
    rig.run(20)
    rig.limit(lm.SRC_CSMS, 25000, 1, tag=4)
    rig.run(6000)
    assert rig.status()["offered_ma"] == 12000 and rig.status()["limit_source"] == "dno"
    assert rig.results(4)[0]["value"] == 12000


# --- T7-PROFILE --------------------------------------------------------------


def test_t7_profile_schedule_followed_across_periods_with_the_gateway_silent():
    """T7-PROFILE: a SCHEDULE with absolute start times, received after
    TIME_SYNC, is followed period by period while the gateway says nothing (its
    first period from SCHEDULE_SKEW_S before its start: the gateway's clock may
    run ahead of the firmware's)."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.time_sync(T0, tag=1)
    rig.tick()
    synced_ms = rig.now_ms  # unix T0 at this tick
    assert rig.results(1)[0]["status"] == lm.ST_OK
    periods = [(0, 16000), (120, 10000), (240, lm.LIMIT_NONE)]
    rig.schedule(lm.SRC_CSMS, 1, T0 + 60, periods, tag=2)
    rig.tick()
    res = rig.results(2)[0]
    assert res["status"] == lm.ST_OK and res["value"] == 3
    assert rig.board.duty_permille == _duty(32000)  # not started yet
    # the gateway is silent from here on
    first_s = 60 - limits.SCHEDULE_SKEW_S
    for at_s, duty in ((first_s, _duty(16000)), (180, _duty(10000)), (300, _duty(32000))):
        rig.skip(synced_ms + at_s * 1000 - 1000 - rig.now_ms)  # a second before the edge
        assert rig.board.duty_permille != duty
        assert rig.run_until(lambda r, d=duty: r.board.duty_permille == d, 2000) > 0
        assert rig.now_ms - synced_ms == at_s * 1000, (at_s, rig.now_ms - synced_ms)
        assert rig.status()["contactor"] == 1
    assert rig.status()["limit_source"] == "hardware"


def test_t7_profile_daily_schedule_repeats_offline_on_the_second_day():
    """T7-PROFILE / UK-7: a daily schedule (repeat_s 86400, an OCPP Recurring
    profile) is followed on the following day with the gateway gone."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.time_sync(T0)
    rig.tick()
    synced_ms = rig.now_ms
    rig.schedule(lm.SRC_CSMS, 1, T0, [(0, 10000), (3600, 16000)], repeat_s=86400, tag=3)
    rig.run(20)
    assert rig.results(3)[0]["status"] == lm.ST_OK
    for at_s, duty in ((86400 + 60, _duty(10000)), (86400 + 3600, _duty(16000))):
        rig.skip(synced_ms + at_s * 1000 - 1000 - rig.now_ms)
        assert rig.run_until(lambda r, d=duty: r.board.duty_permille == d, 7000) > 0, at_s
    assert rig.status()["limit_source"] == "schedule"


def test_t7_profile_schedule_with_an_end_and_a_lower_entity_limit():
    """The schedule is one source among the others: min wins; after its
    duration it no longer limits."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.time_sync(T0)
    rig.tick()
    synced_ms = rig.now_ms
    rig.schedule(lm.SRC_CSMS, 1, T0, [(0, 20000)], duration_s=100)
    rig.limit(lm.SRC_HEMS, 16000, 1)
    rig.run(20)
    assert rig.status()["offered_ma"] == 16000 and rig.status()["limit_source"] == "hems"
    rig.limit(lm.SRC_HEMS, lm.LIMIT_NONE, 2)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(20000), 6000) > 0
    assert rig.status()["limit_source"] == "schedule"
    rig.skip(synced_ms + 99000 - rig.now_ms)
    assert rig.board.duty_permille == _duty(20000)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(32000), 2000) > 0
    assert rig.now_ms - synced_ms == 100000


def test_t7_profile_schedule_without_time_sync_does_not_limit():
    """A schedule needs valid time (LINK.md 0x21): none, it does not limit."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.schedule(lm.SRC_CSMS, 1, T0, [(0, 10000)], tag=2)
    rig.run(6000)
    assert rig.results(2)[0]["status"] == lm.ST_OK
    assert rig.board.duty_permille == _duty(32000)
    rig.time_sync(T0 + 10)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(10000), 2000) > 0


def test_t7_profile_uk11_rate_change_by_schedule_waits_a_random_delay():
    """UK-11: a schedule-driven rise or fall waits a random delay in
    [0, random_delay_max_s]; the old rate holds meanwhile."""
    rig = Rig({"random_delay_max_s": 60})
    rig.auto_ack = True
    rig.script_random([0, 0, 42])  # restoration 0 s, charge start 0 s, then 42 s
    rig.power_cut()
    rig.hello()
    rig.run(100)
    rig.board.plug("C", 220)
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
    rig.time_sync(T0)
    rig.tick()
    synced_ms = rig.now_ms
    rig.schedule(lm.SRC_CSMS, 1, T0 + 30, [(0, 10000)])
    rig.tick()
    edge_ms = (30 - limits.SCHEDULE_SKEW_S) * 1000  # in force SCHEDULE_SKEW_S early
    rig.skip(synced_ms + edge_ms - 1000 - rig.now_ms)
    assert rig.board.duty_permille == _duty(32000)
    assert rig.run_until(lambda r: r.status()["delay_remaining_s"] > 0, 2000) > 0
    assert rig.now_ms - synced_ms == edge_ms
    assert rig.board.duty_permille == _duty(32000)

    def rate_change_delays(r):
        return [e for e in r.events(lm.EV_DELAY) if e["b"] == 3]  # CAUSE_RATE_CHANGE

    assert rig.run_until(rate_change_delays, 2000) > 0
    delays = rate_change_delays(rig)
    assert len(delays) == 1 and delays[0]["a"] == 1 and delays[0]["c"] == 42  # on, 42 s
    assert rig.board.duty_permille == _duty(32000)  # the old rate holds
    assert rig.status()["contactor"] == 1
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(10000), 44000) > 0
    assert rig.now_ms - synced_ms == edge_ms + 42000


# --- T7-LOG ------------------------------------------------------------------


def test_t7_log_every_limit_reported_with_source_reason_asked_applied():
    """T7-LOG: every LIMIT produces a limit_applied EVENT upstream."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    cases = (
        # entity, generation, asked, duration, status, reason, applied
        (lm.SRC_CSMS, 1, 16000, 0, lm.ST_OK, lm.R_APPLIED, 16000),
        (lm.SRC_HEMS, 1, 20000, 0, lm.ST_OK, lm.R_CAPPED | (lm.SRC_CSMS << 8), 16000),
        (lm.SRC_DNO, 1, 11500, 60, lm.ST_OK, lm.R_STEP, 11000),
        (lm.SRC_DNO, 2, 4000, 0, lm.ST_OK, lm.R_PAUSED, 0),
        (lm.SRC_DNO, 3, lm.LIMIT_NONE, 0, lm.ST_OK, lm.R_REMOVED, 16000),
        (lm.SRC_CSMS, 2, 90000, 0, lm.ST_INVALID, lm.R_INVALID, 16000),
        (lm.SRC_CSMS, 1, 6000, 0, lm.ST_STALE, lm.R_STALE, 16000),
        (lm.SRC_OWNER, 1, 6000, 0, lm.ST_UNKNOWN, lm.R_INVALID, 16000),
        (lm.SRC_LOAD_MGMT, 1, 12000, 0, lm.ST_OK, lm.R_APPLIED, 12000),
    )
    tag = 10
    for entity, gen, asked, duration_s, status, reason, applied in cases:
        before = len(rig.events(lm.EV_LIMIT_APPLIED))
        rig.limit(entity, asked, gen, duration_s=duration_s, tag=tag)
        rig.run(30)
        res = rig.results(tag)
        assert len(res) == 1 and res[0]["status"] == status, (entity, gen, res)
        rig.run_until(lambda r, n=before + 1: len(r.events(lm.EV_LIMIT_APPLIED)) >= n, 1500)
        evs = rig.events(lm.EV_LIMIT_APPLIED)
        assert len(evs) == before + 1, (entity, gen, "no limit_applied event")
        ev = evs[-1]
        assert ev["a"] == entity, (entity, ev)
        assert ev["b"] == reason, (entity, gen, ev)
        if asked != lm.LIMIT_NONE:
            assert ev["c"] == asked, (entity, ev)
        if applied is not None:
            assert ev["d"] == applied, (entity, gen, ev)
        tag += 1
    assert rig.status()["offered_ma"] == 12000  # the refused ones changed nothing


def test_t7_log_stale_generation_is_ignored_and_logged():
    """LINK.md 5.2: an older generation is ignored, answered ST_STALE and
    logged with R_STALE; the same generation again changes nothing."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.limit(lm.SRC_HEMS, 16000, 100, duration_s=30, tag=1)
    rig.run(20)
    applied_ms = rig.now_ms - TICK_MS
    rig.limit(lm.SRC_HEMS, 8000, 99, tag=2)
    rig.run(20)
    assert rig.results(2)[0]["status"] == lm.ST_STALE
    assert rig.results(2)[0]["value"] == 16000
    assert rig.status()["offered_ma"] == 16000
    ev = _events(rig, lm.EV_LIMIT_APPLIED, 2)[-1]
    assert ev["a"] == lm.SRC_HEMS and ev["b"] == lm.R_STALE and ev["c"] == 8000
    # the same generation resent later: ST_OK, the expiry is not restarted
    rig.run(10000)
    n = len(rig.events(lm.EV_LIMIT_APPLIED))
    rig.limit(lm.SRC_HEMS, 16000, 100, duration_s=30, tag=3)
    rig.run(20)
    assert rig.results(3)[0]["status"] == lm.ST_OK
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(32000), 25000) > 0
    assert rig.now_ms - applied_ms == 30000
    assert len(rig.events(lm.EV_LIMIT_APPLIED)) >= n


def test_t7_log_events_retained_until_event_ack_and_resent():
    """LINK.md 5.1: unacked events are sent again (go-back-N after 5 s);
    EVENT_ACK frees them and they stop."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.run(2000)
    rig.auto_ack = False
    assert rig.status()["events_pending"] == 0
    rig.up = []
    rig.limit(lm.SRC_CSMS, 16000, 1)
    assert rig.run_until(lambda r: r.messages(lm.EVENT), 1500) > 0
    sent = [f for f in rig.messages(lm.EVENT) if f["code"] == lm.EV_LIMIT_APPLIED]
    assert len(sent) == 1
    seq = sent[0]["seq"]
    assert rig.status()["events_pending"] >= 1
    rig.run(6000)
    again = [f for f in rig.messages(lm.EVENT) if f["seq"] == seq]
    assert len(again) >= 2 and again[-1] == again[0]  # resent, unchanged
    rig.send(lm.EVENT_ACK, {"seq": seq})
    rig.run(100)
    assert rig.status()["events_pending"] == 0
    rig.up = []
    rig.run(12000)
    assert not [f for f in rig.messages(lm.EVENT) if f["seq"] <= seq]


def test_t7_log_unacked_event_resent_after_a_power_cut():
    """LINK.md 5.1: a record is stored before it is sent and kept until
    acked, across reboots; after a power cut it goes again with its seq."""
    rig = charging_rig(STANDALONE, auto_ack=True)
    rig.run(2000)
    rig.auto_ack = False
    assert rig.status()["events_pending"] == 0
    rig.up = []
    rig.limit(lm.SRC_CSMS, 16000, 1)
    assert rig.run_until(lambda r: r.messages(lm.EVENT), 1500) > 0
    sent = rig.messages(lm.EVENT)
    assert len(sent) == 1 and sent[0]["code"] == lm.EV_LIMIT_APPLIED
    rig.power_cut(2000)
    rig.up = []
    rig.hello()
    rig.run(3000)
    hello = rig.messages(lm.HELLO)[-1]
    assert hello["unacked_seq"] == sent[0]["seq"]
    again = [f for f in rig.messages(lm.EVENT) if f["seq"] == sent[0]["seq"]]
    assert again and again[0] == sent[0]
    # acked, it is gone for good
    rig.ack_all()
    rig.run(100)
    rig.power_cut(2000)
    rig.up = []
    rig.hello()
    rig.run(3000)
    assert rig.messages(lm.EVENT)
    assert all(f["seq"] > sent[0]["seq"] for f in rig.messages(lm.EVENT))


def test_t7_log_power_cut_never_reuses_a_sent_seq():
    """LINK.md 5.1: seq numbers are never reused. A power cut right after a
    burst of requests: whatever seq went upstream before the cut is, after
    it, either the same record again or never seen again."""
    for gap_ms in (TICK_MS, 300, 500, 990):
        rig = charging_rig(STANDALONE, auto_ack=True)
        rig.run(2000)
        rig.auto_ack = False
        rig.up = []
        rig.limit(lm.SRC_CSMS, 16000, 1)
        rig.run(gap_ms)
        rig.limit(lm.SRC_CSMS, 10000, 2)
        rig.run(2 * TICK_MS)
        before = {}
        for f in rig.messages(lm.EVENT):
            before[f["seq"]] = f
        rig.power_cut(2000)
        rig.up = []
        rig.hello()
        rig.run(3000)
        for f in rig.messages(lm.EVENT):
            if f["seq"] in before:
                assert f == before[f["seq"]], (gap_ms, before[f["seq"]], f)


def test_link_a_nak_is_never_answered_with_a_nak():
    """LINK.md 5.4: NAK is never answered, even when tagged."""
    rig = charging_rig(STANDALONE)
    before = len(rig.naks())
    rig.send(lm.NAK, {"error": lm.E_TYPE, "bad_type": 0x77, "major": 1, "minor": 0}, tag=9)
    rig.run(50)
    assert len(rig.naks()) == before


def test_link_a_new_gateway_s_first_command_is_not_taken_for_a_resend():
    """LINK.md 5.4: a repeated tag is a resend only within one gateway's epoch."""
    rig = charging_rig(STANDALONE)
    rig.hello()
    rig.command(lm.CMD_PAUSE, tag=5)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 500) > 0
    rig.hello()  # the gateway restarted: its tags start again
    rig.command(lm.CMD_RESUME, tag=5)
    assert rig.run_until(lambda r: 0 < r.board.duty_permille < 1000, 7000) > 0
