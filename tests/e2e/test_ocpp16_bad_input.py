"""Bad input from the CSMS, end to end (issue 6 "Bad input", UK-8, UK-S5 input validation):
the test CSMS sends raw OCPP-J calls (sim_hardware/csms16.py `request_raw`, no schema validation on
its side) to `python -m gateway` over real WebSockets, with `python -m sim_hardware` behind
it. Schema-invalid calls get the CallError OCPP-J 1.6 §4.2.3 names, a profile that breaks a
rule is Rejected with the reason in the gateway's log, an unknown connector is Rejected and
reaches no firmware, and a malformed link frame is dropped and counted while the session
goes on (the last test, with the gateway's parts in-process: see there).

OCPP-J 1.6 §4.2.3 error codes used here:
- NotImplemented: Requested Action is not known by receiver
- NotSupported: Requested Action is recognized but not supported by the receiver
- ProtocolError: Payload for Action is incomplete
- FormationViolation: Payload for Action is syntactically incorrect or not conform the PDU
  structure for Action
- TypeConstraintViolation: Payload for Action is syntactically correct but at least one of
  the fields violates data type constraints
"""

import asyncio
import itertools
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
from ocpp.v16 import call

from gateway.charging import PROFILE_FILE, SmartCharging
from gateway.link import Backoff, EvseLink, make_transport
from gateway.ocpp16 import Ocpp16Client
from gateway.smart.model import format_time as _iso
from gateway.station import Station
from gateway.store import Store
from protocols import link
from protocols import link_messages as lm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from sim_link_fixture import SimCharger, wait_for  # noqa: E402

_ids = itertools.count(1)


def _raw(csms, action, payload):
    """-> the station's answer list to [2, id, action, payload] sent as is."""
    unique_id = "bad-%d" % next(_ids)
    reply = csms.request_raw([2, unique_id, action, payload])
    assert reply[1] == unique_id
    return reply


def _error_code(reply):
    assert reply[0] == 4, "expected a CallError, got %r" % (reply,)
    assert len(reply) == 5 and isinstance(reply[3], str) and isinstance(reply[4], dict)
    return reply[2]


def _profile(profile_id, purpose="TxDefaultProfile", periods=((0, 10),), stack_level=0):
    """A 1.6 csChargingProfiles in wire form (camelCase)."""
    return {"chargingProfileId": profile_id, "stackLevel": stack_level,
            "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": _iso(time.time() - 60),
                                 "chargingSchedulePeriod": [{"startPeriod": s, "limit": a}
                                                            for s, a in periods]}}


def _ready(csms, sim, start_gateway):
    g = start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    return g


def test_schema_invalid_calls_get_the_call_error_of_ocpp_j_4_2_3(csms, sim, start_gateway):
    """Each schema-invalid call is answered by a CallError with its unique id (never a
    CallResult, never silence), the station stays connected and a valid call after them
    is served."""
    g = _ready(csms, sim, start_gateway)
    cases = [
        # SetChargingProfile without its required csChargingProfiles: incomplete
        ("SetChargingProfile", {"connectorId": 1}, "ProtocolError"),
        # a required field of the profile missing (chargingSchedule)
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
            k: v for k, v in _profile(1).items() if k != "chargingSchedule"}},
         "ProtocolError"),
        # a string where the schema has an integer / a number
        ("SetChargingProfile", {"connectorId": "one", "csChargingProfiles": _profile(2)},
         "TypeConstraintViolation"),
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile(
            3, periods=((0, "ten"),))}, "TypeConstraintViolation"),
        ("ChangeAvailability", {"connectorId": 1, "type": 7}, "TypeConstraintViolation"),
        # a property the PDU does not have (additionalProperties: false)
        ("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1, "colour": "red"},
         "FormationViolation"),
        # idTag longer than its 20 characters (IdToken is CiString20Type)
        ("RemoteStartTransaction", {"idTag": "X" * 21, "connectorId": 1},
         "TypeConstraintViolation"),
    ]
    for action, payload, code in cases:
        assert _error_code(_raw(csms, action, payload)) == code, (action, payload)

    # an action OCPP 1.6 does not have: not known by the receiver
    assert _error_code(_raw(csms, "FooBar", {})) == "NotImplemented"
    # a 1.6 action of a feature profile the station does not announce (Reservation):
    # recognised, not supported
    supported = csms.request(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert "Reservation" not in supported.configuration_key[0]["value"]
    reply = _raw(csms, "ReserveNow", {"connectorId": 1, "expiryDate": _iso(time.time() + 600),
                                      "idTag": "TAG1", "reservationId": 1})
    assert _error_code(reply) == "NotSupported"

    # nothing of the above was installed or reached the firmware; the connection stayed
    r = csms.request(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert float(r.charging_schedule["charging_schedule_period"][0]["limit"]) == 32.0
    assert csms.connections == 1 and g.proc.poll() is None
    reply = _raw(csms, "SetChargingProfile", {"connectorId": 1,
                                              "csChargingProfiles": _profile(9)})
    assert reply[0] == 3 and reply[2] == {"status": "Accepted"}


def test_profiles_that_break_the_rules_are_rejected_with_the_reason_logged(
        csms, sim, start_gateway):
    """Schema-valid profiles that break a rule of docs/smart_charging.md: Rejected (a
    CallResult, not a CallError), the reason in the gateway's log, nothing installed."""
    g = _ready(csms, sim, start_gateway)
    too_many = tuple((60 * i, 10) for i in range(29))
    cases = [
        (1, _profile(1, stack_level=11), "stackLevel 11 exceeds ChargeProfileMaxStackLevel"),
        (1, _profile(2, periods=too_many), "29 periods exceed ChargingScheduleMaxPeriods 28"),
        (1, _profile(3, periods=((0, 10), (600, 8), (300, 6))), "startPeriod must increase"),
        (1, _profile(4, purpose="TxProfile"), "TxProfile"),  # no transaction runs
    ]
    for cid, profile, reason in cases:
        reply = _raw(csms, "SetChargingProfile", {"connectorId": cid,
                                                  "csChargingProfiles": profile})
        assert reply[0] == 3 and reply[2] == {"status": "Rejected"}, (profile, reply)
        csms.wait_until(lambda reason=reason: reason in g.log_text(), 5, reason)
    r = csms.request(call.ClearChargingProfile())
    assert r.status == "Unknown"  # none of them was installed


def test_unknown_connector_is_rejected_and_reaches_no_firmware(csms, sim, start_gateway):
    """RemoteStartTransaction, ChangeAvailability and SetChargingProfile for a connector the
    station does not have (it has one): Rejected, with the reason logged for the profile;
    the firmware's connector stays available and un-paused."""
    g = _ready(csms, sim, start_gateway)
    for cid in (2, 7, -1):
        r = csms.request(call.RemoteStartTransaction(id_tag="TAG1", connector_id=cid))
        assert r.status == "Rejected", cid
        r = csms.request(call.ChangeAvailability(connector_id=cid, type="Inoperative"))
        assert r.status == "Rejected", cid
        reply = _raw(csms, "SetChargingProfile", {"connectorId": cid,
                                                  "csChargingProfiles": _profile(20 + cid)})
        assert reply[0] == 3 and reply[2] == {"status": "Rejected"}, (cid, reply)
        if cid > 0:
            reason = "connector/EVSE %d does not exist" % cid
            csms.wait_until(lambda reason=reason: reason in g.log_text(), 5, reason)
    r = csms.request(call.RemoteStopTransaction(transaction_id=4711))  # no such transaction
    assert r.status == "Rejected"
    time.sleep(0.5)  # what a wrongly accepted request would have sent has arrived by now
    st = sim.status()
    assert st["available"] and st["session"] == "idle" and not st["owner_paused"], st
    assert csms.statuses(1)[-1] == "Available"
    assert "Unavailable" not in csms.statuses(1) and "Unavailable" not in csms.statuses(0)


# --- a malformed link frame: dropped and counted, the session goes on -----------------------
# The gateway process does not expose its EvseLink counters, so this case runs the same
# gateway parts `python -m gateway` runs (gateway/cli.py run(): Store, EvseLink over
# serial_for_url socket://, Station, SmartCharging, Ocpp16Client) in-process on a thread,
# against the real firmware controller on the sim board behind a TCP listener
# (tests/integration/sim_link_fixture.py), whose wire to the gateway the test writes into.

DROP_COUNTERS = ("crc_errors", "cobs_errors", "short_frames", "oversize")


class InProcessGateway:
    """gateway/cli.py run() for one EVSE, on an event loop of its own thread."""

    def __init__(self, csms_url, link_url, state_dir):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway",
                                       daemon=True)
        self.thread.start()
        self.call(self._start(csms_url, link_url, Path(state_dir)))

    def call(self, coro, timeout_s=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    async def _start(self, csms_url, link_url, state):
        state.mkdir(parents=True, exist_ok=True)
        self.store = Store(state / "state.db")
        self.link = EvseLink(make_transport(link_url, 1, backoff=Backoff(0.05, 0.3)),
                             self.store, 1, link_timeout_ms=3000)
        self.station = Station([self.link], self.store)
        self.station.smart = SmartCharging(self.station, state / PROFILE_FILE)
        client = Ocpp16Client(csms_url, "CS001", self.station, backoff=Backoff(0.1, 1))
        await self.station.start()
        self.station.smart.start()
        self.task = asyncio.create_task(client.run())

    async def _counters(self):
        return self.link.counters()

    def counters(self):
        return self.call(self._counters())

    def stop(self):
        async def stop():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.station.smart.stop()
            await self.station.stop()
            self.store.close()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def wire_sim():
    s = SimCharger()
    s.url = s.start_tcp()
    yield s
    s.stop()


def test_malformed_link_frames_are_dropped_and_counted_the_session_goes_on(
        csms, wire_sim, tmp_path, caplog):
    """LINK.md §2 / DESIGN §4 (resynchronisation after garbage, a CRC on every frame): bytes
    that are no good frame, written into the wire from the firmware to the gateway in the
    middle of a charging session, are dropped and counted by the gateway's EvseLink
    (crc_errors, oversize, cobs_errors, rx_bad); the link stays up (no reconnect, no
    failsafe), a TxDefaultProfile still reaches the pilot duty and the transaction ends with
    one StopTransaction for its transactionId."""
    caplog.set_level(logging.INFO)
    sim = wire_sim
    g = InProcessGateway(csms.url, sim.url, tmp_path / "state")
    try:
        csms.wait_status(1, "Available")
        sim.do(lambda s: s.board.plug("B", 220))
        time.sleep(0.2)
        sim.do(lambda s: s.board.set_ev_state("C"))
        start = csms.wait_for("StartTransaction")
        assert start["connectorId"] == 1 and start["idTag"] == "FREEVEND"
        wait_for(lambda: sim.status()["contactor"] == 1, 5, "the contactor to close")
        c0 = g.counters()

        sim.send_raw(b"\x00\x05\x01\x02\x03\x04\x00")  # a COBS frame whose CRC is wrong
        sim.send_raw(b"\x00" + b"\xff" * 300 + b"\x00")  # longer than any frame (256 bytes)
        sim.send_raw(b"\x00\x09\x01\x02\x03\x04\x00")  # a COBS block running past the end
        sim.send_raw(b"\x13\x37\xff\x42")  # line noise, ended by the next frame's delimiter
        sim.send_raw(link.frame(bytes((2, lm.HELLO, 5)) + bytes(30)))  # good CRC, major 2
        wait_for(lambda: g.counters()["rx_bad"] == c0["rx_bad"] + 1, 3,
                 "the undecodable message counted")
        wait_for(lambda: sum(g.counters()[k] for k in DROP_COUNTERS)
                 >= sum(c0[k] for k in DROP_COUNTERS) + 4, 3, "the bad frames counted")
        c = g.counters()
        assert c["crc_errors"] >= c0["crc_errors"] + 1
        assert c["oversize"] == c0["oversize"] + 1
        assert c["cobs_errors"] >= c0["cobs_errors"] + 1
        assert "EVSE 1: message refused" in caplog.text

        # the session goes on: the link did not drop, telemetry flows, the firmware is not
        # in failsafe, a profile reaches the pilot, the records of the session arrive
        n = c["telemetry"]
        wait_for(lambda: g.counters()["telemetry"] > n, 3, "telemetry after the garbage")
        assert g.counters()["disconnects"] == 0 and g.link.online
        st = sim.status()
        assert st["contactor"] == 1 and not st["failsafe"], st
        r = csms.request(call.SetChargingProfile(connector_id=1, cs_charging_profiles={
            "charging_profile_id": 1, "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A",
                                  "start_schedule": _iso(time.time() - 60),
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": 10}]}}))
        assert r.status == "Accepted"
        wait_for(lambda: sim.status()["duty_permille"] == 166, 5, "the 10 A duty")
        sim.do(lambda s: s.board.unplug())
        stop = csms.wait_for("StopTransaction")
        assert stop["transactionId"] == 1 and stop["reason"] == "EVDisconnected"
        assert len(csms.calls("StartTransaction")) == 1
        assert len(csms.calls("StopTransaction")) == 1
        assert g.counters()["disconnects"] == 0
    finally:
        g.stop()
