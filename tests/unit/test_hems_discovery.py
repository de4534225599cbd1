"""Home Assistant MQTT discovery of the energy-manager interface (AG-05: information
exchange with any home energy management system; docs/mqtt.md "Home Assistant"): the
configs gateway/hems/discovery.py makes pass Home Assistant's rules as restated in
tests/ha_discovery_rules.py, and those rules do refuse what Home Assistant refuses."""

import copy
import json

import pytest
from ha_discovery_rules import ABBREVIATIONS, DEVICE_ABBREVIATIONS, validate

from gateway.hems import commands
from gateway.hems import discovery as ha
from gateway.hems.topics import Topics

TOPICS = Topics("evcharger/CS001")
DEVICE = ha.Device("CS001", "smartevse-ref", "gateway", "firmware 0.1.0, gateway-0.1.0",
                   32000)


def _configs(evse_ids=(1, 2), device=DEVICE):
    return {t: json.dumps(p).encode() for i in evse_ids
            for t, p in ha.messages("homeassistant", TOPICS, i, device)}


def test_ag05_discovery_configs_pass_home_assistant_rules():
    """AG-05: every config of a two-EVSE station is on <prefix>/<component>/<node_id>/
    <object_id>/config, has the keys its component needs, a device block (identifiers,
    manufacturer, model, sw_version), the availability topic and a unique_id no other
    config has; one device per EVSE."""
    configs = _configs()
    assert validate(configs) == []
    payloads = [json.loads(p) for p in configs.values()]
    assert len(payloads) == 2 * len(ha.ENTITIES)
    assert len({p["unique_id"] for p in payloads}) == len(payloads)
    assert {p["device"]["identifiers"][0] for p in payloads} == {
        "evcharger_CS001_evse1", "evcharger_CS001_evse2"}
    for p in payloads:
        assert p["availability_topic"] == "evcharger/CS001/availability"
        assert p["payload_available"] == "online" and p["payload_not_available"] == "offline"
        assert set(p["device"]) == {"identifiers", "name", "manufacturer", "model",
                                    "sw_version"}
    assert {t.split("/")[1] for t in configs} == {"sensor", "binary_sensor", "switch",
                                                  "number", "button"}


def test_ag09_ag12_discovery_commands_are_commands_the_gateway_takes():
    """AG-09 / AG-12: the switch's payloads, the button's payload and the number's command
    template (rendered for 16 A) are commands gateway/hems/commands.py accepts, on the
    EVSE's command topics; the number's range is 0..the EVSE rating in A."""
    by_uid = {p["unique_id"]: p for p in (json.loads(v) for v in _configs((1,)).values())}
    switch = by_uid["evcharger_CS001_evse1_override"]
    assert switch["command_topic"] == TOPICS.command(1, "override")
    assert commands.decode("override", switch["payload_on"].encode()).on is True
    assert commands.decode("override", switch["payload_off"].encode()).on is False
    button = by_uid["evcharger_CS001_evse1_clear_hems_limit"]
    assert commands.decode("limit", button["payload_press"].encode()).current_ma is None
    number = by_uid["evcharger_CS001_evse1_hems_limit"]
    assert number["command_topic"] == TOPICS.command(1, "limit")
    rendered = number["command_template"].replace("{{ (value * 1000) | int }}", "16000")
    assert commands.decode("limit", rendered.encode()) == commands.Limit("hems", 16000, 0)
    assert (number["min"], number["max"], number["step"]) == (0, 32, 1)
    rated_16 = ha.Device("CS001", "m", "g", "v", 16000)
    numbers = [json.loads(p) for t, p in _configs((1,), rated_16).items() if "/number/" in t]
    assert numbers[0]["max"] == 16


def _one(component):
    topic, payload = next((t, json.loads(p)) for t, p in _configs((1,)).items()
                          if "/%s/" % component in t)
    return topic, payload


BROKEN = [
    # (component, change, what the rules say)
    ("sensor", lambda p: p.pop("unique_id"), "unique_id is missing"),
    ("sensor", lambda p: p.pop("state_topic"), "state_topic is required for sensor"),
    ("number", lambda p: p.pop("command_topic"), "command_topic is required for number"),
    ("switch", lambda p: p.update(command_topic="a/+/set"), "publish topic holds a wildcard"),
    ("sensor", lambda p: p.update(state_topic="a/b#"), "not a whole level"),
    ("number", lambda p: p.update(min=40), "max must be > min"),
    ("number", lambda p: p.update(step=0), "step must be >= 0.001"),
    ("sensor", lambda p: p["device"].update(identifiers=[]), "needs identifiers"),
    ("sensor", lambda p: p.pop("device"), "no device block"),
    ("sensor", lambda p: p.update(stat_topic="x"), "unknown key 'stat_topic'"),
    ("sensor", lambda p: p.update(device_class="energy", unit_of_measurement="Wh",
                                  state_class="measurement"), "state_class total"),
    ("sensor", lambda p: p.update(device_class="power", unit_of_measurement="A"),
     "does not fit device_class power"),
    ("binary_sensor", lambda p: p.update(device_class="lamp"), "device_class 'lamp' unknown"),
    ("switch", lambda p: p.update(qos=3), "qos must be 0, 1 or 2"),
    ("sensor", lambda p: p.update(origin={"sw_version": "1"}), "origin needs a name"),
    ("button", lambda p: p.update(device_class="press"), "identify, restart or update"),
]


@pytest.mark.parametrize("component,change,says", BROKEN)
def test_the_rules_refuse_what_home_assistant_refuses(component, change, says):
    """The validator is not a rubber stamp: each broken config is refused with the reason."""
    topic, payload = _one(component)
    change(payload)
    errors = validate({topic: json.dumps(payload).encode()})
    assert any(says in e for e in errors), errors


def test_the_rules_refuse_bad_topics_payloads_and_duplicate_ids():
    """A config topic not of Home Assistant's form, a payload that is not a JSON object, and
    the same unique_id twice are refused."""
    topic, payload = _one("sensor")
    good = json.dumps(payload).encode()
    assert validate({"homeassistant/sensor/bad node/x/config": good})
    assert validate({"homeassistant/sensor/node/x/state": good})
    assert validate({topic: b"[1, 2]"}) and validate({topic: b"{"})
    twice = topic.replace("/config", "_2/config")
    assert any("also in" in e for e in validate({topic: good, twice: good}))


def test_abbreviated_and_base_topic_configs_are_read_as_home_assistant_reads_them():
    """Home Assistant's abbreviations (uniq_id, stat_t, dev: ids / mf …) and the "~" base
    topic give the same config: the rules expand them before checking."""
    topic, payload = _one("sensor")
    short = {v: k for k, v in ABBREVIATIONS.items()}
    dev_short = {v: k for k, v in DEVICE_ABBREVIATIONS.items()}
    p = {short.get(k, k): v for k, v in copy.deepcopy(payload).items()}
    p["dev"] = {dev_short.get(k, k): v for k, v in p["dev"].items()}
    p["~"] = "evcharger/CS001/evse/1"
    p["stat_t"] = "~/state"
    assert "uniq_id" in p and "ids" in p["dev"]
    assert validate({topic: json.dumps(p).encode()}) == []
