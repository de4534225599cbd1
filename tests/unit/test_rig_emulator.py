"""The emulated HIL rig's HAL (sim_hardware/rig_emulator.py): each output of the rig
controller acts on the sim board's pilot line, PP contact, button and mains as the relay
does on a real rig (docs/hil.md), and the duty is what the rig's comparator sees."""

import re
from pathlib import Path

from protocols import iec61851
from sim_hardware.charger import Charger
from sim_hardware.rig_emulator import SimRigHal
from sim_hardware.rig_firmware import rig as rig_fw

EV = rig_fw.OUT_MAINS | rig_fw.OUT_EV
HIL_DOC = (Path(__file__).resolve().parents[2] / "docs" / "hil.md").read_text()


def _hal():
    ch = Charger({"random_delay_max_s": 0}, trace=False)
    return SimRigHal(ch, 200), ch.board


def _state(board):
    board.set_pwm(500)
    return iec61851.STATE_NAMES[iec61851.cp_state(board.cp_high_mv(), board.cp_low_mv(), True)]


def test_iec61851_annex_a_networks_give_states_b_c_d_and_the_band_gap():
    """2.74 kOhm -> B (9 V); || 1.3 kOhm -> C (6 V); || 270 Ohm -> D (3 V); || 3.09 kOhm
    -> 7.39 V, between B and C (DESIGN section 8: the 7.5 V midpoint)."""
    hal, b = _hal()
    for bits, state in ((rig_fw.OUT_MAINS, "A"), (EV, "B"), (EV | rig_fw.OUT_C, "C"),
                        (EV | rig_fw.OUT_D, "D")):
        hal.set_outputs(bits)
        assert _state(b) == state
    hal.set_outputs(EV | rig_fw.OUT_GAP)
    assert 7250 <= b.cp_high_mv() <= 7450
    assert _state(b) == "INVALID"  # no state: more than 1 V from both B and C


def test_iec_diode_bypass_and_cp_short():
    hal, b = _hal()
    b.set_pwm(500)
    hal.set_outputs(EV)
    assert b.cp_low_mv() == -12000  # the diode blocks the negative half
    hal.set_outputs(EV | rig_fw.OUT_DIODE_BYPASS)
    assert -10000 < b.cp_low_mv() < -8000  # missing diode: divided like the positive
    hal.set_outputs(EV | rig_fw.OUT_CP_SHORT)
    assert b.cp_high_mv() == 0 and b.cp_low_mv() == 0  # state E


def test_iec_pp_bank_button_and_mains():
    hal, b = _hal()
    for i, ohms in enumerate(rig_fw.PP_OHMS):
        hal.set_outputs(EV | rig_fw.PP_BITS[i])
        assert b.pp_ohms() == ohms
    hal.set_outputs(EV | rig_fw.OUT_BUTTON)
    assert b.button_pressed() == 1
    resets = b.resets
    hal.set_outputs(0)
    assert not hal.ch.mains.up and hal.ch.ctl is None
    hal.set_outputs(rig_fw.OUT_MAINS)
    assert hal.ch.mains.up and hal.ch.ctl is not None and b.resets == resets + 1


def test_comparator_sees_pwm_steady_levels_and_a_shorted_line():
    hal, b = _hal()
    hal.set_outputs(EV)
    b.set_pwm(533)
    assert hal.duty_permille() == 533
    b.set_pwm(1000)
    assert hal.duty_permille() == 1000
    b.set_pwm(0)
    assert hal.duty_permille() == 0
    b.set_pwm(533)
    hal.set_outputs(EV | rig_fw.OUT_CP_SHORT)
    assert hal.duty_permille() == 0  # the line at 0 V shows no PWM, whatever is driven


def test_docs_hil_lists_every_rig_command_key_output_bit_and_pp_value():
    """docs/hil.md describes the protocol the rig speaks: every command, every EV key,
    every output bit in the pin map and every PP resistor of the bank."""
    for name in rig_fw.COMMANDS:
        assert re.search(r"\| `%s[ `]" % name, HIL_DOC), name
    for key in rig_fw.EV_KEYS:
        assert "`%s`" % key in HIL_DOC, key
    bits = [rig_fw.OUT_EV, rig_fw.OUT_C, rig_fw.OUT_D, rig_fw.OUT_DIODE_BYPASS,
            rig_fw.OUT_CP_SHORT, rig_fw.OUT_GAP, rig_fw.OUT_BUTTON, rig_fw.OUT_MAINS]
    for bit in bits + [rig_fw.PP_BITS[0], rig_fw.PP_BITS[-1]]:
        assert "0x%04x" % bit in HIL_DOC, hex(bit)
    for ohms in rig_fw.PP_OHMS:
        assert str(ohms) in HIL_DOC, ohms
