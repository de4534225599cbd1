"""A small OCPP 1.6J CSMS for tests, on the mobilityhouse `ocpp` library and `websockets`
(new asyncio API), running its own event loop on a thread so synchronous tests can drive it
(the shared machinery: sim_hardware/csms_base.py; its OCPP 2.0.1 twin: csms201.py).

    csms = Csms16().start()            # ws://127.0.0.1:<free port>/ocpp
    csms.url                           # give it to the gateway's --csms
    csms.wait_for("BootNotification")  # the payload of the first such call from the station
    csms.request(call.Reset(type="Hard"))   # a CSMS-initiated call; returns its result
    csms.request_raw([2, "x1", "FooBar", {}])  # sent as is; -> the station's answer list
    csms.stop()

It accepts one station at a time (a new connection replaces the old), refuses connections
without the "ocpp1.6" subprotocol, and records every message: `messages` is a list of
(direction "in"/"out", message type id, action, payload) in order, `calls(action)` the
payloads the station sent for an action.

`connected` is True while a station's connection is open. Its web page (loopback):
sim_hardware/csms_web.py.

Connection control for offline tests: `drop()` closes the station's connection (it
reconnects at once), `go_down()` closes it and stops listening (connections refused) until
`come_back()` listens again on the same port, `refuse(True)` answers every WebSocket
handshake with HTTP 503 until `refuse(False)`; `fail(action, n)` answers the next n calls
of action with a CallError (InternalError unless told). `transactions` lists (transactionId,
connectorId, meterStart, timestamp) of every StartTransaction it answered, with idTagInfo
status `id_tag_status` (also Authorize's; "Accepted" unless told); `on_call`, if
set, is called with (action, payload) of each station call, on the CSMS's thread.

Security profiles (docs/ocpp.md "Security"): `ssl_context` (a server ssl.SSLContext; with
verify_mode CERT_REQUIRED and a client CA loaded: profile 3) serves wss://;
`passwords` {station id: password} answers a handshake whose HTTP Basic credentials are
missing or wrong with HTTP 401 (profiles 1 and 2). `auth_failures` counts those 401s.
"""

import itertools

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus

from sim_hardware.csms_base import CsmsBase, RecordingStation, now_iso


class _Station(RecordingStation, ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, charge_point_model, charge_point_vendor, **kw):
        return call_result.BootNotification(current_time=now_iso(),
                                            interval=self.csms.boot_interval_s,
                                            status=self.csms.boot_status)

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status(self, connector_id, error_code, status, **kw):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag):
        return call_result.Authorize(id_tag_info={"status": self.csms.id_tag_status})

    @on(Action.start_transaction)
    def on_start(self, connector_id, id_tag, meter_start, timestamp, **kw):
        tx_id = next(self.csms._tx_ids)
        with self.csms._lock:
            self.csms.transactions.append((tx_id, connector_id, meter_start, timestamp))
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": self.csms.id_tag_status})

    @on(Action.stop_transaction)
    def on_stop(self, meter_stop, timestamp, transaction_id, **kw):
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **kw):
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kw):
        return call_result.DataTransfer(status=self.csms.data_transfer_status)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, status):
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, status):
        return call_result.FirmwareStatusNotification()

    # security whitepaper (OCPP 1.6 security extension)
    @on("SecurityEventNotification")
    def on_security_event(self, type, timestamp, **kw):
        return call_result.SecurityEventNotification()

    @on("LogStatusNotification")
    def on_log_status(self, status, **kw):
        return call_result.LogStatusNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, csr, **kw):
        return call_result.SignCertificate(status="Accepted")

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, status, request_id, **kw):
        return call_result.SignedFirmwareStatusNotification()


class Csms16(CsmsBase):
    SUBPROTOCOL = "ocpp1.6"
    THREAD_NAME = "csms16"

    def __init__(self, boot_status=RegistrationStatus.accepted, boot_interval_s=60,
                 ssl_context=None, passwords=None):
        super().__init__(boot_status, boot_interval_s, ssl_context, passwords)
        self._tx_ids = itertools.count(1)
        # (transactionId, connectorId, meterStart, timestamp) of every StartTransaction
        self.transactions = []
        self.id_tag_status = "Accepted"  # idTagInfo.status of Authorize / StartTransaction

    def _new_station(self, station_id, connection):
        return _Station(station_id, connection, self)

    def statuses(self, connector_id):
        return [p["status"] for p in self.calls("StatusNotification")
                if p["connectorId"] == connector_id]

    def wait_status(self, connector_id, status, timeout_s=10):
        return self.wait_for("StatusNotification", timeout_s,
                             lambda p: p["connectorId"] == connector_id
                             and p["status"] == status)
