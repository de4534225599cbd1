"""A transaction whose idToken the CSMS does not accept in its answer (gateway/invalid_id.py),
end to end on both OCPP versions: the test CSMS answers not Accepted, the gateway stops the
transaction (reason DeAuthorized) or lets MaxEnergyOnInvalidId more through and then has the
firmware suspend the energy transfer (2.0.1: TransactionEvent Updated, triggerReason
EnergyLimitReached), and the pilot, the contactor and the EV's current show it.

OCPP 1.6 §4.8 (StartTransaction.conf idTagInfo, StopTransactionOnInvalidId,
MaxEnergyOnInvalidId); OCPP 2.0.1 E05 / E06.FR.04 (TransactionEventResponse idTokenInfo,
TxCtrlr.StopTxOnInvalidId, MaxEnergyOnInvalidId, TxStopPoint Authorized)."""

import time

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from ocpp16_fixture import charge, import_wh

LIMIT_WH = 20  # about 7 s of 16 A on 3 phases


def _configure16(csms, **keys):
    for key, value in keys.items():
        r = csms.request(call16.ChangeConfiguration(key=key, value=str(value)))
        assert r.status == "Accepted", (key, r)


def _set201(csms, component, variable, value):
    r = csms.request(call201.SetVariables(set_variable_data=[{
        "component": {"name": component}, "variable": {"name": variable},
        "attribute_value": str(value)}]))
    assert r.set_variable_result[0]["attribute_status"] == "Accepted", r


def _plug_in(sim):
    """Plug in an EV that draws 16 A on 3 phases once offered (the charge may be stopped
    before it flows)."""
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)


def _not_charging_still_plugged(sim):
    """The EV stops drawing and the contactor opens, the EV still plugged in."""
    sim.wait(lambda s: s["draw_ma"] == 0 and s["contactor"] == 0, 15,
             "the EV to stop and the contactor to open")
    assert sim.status()["ev_state"] != "A"


def _suspended(sim, timeout_s=20):
    """The firmware holds the charge (paused), the EV still plugged in."""
    sim.wait(lambda s: s["owner_paused"], timeout_s, "the firmware to suspend the charge")
    _not_charging_still_plugged(sim)


# --- OCPP 1.6 ------------------------------------------------------------------------------

def test_16_start_transaction_invalid_stops_the_transaction_deauthorized(
        csms, meter_sim, start_gateway):
    """§4.8, StopTransactionOnInvalidId true (the default): a StartTransaction.conf with
    idTagInfo Invalid stops the transaction at once, StopTransaction reason DeAuthorized,
    while the EV is still plugged in (Finishing); the unplug sends no second one."""
    start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    csms.id_tag_status = "Invalid"
    _plug_in(meter_sim)
    start = csms.wait_for("StartTransaction")
    stop = csms.wait_for("StopTransaction", timeout_s=15)
    assert stop["transactionId"] == csms.transactions[-1][0]
    assert stop["reason"] == "DeAuthorized" and stop["meterStop"] >= start["meterStart"]
    csms.wait_status(1, "Finishing")
    _not_charging_still_plugged(meter_sim)
    meter_sim.control("unplug")
    csms.wait_status(1, "Available")
    time.sleep(1)
    assert len(csms.calls("StopTransaction")) == 1


def test_16_max_energy_on_invalid_id_then_the_energy_transfer_is_suspended(csms, meter_sim,
                                                                          start_gateway):
    """§4.8, StopTransactionOnInvalidId false, MaxEnergyOnInvalidId 20 Wh: the transaction
    goes on and charges until 20 Wh since its start, then the firmware suspends the charge
    (SuspendedEVSE, no current, contactor open); the transaction ends at the unplug
    (EVDisconnected) with 20 Wh and at most a few Wh of the EV's reaction time more."""
    start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    _configure16(csms, StopTransactionOnInvalidId="false", MaxEnergyOnInvalidId=LIMIT_WH)
    csms.id_tag_status = "Invalid"
    charge(meter_sim)
    start = csms.wait_for("StartTransaction")
    csms.wait_status(1, "Charging")
    _suspended(meter_sim, timeout_s=30)
    csms.wait_status(1, "SuspendedEVSE")
    assert csms.calls("StopTransaction") == []
    delivered = import_wh(meter_sim) - start["meterStart"]
    assert LIMIT_WH <= delivered <= LIMIT_WH + 10, delivered
    time.sleep(2)  # it stays suspended
    assert meter_sim.status()["draw_ma"] == 0 and meter_sim.status()["owner_paused"]
    meter_sim.control("unplug")
    stop = csms.wait_for("StopTransaction", timeout_s=15)
    assert stop["reason"] == "EVDisconnected"
    assert LIMIT_WH <= stop["meterStop"] - start["meterStart"] <= LIMIT_WH + 10, stop


def test_16_invalid_without_max_energy_only_stops_the_energy_delivery(
        csms, meter_sim, start_gateway):
    """§4.8, StopTransactionOnInvalidId false and MaxEnergyOnInvalidId 0 (the default): only
    the energy delivery stops; the transaction stays until the unplug."""
    start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    _configure16(csms, StopTransactionOnInvalidId="false")
    csms.id_tag_status = "Blocked"
    _plug_in(meter_sim)
    csms.wait_for("StartTransaction")
    _suspended(meter_sim)
    csms.wait_status(1, "SuspendedEVSE")
    assert csms.calls("StopTransaction") == []
    meter_sim.control("unplug")
    assert csms.wait_for("StopTransaction", timeout_s=15)["reason"] == "EVDisconnected"


def test_16_invalid_id_keys_are_validated(csms, sim, start_gateway):
    """The two keys take only their type's values; GetConfiguration shows them."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    for key, value in (("StopTransactionOnInvalidId", "maybe"),
                       ("MaxEnergyOnInvalidId", "-1"), ("MaxEnergyOnInvalidId", "ten")):
        r = csms.request(call16.ChangeConfiguration(key=key, value=value))
        assert r.status == "Rejected", (key, value)
    got = csms.request(call16.GetConfiguration(
        key=["StopTransactionOnInvalidId", "MaxEnergyOnInvalidId"]))
    assert {k["key"]: k["value"] for k in got.configuration_key} == {
        "StopTransactionOnInvalidId": "true", "MaxEnergyOnInvalidId": "0"}


# --- OCPP 2.0.1 ----------------------------------------------------------------------------

def _remote_start_then_invalid(csms, sim):
    """A remote start with an idToken the CSMS accepts in Authorize and then no longer in the
    answer to the Started event (it was blocked in between) -> the Started event."""
    csms.on_call = lambda action, p: (
        setattr(csms, "id_token_status", "Invalid")
        if action == "TransactionEvent" and p["eventType"] == "Started" else None)
    sim.control("plug", state="B", pp_ohms=220)
    csms.wait_status(1, "Occupied")
    r = csms.request(call201.RequestStartTransaction(
        id_token={"id_token": "TAG-9", "type": "ISO14443"}, remote_start_id=9, evse_id=1))
    assert r.status == "Accepted"
    sim.control("draw", a=16, phases=3)
    return csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")


def _tx_events(csms, tx_id):
    return [(e["eventType"], e["triggerReason"], e["transactionInfo"].get("chargingState"))
            for e in csms.transaction_events(tx_id)]


def test_201_e05_invalid_id_token_ends_the_transaction_deauthorized(csms201, sim,
                                                                    start_gateway):
    """E05 / E06.FR.04 with TxStopPoint EVConnected,Authorized (the default): an idTokenInfo
    Invalid in the answer to Started ends the transaction: Ended, triggerReason
    Deauthorized, stoppedReason DeAuthorized, the EV still plugged in (the charge stops, the
    contactor opens); the unplug then ends nothing more."""
    start_gateway(csms201, sim, config={"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    started = _remote_start_then_invalid(csms201, sim)
    tx_id = started["transactionInfo"]["transactionId"]
    ended = csms201.wait_for("TransactionEvent", 15, lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["transactionId"] == tx_id
    assert ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    _not_charging_still_plugged(sim)
    sim.control("unplug")
    csms201.wait_status(1, "Available")
    time.sleep(1)
    assert [e for e in _tx_events(csms201, tx_id) if e[0] == "Ended"] == [
        ("Ended", "Deauthorized", "EVConnected")]


def test_201_e05_max_energy_on_invalid_id_energy_limit_reached(csms201, meter_sim,
                                                              start_gateway):
    """E05 with TxStopPoint EVConnected, StopTxOnInvalidId false, MaxEnergyOnInvalidId
    20 Wh: the transaction charges on until 20 Wh since its start, then the firmware suspends
    the energy transfer and the CSMS gets Updated, triggerReason EnergyLimitReached,
    chargingState SuspendedEVSE, with the register (and no ChargingStateChanged for the same
    change); the transaction ends at the unplug (EVCommunicationLost), seqNo without a gap."""
    start_gateway(csms201, meter_sim, config={"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    _set201(csms201, "TxCtrlr", "TxStopPoint", "EVConnected")
    _set201(csms201, "TxCtrlr", "StopTxOnInvalidId", "false")
    _set201(csms201, "TxCtrlr", "MaxEnergyOnInvalidId", LIMIT_WH)
    started = _remote_start_then_invalid(csms201, meter_sim)
    tx_id = started["transactionInfo"]["transactionId"]
    begin_wh = float(started["meterValue"][0]["sampledValue"][0]["value"])
    limited = csms201.wait_for("TransactionEvent", 30,
                               lambda p: p["triggerReason"] == "EnergyLimitReached")
    assert limited["eventType"] == "Updated"
    assert limited["transactionInfo"] == {"transactionId": tx_id,
                                          "chargingState": "SuspendedEVSE"}
    register = [sv for mv in limited["meterValue"] for sv in mv["sampledValue"]
                if sv.get("measurand") == "Energy.Active.Import.Register"]
    assert register and float(register[0]["value"]) - begin_wh >= LIMIT_WH, limited
    _suspended(meter_sim)
    time.sleep(2)  # the status change is in; it queued no event of its own
    meter_sim.control("unplug")
    ended = csms201.wait_for("TransactionEvent", 15, lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "EVCommunicationLost"
    end_wh = float(ended["meterValue"][0]["sampledValue"][0]["value"])
    assert LIMIT_WH <= end_wh - begin_wh <= LIMIT_WH + 10, (begin_wh, end_wh)
    events = csms201.transaction_events(tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    suspended_changes = [e for e in _tx_events(csms201, tx_id)
                         if e[2] == "SuspendedEVSE"]
    assert suspended_changes == [("Updated", "EnergyLimitReached", "SuspendedEVSE")]
