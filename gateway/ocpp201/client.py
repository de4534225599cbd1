"""The station's OCPP 2.0.1 connection (subprotocol "ocpp2.0.1") to CSMS_URL/STATION_ID, on the
version-neutral CsmsConnection (gateway/csms_connection.py). Per connection: BootNotification
until Accepted (B01-B03: Pending / Rejected again after the interval; while not accepted only
the CSMS's requests are answered), then StatusNotification of every connector (G01; after
an offline period up to OCPPCommCtrlr.OfflineThreshold only of those whose status changed,
B04.FR.02), Heartbeat at OCPPCommCtrlr.HeartbeatInterval, StatusNotification when a
connector's 2.0.1 status changes, and the durable queue in order: transaction messages as
TransactionEvent (gateway/ocpp201/transactions.py), notices as NotifyEvent
(gateway/ocpp201/events.py).

TransactionEvent `offline` (E04.FR.*, K06): true for an event that happened while the station
was not connected to the CSMS (the connection's accepted intervals are kept). A transaction's
charging state changes (Charging, SuspendedEV, SuspendedEVSE, EVConnected) are queued as
Updated events with ChargingStateChanged behind the transaction's earlier messages.
MessageAttempts / MessageAttemptInterval (instance TransactionEvent) bound the retries of a
message the CSMS answers with a CallError."""

import asyncio
import logging
import secrets
import time

from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from gateway.csms_connection import CsmsConnection
from gateway.firmware_update import ACTION as FIRMWARE_ACTION
from gateway.link import Backoff
from gateway.log_upload import LogUploads
from gateway.ocpp16.meter_values import MeterSampler
from gateway.ocpp201.charge_point import StationChargePoint
from gateway.ocpp201.device_model import DeviceModel
from gateway.ocpp201.events import send_notice
from gateway.ocpp201.external_limits import ExternalLimits
from gateway.ocpp201.firmware import send_firmware_message
from gateway.ocpp201.online_history import OnlineHistory
from gateway.ocpp201.pdus import CHARGING_STATE, connector_status, meter_value, status_call
from gateway.ocpp201.rate_changes import RateChanges
from gateway.ocpp201.transactions import (
    TX_ACTIONS,
    seq_key,
    transaction_event,
    transaction_id,
)
from gateway.smart.rules import rate_units

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 10  # a Pending / Rejected answer with interval 0
RECONNECT_AFTER_S = 0.5  # after a password change: the SetVariables answer goes first
SYNC_WAIT_S = 2  # a triggered reading waits at most this for the record replay to end
PREFIX_KEY = "ocpp201:tx_prefix"
HEARTBEAT_MAX_S = 86400


class SamplerConfig:
    """The version-neutral MeterSampler's settings, read from the 2.0.1 device model."""

    NAMES = {"MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
             "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
             "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
             "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands")}
    KEYS = {v: k for k, v in NAMES.items()}

    def __init__(self, dm):
        self.dm = dm

    def number(self, key):
        return self.dm.number(*self.NAMES[key])

    def csl(self, key):
        return self.dm.members(*self.NAMES[key])

    def on_change(self, fn):
        def changed(component, variable, instance, value):
            key = self.KEYS.get((component, variable))
            if key is not None:
                fn(key, value)
        self.dm.on_change(changed)


class Ocpp201Client(CsmsConnection):
    SUBPROTOCOL = "ocpp2.0.1"

    def __init__(self, csms_url, station_id, station, vendor="smartevse-ref",
                 model="gateway", firmware_version=None, backoff=None, device_model=None,
                 security_profile=0, connect_kwargs=None, clock=time.time, security=None,
                 state_dir=None):
        """security: gateway.security.Security (a SetVariables BasicAuthPassword changes its
        password, kept in state_dir); connect_kwargs: its websockets.connect extras."""
        super().__init__(csms_url.rstrip("/") + "/" + station_id, station,
                         backoff or Backoff(0.5, 30.0), connect_kwargs)
        self.station_id = station_id
        self.vendor, self.model, self.firmware_version = vendor, model, firmware_version
        self.clock = clock
        self.dm = device_model or DeviceModel(
            station.store, len(station.connector_ids), station_id,
            security_profile=security_profile, vendor=vendor, model=model)
        self.sampler = MeterSampler(station, SamplerConfig(self.dm), self._send_meter_values_now)
        self.external = ExternalLimits(station, self.dm, self, clock)  # K11-K13
        self.rate_changes = RateChanges(station, self.dm, clock)  # ChargingRateChanged
        self.log_uploads = LogUploads(station, station.security_log, station_id, clock)  # N01
        self.signing = None  # gateway.station_certificate.CertificateSigning, set by cli.py
        self.boot_reason = "PowerUp"  # B01; RemoteReset after a Reset (charge_point.py)
        self.boot_status = None  # the last BootNotification answer's status
        self.online = OnlineHistory(station.store, clock)  # the offline flag, B04
        self._sent_status = {}  # evse id -> the ConnectorStatusEnumType the CSMS knows
        self._sending_status = {}  # evse id -> the one whose StatusNotification is out
        self._charging_state = {}  # evse id -> (session key, chargingState) last queued
        station.on_status(self._status_changed)
        station.invalid_id.limit_event = self._energy_limit_event  # E05 EnergyLimitReached
        self.security, self.state_dir = security, state_dir
        self.dm.on_change(self._variable_changed)
        self._rate_units()
        if station.free_vend_id_tag is not None:  # no authorisation at this station
            self.dm.set_actual("AuthCtrlr", "Enabled", "false")
        prefix = station.store.get_meta(PREFIX_KEY)
        if prefix is None:
            prefix = secrets.token_hex(4)
            station.store.set_meta(PREFIX_KEY, prefix)
        self.tx_prefix = prefix

    # --- CsmsConnection -------------------------------------------------------------------

    async def run(self):
        tasks = [asyncio.create_task(self.sampler.run()),
                 asyncio.create_task(self.external.run())]
        try:
            await super().run()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def make_charge_point(self, ws):
        return StationChargePoint(self.station_id, ws, self.station, self)

    def message_attempts(self):
        return self.dm.number("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")

    def attempt_interval_s(self):
        return self.dm.number("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent")

    def connected(self, up):
        self.online.connected(up)

    async def session(self, cp):
        await self._boot(cp)
        if self.online.offline_s() > self.dm.number("OCPPCommCtrlr", "OfflineThreshold"):
            self._sent_status.clear()  # B04.FR.01: every connector; else (FR.02) the changed
        self.connected(True)
        for cid in self.station.connector_ids:
            self.status_changed(cid)
        await asyncio.gather(self.heartbeats(cp), self.statuses(cp), self.sender(cp))

    def _variable_changed(self, component, variable, instance, value):
        if (component, variable) == ("SecurityCtrlr", "BasicAuthPassword"):
            self._new_password(value)
        elif (component, variable) == ("SmartChargingCtrlr", "RateUnit"):
            self._rate_units()

    def _rate_units(self):
        if self.station.smart is not None:
            self.station.smart.set_rate_units(
                rate_units(self.dm.members("SmartChargingCtrlr", "RateUnit")))

    def _new_password(self, password):
        """A01: the CSMS set a new Basic-auth password: stored (0600), and the station
        connects again with it once the SetVariables answer has gone."""
        if self.security is None:
            log.error("BasicAuthPassword set but this station has no security settings")
            return
        self.security.change_password(self.state_dir, password)
        self.station.security_event("ReconfigurationOfSecurityParameters",
                                    "BasicAuthPassword set by the CSMS (A01)")
        self.connect_kwargs = self.security.connect_kwargs()
        log.info("A01: new Basic-auth password stored; connecting again with it")
        cp = self.cp
        if cp is not None:
            asyncio.get_running_loop().call_later(
                RECONNECT_AFTER_S, lambda: asyncio.ensure_future(cp._connection.close()))

    # --- provisioning (B01-B03) -----------------------------------------------------------

    def boot_notification(self, reason=None):
        station = {"model": self.model, "vendorName": self.vendor}
        if self.firmware_version:
            station["firmwareVersion"] = self.firmware_version
        return call.BootNotification(charging_station=station,
                                     reason=reason or self.boot_reason)

    async def _boot(self, cp):
        while True:
            r = await cp.call(self.boot_notification(), suppress=False)
            interval = int(r.interval)
            self.boot_status = r.status
            log.info("BootNotification (%s): %s, interval %d s", self.boot_reason, r.status,
                     interval)
            if r.status == "Accepted":
                if interval > 0:  # the variable's range is 1..86400 s
                    self.dm.set_actual("OCPPCommCtrlr", "HeartbeatInterval",
                                       str(min(interval, HEARTBEAT_MAX_S)))
                self.boot_reason = "PowerUp"
                self.accepted = True
                return
            await asyncio.sleep(interval if interval > 0 else DEFAULT_RETRY_S)

    def heartbeat_interval_s(self):
        return self.dm.number("OCPPCommCtrlr", "HeartbeatInterval")

    def heartbeat_call(self):
        return call.Heartbeat()

    # --- connector status (G01) and the transaction's charging state ----------------------

    def _status_changed(self, cid, st):
        self.status_changed(cid)
        state = CHARGING_STATE.get(st.status)
        s = self.station.session(cid)
        if state is None or not (s and s.get("authorized")):
            return
        if self._charging_state.get(cid) == (s["key"], state):
            return
        first = self._charging_state.get(cid, (None,))[0] != s["key"]
        self._charging_state[cid] = (s["key"], state)
        if first and state == "EVConnected":
            return  # the Started event says EVConnected
        asyncio.get_running_loop().create_task(self.station.enqueue_for_session(
            cid, s["key"], "tx_update",
            {"trigger": "ChargingStateChanged", "charging_state": state,
             "unix_s": int(self.clock())}))

    def status_message(self, cid):
        """G01: a StatusNotification only when the EVSE's 2.0.1 status changed."""
        st = self.station.status(cid)
        if st is None or self._sent_status.get(cid) == connector_status(st):
            return None
        self._sending_status[cid] = connector_status(st)
        return status_call(cid, st, time.time())

    def status_sent(self, cid):
        self._sent_status[cid] = self._sending_status.pop(cid)

    # --- the durable queue ----------------------------------------------------------------

    def _sent_meta(self, m, seq_no):
        """What a transaction message's delivery commits: the next seqNo, and for a Started
        event the transactionId in the station's session (gateway/station.py)."""
        p = m.payload
        cid, key = p["connector_id"], p["key"]
        meta = {seq_key(cid, key): seq_no + 1}
        if m.action == "tx_start":
            meta.update(self.station.transaction_meta(cid, key,
                                                      transaction_id(self.tx_prefix, key)))
        return meta

    def discarded_meta(self, m):
        """A TransactionEvent given up after MessageAttempts CallErrors (E13) keeps its
        seqNo: the next event of its transaction takes the one after, so the CSMS sees the
        gap."""
        if m.action not in TX_ACTIONS:
            return None
        return {seq_key(m.payload["connector_id"], m.payload["key"]): lambda n: (n or 0) + 1}

    async def recovered(self, m):
        """A TransactionEvent's answer carries nothing the station needs: one whose frame
        was written counts as delivered. One not written goes again with the same
        transactionId and seqNo (a CSMS that got it in the instant before the mark can tell
        the copy)."""
        store = self.station.store
        if m.written and m.action in TX_ACTIONS:
            p = m.payload
            seq_no = store.get_meta(seq_key(p["connector_id"], p["key"]), 0)
            await store.aio(store.complete, m.id, self._sent_meta(m, seq_no),
                            "written before a restart, no answer: taken as delivered")
            self.station.transactions_changed()
            return "taken as delivered"
        if m.action in TX_ACTIONS:
            return "sent again with its transactionId and seqNo"
        return "sent again"

    async def send_queued(self, cp, m):
        store = self.station.store
        p = m.payload
        if m.action == "notice":
            return await send_notice(cp, dict(p, event_id=m.id)), None
        if m.action == FIRMWARE_ACTION:  # the update job (gateway/ocpp201/firmware.py)
            return await send_firmware_message(cp, p), None
        if m.action == "security_event":  # A04 (gateway/security_log.py)
            return await self.send_security_event(cp, p, call.SecurityEventNotification), None
        if m.action not in TX_ACTIONS:
            await store.aio(store.discard, m.id, "unknown action")
            return False, None
        cid, key = p["connector_id"], p["key"]
        tx_id = transaction_id(self.tx_prefix, key)
        if m.action != "tx_start" and self.station.transaction_id(cid, key) is None:
            await store.aio(store.discard, m.id, "no Started event for its transaction")
            return False, None
        seq_no = store.get_meta(seq_key(cid, key), 0)
        # when the event happened: its record's time, else when it was queued (MeterValues)
        offline = self.online.was_offline(p.get("unix_s", m.created_unix_ms // 1000))
        r = await self.call_tracked(cp, m, transaction_event(m.action, p, tx_id, seq_no,
                                                             offline))
        status = (r.id_token_info or {}).get("status")
        if m.action == "tx_start":
            log.info("TransactionEvent Started EVSE %d: transaction %s%s", cid, tx_id,
                     "" if status is None else " (%s)" % status)
        meta = self._sent_meta(m, seq_no)
        if status not in (None, "Accepted"):  # E05: the CSMS does not accept the idToken
            self.station.invalid_id.add_decision(
                meta, cid, key, status, self._stop_on_invalid_id(),
                self.dm.number("TxCtrlr", "MaxEnergyOnInvalidId"))
        return True, meta

    def _stop_on_invalid_id(self):
        """E05 / E06.FR.04: a TxStopPoint with Authorized ends the transaction when its
        idToken is not accepted, whatever StopTxOnInvalidId says."""
        return (self.dm.flag("TxCtrlr", "StopTxOnInvalidId")
                or "Authorized" in self.dm.members("TxCtrlr", "TxStopPoint"))

    def _energy_limit_event(self, cid, s):
        """E05: MaxEnergyOnInvalidId delivered, the firmware suspended the energy transfer:
        Updated, triggerReason EnergyLimitReached, SuspendedEVSE, with the register. The
        status change that follows queues no ChargingStateChanged of its own."""
        self._charging_state[cid] = (s["key"], "SuspendedEVSE")
        now = self.clock()
        mv = self.sampler.meter_value(cid, ("Energy.Active.Import.Register",), "Other", now)
        payload = {"trigger": "EnergyLimitReached", "charging_state": "SuspendedEVSE",
                   "unix_s": int(now)}
        if mv is not None:
            payload["meter_value"] = [mv]
        return "tx_update", payload

    # --- TriggerMessage (F06) -------------------------------------------------------------

    async def _reading(self, cid, component, variable, context):
        """The sampler's MeterValue of EVSE cid now (measurands of the device-model
        variable), once its record replay is over (station.records_synced), or None."""
        for _ in range(int(SYNC_WAIT_S / 0.05)):
            if self.station.records_synced(cid):
                break
            await asyncio.sleep(0.05)
        return self.sampler.meter_value(cid, self.dm.members(component, variable), context,
                                        self.clock())

    async def trigger_meter_value(self, cid):
        mv = await self._reading(cid, "AlignedDataCtrlr", "Measurands", "Trigger")
        return None if mv is None else meter_value(mv)

    async def queue_trigger_update(self, cid):
        """TriggerMessage TransactionEvent: an Updated event, trigger Trigger, with the
        transaction's charging state and TxUpdatedMeasurands now, queued behind its others."""
        s = self.station.session(cid)
        if not (s and s.get("authorized")):
            return
        mv = await self._reading(cid, "SampledDataCtrlr", "TxUpdatedMeasurands", "Trigger")
        st = self.station.status(cid)
        payload = {"trigger": "Trigger", "unix_s": int(self.clock()),
                   "charging_state": CHARGING_STATE.get(st.status) if st else None}
        if mv is not None:
            payload["meter_value"] = [mv]
        await self.station.enqueue_for_session(cid, s["key"], "tx_update", payload)

    async def _send_meter_values_now(self, evse_id, mv):
        """A MeterValues outside a transaction (clock-aligned): sent if connected."""
        cp = self.cp
        if cp is None or not self.accepted:
            return False
        try:
            await cp.call(call.MeterValues(evse_id=evse_id, meter_value=[meter_value(mv)]))
        except (OCPPError, TimeoutError, ConnectionError) as e:
            log.warning("MeterValues EVSE %d: %s", evse_id, e)
            return False
        return True
