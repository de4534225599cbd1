"""The durable queue's transaction messages as OCPP 2.0.1 TransactionEvent (Part 2 E01-E15):

    tx_start     -> Started, triggerReason CablePluggedIn (free vend, or a remote start that
                    waited for the plug-in) or RemoteStart; idToken and remoteStartId of a
                    remote start; the import register as Transaction.Begin
    meter_values -> Updated, MeterValuePeriodic / MeterValueClock / Trigger by the context
    tx_update    -> Updated, ChargingStateChanged or ChargingRateChanged (gateway/ocpp201/client.py)
    tx_stop      -> Ended, the triggerReason and stoppedReason of STOPPED; the register as
                    Transaction.End

The station numbers its own transactions (2.0.1 has the Charging Station choose
transactionId): `<8 hex of this state directory>-<session key>`, the same on every resend,
so a CSMS can tell a copy by (transactionId, seqNo). seqNo counts from 0 per transaction and
is stored (`seq_key`) with the message's completion, so a message sent again after a kill
keeps its number."""

from ocpp.v201 import call

from gateway.ocpp201.pdus import (
    CONNECTOR_ID,
    energy_meter_value,
    id_token,
    iso,
    meter_value,
    remote_start_id,
)

# tx_stop reason (gateway.station STOP_REASON values, the 1.6 Reason names, and the
# adapters' own) -> (triggerReason, stoppedReason)
STOPPED = {
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "Local": ("StopAuthorized", "Local"),
    "Remote": ("RemoteStop", "Remote"),
    "PowerLoss": ("AbnormalCondition", "PowerLoss"),
    "Reboot": ("ResetCommand", "Reboot"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),  # E05 / E06.FR.04 (gateway/invalid_id.py)
    "EnergyLimitReached": ("EnergyLimitReached", "EnergyLimitReached"),
    "Other": ("AbnormalCondition", "Other"),
}

STARTED = {"plug_in": "CablePluggedIn", "remote_start": "RemoteStart"}

# the sampler's reading context -> the Updated event's triggerReason
UPDATED = {"Sample.Periodic": "MeterValuePeriodic", "Sample.Clock": "MeterValueClock",
           "Trigger": "Trigger"}

TX_ACTIONS = frozenset(("tx_start", "meter_values", "tx_update", "tx_stop"))


def seq_key(connector_id, key):
    """Store metadata: the next seqNo of the transaction of session `key`."""
    return "seqno:%d:%d" % (connector_id, key)


def transaction_id(prefix, key):
    return "%s-%d" % (prefix, key)


def _info(tx_id, **extra):
    info = {"transactionId": tx_id}
    info.update((k, v) for k, v in extra.items() if v is not None)
    return info


def _evse(cid):
    return {"id": cid, "connectorId": CONNECTOR_ID}


def transaction_event(action, p, tx_id, seq_no, offline):
    """The TransactionEvent call of one queued message."""
    cid = p["connector_id"]
    common = {"timestamp": iso(p["unix_s"]) if "unix_s" in p else None, "seq_no": seq_no,
              "offline": offline or None}
    if action == "tx_start":
        return call.TransactionEvent(
            event_type="Started", trigger_reason=STARTED.get(p.get("cause"), "CablePluggedIn"),
            transaction_info=_info(tx_id, chargingState="EVConnected",
                                   remoteStartId=remote_start_id(p["id_tag"])),
            evse=_evse(cid), id_token=id_token(p["id_tag"]),
            meter_value=[energy_meter_value(p["meter_start_wh"], "Transaction.Begin",
                                            p["unix_s"])], **common)
    if action == "meter_values":
        mvs = [meter_value(mv) for mv in p["meter_value"]]
        context = mvs[0]["sampledValue"][0]["context"] if mvs and mvs[0]["sampledValue"] else ""
        common["timestamp"] = mvs[0]["timestamp"] if mvs else None
        return call.TransactionEvent(
            event_type="Updated", trigger_reason=UPDATED.get(context, "MeterValuePeriodic"),
            transaction_info=_info(tx_id), meter_value=mvs or None, **common)
    if action == "tx_update":
        return call.TransactionEvent(
            event_type="Updated", trigger_reason=p["trigger"],
            transaction_info=_info(tx_id, chargingState=p.get("charging_state")),
            meter_value=[meter_value(mv) for mv in p.get("meter_value", ())] or None,
            **common)
    trigger, stopped = STOPPED.get(p["reason"], STOPPED["Other"])
    return call.TransactionEvent(
        event_type="Ended", trigger_reason=trigger,
        transaction_info=_info(tx_id, chargingState="Idle" if stopped == "EVDisconnected"
                               else "EVConnected", stoppedReason=stopped),
        evse=_evse(cid),
        meter_value=[energy_meter_value(p["meter_stop_wh"], "Transaction.End", p["unix_s"])],
        **common)
