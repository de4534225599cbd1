# Wall time in the firmware core (evse.windows): seconds since 2020-01-01 UTC,
# small ints on 32-bit MicroPython until 2054, so that a steady control tick
# with a synced clock allocates nothing (DESIGN §7 P3). The link keeps unix
# seconds: the conversions happen at the edges (uplink, events, status()).
import sys

from evse_rig import TICK_MS, Rig

from evse import windows
from evse.windows import EPOCH_DAYS, EPOCH_UNIX_S, civil_from_days, days_from_civil, weekday
from protocols import link_messages as lm

# Mon 30 Mar 2026 11:59:40 UTC = 12:59:40 BST: no UK-10 window (weekdays
# 08:00-11:00 and 16:00-22:00 local) is in force.
SYNC_UNIX_S = 1774871980
MINUTE_UNIX_S = SYNC_UNIX_S + 20  # 12:00:00 UTC
PERIOD_UNIX_S = SYNC_UNIX_S + 23  # 12:00:03 UTC: the schedule's second period starts


def test_epoch_is_2020_01_01_utc_and_small_ints_last_until_2054():
    assert EPOCH_DAYS == days_from_civil(2020, 1, 1)
    assert EPOCH_UNIX_S == EPOCH_DAYS * 86400
    assert weekday(EPOCH_DAYS) == 2  # a Wednesday
    assert windows.WALL_SMALL_MAX_S == (1 << 30) - 1
    last_day = windows.WALL_SMALL_MAX_S // 86400 + EPOCH_DAYS
    assert civil_from_days(last_day) == (2054, 1, 9)
    assert windows.WALL_SMALL_MAX_S % 86400 == 13 * 3600 + 37 * 60 + 3  # 13:37:03 UTC


def test_time_sync_and_events_keep_unix_seconds_on_the_link():
    """TIME_SYNC carries unix ms; the controller keeps wall seconds, status()
    reports both and an event logged afterwards carries unix seconds."""
    rig = Rig({"random_delay_max_s": 0})
    rig.auto_ack = True
    rig.hello()
    rig.run(100)
    st = rig.status()
    assert st["unix_s"] == 0 and st["wall_s"] == 0
    assert not rig.telemetry()["flags"] & lm.F_TIME_VALID
    rig.time_sync(SYNC_UNIX_S, tag=5)
    rig.run(1000)
    assert rig.results(5)[0]["value"] == 0  # first sync: no correction
    st = rig.status()
    assert SYNC_UNIX_S <= st["unix_s"] <= SYNC_UNIX_S + 1
    assert st["wall_s"] == st["unix_s"] - EPOCH_UNIX_S
    assert rig.telemetry()["flags"] & lm.F_TIME_VALID
    rig.command(lm.CMD_PAUSE)
    rig.run(2000)
    ev = rig.events(lm.EV_COMMAND)[-1]
    assert SYNC_UNIX_S <= ev["unix_s"] <= SYNC_UNIX_S + 1
    # 3 s after the first sync the gateway says 13 s: its clock is 10 s ahead
    rig.time_sync(SYNC_UNIX_S + 13, tag=6)
    rig.run(20)
    assert 9980 <= rig.results(6)[0]["value"] <= 10020
    assert SYNC_UNIX_S + 13 <= rig.status()["unix_s"] <= SYNC_UNIX_S + 14


def test_p3_steady_charging_tick_with_synced_clock_allocates_nothing():
    """P3: >= 2000 steady charging ticks with the wall clock synced, across a
    UTC minute (the no-charge windows are re-evaluated) and a schedule period
    boundary (the period is looked up again), allocate 0 bytes on MicroPython
    (gc.mem_alloc with the collector off). Ticks that write to the link (the
    HELLO retry of a standalone charger every 2 s) or exchange bytes with the
    emulated SDM630 (a poll cycle every second, AG-03) are I/O, counted apart.
    CPython has no gc.mem_alloc(): there the same ticks run and the
    behaviour is checked."""
    rig = Rig({"random_delay_max_s": 0, "site_limit_ma": 16000, "no_charge_windows": "uk",
               "utc_offset_mode": "uk", "telemetry_interval_s": 300})
    ctl = rig.ctl
    board = rig.board
    rig.run(100)
    board.plug("B", 220)
    rig.run(100)
    board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0
    rig.time_sync(SYNC_UNIX_S)
    # periods above the 16 A site limit: the offer stays, the lookup changes
    rig.schedule(lm.SRC_CSMS, 1, SYNC_UNIX_S - 60, [(0, 32000), (83, 20000)])
    rig.run(1500)  # sync, schedule, their events flushed to flash
    assert ctl.limits.schedule_ma == 32000
    assert ctl.windows.local_minute == 12 * 60 + 59
    writes = [0]
    own_write = board.link_write

    def counting_write(data):
        writes[0] += 1
        return own_write(data)

    board.link_write = counting_write
    own_meter_write = board.meter_write
    own_meter_read = board.meter_read

    def counting_meter_write(data):
        writes[0] += 1
        return own_meter_write(data)

    def counting_meter_read(buf):
        n = own_meter_read(buf)
        if n:
            writes[0] += 1
        return n

    board.meter_write = counting_meter_write
    board.meter_read = counting_meter_read
    n = 3000
    quiet = 0
    quiet_alloc_ticks = 0
    quiet_bytes = 0
    minute_tick_quiet = -1  # 1 / 0: the tick that re-evaluated the windows was quiet / I/O
    period_tick_quiet = -1
    minute = ctl.windows.local_minute
    sched = ctl.limits.schedule_ma
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        gc.disable()
    i = 0
    while i < n:
        board.advance(TICK_MS)
        w = writes[0]
        if mp:
            a = gc.mem_alloc()
            ctl.tick()
            d = gc.mem_alloc() - a
        else:
            ctl.tick()
            d = 0
        q = writes[0] == w
        if q:
            quiet += 1
            if d:
                quiet_alloc_ticks += 1
                quiet_bytes += d
        if ctl.windows.local_minute != minute:
            minute = ctl.windows.local_minute
            minute_tick_quiet = 1 if q else 0
        if ctl.limits.schedule_ma != sched:
            sched = ctl.limits.schedule_ma
            period_tick_quiet = 1 if q else 0
        i += 1
    if mp:
        gc.enable()
    board.link_write = own_write
    board.meter_write = own_meter_write
    board.meter_read = own_meter_read
    assert quiet_alloc_ticks == 0 and quiet_bytes == 0, (quiet_alloc_ticks, quiet_bytes)
    assert quiet >= 2000, quiet
    assert minute_tick_quiet == 1 and period_tick_quiet == 1
    assert minute == 13 * 60 and sched == 20000  # 13:00 BST, the second period
    st = rig.status()
    assert st["session"] == "charging" and st["contactor"] == 1
    assert st["offered_ma"] == 16000 and not st["window_blocked"]
    assert SYNC_UNIX_S + 31 <= st["unix_s"] <= SYNC_UNIX_S + 32  # 1.5 s + 30 s of ticks
    assert st["wall_s"] == st["unix_s"] - EPOCH_UNIX_S
    assert PERIOD_UNIX_S > MINUTE_UNIX_S > SYNC_UNIX_S + 2  # both inside the measurement
