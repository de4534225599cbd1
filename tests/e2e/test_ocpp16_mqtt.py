"""OCPP 1.6J end to end with the firmware link through a real mosquitto broker (DESIGN §9,
protocols/LINK.md §6): two sim charger processes (`python -m sim_hardware --link
mqtt://charger:…@127.0.0.1:PORT/site7 --evse-id N`), `python -m gateway --evse
mqtt://gateway:…@… --evse mqtt://gateway:…@…`, the test CSMS over real WebSockets. The broker
started here allows no anonymous client: the gateway and the chargers log in with their own
username and password."""

import time

import pytest
from mosquitto_fixture import broker_fixture
from ocpp.v16 import call
from ocpp16_fixture import Gateway, Sim

from gateway.smart.model import format_time as _iso
from protocols import iec61851

PREFIX = "site7"
GATEWAY = ("gateway", "gw-4c1e8a7b2d9f3e60")
CHARGER = ("charger", "ch-7a3d9e1f5b2c4d81")


def _tx_default(profile_id, limit_a):
    return {"charging_profile_id": profile_id, "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A",
                                  "start_schedule": _iso(time.time() - 60),
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": limit_a}]}}


broker = broker_fixture(dict((GATEWAY, CHARGER)))


@pytest.fixture
def chargers(broker):
    url = "mqtt://%s:%s@127.0.0.1:%d/%s" % (*CHARGER, broker.port, PREFIX)
    sims = []
    try:
        for evse_id in (1, 2):
            sims.append(Sim(("--evse-id", str(evse_id), "--meter", "SDM630"), link=url))
        yield sims
    finally:
        for s in sims:
            s.stop()


@pytest.fixture
def gateway(csms, broker, chargers, tmp_path):
    url = "mqtt://%s:%s@127.0.0.1:%d/%s" % (*GATEWAY, broker.port, PREFIX)
    g = Gateway(csms.url, [url, url], tmp_path / "state")
    yield g
    g.stop()
    print(g.log_text()[-4000:])


def _start(csms, connector_id):
    return csms.wait_for("StartTransaction", 20, lambda p: p["connectorId"] == connector_id)


def test_tc_003_tc_056_two_evses_over_mqtt_with_a_broker_restart(csms, broker, chargers,
                                                                  gateway):
    """TC_001 boot and TC_003 / TC_004_1 a free-vend session on each of two EVSEs whose link
    runs through the broker; TC_056 a TxDefaultProfile of 10 A on connector 0 reaches both
    pilots (the 10 A duty) through the broker. Then the broker is restarted mid-session:
    both chargers and the gateway reconnect by themselves, an unplug on EVSE 2 while the
    broker is away still gives its StopTransaction (the firmware keeps the record until the
    gateway acks it), a new TxDefaultProfile of 13 A after the restart reaches both pilots,
    and every StartTransaction and StopTransaction reached the CSMS exactly once."""
    ev1, ev2 = chargers
    csms.wait_for("BootNotification", 20)
    for cid in (0, 1, 2):
        csms.wait_status(cid, "Available", 20)
    for ev in chargers:
        assert ev.status()["link"]["url"] == "mqtt://127.0.0.1:%d/%s" % (broker.port, PREFIX)
        ev.control("plug", state="B", pp_ohms=220)
        ev.control("draw", a=16, phases=3)
    starts = {cid: _start(csms, cid) for cid in (1, 2)}
    assert all(s["idTag"] == "FREEVEND" for s in starts.values())
    # the test CSMS numbers transactions 1, 2, … in the order StartTransaction came
    tx_id = {p["connectorId"]: i + 1 for i, p in enumerate(csms.calls("StartTransaction"))}
    for ev in chargers:
        ev.wait(lambda s: s["draw_ma"] > 0, 15, "current to flow")

    r = csms.request(call.SetChargingProfile(connector_id=0,
                                             cs_charging_profiles=_tx_default(11, 10)))
    assert r.status == "Accepted"
    duty_10_a = iec61851.duty_from_current(10000)
    for ev in chargers:
        ev.wait(lambda s: s["duty_permille"] == duty_10_a, 15, "the 10 A duty")

    broker.stop()
    for ev in chargers:
        ev.wait(lambda s: not s["link"]["connected"], 15, "the charger to see the broker gone")
    ev2.control("unplug")  # the session ends while nothing can reach the gateway
    ev2.wait(lambda s: s["session"] == "idle", 10, "EVSE 2 idle")
    time.sleep(1)
    assert csms.calls("StopTransaction") == []
    broker.start()

    stop2 = csms.wait_for("StopTransaction", 60)
    assert stop2["transactionId"] == tx_id[2] and stop2["reason"] == "EVDisconnected"
    assert stop2["meterStop"] >= starts[2]["meterStart"]
    for ev in chargers:
        ev.wait(lambda s: s["link"]["connected"], 30, "the charger back on the broker")
    r = csms.request(call.SetChargingProfile(connector_id=0,
                                             cs_charging_profiles=_tx_default(11, 13)))
    assert r.status == "Accepted"
    ev1.wait(lambda s: s["duty_permille"] == iec61851.duty_from_current(13000), 15,
             "the 13 A duty after the restart")
    assert ev1.status()["session"] == "charging"

    ev1.control("unplug")
    stop1 = csms.wait_for("StopTransaction", 20, lambda p: p["transactionId"] == tx_id[1])
    assert stop1["reason"] == "EVDisconnected" and stop1["meterStop"] > starts[1]["meterStart"]
    csms.wait_until(lambda: csms.statuses(1)[-1:] == ["Available"]
                    and csms.statuses(2)[-1:] == ["Available"], 15, "both Available again")
    assert sorted(p["connectorId"] for p in csms.calls("StartTransaction")) == [1, 2]
    assert sorted(p["transactionId"] for p in csms.calls("StopTransaction")) == [1, 2]
    for ev in chargers:
        link = ev.status()["link"]
        assert link["connects"] >= 2 and link["topics"][0].startswith(PREFIX + "/evse/")
    logins = [line for line in broker.log.read_text().splitlines() if "New client" in line]
    assert all(line.endswith(("u'charger').", "u'gateway').")) for line in logins), logins
    assert sum("u'gateway'" in line for line in logins) >= 4  # 2 links, before and after
