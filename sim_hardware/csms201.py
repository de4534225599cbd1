"""A small OCPP 2.0.1 CSMS for tests, the twin of sim_hardware/csms16.py: the mobilityhouse
`ocpp` library (`ocpp.v201`) on `websockets` (new asyncio API), running its own event loop
on a thread so synchronous tests can drive it (shared machinery: sim_hardware/csms_base.py).

    csms = Csms201().start()           # ws://127.0.0.1:<free port>/ocpp
    csms.url                           # give it to the gateway's --csms
    csms.wait_for("BootNotification")  # the payload of the first such call from the station
    csms.request(call.GetVariables(get_variable_data=[...]))  # -> its call_result
    csms.request_raw([2, "x1", "FooBar", {}])  # sent as is; -> the station's answer list
    csms.stop()

It accepts one station at a time (a new connection replaces the old), refuses connections
without the "ocpp2.0.1" subprotocol, and records every message: `messages` is a list of
(direction "in"/"out", message type id, action, payload) in order, `calls(action)` the
payloads the station sent for an action, `statuses(evse_id)` the connectorStatus values of
the StatusNotifications of an EVSE, `wait_status(evse_id, status)` waits for one.

It answers every call a charging station may send (the ANSWERS table): BootNotification
with `boot_status` / `boot_interval_s`; Authorize and the idTokenInfo of a TransactionEvent
that carries an idToken (E01-E07: required then) with `id_token_status` ("Accepted");
DataTransfer with `data_transfer_status`; SignCertificate, NotifyEVChargingNeeds and
NotifyEVChargingSchedule Accepted; Get15118EVCertificate and GetCertificateStatus Failed
(no PKI here); the notifications with an empty result.

Transactions: `transactions` maps transactionId -> the TransactionEvent payloads answered
for it, in arrival order (a call failed by fail() or refused by schema validation is not
one); `transaction_events(tx_id=None)` lists them (all transactions when None), `tx_ids()`
the transactionIds in the order of their first Started event, `duplicates()` the
(transactionId, seqNo) pairs answered more than once (at-least-once delivery, e.g. after a
gateway was killed before it stored an answer). Reports (B07/B08): `reports(request_id)` ->
(reportData items of the NotifyReport parts of that requestId in seqNo order, complete:
parts 0..n all there and the last has tbc false); `wait_report` waits for a complete one.

Connection control, fail(), on_call, security profiles (`ssl_context`, `passwords`,
`auth_failures`) and request/send/request_raw are those of csms16.py (csms_base.py).
"""

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result

from sim_hardware.csms_base import CsmsBase, RecordingStation, now_iso


def _transaction_event(csms, payload):
    csms._record_transaction_event(payload)
    if "idToken" in payload:  # E01.FR.xx / E03: idTokenInfo is required when idToken is sent
        return call_result.TransactionEvent(id_token_info={"status": csms.id_token_status})
    return call_result.TransactionEvent()


# action -> fn(csms, camelCase payload) -> call_result, for every call a station may send
ANSWERS = {
    "BootNotification": lambda csms, p: call_result.BootNotification(
        current_time=now_iso(), interval=csms.boot_interval_s, status=csms.boot_status),
    "Heartbeat": lambda csms, p: call_result.Heartbeat(current_time=now_iso()),
    "Authorize": lambda csms, p: call_result.Authorize(
        id_token_info={"status": csms.id_token_status}),
    "TransactionEvent": _transaction_event,
    "DataTransfer": lambda csms, p: call_result.DataTransfer(status=csms.data_transfer_status),
    "SignCertificate": lambda csms, p: call_result.SignCertificate(status="Accepted"),
    "NotifyEVChargingNeeds": lambda csms, p: call_result.NotifyEVChargingNeeds(
        status="Accepted"),
    "NotifyEVChargingSchedule": lambda csms, p: call_result.NotifyEVChargingSchedule(
        status="Accepted"),
    "Get15118EVCertificate": lambda csms, p: call_result.Get15118EVCertificate(
        status="Failed", exi_response=""),
    "GetCertificateStatus": lambda csms, p: call_result.GetCertificateStatus(status="Failed"),
}
for _action in ("StatusNotification", "MeterValues", "NotifyReport", "NotifyEvent",
                "NotifyChargingLimit", "ClearedChargingLimit", "ReportChargingProfiles",
                "SecurityEventNotification", "FirmwareStatusNotification",
                "LogStatusNotification", "NotifyDisplayMessages", "NotifyMonitoringReport",
                "NotifyCustomerInformation", "PublishFirmwareStatusNotification",
                "ReservationStatusUpdate"):
    ANSWERS[_action] = (lambda cls: lambda csms, p: cls())(getattr(call_result, _action))


class _Station(RecordingStation, ChargePoint):
    pass


def _route(action, answer):
    def handler(self, **kw):  # kw: the library's snake_case copy; answers use the original
        return answer(self.csms, self.payload)

    handler.__name__ = "on_" + action  # the library routes by attribute name
    return on(action)(handler)


for _action, _answer in ANSWERS.items():
    setattr(_Station, "on_" + _action, _route(_action, _answer))


class Csms201(CsmsBase):
    OCPP_VERSION = "2.0.1"  # the gateway's --ocpp for this CSMS (tests/e2e/conftest.py)
    SUBPROTOCOL = "ocpp2.0.1"
    THREAD_NAME = "csms201"

    def __init__(self, boot_status="Accepted", boot_interval_s=60, ssl_context=None,
                 passwords=None):
        super().__init__(boot_status, boot_interval_s, ssl_context, passwords)
        self.id_token_status = "Accepted"  # idTokenInfo.status of Authorize/TransactionEvent
        self.transactions = {}  # transactionId -> [TransactionEvent payload, ...]
        self._tx_events = []  # every TransactionEvent payload answered, in order

    def _new_station(self, station_id, connection):
        return _Station(station_id, connection, self)

    # --- StatusNotification ---------------------------------------------------------------

    def statuses(self, evse_id):
        return [p["connectorStatus"] for p in self.calls("StatusNotification")
                if p["evseId"] == evse_id]

    def wait_status(self, evse_id, status, timeout_s=10):
        return self.wait_for("StatusNotification", timeout_s,
                             lambda p: p["evseId"] == evse_id
                             and p["connectorStatus"] == status)

    # --- TransactionEvent -----------------------------------------------------------------

    def _record_transaction_event(self, payload):
        with self._lock:
            tx_id = payload["transactionInfo"]["transactionId"]
            self.transactions.setdefault(tx_id, []).append(payload)
            self._tx_events.append(payload)

    def transaction_events(self, tx_id=None):
        """TransactionEvent payloads answered, in arrival order: of tx_id, or all."""
        with self._lock:
            if tx_id is None:
                return list(self._tx_events)
            return list(self.transactions.get(tx_id, []))

    def tx_ids(self):
        """transactionIds in the order of their first Started event."""
        ids = []
        for e in self.transaction_events():
            tx_id = e["transactionInfo"]["transactionId"]
            if e["eventType"] == "Started" and tx_id not in ids:
                ids.append(tx_id)
        return ids

    def duplicates(self):
        """(transactionId, seqNo) answered more than once, once each, in the order of their
        second arrival."""
        seen, dups = set(), []
        for e in self.transaction_events():
            key = (e["transactionInfo"]["transactionId"], e["seqNo"])
            if key in seen and key not in dups:
                dups.append(key)
            seen.add(key)
        return dups

    # --- NotifyReport ---------------------------------------------------------------------

    def reports(self, request_id):
        """(reportData items of the NotifyReport parts with requestId, in seqNo order (a
        part sent twice counts once), complete: seqNo 0..n all there and part n has tbc
        false)."""
        parts = {}
        for p in self.calls("NotifyReport"):
            if p["requestId"] == request_id:
                parts.setdefault(p["seqNo"], p)
        items = [d for n in sorted(parts) for d in parts[n].get("reportData", [])]
        last = max(parts, default=None)
        complete = (last is not None and sorted(parts) == list(range(last + 1))
                    and not parts[last].get("tbc", False))
        return items, complete

    def wait_report(self, request_id, timeout_s=10):
        """The reportData items of the complete report with requestId."""
        def found():
            items, complete = self.reports(request_id)
            return (items,) if complete else None
        return self.wait_until(found, timeout_s, "NotifyReport requestId %d" % request_id)[0]
