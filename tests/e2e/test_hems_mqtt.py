"""The energy-manager MQTT interface end to end (AG-05, T7-MULTI, AG-07, AG-12, UK-8;
docs/mqtt.md): a real mosquitto broker started here (no anonymous clients), `python -m
gateway --hems mqtt://gateway:…@127.0.0.1:PORT/evcharger/CS001`, the emulated charger
(`python -m sim_hardware`) on its link and the test CSMS (sim_hardware/csms16.py) over real
WebSockets. The test is the energy manager: a paho client of its own on the broker."""

import json
import re
import time

import pytest
from ha_discovery_rules import expand, validate
from hems_fixture import EnergyManager
from mosquitto_fixture import broker_fixture
from ocpp.v16 import call
from ocpp16_fixture import Gateway

from gateway.hems import commands
from protocols import iec61851

PREFIX = "evcharger/CS001"
GATEWAY = ("gateway", "gw-3e8b1c6d9a2f7e40")
HEMS = ("hems", "hm-6d2a9f4c1e8b3a75")
STATE = PREFIX + "/evse/1/state"
EVENT = PREFIX + "/evse/1/event"
AVAILABILITY = PREFIX + "/availability"
DUTY_8_A = 133  # IEC 61851-1 Annex A: 8 A = 13.3 % duty
DUTY_10_A = 166
DNO_DURATION_S = 12


broker = broker_fixture(dict((GATEWAY, HEMS)))


@pytest.fixture
def hems(broker):
    m = EnergyManager(broker.port, *HEMS)
    yield m
    m.close()


@pytest.fixture
def start_gateway(csms, sim, broker, tmp_path):
    """start_gateway() -> `python -m gateway --hems …` on the sim's link, stopped after the
    test (its log printed)."""
    started = []

    def start():
        url = "mqtt://%s:%s@127.0.0.1:%d/%s" % (*GATEWAY, broker.port, PREFIX)
        g = Gateway(csms.url, [sim.link_url], tmp_path / "state", extra_args=("--hems", url))
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()
        print(g.log_text()[-4000:])


@pytest.fixture
def gateway(hems, start_gateway):
    return start_gateway()


def _limits(state, source):
    return [lim for lim in state["limits"] if lim["source"] == source]


def _charging(csms, sim, hems):
    """A free-vend session drawing 16 A -> the unconstrained duty (permille)."""
    csms.wait_status(1, "Available", timeout_s=20)
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_for("StartTransaction", 20)
    st = sim.wait(lambda s: s["draw_ma"] > 0, 15, "current to flow")
    hems.wait_for(STATE, lambda s: s["status"] == "Charging" and s["contactor"])
    return st["duty_permille"]


def test_ag05_t7_multi_dno_limit_over_mqtt_reaches_the_pilot_and_expires(csms, sim, hems,
                                                                          gateway):
    """AG-05 / T7-MULTI / AG-09: a DNO load-management limit of 8 A for 12 s, set over MQTT,
    is answered ok, reaches the pilot (the 8 A duty, 133 permille), shows on the retained
    state topic as the binding limit with its source and expiry, is logged as a
    limit_applied event of source dno, and expires after its duration by itself: the duty
    returns to the unconstrained value and the state lists no DNO limit."""
    free_duty = _charging(csms, sim, hems)
    assert free_duty > DUTY_8_A
    assert iec61851.duty_from_current(8000) == DUTY_8_A
    at = hems.mark()
    asked_at = time.monotonic()  # the firmware's expiry clock starts after this
    r = hems.command(PREFIX, 1, "limit", {"source": "dno", "current_ma": 8000,
                                          "duration_s": DNO_DURATION_S})
    assert r["ok"] and r["error"] is None and r["applied"] and r["offered_ma"] == 8000, r
    assert r["topic"] == PREFIX + "/evse/1/limit/set"
    sim.wait(lambda s: s["duty_permille"] == DUTY_8_A, 10, "the 8 A duty")
    st = hems.wait_for(STATE, lambda s: s["duty_permille"] == DUTY_8_A and _limits(s, "dno"),
                       after=at)
    (dno,) = _limits(st, "dno")
    assert dno["current_ma"] == 8000 and 0 < dno["expires_in_s"] <= DNO_DURATION_S
    assert st["limit_source"] == "dno" and st["offered_ma"] == 8000
    assert st["link"] == "online" and st["override"] is False and st["failsafe"] is False
    ev = hems.wait_for(EVENT, lambda e: e["code"] == "limit_applied"
                       and e["source"] == "dno", after=at)
    assert ev["args"]["asked_ma"] == 8000 and ev["args"]["applied_ma"] == 8000

    sim.wait(lambda s: s["duty_permille"] == free_duty, DNO_DURATION_S + 20,
             "the duty back after the DNO limit expired")
    assert time.monotonic() - asked_at >= DNO_DURATION_S - 1  # held for its duration
    st = hems.wait_for(STATE, lambda s: s["duty_permille"] == free_duty
                       and not _limits(s, "dno"), after=at)
    assert st["limit_source"] != "dno"


def test_ag12_override_over_mqtt_lifts_the_hems_limit_and_shows_on_the_state(csms, sim, hems,
                                                                             gateway):
    """AG-12 / T7-MULTI: with nothing plugged in an override is refused with a reason; in a
    charge, an energy-manager (HEMS) limit of 10 A brings the 10 A duty; the owner's
    override, sent as Home Assistant's switch would send it (its discovery payload_on),
    lifts it (the unconstrained duty) and shows on the state topic (override true, the HEMS
    limit still listed: stored, not in force) and as an event; override off brings the
    10 A back. A clean gateway stop leaves availability "offline" (retained)."""
    hems.wait_for(STATE, lambda s: s["link"] == "online")
    r = hems.command(PREFIX, 1, "override", {"on": True})
    assert not r["ok"] and "no EV is plugged in" in r["error"], r
    free_duty = _charging(csms, sim, hems)
    r = hems.command(PREFIX, 1, "limit", {"source": "hems", "current_ma": 10000})
    assert r["ok"] and r["applied"], r
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A, 10, "the 10 A duty")

    configs = hems.under("homeassistant/switch/")
    (switch,) = [expand(json.loads(p)) for p in configs.values()
                 if json.loads(p)["unique_id"].endswith("evse1_override")]
    at = hems.mark()
    r = hems.send_raw(PREFIX, 1, "override", switch["payload_on"])
    assert r["ok"], r
    sim.wait(lambda s: s["duty_permille"] == free_duty, 10, "the duty the override allows")
    st = hems.wait_for(STATE, lambda s: s["override"] and s["duty_permille"] == free_duty,
                       after=at)
    assert _limits(st, "hems") == [{"source": "hems", "current_ma": 10000,
                                    "expires_in_s": None}]
    ev = hems.wait_for(EVENT, lambda e: e["code"] == "override", after=at)
    assert ev["args"]["on"] is True and ev["source"] == "link"

    r = hems.send_raw(PREFIX, 1, "override", switch["payload_off"])
    assert r["ok"], r
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A, 10, "the 10 A duty again")
    hems.wait_for(STATE, lambda s: not s["override"] and s["duty_permille"] == DUTY_10_A,
                  after=at)

    assert hems.latest(AVAILABILITY) == b"online"
    gateway.stop()
    hems.wait_for(AVAILABILITY, lambda p: p == b"offline", after=at, raw=True)


def test_ag07_soc_over_mqtt_reaches_the_csms_as_the_soc_measurand(csms, sim, hems, gateway):
    """AG-07: the EV's state of charge given on the soc topic (a vehicle cloud through the
    energy manager) is answered ok with its age limit, shows on the state topic and reaches
    the CSMS in the transaction's MeterValues as the SoC measurand (Percent, location EV);
    an out-of-range SoC is refused and changes nothing."""
    r = csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    assert r.status == "Accepted"
    _charging(csms, sim, hems)
    r = hems.command(PREFIX, 1, "soc", {"soc_percent": 42})
    assert r["ok"] and r["max_age_s"] == 600, r
    hems.wait_for(STATE, lambda s: s["soc_percent"] == 42)

    def soc_values(p):
        return [sv for mv in p["meterValue"] for sv in mv["sampledValue"]
                if sv.get("measurand") == "SoC"]

    mv = csms.wait_for("MeterValues", 15, lambda p: soc_values(p))
    (soc,) = soc_values(mv)
    assert soc["value"] == "42" and soc["unit"] == "Percent" and soc["location"] == "EV"
    assert mv["transactionId"] == 1

    r = hems.command(PREFIX, 1, "soc", {"soc_percent": 101})
    assert not r["ok"] and r["error"] == "soc_percent must be 0..100, got 101", r
    st = json.loads(hems.latest(STATE))
    assert st["soc_percent"] == 42


BAD = [
    # (EVSE level, command, payload, the error says)
    ("1", "limit", b'{"source": "dno", "current_ma": 8000', "payload is not JSON"),
    ("1", "limit", b'[8000]', "payload must be a JSON object"),
    ("1", "limit", b'{"source": "dno", "current_ma": 8000, "speed": 1}',
     "unknown key 'speed'"),
    ("1", "limit", b'{"source": "dno", "current_ma": 80001}', "current_ma must be 0..80000"),
    ("1", "limit", b'{"source": "dno", "current_ma": "8000"}', "current_ma must be an integer"),
    ("1", "limit", b'{"source": "grid", "current_ma": 8000}', "source must be one of"),
    ("1", "limit", b'{"source": "dno", "current_ma": 8000, "duration_s": -5}',
     "duration_s must be 0..4294967295"),
    ("1", "override", b'{"on": "yes"}', "on must be true or false"),
    ("1", "reboot", b'{}', "unknown command 'reboot'"),
    ("7", "limit", b'{"source": "dno", "current_ma": 8000}', "unknown EVSE '7'"),
    ("x", "limit", b'{"source": "dno", "current_ma": 8000}', "unknown EVSE 'x'"),
]


def test_uk8_bad_commands_are_refused_with_a_reply_and_nothing_applied(csms, sim, hems,
                                                                       start_gateway):
    """UK-8 (input validation): a command left retained on the broker (delivered again at
    every connection) is refused when the gateway connects; bad JSON, a non-object, an
    unknown key, an out-of-range or mistyped value, an unknown source, command or EVSE each
    get a reply ok false with a clear error on that EVSE's reply topic; none of them
    changes the pilot or the limits on the state topic."""
    retained = b'{"source": "dno", "current_ma": 6000}'
    hems.publish(PREFIX + "/evse/1/limit/set", retained, retain=True)
    start_gateway()
    r = hems.wait_for(PREFIX + "/evse/1/reply")
    assert not r["ok"] and "retained" in r["error"], r
    hems.publish(PREFIX + "/evse/1/limit/set", b"", retain=True)  # clears the retained one
    free_duty = _charging(csms, sim, hems)
    for level, name, payload, says in BAD:
        r = hems.send_raw(PREFIX, level, name, payload)
        assert r["ok"] is False and says in r["error"], (payload, r)
        assert r["topic"] == "%s/evse/%s/%s/set" % (PREFIX, level, name)
    at = hems.mark()
    r = hems.command(PREFIX, 1, "limit", {"source": "hems", "current_ma": None})
    assert r["ok"], r  # a good command right after: the gateway still answers
    st = hems.wait_for(STATE, after=at)
    assert sim.status()["duty_permille"] == free_duty
    assert not _limits(st, "dno") and not _limits(st, "hems") and st["limit_source"] != "dno"


def test_ag05_home_assistant_discovery_is_valid_and_its_commands_work(csms, sim, broker,
                                                                      hems, gateway):
    """AG-05 (any energy management system: Home Assistant without configuration): the
    gateway publishes retained discovery configs that pass Home Assistant's rules
    (tests/ha_discovery_rules.py: topic form, required keys per component, device block,
    unique ids unique); every state_topic is the EVSE's state, every command_topic one the
    gateway answers, every template field is in the state payload, the button's and the
    switch's payloads and the number's command template decode as commands; the number's
    command for 9 A reaches the pilot (the 9 A duty). A kill -9 of the gateway leaves its
    will: availability "offline"."""
    st = hems.wait_for(STATE, lambda s: s["link"] == "online"
                       and "firmware" in _sw_version(hems))
    late = EnergyManager(broker.port, *HEMS)  # sees what the broker retained
    try:
        late.wait_for(STATE, raw=True)
        deadline = time.monotonic() + 10
        while len(late.under("homeassistant/")) < 19 and time.monotonic() < deadline:
            time.sleep(0.05)
        configs = late.under("homeassistant/", retained_only=True)
        assert late.under(AVAILABILITY, retained_only=True) == {AVAILABILITY: b"online"}
    finally:
        late.close()
    assert validate(configs) == []
    entities = {json.loads(p)["unique_id"]: expand(json.loads(p)) for p in configs.values()}
    assert len(entities) == 19
    for uid, c in entities.items():
        assert c["availability_topic"] == AVAILABILITY
        assert c["device"]["identifiers"] == ["evcharger_CS001_evse1"]
        assert c["device"]["manufacturer"] and c["device"]["model"]
        assert "firmware" in c["device"]["sw_version"]  # known from the EVSE's HELLO
        if "state_topic" in c:
            assert c["state_topic"] == STATE
            for field in _fields(c["value_template"]):
                assert field in st, (uid, field)
        if "command_topic" in c:
            name = c["command_topic"].split("/")[-2]
            assert c["command_topic"] == "%s/evse/1/%s/set" % (PREFIX, name)
            for key in ("payload_on", "payload_off", "payload_press"):
                if key in c:
                    commands.decode(name, c[key].encode())
    number = entities["evcharger_CS001_evse1_hems_limit"]
    assert number["max"] == 32 and number["min"] == 0 and number["unit_of_measurement"] == "A"
    assert hems.latest(AVAILABILITY) == b"online"

    _charging(csms, sim, hems)
    payload = number["command_template"].replace("{{ (value * 1000) | int }}", "9000")
    r = hems.send_raw(PREFIX, 1, "limit", payload)
    assert r["ok"], r
    sim.wait(lambda s: s["duty_permille"] == iec61851.duty_from_current(9000), 10,
             "the 9 A duty")

    at = hems.mark()
    gateway.proc.kill()
    hems.wait_for(AVAILABILITY, lambda p: p == b"offline", after=at, raw=True)


def _sw_version(hems):
    """The device sw_version of the latest discovery config of the status sensor."""
    p = hems.under("homeassistant/sensor/").get(
        "homeassistant/sensor/evcharger_CS001/evse1_status/config")
    return json.loads(p)["device"]["sw_version"] if p else ""


def _fields(template):
    """The value_json fields a template reads."""
    return set(re.findall(r"value_json\.(\w+)", template))
