"""What a test lab can do to a charger and see of it, the interface every check is written
against. Two labs implement it: SimLab (conformance/sim_lab.py: the firmware core on the
emulated board, virtual time) and the HIL rig (sim_hardware/rig.py: a board in a rig,
real time). A check names the capabilities it needs; a lab that lacks one gets the check
reported "not shown" with the reason.

Capabilities:
    pilot          plug / unplug an EV, set its state (B, C, D), remove its diode, short
                   the pilot, set the proximity resistor; measure the PWM duty
    contactor      see whether the contactor's contacts are closed
    load           make the EV draw a current and measure it
    meter          a MID meter on the charger's RS-485 whose true energy the lab knows
    mains          cut and restore the supply, set its voltage and frequency
    button         press the override button
    tamper         open and close the enclosure's lid switch (do("tamper", open=1|0))
    link           be the gateway on the firmware link (HELLO, LIMIT, SCHEDULE, ...)
    restorations   hundreds of power restorations in little time (virtual time)
    backend        the gateway and a CSMS end to end (OCPP over WebSockets)
    energy_manager an MQTT broker and the gateway's energy-manager interface

The methods (all times in ms of the lab's clock):
    now_ms, advance(ms), wait_until(pred, timeout_ms) -> ms waited or None
    do(command, **args)       the sim_hardware command vocabulary (docs/sim_hardware.md):
                              plug, unplug, draw, set_ev, press_button, power_cut, mains,
                              tamper, ...
    duty_permille(), contactor_closed(), ev_current_ma(), cp_high_mv()
    link_connect(link_timeout_ms), link_disconnect(), link_send(mtype, fields),
    received(mtype) -> [(t_ms, fields)], limit(entity_src, limit_ma, duration_s)
    samples -> [(t_ms, duty_permille, contactor, ev_current_ma)] for plots
    also: force_cp(high_mv, low_mv) / release_cp(), restore_now(), meter_truth_wh(),
    setting(key, value) / setting_get(key) -> (status, value), link_raw(data),
    time_sync(unix_ms), events(code, since_ms), last_sent_ms, virtual_time

A method a lab cannot carry out raises conformance.result.NotShown with the reason (the
rig's force_cp beyond its band-gap resistor, a PP value outside its resistor bank, the EV's
current without a load), so the check comes out "not shown", never passed. The gateway's
side of the link is one class for every lab: conformance/link_peer.py (LinkPeer).
"""

CAPABILITIES = ("pilot", "contactor", "load", "meter", "mains", "button", "link",
                "restorations", "backend", "energy_manager", "tamper")


def missing(lab, needs):
    """The capabilities of needs the lab does not have, in order."""
    return [n for n in needs if n not in lab.capabilities]
