"""The bundled OCPP 2.0.1 test CSMS (sim_hardware/csms201.py) driven by a small station made
of the `ocpp` library's v201 ChargePoint over real WebSockets on loopback: boot, status, a
transaction with a resent event, CSMS-initiated calls (library and raw), reports, the
subprotocol and Basic-auth checks, and the connection control the offline tests use.

The CSMS runs on its own thread; the station runs in asyncio.run() here, so the CSMS's
blocking calls (request, request_raw, go_down) are made through asyncio.to_thread."""

import asyncio
import base64
import contextlib
import time

import pytest
import websockets
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result

from sim_hardware.csms201 import Csms201

STATION = "CS201"
PASSWORD = "a-password-of-24-chars!!"
NOW = "2025-01-01T12:00:00Z"


class _TestStation(ChargePoint):
    @on("GetVariables")
    def on_get_variables(self, get_variable_data, **kw):
        return call_result.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted", "attribute_value": "60",
             "component": d["component"], "variable": d["variable"]}
            for d in get_variable_data])


@contextlib.asynccontextmanager
async def _station(csms, subprotocols=("ocpp2.0.1",), password=None):
    headers = None
    if password is not None:
        token = base64.b64encode(("%s:%s" % (STATION, password)).encode()).decode()
        headers = {"Authorization": "Basic " + token}
    ws = await websockets.connect(csms.url + "/" + STATION, subprotocols=list(subprotocols),
                                  additional_headers=headers, open_timeout=5)
    cp = _TestStation(STATION, ws, response_timeout=10)
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        await ws.close()


@pytest.fixture
def csms_factory():
    started = []

    def make(**kw):
        c = Csms201(**kw).start()
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


def _boot(cp):
    return cp.call(call.BootNotification(
        charging_station={"model": "Sim", "vendor_name": "OpenEVSE-ref"}, reason="PowerUp"))


def _event(event_type, seq_no, trigger, **kw):
    return call.TransactionEvent(event_type=event_type, timestamp=NOW, trigger_reason=trigger,
                                 seq_no=seq_no, transaction_info={"transaction_id": "tx-1"},
                                 **kw)


def test_b01_boot_accepted_then_heartbeat_and_status(csms_factory):
    """B01: an accepted BootNotification carries the configured interval; Heartbeat gets the
    time; StatusNotification is recorded per EVSE (statuses, wait_status)."""
    csms = csms_factory(boot_interval_s=45)

    async def run():
        async with _station(csms) as cp:
            boot = await _boot(cp)
            assert (boot.status, boot.interval) == ("Accepted", 45)
            assert (await cp.call(call.Heartbeat())).current_time.endswith("Z")
            for evse_id, status in ((1, "Available"), (2, "Available"), (1, "Occupied")):
                await cp.call(call.StatusNotification(timestamp=NOW, connector_status=status,
                                                      evse_id=evse_id, connector_id=1))
            assert csms.connected

    asyncio.run(run())
    assert csms.wait_status(1, "Occupied")["evseId"] == 1
    assert csms.statuses(1) == ["Available", "Occupied"]
    assert csms.statuses(2) == ["Available"]
    assert csms.wait_for("BootNotification")["chargingStation"]["model"] == "Sim"
    assert csms.actions()[:2] == ["BootNotification", "Heartbeat"]
    assert csms.station_ids == [STATION] and csms.connections == 1
    assert csms.received_at("Heartbeat") >= csms.received_at("BootNotification")


def test_b02_boot_pending(csms_factory):
    """B02: the CSMS can keep a station Pending with its own retry interval."""
    csms = csms_factory(boot_status="Pending", boot_interval_s=5)

    async def run():
        async with _station(csms) as cp:
            boot = await _boot(cp)
            assert (boot.status, boot.interval) == ("Pending", 5)

    asyncio.run(run())
    out = [p for d, t, a, p in csms.messages if d == "out" and t == 3]
    assert out[0]["status"] == "Pending"


def test_e01_transaction_started_updated_ended_with_a_resent_event(csms_factory):
    """E01/E06: Started with an idToken is answered with idTokenInfo Accepted, events without
    one with {}; the events are kept per transaction in arrival order and an Updated sent
    twice (same seqNo) shows in duplicates()."""
    csms = csms_factory()
    evse = {"id": 1, "connector_id": 1}
    token = {"id_token": "TAG1", "type": "ISO14443"}

    async def run():
        async with _station(csms) as cp:
            await _boot(cp)
            started = await cp.call(_event("Started", 0, "Authorized", evse=evse,
                                           id_token=token))
            assert started.id_token_info == {"status": "Accepted"}
            for _ in range(2):  # an answer the station lost: it sends the event again
                updated = await cp.call(_event("Updated", 1, "ChargingStateChanged"))
                assert updated.id_token_info is None
            await cp.call(_event("Ended", 2, "EVCommunicationLost"))

    asyncio.run(run())
    events = csms.transaction_events("tx-1")
    assert [(e["eventType"], e["seqNo"]) for e in events] == [
        ("Started", 0), ("Updated", 1), ("Updated", 1), ("Ended", 2)]
    assert events[0]["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    assert csms.transactions == {"tx-1": events} and csms.transaction_events() == events
    assert csms.tx_ids() == ["tx-1"]
    assert csms.duplicates() == [("tx-1", 1)]
    assert csms.transaction_events("unknown") == []


def test_wait_for_returns_once_the_handler_has_recorded_the_call(csms_factory):
    """wait_for(action) returns a call only after its handler finished, so what the handler
    records is there: with a handler slowed by 0.5 s, the transaction's event list read right
    after wait_for holds the event (before, wait_for saw the call on arrival and a test read
    the list in the instant before the handler appended to it)."""
    csms = csms_factory()
    record = csms._record_transaction_event

    def slow_record(payload):
        time.sleep(0.5)
        record(payload)

    csms._record_transaction_event = slow_record

    async def run():
        async with _station(csms) as cp:
            await _boot(cp)
            sending = asyncio.create_task(cp.call(_event("Started", 0, "CablePluggedIn")))

            def wait_then_read():
                csms.wait_for("TransactionEvent")
                return len(csms.transaction_events("tx-1"))

            seen = await asyncio.to_thread(wait_then_read)
            await sending
            return seen

    assert asyncio.run(run()) == 1


def test_fail_answers_a_callerror_and_the_event_is_not_recorded(csms_factory):
    """fail(action, n): the next n calls of action get a CallError (the station's retry is
    then no duplicate); on_call sees every call, failed or not."""
    csms = csms_factory()
    seen = []
    csms.on_call = lambda action, payload: seen.append(action)
    csms.fail("TransactionEvent", 1)

    async def run():
        async with _station(csms) as cp:
            with pytest.raises(InternalError):
                await cp.call(_event("Started", 0, "CablePluggedIn"), suppress=False)
            await cp.call(_event("Started", 0, "CablePluggedIn"))

    asyncio.run(run())
    assert seen == ["TransactionEvent", "TransactionEvent"]
    assert len(csms.transactions["tx-1"]) == 1 and csms.duplicates() == []


def test_station_calls_with_a_status_answer(csms_factory):
    """Every call with a status in its answer gets the configured or fixed one: Authorize
    (C01, id_token_status), DataTransfer (P01, data_transfer_status), SignCertificate (A02)
    Accepted, Get15118EVCertificate (M02) and GetCertificateStatus (M06) Failed (no PKI);
    a notification (SecurityEventNotification, A04) gets {}."""
    csms = csms_factory()
    csms.id_token_status = "Invalid"
    csms.data_transfer_status = "UnknownVendorId"
    ocsp = {"hash_algorithm": "SHA256", "issuer_name_hash": "aa", "issuer_key_hash": "bb",
            "serial_number": "01", "responder_url": "http://ocsp.example"}

    async def run():
        async with _station(csms) as cp:
            auth = await cp.call(call.Authorize(id_token={"id_token": "T", "type": "Local"}))
            assert auth.id_token_info == {"status": "Invalid"}
            assert (await cp.call(call.DataTransfer(vendor_id="x"))).status == "UnknownVendorId"
            sign = await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST"))
            assert sign.status == "Accepted"
            ev = await cp.call(call.Get15118EVCertificate(
                iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install",
                exi_request="AAAA"))
            assert ev.status == "Failed"
            status = await cp.call(call.GetCertificateStatus(ocsp_request_data=ocsp))
            assert status.status == "Failed"
            await cp.call(call.SecurityEventNotification(type="StartupOfTheDevice",
                                                         timestamp=NOW))

    asyncio.run(run())
    assert csms.actions() == ["Authorize", "DataTransfer", "SignCertificate",
                              "Get15118EVCertificate", "GetCertificateStatus",
                              "SecurityEventNotification"]
    assert [m[3] for m in csms.messages if m[0] == "out"][-1] == {}


def test_b06_request_get_variables_and_request_raw(csms_factory):
    """B06: request() sends a CSMS call through the library and returns the station's
    call_result; request_raw() sends a message as given (no schema validation) and returns
    the station's answer list, a CallError for a malformed one."""
    csms = csms_factory()
    variable = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}

    async def run():
        async with _station(csms) as cp:
            await _boot(cp)
            result = await asyncio.to_thread(
                csms.request, call.GetVariables(get_variable_data=[variable]))
            ok = await asyncio.to_thread(
                csms.request_raw, [2, "raw-1", "GetVariables", {"getVariableData": [variable]}])
            bad = await asyncio.to_thread(
                csms.request_raw, [2, "raw-2", "GetVariables", {"getVariableData": "x"}])
            return result, ok, bad

    result, ok, bad = asyncio.run(run())
    assert result.get_variable_result[0]["attribute_value"] == "60"
    assert ok[:2] == [3, "raw-1"] and ok[2]["getVariableResult"][0]["attributeValue"] == "60"
    assert bad[:2] == [4, "raw-2"] and bad[2] == "TypeConstraintViolation"
    assert ("out", 2, "GetVariables", {"getVariableData": "x"}) in csms.messages


def test_b07_notify_report_parts_joined_by_seq_no(csms_factory):
    """B07/B08: NotifyReport parts of one requestId are joined in seqNo order; the report
    is complete when parts 0..n are all there and the last has tbc false."""
    csms = csms_factory()

    def part(seq_no, name, tbc):
        return call.NotifyReport(request_id=7, generated_at=NOW, seq_no=seq_no, tbc=tbc,
                                 report_data=[{"component": {"name": name},
                                               "variable": {"name": "Enabled"},
                                               "variable_attribute": [{"value": "true"}]}])

    async def run():
        async with _station(csms) as cp:
            await cp.call(part(1, "B", False))
            assert csms.reports(7)[1] is False  # part 0 still missing
            await cp.call(part(0, "A", True))

    asyncio.run(run())
    items = csms.wait_report(7)
    assert [i["component"]["name"] for i in items] == ["A", "B"]
    assert csms.reports(8) == ([], False)


def test_connection_without_the_ocpp201_subprotocol_is_refused(csms_factory):
    """DESIGN §9: a client that offers no subprotocol, or only another OCPP version, is
    refused at the upgrade (HTTP 400) and never becomes a station."""
    csms = csms_factory()

    async def run():
        for offered in ([], ["ocpp1.6"]):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(csms.url + "/" + STATION, subprotocols=offered,
                                         open_timeout=5)
            assert refused.value.response.status_code == 400

    asyncio.run(run())
    assert csms.connections == 0 and csms.station_ids == []


def test_basic_auth_401_counted(csms_factory):
    """Security profile 1: a handshake with missing or wrong Basic-auth credentials gets HTTP
    401 and is counted; the right password connects."""
    csms = csms_factory(passwords={STATION: PASSWORD})

    async def run():
        for password in (None, "wrong-password-of-24-ch"):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with _station(csms, password=password):
                    pass
            assert refused.value.response.status_code == 401
        async with _station(csms, password=PASSWORD) as cp:
            assert (await _boot(cp)).status == "Accepted"

    asyncio.run(run())
    assert csms.auth_failures == 2 and csms.connections == 1


def test_go_down_come_back_refuse_and_drop(csms_factory):
    """Offline tests: go_down() closes the station's connection and nothing listens until
    come_back() on the same port; refuse() answers 503; drop() closes the connection."""
    csms = csms_factory()
    port = csms.port

    async def run():
        async with _station(csms) as cp:
            await _boot(cp)
            await asyncio.to_thread(csms.go_down)
            await asyncio.wait_for(cp._connection.wait_closed(), 10)
        assert not csms.connected
        with pytest.raises(OSError):
            await websockets.connect(csms.url + "/" + STATION, subprotocols=["ocpp2.0.1"],
                                     open_timeout=5)
        await asyncio.to_thread(csms.come_back)
        csms.refuse(True)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with _station(csms):
                pass
        assert refused.value.response.status_code == 503
        csms.refuse(False)
        async with _station(csms) as cp:
            await _boot(cp)
            await asyncio.to_thread(csms.drop)
            await asyncio.wait_for(cp._connection.wait_closed(), 10)

    asyncio.run(run())
    assert csms.port == port and csms.connections == 2 and not csms.connected
