"""The bundled CSMS's web page (sim_hardware/csms_web.py, issue 9) in headless Chromium:
Debian's /usr/bin/chromium driven over the DevTools Protocol (tests/e2e/cdp.py), against
the CSMS of sim_hardware/csms16.py (its 2.0.1 twin csms201.py over HTTP), `python -m
gateway` and `python -m sim_hardware` over real sockets on loopback. A missing or broken
Chromium fails the test (never a skip)."""

import json
import urllib.error
import urllib.request

import pytest
from cdp import Chromium
from ocpp.v16 import call
from ocpp.v201 import call as call201
from ocpp16_fixture import Sim

from sim_hardware import csms_view
from sim_hardware.csms_web import CsmsWeb, FormError, parse_profile

DUTY_10_A_PERMILLE = 166  # IEC 61851-1 Annex A: I = 0.6 x duty% -> 10 A = 16.6 %
PAGE_TIMEOUT_S = 20  # the page polls every second; a busy shared machine


@pytest.fixture
def web(csms):
    w = CsmsWeb(csms)
    w.start()
    yield w
    w.stop()


@pytest.fixture
def metered_sim():
    s = Sim(("--meter", "SDM630"))
    yield s
    s.stop()


def _sent(csms, action):
    """Payloads of the calls the CSMS sent for action."""
    return [p for d, t, a, p in list(csms.messages) if d == "out" and t == 2 and a == action]


def _row(table, key, column):
    """JS: the text of a cell of the row with data-key `key` in #table, or null."""
    return ("(document.querySelector('#%s tbody tr[data-key=\"%s\"]')?.cells[%d]?.textContent"
            " ?? null)" % (table, key, column))


def _result(page, kind):
    """Wait for the page's result line of that kind (ok / error) -> its text."""
    page.wait("document.querySelector('#result').className === %s" % json.dumps(kind),
              PAGE_TIMEOUT_S, "a %s result on the page" % kind)
    return page.text("#result")


def test_t7_profile_csms_page_sets_and_clears_tx_default_profile(
        csms, web, metered_sim, start_gateway, tmp_path):
    """T7-PROFILE from the bundled CSMS's web page in headless Chromium: the page shows the
    station, connector 1 Charging, the free-vend transaction and its meter values (16 A on
    L1..L3 from the SDM630); bad form input (not a number, negative, over 80 A, an unknown
    connector) shows an error and sends nothing; the "Set profile" button sends a 10 A
    TxDefaultProfile (Accepted) and the sim's pilot duty becomes 166 permille; "Clear"
    sends ClearChargingProfile (Accepted) and the duty returns; after the unplug the
    transaction shows its stop reason and energy. The page loads nothing from elsewhere."""
    sim = metered_sim
    start_gateway(csms, sim)
    csms.wait_status(1, "Available", 20)
    assert csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval",
                                                 value="1")).status == "Accepted"
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_status(1, "Charging", 20)
    csms.wait_for("MeterValues", 20, where=lambda p: p.get("transactionId") == 1)
    free_duty = sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")["duty_permille"]
    assert free_duty > DUTY_10_A_PERMILLE

    with Chromium(tmp_path) as page:
        page.goto(web.url)
        page.wait("document.querySelector('#station-id').textContent === 'CS001'",
                  PAGE_TIMEOUT_S, "the station id")
        page.wait("%s === 'Charging'" % _row("connectors", 1, 1), PAGE_TIMEOUT_S,
                  "connector 1 Charging")
        assert "smartevse-ref" in page.text("#boot")
        page.wait("%s === 'FREEVEND'" % _row("transactions", 1, 2), PAGE_TIMEOUT_S,
                  "transaction 1 with its idTag")
        assert page.eval(_row("transactions", 1, 6)) == "(charging session open)"
        page.wait("(%s ?? '').includes('L1 16.0')" % _row("meter", 1, 5), PAGE_TIMEOUT_S,
                  "the meter's 16 A on L1")
        assert float(page.eval(_row("meter", 1, 4))) > 10000  # 3 x 16 A x 230 V

        for connector, limit, why in (("1", "ten", "not a number"),
                                      ("1", "-5", "must not be negative"),
                                      ("1", "81", "more than 80 A"),
                                      ("7", "10", "connector 7: unknown")):
            page.fill("#connector", connector)
            page.fill("#limit", limit)
            page.click("#set-profile")
            shown = _result(page, "error")
            assert why in shown and shown.startswith("not sent"), shown
            page.eval("document.querySelector('#result').className = ''")
        assert _sent(csms, "SetChargingProfile") == []

        page.select("#purpose", "TxDefaultProfile")
        page.fill("#connector", "1")
        page.fill("#limit", "10")
        page.click("#set-profile")
        assert _result(page, "ok") == \
            "SetChargingProfile TxDefaultProfile 10 A on connector 1: Accepted"
        (sent,) = _sent(csms, "SetChargingProfile")
        assert sent["connectorId"] == 1
        profile = sent["csChargingProfiles"]
        assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
        assert profile["chargingSchedule"]["chargingRateUnit"] == "A"
        assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 10.0}]
        sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 15, "the 10 A duty")
        page.wait("document.querySelector('#actions tbody tr')?.cells[2]?.textContent"
                  " === 'Accepted'", PAGE_TIMEOUT_S, "the action listed with its answer")

        page.eval("document.querySelector('#result').className = ''")
        page.click("#clear-profile")
        assert _result(page, "ok") == \
            "ClearChargingProfile TxDefaultProfile on connector 1: Accepted"
        assert _sent(csms, "ClearChargingProfile") == [
            {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}]
        sim.wait(lambda s: s["duty_permille"] == free_duty, 15, "the unconstrained duty")

        sim.control("unplug")
        stop = csms.wait_for("StopTransaction", 20)
        page.wait("%s === 'EVDisconnected'" % _row("transactions", 1, 6), PAGE_TIMEOUT_S,
                  "the stop reason")
        assert page.eval(_row("transactions", 1, 5)) == str(stop["meterStop"])
        (_tx_id, _cid, meter_start, _at), = csms.transactions
        assert page.eval(_row("transactions", 1, 7)) == str(stop["meterStop"] - meter_start)
        origin = web.url.rstrip("/")
        loaded = page.eval("performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(u.startswith(origin + "/") for u in loaded), loaded


def _post(web, path, body, headers=None, host=None):
    """POST to the page's server -> (HTTP status, JSON answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(web.url.rstrip("/") + path, data=data, method="POST",
                                 headers=dict({"Content-Type": "application/json"},
                                              **(headers or {})))
    if host is not None:
        req.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_csms_web_refuses_bad_profile_input_and_sends_nothing(csms, web):
    """Bad input to the page's actions gets HTTP 400 with the reason and no OCPP call:
    a limit that is not a number (text, NaN, infinity), negative or over 80 A (IEC 61851-1
    Annex A's highest offer), an unknown connector (no station yet: only connector 0), a
    ChargePointMaxProfile on a connector other than 0, an unknown purpose, a body that is
    not a JSON object. A good request with no station connected is 409, nothing sent."""
    bad = [({"limit_a": "abc"}, "limit 'abc': not a number of amperes"),
           ({"limit_a": "nan"}, "not a number of amperes"),
           ({"limit_a": "inf"}, "not a number of amperes"),
           ({"limit_a": "-0.5"}, "limit -0.5 A: must not be negative"),
           ({"limit_a": "80.5"}, "limit 80.5 A: more than 80 A"),
           ({"connector": "1"}, "connector 1: unknown (the station has 0)"),
           ({"connector": "x"}, "connector 'x': must be a whole number"),
           ({"connector": "-1"}, "connector '-1': must be a whole number"),
           ({"purpose": "TxProfile"}, "purpose 'TxProfile': must be one of"),
           ({"purpose": "ChargePointMaxProfile", "connector": "1"}, "connector 1: unknown")]
    good = {"purpose": "TxDefaultProfile", "connector": "0", "limit_a": "10"}
    for change, why in bad:
        code, answer = _post(web, "/api/profile", dict(good, **change))
        assert code == 400 and not answer["ok"], (change, answer)
        assert answer["error"].startswith("not sent: ") and why in answer["error"], answer
    code, answer = _post(web, "/api/clear", {"purpose": "TxDefaultProfile", "connector": "3"})
    assert code == 400 and "connector 3: unknown" in answer["error"]
    assert _post(web, "/api/profile", b"[1, 2]")[0] == 400
    assert _post(web, "/api/profile", b"{not json")[0] == 400
    code, answer = _post(web, "/api/profile", good)
    assert code == 409 and answer["error"] == "no station connected: nothing sent"
    assert [m for m in csms.messages if m[0] == "out"] == []


def test_csms_web_station_wide_profile_needs_connector_0():
    """OCPP 1.6 ChargingProfilePurposeType: a ChargePointMaxProfile is set on connectorId 0
    only; the form refuses one on a known connector 1 and takes it on 0 (a limit rounded
    to the one decimal ChargingSchedulePeriod.limit allows)."""
    form = {"purpose": "ChargePointMaxProfile", "connector": "1", "limit_a": "16.04"}
    with pytest.raises(FormError, match="^a ChargePointMaxProfile is for the whole station: "
                                        "connector 0$"):
        parse_profile(form, {0, 1})
    assert parse_profile(dict(form, connector="0"), {0, 1}) == ("ChargePointMaxProfile", 0,
                                                                 16.0)


def test_csms_web_serves_loopback_only(csms, web):
    """The page's server binds loopback only and refuses what a web site elsewhere could
    make a browser send: a Host that is not its own (DNS rebinding) -> 403, a POST with
    another site's Origin -> 403, a POST that is not application/json (an HTML form) ->
    415; none of them reaches the station."""
    with pytest.raises(ValueError, match="loopback only"):
        CsmsWeb(csms, host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback only"):
        CsmsWeb(csms, host="192.168.1.10")
    req = urllib.request.Request(web.url + "api/state")
    req.add_unredirected_header("Host", "evil.example:%d" % web.port)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    good = {"purpose": "TxDefaultProfile", "connector": "0", "limit_a": "10"}
    code, answer = _post(web, "/api/profile", good, {"Origin": "http://evil.example"})
    assert code == 403 and "another site" in answer["error"]
    code, _ = _post(web, "/api/profile", b"purpose=TxDefaultProfile",
                    {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 415
    with urllib.request.urlopen(web.url, timeout=10) as r:
        assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
        page = r.read().decode()
    assert "http://" not in page.split("<script>")[1] and "https://" not in page
    assert [m for m in csms.messages if m[0] == "out"] == []


def test_csms_view_meter_values_in_wh_w_a_and_percent():
    """OCPP 1.6 SampledValue: a measurand absent is the energy register; kWh and kW are
    scaled to Wh and W; phased power is summed when no total is sent; current per phase;
    SoC in percent. A transaction's energy is its last register reading minus meterStart
    while it runs, meterStop minus meterStart once stopped."""
    sv = [{"value": "12.5", "unit": "kWh"},
          {"value": "3.68", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L1"},
          {"value": "3.68", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L2"},
          {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
          {"value": "15.9", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
          {"value": "62", "measurand": "SoC", "unit": "Percent", "location": "EV"},
          {"value": "1", "measurand": "Temperature", "unit": "Celsius"}]
    assert csms_view.sampled(sv) == {"energy_wh": 12500.0, "power_w": 7360.0,
                                     "current_a": {"L1": 16.0, "L2": 15.9}, "soc_pct": 62.0}
    mv = [{"connectorId": 1, "transactionId": 4, "meterValue": [
        {"timestamp": "t1", "sampledValue": [{"value": "12000"}]},
        {"timestamp": "t2", "sampledValue": [{"value": "12300", "unit": "Wh"}]}]}]
    starts = [{"connectorId": 1, "idTag": "TAG", "meterStart": 11000, "timestamp": "t0"}]
    (running,) = csms_view.transactions([(4, 1, 11000, "t0")], starts, [], mv)
    assert (running["id_tag"], running["energy_wh"], running["active"]) == ("TAG", 1300, True)
    stops = [{"transactionId": 4, "meterStop": 12500, "timestamp": "t3"}]
    (done,) = csms_view.transactions([(4, 1, 11000, "t0")], starts, stops, mv)
    assert (done["energy_wh"], done["reason"], done["active"]) == (1500, "Local", False)
    assert csms_view.latest_meter(mv) == [{"energy_wh": 12300.0, "connector_id": 1,
                                           "timestamp": "t2", "transaction_id": 4}]


def _state(web):
    with urllib.request.urlopen(web.url + "api/state", timeout=20) as r:
        return json.load(r)


def test_t7_profile_csms_page_on_ocpp201_sets_and_clears_tx_default_profile(
        csms201, metered_sim, start_gateway, tmp_path):
    """T7-PROFILE from the page's server on the bundled OCPP 2.0.1 CSMS (sim_hardware/csms201.py,
    `python -m gateway --ocpp 2.0.1`): /api/state shows OCPP 2.0.1, the device from
    BootNotification chargingStation, EVSE 1 Occupied (StatusNotification connectorStatus), the
    free-vend transaction (a station-chosen string transactionId) and its meter values from
    TransactionEvent Updated (16 A on L1); the purposes are 2.0.1's (ChargingStationMaxProfile
    for the whole station: refused on EVSE 1, nothing sent); "Set profile" sends a 2.0.1
    SetChargingProfile (evseId, chargingProfile with chargingSchedule a list) Accepted and the
    duty becomes 166 permille; "Clear" sends ClearChargingProfile with chargingProfileCriteria
    and the duty returns; after the unplug the transaction shows stoppedReason EVDisconnected
    and energy = Transaction.End - Transaction.Begin. The actions over HTTP (the page's own
    calls); headless Chromium checks the page shows 2.0.1, EVSE 1 Occupied, the transaction
    and the 2.0.1 purposes."""
    sim = metered_sim
    web = CsmsWeb(csms201)
    web.start()
    try:
        start_gateway(csms201, sim)
        csms201.wait_status(1, "Available", 20)
        r = csms201.request(call201.SetVariables(set_variable_data=[{
            "attribute_value": "1", "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedInterval"}}]))
        assert r.set_variable_result[0]["attribute_status"] == "Accepted"
        sim.control("plug", state="B", pp_ohms=220)
        sim.control("draw", a=16, phases=3)
        csms201.wait_status(1, "Occupied", 20)
        free_duty = sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")["duty_permille"]
        s = csms201.wait_until(lambda: (lambda st: st if st["meter"] and st["meter"][0].get(
            "current_a", {}).get("L1") == 16.0 else None)(_state(web)), 20,
            "the meter's 16 A on L1 in a TransactionEvent Updated")
        assert s["ocpp"] == "2.0.1"
        assert s["purposes"] == ["TxDefaultProfile", "ChargingStationMaxProfile"]
        assert s["station"]["device"]["vendor"] == "smartevse-ref"
        assert [(c["id"], c["status"]) for c in s["connectors"]] == [(1, "Occupied")]
        (tx,) = s["transactions"]
        assert isinstance(tx["id"], str) and tx["active"] and tx["connector_id"] == 1
        (meter,) = s["meter"]
        assert meter["transaction_id"] == tx["id"] and meter["power_w"] > 10000  # 3 x 16 A
        with Chromium(tmp_path) as page:  # the page follows the CSMS's version
            page.goto(web.url)
            page.wait("document.querySelector('#ocpp').textContent === '2.0.1'",
                      PAGE_TIMEOUT_S, "OCPP 2.0.1 in the title")
            page.wait("%s === 'Occupied'" % _row("connectors", 1, 1), PAGE_TIMEOUT_S,
                      "EVSE 1 Occupied")
            assert page.eval("[...document.querySelectorAll('#purpose option')]"
                             ".map(o => o.value).join()") == \
                "TxDefaultProfile,ChargingStationMaxProfile"
            assert "smartevse-ref" in page.text("#boot")
            page.wait("%s === '(charging session open)'" % _row("transactions", tx["id"], 6),
                      PAGE_TIMEOUT_S, "the transaction")

        code, answer = _post(web, "/api/profile", {"purpose": "ChargingStationMaxProfile",
                                                   "connector": "1", "limit_a": "10"})
        assert code == 400 and "whole station: connector 0" in answer["error"]
        code, answer = _post(web, "/api/profile", {"purpose": "TxDefaultProfile",
                                                   "connector": "1", "limit_a": "10"})
        assert code == 200 and answer["result"]["status"] == "Accepted", answer
        (sent,) = _sent(csms201, "SetChargingProfile")
        assert sent["evseId"] == 1 and sent["chargingProfile"]["id"] == 9101
        (schedule,) = sent["chargingProfile"]["chargingSchedule"]
        assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]
        sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 15, "the 10 A duty")

        code, answer = _post(web, "/api/clear", {"purpose": "TxDefaultProfile",
                                                 "connector": "1"})
        assert code == 200 and answer["result"]["status"] == "Accepted", answer
        assert _sent(csms201, "ClearChargingProfile") == [{"chargingProfileCriteria": {
            "evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}}]
        sim.wait(lambda s: s["duty_permille"] == free_duty, 15, "the unconstrained duty")

        sim.control("unplug")
        ended = csms201.wait_for("TransactionEvent", 20, lambda p: p["eventType"] == "Ended")
        (tx,) = _state(web)["transactions"]
        assert tx["reason"] == "EVDisconnected" and not tx["active"]
        assert tx["meter_stop_wh"] == ended["meterValue"][0]["sampledValue"][0]["value"]
        assert tx["energy_wh"] == tx["meter_stop_wh"] - tx["meter_start_wh"]
    finally:
        web.stop()


def test_csms_view_reads_ocpp201_transactions_and_notices():
    """OCPP 2.0.1 payloads as the page and the demo read them: a transaction from its
    TransactionEvents (E01-E15; evse and idToken from the events that carry them, energy =
    Transaction.End - Transaction.Begin once Ended, the last register reading - Begin while it
    runs, stoppedReason absent = Local, a copy sent again changes nothing); NotifyEvent techInfo
    is the same notice data as a 1.6 DataTransfer (variable Problem = MeterFault)."""
    def ev(kind, seq, values=(), **info):
        mv = [{"timestamp": "t%d" % seq, "sampledValue": [dict(v, unitOfMeasure={"unit": "Wh"})
                                                          for v in values]}]
        return {"eventType": kind, "seqNo": seq, "timestamp": "t%d" % seq,
                "triggerReason": "x", "transactionInfo": dict(transactionId="a-1", **info),
                "meterValue": mv if values else None}
    started = dict(ev("Started", 0, [{"value": 1000, "context": "Transaction.Begin"}]),
                   evse={"id": 1, "connectorId": 1}, idToken={"idToken": "TAG", "type": "ISO14443"})
    updated = ev("Updated", 1, [{"value": 1200, "context": "Sample.Periodic"}])
    (running,) = csms_view.transactions201([started, updated, updated])
    assert (running["connector_id"], running["id_tag"], running["energy_wh"]) == (1, "TAG", 200)
    assert running["active"] and running["meter_start_wh"] == 1000
    ended = ev("Ended", 2, [{"value": 1500, "context": "Transaction.End"}])
    (done,) = csms_view.transactions201([started, updated, ended])
    assert (done["reason"], done["energy_wh"], done["active"]) == ("Local", 500, False)

    notify = {"eventData": [{"variable": {"name": "ManualOverride"}, "actualValue": "true",
                             "techInfo": '{"active":true,"by":"button"}'},
                            {"variable": {"name": "Problem"}, "techInfo": '{"active":true}'},
                            {"variable": {"name": "Failsafe"}, "techInfo": "not json"}]}
    assert csms_view.notices_in("NotifyEvent", notify) == [
        ("ManualOverride", {"active": True, "by": "button"}), ("MeterFault", {"active": True})]
    transfer = {"vendorId": "v", "messageId": "ManualOverride", "data": '{"active":false}'}
    assert csms_view.notices_in("DataTransfer", transfer) == [("ManualOverride",
                                                               {"active": False})]


def test_missing_chromium_fails_the_test_saying_so(tmp_path):
    """The browser tests never skip: no Chromium is an AssertionError naming the package."""
    with pytest.raises(AssertionError, match="apt-get install chromium"):
        Chromium(tmp_path, executable=str(tmp_path / "no-chromium"))
