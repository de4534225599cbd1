"""The OCPP 2.0.1 messages the CSMS sends the station: the mobilityhouse `ocpp` v201
ChargePoint with each action routed to the version-neutral Station (gateway/station.py), the
device model (gateway/ocpp201/device_model_handlers.py) and smart charging
(gateway/ocpp201/smart.py). Handlers answer at once; what reaches the firmware runs after the
answer (`@after`), so the receive loop is never held by a link request (UnlockConnector
excepted: its answer is the firmware's)."""

import asyncio
import logging
import time

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result

from gateway.csms_connection import QueueHooks
from gateway.ocpp201.certificate_handlers import CertificateHandlers
from gateway.ocpp201.device_model_handlers import DeviceModelHandlers
from gateway.ocpp201.firmware import FirmwareHandlers, firmware_status_call
from gateway.ocpp201.logs import LogHandlers
from gateway.ocpp201.pdus import CONNECTOR_ID, VENDOR_ID, status_call
from gateway.ocpp201.sign_certificate import SignCertificateHandlers
from gateway.ocpp201.smart import SmartChargingHandlers
from gateway.ocpp201.transactions import TX_ACTIONS
from gateway.ocpp201.transactions import transaction_id as tx_id_of

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.5  # a Reset OnIdle looks this often whether the transactions ended

# Station.unlock() -> UnlockConnectorStatusEnumType (F05)
UNLOCK_STATUS = {"unlocked": "Unlocked", "failed": "UnlockFailed",
                 "not_supported": "UnlockFailed"}

# TriggerMessage requestedMessage -> the method that sends it: fn(evse ids) (F06)
TRIGGERS = {
    "BootNotification": "_trigger_boot",
    "Heartbeat": "_trigger_heartbeat",
    "StatusNotification": "_trigger_status",
    "MeterValues": "_trigger_meter_values",
    "TransactionEvent": "_trigger_transaction_event",
    "FirmwareStatusNotification": "_trigger_firmware_status",
    "LogStatusNotification": "_trigger_log_status",
    "SignChargingStationCertificate": "_trigger_sign_certificate",  # A02 (sign_certificate.py)
}


def _reject(reason, text):
    return {"status": "Rejected", "status_info": {"reason_code": reason,
                                                  "additional_info": text[:512]}}


class StationChargePoint(QueueHooks, DeviceModelHandlers, SmartChargingHandlers, LogHandlers,
                         FirmwareHandlers, CertificateHandlers, SignCertificateHandlers,
                         ChargePoint):
    def __init__(self, station_id, connection, station, client, response_timeout=10):
        super().__init__(station_id, connection, response_timeout=response_timeout)
        self.station = station
        self.client = client
        self.device_model = client.dm

    def _smart_enabled(self):
        return self.device_model.flag("SmartChargingCtrlr", "Enabled")

    def _evse_ok(self, evse_id):
        return evse_id in self.station.connector_ids

    def _transaction_of(self, tx_id):
        return self.station.connector_of_transaction(tx_id)

    def _running(self, cid):
        s = self.station.session(cid)
        return bool(s and s.get("authorized"))

    # --- RequestStartTransaction / RequestStopTransaction (F01-F03) ----------------------

    def _start_evse(self, evse_id):
        """F01: no evseId and one EVSE -> that one; else the given one if it can start."""
        if evse_id is None:
            ids = self.station.connector_ids
            return ids[0] if len(ids) == 1 else None
        return evse_id if self._evse_ok(evse_id) else None

    @on("RequestStartTransaction")
    def on_request_start(self, id_token, remote_start_id, evse_id=None, group_id_token=None,
                         charging_profile=None, **_):
        cid = self._start_evse(evse_id)
        if cid is None:
            return call_result.RequestStartTransaction(**_reject(
                "UnknownEvse", "evseId %s: not an EVSE of this station (or none given with "
                "several)" % evse_id))
        if not self.station.can_remote_start(cid):
            return call_result.RequestStartTransaction(**_reject(
                "TxInProgress" if self._running(cid) else "Unavailable",
                "EVSE %d cannot start a transaction now" % cid))
        if not self._smart_enabled():
            charging_profile = None  # TC_K_38: ignored without smart charging
        if charging_profile is not None:  # F01.FR.08-12: a TxProfile, else Rejected (K05)
            refusal = self.station.smart.remote_start_profile(cid, charging_profile, v201=True)[1]
            if refusal is not None:
                return call_result.RequestStartTransaction(**_reject(
                    getattr(refusal, "code", "InvalidProfile"), str(refusal)))
        return call_result.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    async def after_request_start(self, id_token, remote_start_id, evse_id=None,
                                  group_id_token=None, charging_profile=None, **_):
        cid = self._start_evse(evse_id)
        if cid is None or not self.station.can_remote_start(cid):
            return
        smart = self.station.smart
        if not self._smart_enabled():
            charging_profile = None  # TC_K_38: ignored without smart charging
        if charging_profile is not None and smart.install_remote_start(cid, charging_profile,
                                                                       v201=True):
            return  # refused now (logged): no start without its profile
        if self.device_model.flag("AuthCtrlr", "AuthorizeRemoteStart"):
            # F01.FR.02 / C01: the idToken is authorised like a local one first
            r = await self.call(call.Authorize(id_token=id_token))
            status = (r.id_token_info or {}).get("status") if r is not None else None
            if status != "Accepted":
                log.warning("RequestStartTransaction: idToken %s not authorised (%s): no "
                            "transaction", id_token.get("id_token"), status)
                if charging_profile is not None:
                    smart.remote_start_made(cid)
                return
        tag = {"idToken": id_token, "remoteStartId": int(remote_start_id)}
        try:
            if charging_profile is not None:
                await smart.recompute()
            await self.station.remote_start(cid, tag)
        finally:
            if charging_profile is not None:
                smart.remote_start_made(cid)

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id, **_):
        ok = self._transaction_of(transaction_id) is not None
        return call_result.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    @after("RequestStopTransaction")
    async def after_request_stop(self, transaction_id, **_):
        cid = self._transaction_of(transaction_id)
        if cid is not None:
            await self.station.remote_stop(cid)

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id=None, **_):
        """E14: whether messages wait in the queue (E14.FR.06-08: any; FR.02-05: of that
        transaction, ongoing or ended); ongoingIndicator only when a transactionId is given:
        a session of that id runs (its Started event may still wait in the queue)."""
        store = self.station.store
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=store.pending_count() > 0)
        prefix = self.client.tx_prefix
        waiting = any(m.action in TX_ACTIONS and tx_id_of(prefix, m.payload["key"])
                      == transaction_id for m in store.peek(store.pending_count()))
        ongoing = any(s and s.get("authorized") and tx_id_of(prefix, s["key"]) == transaction_id
                      for s in map(self.station.session, self.station.connector_ids))
        return call_result.GetTransactionStatus(messages_in_queue=waiting,
                                                ongoing_indicator=ongoing)

    # --- Reset (B11, B12) ---------------------------------------------------------------

    @on("Reset")
    def on_reset(self, type, evse_id=None, **_):
        if evse_id is not None:
            return call_result.Reset(**_reject("UnsupportedRequest",
                                               "an EVSE is reset with the station only"))
        busy = any(self._running(c) for c in self.station.connector_ids)
        return call_result.Reset(status="Scheduled" if type == "OnIdle" and busy
                                 else "Accepted")

    @after("Reset")
    async def after_reset(self, type, evse_id=None, **_):
        if evse_id is not None:
            return
        if type == "OnIdle":  # B11.FR.01: after the running transactions ended
            while any(self._running(c) for c in self.station.connector_ids):
                await asyncio.sleep(IDLE_POLL_S)
        log.info("Reset %s: CMD_RESET to every EVSE, then the OCPP side boots again", type)
        await self.station.reset(hard=True)
        self.client.boot_reason = "RemoteReset"
        async with self._call_lock:  # B11/B12: it boots again on a new connection
            await self._connection.close()

    # --- ChangeAvailability (G03, G04) ---------------------------------------------------

    def _availability_targets(self, evse):
        if evse is None:
            return 0
        eid = evse.get("id")
        if not self._evse_ok(eid) or evse.get("connector_id", CONNECTOR_ID) != CONNECTOR_ID:
            return None
        return eid

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status, evse=None, **_):
        target = self._availability_targets(evse)
        if target is None:
            return call_result.ChangeAvailability(**_reject("UnknownEvse", "no such EVSE"))
        ids = self.station.connector_ids if target == 0 else (target,)
        busy = operational_status == "Inoperative" and any(self._running(c) for c in ids)
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @after("ChangeAvailability")
    async def after_change_availability(self, operational_status, evse=None, **_):
        target = self._availability_targets(evse)
        if target is not None:  # the firmware takes it at the session's end (G03.FR.05)
            await self.station.set_available(target, operational_status == "Operative")

    # --- UnlockConnector (F05) ----------------------------------------------------------

    @on("UnlockConnector")
    async def on_unlock_connector(self, evse_id, connector_id, **_):
        if not self._evse_ok(evse_id) or connector_id != CONNECTOR_ID:
            return call_result.UnlockConnector(status="UnknownConnector")
        if self._running(evse_id):  # F05.FR.02: not under an authorised transaction
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        result = await self.station.unlock(evse_id)
        return call_result.UnlockConnector(status=UNLOCK_STATUS[result])

    # --- TriggerMessage (F06) -----------------------------------------------------------

    def _trigger_ids(self, requested_message, evse):
        if requested_message not in TRIGGERS:
            return "NotImplemented", ()
        if evse is None:
            return "Accepted", self.station.connector_ids
        if not self._evse_ok(evse.get("id")):
            return "Rejected", ()
        return "Accepted", (evse["id"],)

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message, evse=None, **_):
        status, ids = self._trigger_ids(requested_message, evse)
        # F06.FR.17: a BootNotification after an Accepted one is Rejected
        if requested_message == "BootNotification" and self.client.boot_status == "Accepted":
            status = "Rejected"
        if requested_message == "TransactionEvent" and status == "Accepted" and not any(
                self._running(c) for c in ids):
            status = "Rejected"  # F06.FR.?: no transaction to report on
        return call_result.TriggerMessage(status=status)

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message, evse=None, **_):
        status, ids = self._trigger_ids(requested_message, evse)
        if status != "Accepted":
            return
        if requested_message == "BootNotification" and self.client.boot_status == "Accepted":
            return
        await getattr(self, TRIGGERS[requested_message])(ids)

    async def _trigger_boot(self, ids):
        r = await self.call(self.client.boot_notification(reason="Triggered"))
        if r is not None:
            self.client.boot_status = r.status

    async def _trigger_heartbeat(self, ids):
        await self.call(call.Heartbeat())

    async def _trigger_status(self, ids):
        for cid in ids:
            st = self.station.status(cid)
            if st is not None:
                await self.call(status_call(cid, st, time.time()))

    async def _trigger_meter_values(self, ids):
        for cid in ids:
            mv = await self.client.trigger_meter_value(cid)
            if mv is not None:
                await self.call(call.MeterValues(evse_id=cid, meter_value=[mv]))

    async def _trigger_transaction_event(self, ids):
        for cid in ids:
            await self.client.queue_trigger_update(cid)

    async def _trigger_firmware_status(self, ids):
        await self.call(firmware_status_call(self.station))  # L01: the running update's

    async def _trigger_log_status(self, ids):
        await self.call(call.LogStatusNotification(status="Idle"))

    # --- DataTransfer (P01, P02) --------------------------------------------------------

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        """Our vendorId with messageId GetEvseState {"evseId": N} -> the firmware's own
        decisions (as the 1.6 DataTransfer, gateway/ocpp16/vendor.py)."""
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id != "GetEvseState":
            return call_result.DataTransfer(status="UnknownMessageId")
        # the library hands nested keys snake_case, anyType data too
        cid = data.get("evse_id", data.get("evseId")) if isinstance(data, dict) else None
        if type(cid) is not int or not self._evse_ok(cid):
            return call_result.DataTransfer(status="Rejected")
        return call_result.DataTransfer(status="Accepted",
                                        data=dict(self.station.evse_state(cid), evseId=cid))
