"""The OCPP 1.6J messages of the station: the mobilityhouse `ocpp` v16 ChargePoint with the
CSMS-initiated actions routed to the version-neutral Station (gateway/station.py).

Handlers answer at once; what reaches the firmware runs after the answer (`@after`), so the
receive loop is never held by a link request (UnlockConnector excepted: its answer is the
firmware's). TriggerMessage: gateway/ocpp16/trigger.py; DataTransfer: gateway/ocpp16/vendor.py."""

import decimal
import logging

from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotSupportedError,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    AvailabilityType,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    UnlockStatus,
)

from gateway.ocpp16.certificate_handlers import CertificateHandlers
from gateway.ocpp16.configuration import ConfigurationHandlers
from gateway.ocpp16.firmware import FirmwareHandlers
from gateway.ocpp16.logs import LogHandlers
from gateway.ocpp16.pdus import iso, status_call  # noqa: F401 (imported from here too)
from gateway.ocpp16.sign_certificate import SignCertificateHandlers
from gateway.ocpp16.smart import SmartChargingHandlers
from gateway.ocpp16.trigger import TriggerMessageHandlers
from gateway.ocpp16.vendor import DataTransferHandlers

log = logging.getLogger(__name__)

_ACTIONS_16 = frozenset(a.value for a in Action)


# Station.unlock() -> UnlockConnector.conf status (§5.18)
UNLOCK_STATUS = {"unlocked": UnlockStatus.unlocked, "failed": UnlockStatus.unlock_failed,
                 "not_supported": UnlockStatus.not_supported}


class StationChargePoint(ConfigurationHandlers, SmartChargingHandlers, TriggerMessageHandlers,
                         DataTransferHandlers, LogHandlers, FirmwareHandlers,
                         CertificateHandlers, SignCertificateHandlers, ChargePoint):
    def __init__(self, station_id, connection, station, response_timeout=10):
        super().__init__(station_id, connection, response_timeout=response_timeout)
        self.station = station

    async def _handle_call(self, msg):
        """OCPP-J 1.6 §4.2.3 Table 7 error codes where ocpp 2.1.0 answers others: an action
        1.6 does not have is NotImplemented ("not known by receiver") and a 1.6 action
        without a handler NotSupported ("recognized but not supported"), the library swaps
        the two; a payload that is not the PDU's structure is FormationViolation, the 1.6
        name (errata §5.2, kept), the library's FormatViolation is 2.0.1's."""
        if msg.action not in self.route_map:
            cause = {"cause": "%s is not handled by this station" % msg.action}
            if msg.action in _ACTIONS_16:
                raise NotSupportedError("Requested Action is recognized but not supported by "
                                        "the receiver", cause)
            raise OcppNotImplementedError("Requested Action is not known by receiver", cause)
        try:
            return await super()._handle_call(msg)
        except FormatViolationError as e:
            raise FormationViolationError(e.description, e.details) from None
        except (decimal.InvalidOperation, TypeError):
            # jsonschema's multipleOf check raises instead of failing on a number past
            # Decimal's 28 digits (a limit of 1e308) or on Infinity / NaN (not JSON, RFC 8259
            # §6, but Python's parser takes them); handler errors never get here (the
            # library answers InternalError), and escaping route_message this would end the
            # connection's receive loop (found by bench/fuzz_campaigns.py)
            raise FormationViolationError(
                "Payload for Action is syntactically incorrect or not conform the PDU "
                "structure for Action",
                {"cause": "a number that is too large or not a JSON number"}) from None

    def _connector(self, connector_id):
        """RemoteStart without connectorId: the only connector, else none."""
        if connector_id is None:
            ids = self.station.connector_ids
            return ids[0] if len(ids) == 1 else None
        return int(connector_id)  # 1.6 numbers arrive as int or Decimal (DESIGN §8)

    # --- RemoteStartTransaction / RemoteStopTransaction ---------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        cid = self._connector(connector_id)
        ok = cid is not None and self.station.can_remote_start(cid)
        if ok and charging_profile is not None:  # §5.11: a TxProfile, else Rejected (TC_060)
            ok = self.station.smart.remote_start_profile(cid, charging_profile)[1] is None
        return call_result.RemoteStartTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected)

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        cid = self._connector(connector_id)
        if cid is None or not self.station.can_remote_start(cid):
            return
        smart = self.station.smart
        # §5.11: the profile is the transaction's (TC_059); installed and pushed before the
        # firmware is told to start, so the first offer already follows it
        if charging_profile is not None and smart.install_remote_start(cid, charging_profile):
            return  # refused now (logged): no start without its profile
        try:
            if charging_profile is not None:
                await smart.recompute()
            await self.station.remote_start(cid, id_tag)
        finally:
            if charging_profile is not None:
                smart.remote_start_made(cid)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id):
        ok = self.station.connector_of_transaction(int(transaction_id)) is not None
        return call_result.RemoteStopTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id):
        cid = self.station.connector_of_transaction(int(transaction_id))
        if cid is not None:
            await self.station.remote_stop(cid)

    # --- Reset, ChangeAvailability -------------------------------------------------------

    @on(Action.reset)
    def on_reset(self, type):
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    async def after_reset(self, type):
        log.info("Reset %s: CMD_RESET to every EVSE, then the OCPP side boots again", type)
        await self.station.reset(hard=type == ResetType.hard)
        # §5.14: the Charge Point reboots, so it registers again: the connection is closed
        # (once no call of ours waits for its answer) and the client's next one starts with
        # a BootNotification (TC_013, TC_014)
        async with self._call_lock:
            await self._connection.close()

    # --- UnlockConnector -----------------------------------------------------------------

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id):
        """§5.18: NotSupported for an unknown connector (TC_031) or a socket without a lock
        (the firmware's HELLO has no CAP_LOCK: at once); else the answer waits for the
        firmware's RESULT of CMD_UNLOCK, after the transaction is stopped (UnlockCommand)."""
        result = await self.station.unlock(int(connector_id))
        return call_result.UnlockConnector(status=UNLOCK_STATUS[result])

    def _availability_ok(self, connector_id):
        cid = int(connector_id)
        return cid == 0 or cid in self.station.connector_ids

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type):
        if not self._availability_ok(connector_id):
            return call_result.ChangeAvailability(status=AvailabilityStatus.rejected)
        return call_result.ChangeAvailability(status=AvailabilityStatus.accepted)

    @after(Action.change_availability)
    async def after_change_availability(self, connector_id, type):
        if self._availability_ok(connector_id):
            await self.station.set_available(int(connector_id),
                                             type == AvailabilityType.operative)
