# Tamper detection (UK Schedule 1 para 8, UK-S8): the enclosure's lid switch
# on the board contract, debounced by the controller, one EV_SECURITY event
# per settled change, the charge untouched (unless tamper_action is "stop"). On
# the sim board, in virtual time.
from evse_rig import Rig, charging_rig

from evse.tamper import DEBOUNCE_MS, Tamper
from mpunit import raises
from protocols import link_messages as lm
from sim_hardware import commands
from sim_hardware.charger import Charger

NO_DELAY = {"random_delay_max_s": 0}  # charge at once (AG-13's delay is tested elsewhere)


def _codes(rig):
    return [f["a"] for f in rig.events(lm.EV_SECURITY)]


def test_uk_s8_lid_opened_gives_one_security_event_and_the_charge_goes_on():
    """Para 8: opening the lid is detected and logged once (SEC_TAMPER_OPEN);
    tamper does not stop a charge: the contactor stays closed and the duty
    is unchanged."""
    rig = charging_rig(NO_DELAY, auto_ack=True)
    duty = rig.board.duty_permille
    rig.board.set_tamper(1)
    assert rig.run_until(lambda r: len(_codes(r)) >= 1, 1000) >= 0, "no security event"
    rig.run(2000)
    assert _codes(rig) == [lm.SEC_TAMPER_OPEN]
    assert rig.board.contacts_closed() and rig.board.duty_permille == duty
    assert rig.status()["tamper"] == 1
    assert rig.status()["session"] == "charging"


def test_uk_s8_lid_closed_again_gives_the_cleared_event():
    """Closing the lid again is the second event (SEC_TAMPER_CLOSED)."""
    rig = charging_rig(NO_DELAY, auto_ack=True)
    rig.board.set_tamper(1)
    rig.run(500)
    rig.board.set_tamper(0)
    assert rig.run_until(lambda r: len(_codes(r)) >= 2, 1000) >= 0, "no cleared event"
    rig.run(1000)
    assert _codes(rig) == [lm.SEC_TAMPER_OPEN, lm.SEC_TAMPER_CLOSED]
    assert rig.status()["tamper"] == 0
    assert rig.board.contacts_closed()


def test_uk_s8_bounces_shorter_than_the_debounce_are_not_logged():
    """A knock on the lid (the switch opening for less than the debounce
    time, 100 ms) logs nothing."""
    rig = charging_rig(NO_DELAY, auto_ack=True)
    for _ in range(5):
        rig.board.set_tamper(1)
        rig.run(DEBOUNCE_MS // 2)
        rig.board.set_tamper(0)
        rig.run(DEBOUNCE_MS // 2)
    rig.run(1000)
    assert _codes(rig) == []


def test_uk_s8_lid_already_off_at_power_up_is_reported():
    """A charger started with its lid off reports it once the level settled."""
    rig = Rig()
    rig.board.set_tamper(1)
    rig.boot()
    rig.auto_ack = True
    rig.hello()
    assert rig.run_until(lambda r: len(_codes(r)) >= 1, 5000) >= 0, "no security event"
    rig.run(1000)
    assert _codes(rig) == [lm.SEC_TAMPER_OPEN]


def test_uk_s8_board_without_tamper_switch_never_reports():
    """tamper() = -1 (no switch fitted): no event, no exception, status -1."""
    rig = Rig(tamper_fitted=False)
    rig.auto_ack = True
    rig.hello()
    rig.board.set_tamper(1)  # the world changes, but nothing is wired to see it
    rig.run(3000)
    assert rig.events(lm.EV_BOOT), "events flow up: the empty list below means something"
    assert _codes(rig) == []
    assert rig.status()["tamper"] == -1


def test_tamper_debouncer_levels():
    """The debouncer alone: a change reports after DEBOUNCE_MS of a steady
    level, once; -1 is ignored at any time; any positive level is open."""
    t = Tamper(0, 0)
    assert t.update(10, 1) == 0
    assert t.update(10 + DEBOUNCE_MS - 1, 1) == 0
    assert t.update(10 + DEBOUNCE_MS, 1) == lm.SEC_TAMPER_OPEN
    assert t.update(10 + DEBOUNCE_MS + 10, 1) == 0
    assert t.update(500, -1) == 0
    assert t.state() == 1
    assert t.update(510, 2) == 0  # same as 1: still open
    assert t.update(1000, 0) == 0
    assert t.update(1000 + DEBOUNCE_MS, 0) == lm.SEC_TAMPER_CLOSED
    n = Tamper(-1, 0)
    assert n.update(0, -1) == 0 and n.update(1000, -1) == 0
    assert n.state() == -1


def test_uk_s8_tamper_record_survives_a_power_cut_right_after():
    """The lid comes off and the power is cut 50 ms after the event (before the
    usual once-a-second flush of the event log): the record was written to
    flash at once, so the gateway still gets it after the restart."""
    rig = Rig(NO_DELAY)  # no gateway yet: nothing is sent or acked
    rig.run(2000)
    rig.board.plug("B", 220)  # logged and flushed: the next routine flush is 1 s away
    rig.run(20)
    rig.board.set_tamper(1)
    rig.run(DEBOUNCE_MS + 50)
    rig.board.set_tamper(0)  # lid back on while the power is off: no new event at boot
    rig.power_cut(1000)
    rig.auto_ack = True
    rig.hello()
    assert rig.run_until(lambda r: len(_codes(r)) >= 1, 5000) >= 0, "tamper record lost"
    rig.run(1000)
    assert _codes(rig) == [lm.SEC_TAMPER_OPEN]


def test_uk_s8_tamper_action_stop_holds_the_offer_while_the_lid_is_off():
    """With tamper_action "stop" the lid off takes the offer away (x1, the
    contactor opens) and is still logged; the lid back on starts the UK-11
    randomised delay (charging would start) and then the charge again."""
    rig = charging_rig({"random_delay_max_s": 0, "tamper_action": "stop"}, auto_ack=True)
    rig.board.set_tamper(1)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 1000) >= 0, "still offered"
    # the EV (the sim board's, which does not follow the pilot) is not waited for forever
    assert rig.run_until(lambda r: not r.board.contacts_closed(), 10000) >= 0, "still closed"
    assert _codes(rig) == [lm.SEC_TAMPER_OPEN]
    rig.board.set_tamper(0)
    assert rig.run_until(lambda r: r.board.contacts_closed(), 10000) >= 0, "never resumed"
    # a second tamper write within 10 s waits for the 1 s flush (flash wear)
    assert rig.run_until(lambda r: _codes(r) == [lm.SEC_TAMPER_OPEN, lm.SEC_TAMPER_CLOSED],
                         2000) >= 0


def test_uk_s8_tamper_action_stop_resumes_after_the_randomised_delay():
    """UK-11: the lid back on is a charge start: a drawn delay (here 30 s)
    holds the EVSE idle before the offer returns."""
    rig = Rig({"random_delay_max_s": 600, "tamper_action": "stop"})
    rig.script_random([0, 0])  # no delay after power-up nor at plug-in
    rig.power_cut()
    rig.auto_ack = True
    rig.hello()
    rig.board.plug("C", 220)
    assert rig.run_until(lambda r: r.board.contacts_closed(), 5000) >= 0, "not charging"
    rig.board.set_tamper(1)
    assert rig.run_until(lambda r: not r.board.contacts_closed(), 10000) >= 0, "still closed"
    rig.script_random([30])
    rig.board.set_tamper(0)
    rig.run(500)
    assert rig.status()["delay_remaining_s"] > 0
    assert not rig.board.contacts_closed()
    assert rig.run_until(lambda r: r.board.contacts_closed(), 40000) >= 25000


def test_uk_s8_unknown_tamper_action_is_refused():
    """Settings validation: only "log" and "stop"."""
    from evse import settings as settings_mod
    assert settings_mod.check("tamper_action", "log") is None
    assert settings_mod.check("tamper_action", "stop") is None
    assert "not one of" in settings_mod.check("tamper_action", "ignore")


def test_sim_tamper_command_sets_the_lid_and_refuses_other_values():
    """The sim's `tamper` command (docs/sim_hardware.md): open=1 takes the lid
    off, open=0 puts it back, the default is 1; anything else is a
    ValueError naming the command."""
    ch = Charger(trace=False)
    assert commands.run(ch, "tamper", {"open": 1}) == ({"ok": True}, 0)
    assert ch.board.tamper() == 1 and ch.status()["lid_open"] == 1
    commands.run(ch, "tamper", {"open": "0"})
    assert ch.board.tamper() == 0
    commands.run(ch, "tamper", {})
    assert ch.board.tamper() == 1
    with raises(ValueError):
        commands.run(ch, "tamper", {"open": 2})
    with raises(ValueError):
        commands.run(ch, "tamper", {"open": "ajar"})


def test_uk_s8_a_chattering_switch_does_not_write_flash_at_its_pace():
    """Flash wear: only the first tamper event of 10 s is written at once; a switch that
    chatters (here every 200 ms for 5 s) is written with the ordinary 1 s flush."""
    rig = charging_rig({"random_delay_max_s": 0})
    writes = [0]
    store = rig.board.storage_write

    def counting(name, data):
        if name.startswith("events"):
            writes[0] += 1
        return store(name, data)

    rig.board.storage_write = counting
    for i in range(25):
        rig.board.set_tamper(i % 2 == 0)
        rig.run(200)
    assert 0 < writes[0] <= 7, writes[0]  # 5 s: the immediate one + one per second
