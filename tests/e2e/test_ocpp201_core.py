"""OCPP 2.0.1 end to end over real WebSockets on loopback: the test CSMS
(sim_hardware/csms201.py), `python -m gateway --ocpp 2.0.1` and `python -m sim_hardware` (the
firmware core on the sim board), named after the OCTT 2.0.1 cases they mirror (issue 7)."""

import time

from ocpp.v201 import call


def _events(csms, event_type=None):
    return [p for p in csms.calls("TransactionEvent")
            if event_type is None or p["eventType"] == event_type]


def test_tc_b_01_cold_boot(csms201, sim, start_gateway):
    """TC_B_01 Cold boot: BootNotification (reason PowerUp, chargingStation model and
    vendorName) Accepted, StatusNotification Available for EVSE 1 connector 1, then Heartbeat
    at the interval the CSMS gave (B01.FR.04)."""
    csms201.boot_interval_s = 1
    start_gateway(csms201, sim)
    boot = csms201.wait_for("BootNotification")
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["model"] and boot["chargingStation"]["vendorName"]
    st = csms201.wait_status(1, "Available")
    assert st["connectorId"] == 1 and st["evseId"] == 1
    csms201.wait_for("Heartbeat", timeout_s=5)
    assert csms201.actions()[0] == "BootNotification"


def test_tc_e_regular_session_started_updated_ended(csms201, sim, start_gateway):
    """E02 / E06 Regular charging session (free vend, TxStartPoint EVConnected): plug in ->
    Occupied, TransactionEvent Started (CablePluggedIn, seqNo 0, the import register as
    Transaction.Begin); ChargingStateChanged Charging; unplug -> Ended (EVCommunicationLost,
    stoppedReason EVDisconnected, Transaction.End); seqNo 0, 1, 2 ... without a gap; one
    transactionId; Available again."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    assert started["triggerReason"] == "CablePluggedIn" and started["seqNo"] == 0
    assert started["evse"] == {"id": 1, "connectorId": 1}
    begin = started["meterValue"][0]["sampledValue"][0]
    assert begin["context"] == "Transaction.Begin"
    assert begin["measurand"] == "Energy.Active.Import.Register"
    csms201.wait_status(1, "Occupied")
    csms201.wait_for("TransactionEvent", where=lambda p: p["triggerReason"]
                     == "ChargingStateChanged" and p["transactionInfo"].get("chargingState")
                     == "Charging")
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    sim.control("unplug")
    ended = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    end = ended["meterValue"][0]["sampledValue"][0]
    assert end["context"] == "Transaction.End" and end["value"] >= begin["value"]
    tx = started["transactionInfo"]["transactionId"]
    events = _events(csms201)
    assert {e["transactionInfo"]["transactionId"] for e in events} == {tx}
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert not any(e.get("offline") for e in events)
    csms201.wait_status(1, "Available", timeout_s=10)
    assert csms201.duplicates() == []


def test_f01_fr_02_remote_start_of_an_invalid_id_token_starts_nothing(csms201, sim,
                                                                      start_gateway):
    """F01.FR.02 / C01 (AuthorizeRemoteStart true): the idToken of a RequestStartTransaction
    is authorised first; the CSMS answers Invalid: no transaction starts, the EV waits."""
    start_gateway(csms201, sim, config={"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    csms201.wait_status(1, "Occupied")
    csms201.id_token_status = "Invalid"
    r = csms201.request(call.RequestStartTransaction(
        id_token={"idToken": "BAD-1", "type": "Central"}, remote_start_id=3, evse_id=1))
    assert r.status == "Accepted"
    csms201.wait_for("Authorize")
    time.sleep(1.5)
    assert _events(csms201) == []
    assert sim.status()["draw_ma"] == 0


def test_tc_f_01_remote_start_cable_plugged_in_first(csms201, sim, start_gateway):
    """F02 Remote start, cable plugged in first (no free vend): RequestStartTransaction
    Accepted; Started with triggerReason RemoteStart, the CSMS's idToken and remoteStartId;
    RequestStopTransaction -> Ended (RemoteStop / Remote); an unknown EVSE and a running
    transaction are Rejected."""
    start_gateway(csms201, sim, config={"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms201.wait_status(1, "Occupied")
    sim.wait(lambda s: s["owner_paused"], 5, "the firmware to hold the charge")
    assert _events(csms201) == []
    token = {"idToken": "TAG-42", "type": "Central"}
    r = csms201.request(call.RequestStartTransaction(id_token=token, remote_start_id=7,
                                                     evse_id=1))
    assert r.status == "Accepted"
    started = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    assert started["triggerReason"] == "RemoteStart"
    assert started["idToken"] == token
    assert csms201.calls("Authorize")[0]["idToken"] == token  # AuthorizeRemoteStart true
    assert started["transactionInfo"]["remoteStartId"] == 7
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    r = csms201.request(call.RequestStartTransaction(id_token=token, remote_start_id=8,
                                                     evse_id=1))
    assert r.status == "Rejected" and r.status_info["reason_code"] == "TxInProgress"
    r = csms201.request(call.RequestStartTransaction(id_token=token, remote_start_id=9,
                                                     evse_id=7))
    assert r.status == "Rejected"
    tx = started["transactionInfo"]["transactionId"]
    r = csms201.request(call.RequestStopTransaction(transaction_id=tx))
    assert r.status == "Accepted"
    ended = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert csms201.request(call.RequestStopTransaction(transaction_id="nope")).status \
        == "Rejected"


def test_charging_rate_changed_on_a_profile(csms201, sim, start_gateway):
    """E02 / K01: a TxProfile that lowers the rate during a transaction changes the offer; the
    station reports it with an Updated event, triggerReason ChargingRateChanged, carrying the
    new Current.Offered (a change above SmartChargingCtrlr.LimitChangeSignificance, 10 %)."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    profile = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Absolute",
               "transactionId": started["transactionInfo"]["transactionId"],
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                     "startSchedule": "2020-01-01T00:00:00Z",
                                     "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                 "limit": 10}]}]}
    r = csms201.request(call.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert r.status == "Accepted", r
    sim.wait(lambda s: s["offered_ma"] == 10000, 15, "the 10 A offer")
    upd = csms201.wait_for("TransactionEvent", timeout_s=15,
                           where=lambda p: p["triggerReason"] == "ChargingRateChanged")
    sv = upd["meterValue"][0]["sampledValue"][0]
    assert (sv["measurand"], sv["value"]) == ("Current.Offered", 10)
