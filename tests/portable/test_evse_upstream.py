# What the controller reports upstream of its own decisions (issue 6, the gateway's
# DataTransfer and StatusNotification): the end of a randomised delay is an event
# like its start (UK-11), and a session whose EV left while its cable is still in
# the socket reports "finishing" (OCPP 1.6 Finishing, TC_005_1) until the cable
# is taken out. Whole controller on the sim board, virtual time.
from evse_rig import Rig, charging_rig

from mpunit import raises
from protocols import link_messages as lm
from sim_hardware import commands
from sim_hardware.charger import Charger

FINISHING = lm.SESSION_STATES.index("finishing")
AVAILABLE = lm.SESSION_STATES.index("available")


def _session(rig):
    return rig.telemetry()["session"]


def test_uk11_a_delay_that_runs_out_is_reported():
    """EV_DELAY on=1 why=cause delay_s at the start; on=0 why=0 (ran out) when it ends
    by itself, named by the link's EVENTS table."""
    rig = Rig({"random_delay_max_s": 600})
    rig.script_random([5])  # a 5 s delay at the power restoration
    rig.power_cut()
    rig.auto_ack = True
    rig.hello()
    rig.run(1000)
    start = rig.events(lm.EV_DELAY)[-1]
    assert (start["a"], start["b"], start["c"]) == (1, 1, 5)
    rig.run(5000)
    end = rig.events(lm.EV_DELAY)[-1]
    assert end["seq"] > start["seq"]
    assert lm.event_args(end) == ("delay", {"on": 0, "why": 0, "delay_s": 0})
    assert rig.status()["delay_remaining_s"] == 0
    rig.run(2000)
    assert rig.events(lm.EV_DELAY)[-1]["seq"] == end["seq"]  # reported once


def test_ev_leaves_the_cable_in_the_socket_finishing_until_it_is_out():
    """The EV end is unplugged (state A) while the socket still reads the cable's PP
    resistor: the session ends (EV_SESSION_STOP, STOP_UNPLUG) and TELEMETRY says
    finishing; the cable out of the socket: available."""
    rig = charging_rig({"random_delay_max_s": 0}, auto_ack=True)
    rig.board.set_ev_state("A")
    rig.run(300)
    assert rig.board.contactor_cmd == 0
    assert rig.run_until(lambda r: r.events(lm.EV_SESSION_STOP), 5000) >= 0
    assert rig.events(lm.EV_SESSION_STOP)[-1]["a"] == lm.STOP_UNPLUG
    assert _session(rig) == FINISHING
    rig.run(2000)
    assert _session(rig) == FINISHING
    rig.board.unplug()
    rig.run(300)
    assert _session(rig) == AVAILABLE


def test_a_tethered_cable_is_never_left_finishing():
    """A fixed cable stays on the charger: the EV leaving makes it available at once."""
    rig = charging_rig({"random_delay_max_s": 0, "tethered_cable_ma": 32000}, auto_ack=True)
    rig.board.set_ev_state("A")
    rig.run(300)
    assert _session(rig) == AVAILABLE


def test_sim_unplug_at_the_ev_end_keeps_the_cable_in_the_socket():
    """sim_hardware's `unplug side=ev`: the EV leaves, the socket still reads the cable's
    PP; a plain `unplug` takes the cable out; another side is refused."""
    ch = Charger({"random_delay_max_s": 0}, trace=False)
    commands.run(ch, "plug", {"state": "B", "pp_ohms": 220})
    commands.run(ch, "unplug", {"side": "ev"})
    assert ch.ev.state == "A" and ch.board.pp_ohms() == 220
    commands.run(ch, "unplug", {})
    assert ch.board.pp_ohms() != 220
    with raises(ValueError):
        commands.run(ch, "unplug", {"side": "wall"})
