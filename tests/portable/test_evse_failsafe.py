# Failsafe on loss of the gateway link (AG-11) and charging without a network
# (UK-7), through the whole controller on the sim board, in virtual time.
# LINK.md 5.3: the link timer restarts on every gateway message that decodes
# OK; older than link_timeout_ms (from boot too) the failsafe current caps the
# offer; failsafe ends when the gateway is back AND has re-sent its limits.
from evse_rig import TICK_MS, Rig, charging_rig

from evse.windows import days_from_civil
from protocols import iec61851, link
from protocols import link_messages as lm

TIMEOUT_MS = 5000
FS = {"random_delay_max_s": 0, "link_timeout_ms": TIMEOUT_MS, "failsafe_current_ma": 10000}
T0 = days_from_civil(2026, 3, 2) * 86400 + 12 * 3600  # Monday 2026-03-02 12:00 UTC


def _duty(ma):
    return iec61851.duty_from_current(ma)


def _gateway_back(rig, limit_ma=16000, generation=1):
    """HELLO then the gateway's limits, as after every HELLO exchange (5.2)."""
    rig.hello(link_timeout_ms=30000)
    rig.limit(lm.SRC_CSMS, limit_ma, generation)
    rig.tick()


def _heartbeats(rig, ms):
    """The gateway only heartbeats, once a second, for ms."""
    for _ in range(ms // 1000):
        rig.heartbeat()
        rig.run(1000)


def test_ag11_failsafe_from_boot_until_gateway_heard_and_limit_sent():
    """AG-11 / LINK.md 5.3: from boot until the gateway is heard the failsafe
    current caps the offer; the EV still charges at it."""
    rig = Rig(FS)
    assert rig.status()["failsafe"]
    rig.tick()
    assert rig.status()["failsafe"]
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
    assert rig.board.duty_permille == _duty(10000)
    assert rig.status()["limit_source"] == "failsafe"
    assert rig.telemetry()["flags"] & lm.F_FAILSAFE
    # heard, but only HELLO and heartbeats: the limits are not known yet
    rig.hello(link_timeout_ms=30000)
    _heartbeats(rig, 10000)
    assert rig.status()["failsafe"] and rig.board.duty_permille == _duty(10000)
    rig.limit(lm.SRC_CSMS, 16000, 1)
    rig.tick()
    st = rig.status()
    assert not st["failsafe"] and st["limit_source"] == "csms"
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(16000), 6000) >= 0
    assert not rig.telemetry()["flags"] & lm.F_FAILSAFE
    assert rig.status()["contactor"] == 1


def test_ag11_link_silent_for_link_timeout_caps_and_charging_continues():
    """AG-11: link silent for link_timeout_ms -> failsafe within one tick;
    the offer drops to the failsafe current at once and charging CONTINUES."""
    rig = charging_rig(FS)
    _gateway_back(rig, limit_ma=20000)
    assert not rig.status()["failsafe"]
    _heartbeats(rig, 6000)
    assert rig.board.duty_permille == _duty(20000)
    _heartbeats(rig, 3000)
    rig.heartbeat()
    rig.tick()
    heard_ms = rig.now_ms  # the tick that read the last message
    t = rig.run_until(lambda r: r.status()["failsafe"], 2 * TIMEOUT_MS)
    assert t > 0
    lost_after_ms = rig.now_ms - heard_ms
    assert TIMEOUT_MS <= lost_after_ms <= TIMEOUT_MS + TICK_MS, lost_after_ms
    assert rig.board.duty_permille == _duty(10000)  # the same tick: decreases apply at once
    assert rig.status()["limit_source"] == "failsafe"
    start = len(rig.board.contactor_log)
    for _ in range(60):  # a minute offline, in one-second steps
        rig.skip(1000)
        st = rig.status()
        assert st["session"] == "charging" and st["contactor"] == 1
        assert rig.board.duty_permille == _duty(10000)
    assert rig.board.contactor_log[start:] == []
    # the failsafe went upstream once the gateway is back
    rig.auto_ack = True
    _gateway_back(rig, generation=2)
    # off (first LIMIT after boot), on (link lost), off (back)
    assert rig.run_until(lambda r: len(r.events(lm.EV_FAILSAFE)) >= 3, 3000) > 0
    evs = rig.events(lm.EV_FAILSAFE)
    assert [e["a"] for e in evs] == [0, 1, 0]
    assert evs[1]["c"] == 10000


def test_ag11_heartbeats_alone_do_not_end_failsafe_limit_after_hello_does():
    rig = charging_rig(FS)
    _gateway_back(rig)
    rig.run(TIMEOUT_MS + 100)
    assert rig.status()["failsafe"]
    _heartbeats(rig, 10000)
    assert rig.status()["failsafe"]
    rig.hello(link_timeout_ms=30000)
    _heartbeats(rig, 3000)
    assert rig.status()["failsafe"] and rig.board.duty_permille == _duty(10000)
    rig.limit(lm.SRC_CSMS, 16000, 7)
    rig.tick()
    assert not rig.status()["failsafe"]
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(16000), 6000) >= 0


def test_ag11_garbage_and_undecodable_frames_do_not_count_as_heard():
    """LINK.md 5.3: frames the decoder drops and messages that do not decode
    OK do not restart the link timer."""
    rig = charging_rig(FS)
    _gateway_back(rig)
    rig.tick()
    heard_ms = rig.now_ms - TICK_MS
    good = link.encode(lm.HEARTBEAT, {"uptime_s": 1})
    bad_crc = bytearray(link.frame(good))
    bad_crc[-2] ^= 0x55
    bad_major = link.frame(bytes([2]) + good[1:])
    for _ in range(7):
        rig.send_raw(b"\x00\x11\x22\x33\x00")  # noise
        rig.send_raw(bytes(bad_crc))
        rig.send_raw(bad_major)  # answered with a NAK, but not a message from a gateway
        rig.run(1000)
    assert rig.status()["failsafe"]
    assert rig.naks() and rig.naks()[0]["error"] == lm.E_VERSION
    assert rig.ctl.failsafe.last_heard_ms <= heard_ms + TICK_MS


def test_ag11_failsafe_current_zero_pauses_until_the_gateway_is_back():
    """failsafe_current_ma 0: link lost means pause (x1), then the contactor
    opens (IEC-X1); the gateway's limits resume the charge."""
    settings = dict(FS, failsafe_current_ma=0)
    rig = Rig(settings)
    rig.run(100)
    rig.board.plug("C", 220)
    rig.run(3000)
    st = rig.status()
    assert st["failsafe"] and st["contactor"] == 0 and rig.board.duty_permille == 1000
    _gateway_back(rig)
    heard_ms = rig.now_ms
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
    assert rig.board.duty_permille == _duty(16000)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 2 * TIMEOUT_MS) > 0
    assert rig.now_ms - heard_ms == TIMEOUT_MS
    assert rig.run_until(lambda r: r.status()["contactor"] == 0, 7000) > 0
    assert rig.status()["session"] == "suspended"
    _gateway_back(rig, generation=2)
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 8000) > 0


def test_ag11_standalone_link_timeout_zero_never_enters_failsafe():
    """link_timeout_ms 0: no gateway expected, never in failsafe."""
    rig = charging_rig({"random_delay_max_s": 0, "link_timeout_ms": 0,
                        "failsafe_current_ma": 6000})
    assert not rig.status()["failsafe"]
    for _ in range(60):  # an hour in one-minute steps
        rig.skip(60000)
        st = rig.status()
        assert not st["failsafe"] and st["contactor"] == 1
        assert rig.board.duty_permille == _duty(32000)
    assert all(not f["flags"] & lm.F_FAILSAFE for f in rig.messages(lm.TELEMETRY))
    assert rig.status()["limit_source"] == "hardware"
    assert not [i for i in range(rig.ctl.events.next_seq) if _logged(rig, i, lm.EV_FAILSAFE)]


def _logged(rig, seq, code):
    rec = [0] * 8
    return rig.ctl.events.get(seq, rec) and rec[3] == code


def test_uk7_charges_with_no_gateway_at_all():
    """UK-7: charge without a network connection. With a link timeout
    configured and no gateway ever, an EV plugged in charges at the failsafe
    current for hours; standalone, at the full rating."""
    for settings, duty in ((FS, _duty(10000)),
                           ({"random_delay_max_s": 0}, _duty(32000))):
        rig = Rig(settings)
        rig.skip(3600000)  # an hour after boot, nobody has spoken on the link
        rig.board.plug("B", 220)
        rig.run(100)
        rig.board.set_ev_state("C")
        assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
        for _ in range(24):
            rig.skip(600000)  # four hours in ten-minute steps
            assert rig.status()["contactor"] == 1 and rig.board.duty_permille == duty
        assert rig.ctl.uplink.rx_bad == 0


def test_uk7_schedule_followed_offline_under_the_failsafe_cap():
    """UK-7 / T7-PROFILE: a stored schedule keeps being followed while the
    link is down, the failsafe current capping it (min of both)."""
    settings = dict(FS, failsafe_current_ma=16000)
    rig = charging_rig(settings)
    rig.hello(link_timeout_ms=30000)
    rig.time_sync(T0)
    rig.tick()
    synced_ms = rig.now_ms
    rig.schedule(lm.SRC_CSMS, 1, T0, [(0, 8000), (60, 20000), (120, 12000)])
    rig.tick()
    assert not rig.status()["failsafe"]
    assert rig.board.duty_permille == _duty(8000)
    rig.run(TIMEOUT_MS + 100)  # the gateway goes silent
    assert rig.status()["failsafe"]
    assert rig.board.duty_permille == _duty(8000)  # the schedule is lower
    for at_s, duty in ((60, _duty(16000)), (120, _duty(12000))):
        rig.skip(synced_ms + at_s * 1000 - 1000 - rig.now_ms)
        assert rig.run_until(lambda r, d=duty: r.board.duty_permille == d, 2000) > 0
        assert rig.now_ms - synced_ms == at_s * 1000
    assert rig.status()["contactor"] == 1


def test_ag11_switched_to_standalone_leaves_failsafe():
    """link_timeout_ms set to 0 over the link (no gateway expected any more)
    ends a failsafe in force; set again, the failsafe waits for silence."""
    rig = charging_rig(FS)
    assert rig.status()["failsafe"]
    rig.setting_set("link_timeout_ms", 0, tag=3)
    rig.tick()
    assert rig.setting_values(3)[0]["status"] == lm.ST_OK
    rig.skip(60000)
    st = rig.status()
    assert not st["failsafe"] and st["limit_source"] == "hardware"
    assert rig.board.duty_permille == _duty(32000)
    rig.setting_set("link_timeout_ms", TIMEOUT_MS, tag=4)
    rig.tick()
    assert not rig.status()["failsafe"]  # the gateway was just heard
    assert rig.run_until(lambda r: r.status()["failsafe"], 2 * TIMEOUT_MS) == TIMEOUT_MS
    assert rig.board.duty_permille == _duty(10000)


def test_ag11_standalone_setting_adopts_the_gateways_timeout_after_hello():
    """AG-11, safety in the firmware: with link_timeout_ms 0 ("standalone", the factory
    setting) a gateway's HELLO makes its own link_timeout_ms the failsafe timeout, so a
    charger behind a gateway that dies falls to its failsafe current; without a HELLO it
    stays standalone (test above)."""
    rig = charging_rig({"random_delay_max_s": 0, "link_timeout_ms": 0,
                        "failsafe_current_ma": 10000})
    rig.hello(link_timeout_ms=TIMEOUT_MS)
    rig.limit(lm.SRC_CSMS, 20000, 1)
    rig.tick()
    rig.run(1000)
    assert not rig.status()["failsafe"]
    assert rig.board.duty_permille == _duty(20000)
    heard_ms = rig.now_ms
    assert rig.run_until(lambda r: r.status()["failsafe"], 2 * TIMEOUT_MS) > 0
    assert TIMEOUT_MS - 1000 <= rig.now_ms - heard_ms <= TIMEOUT_MS + TICK_MS
    assert rig.board.duty_permille == _duty(10000)
    assert rig.status()["contactor"] == 1  # UK-7: charging goes on
    _gateway_back(rig, limit_ma=20000, generation=2)  # its HELLO says 30 s now
    rig.run(1000)
    assert not rig.status()["failsafe"] and rig.ctl.failsafe.timeout_ms == 30000
