"""Home Assistant MQTT discovery (docs/mqtt.md "Home Assistant"): one retained config per
entity on `<discovery prefix>/<component>/<node_id>/<object_id>/config`, so each EVSE shows
up as a device without configuration. The entities read the retained state topic with a
value_template; the number (HEMS limit), the button (clear it) and the switch (override)
publish commands in the interface's own JSON (gateway.hems.commands), so Home Assistant is
one more energy manager, refused and answered like any other.

Keys are Home Assistant's full names (its abbreviations are optional); every entity has a
unique_id (node_id + EVSE + object), the device block, the origin block and the gateway's
availability topic."""

import re
from dataclasses import dataclass

from gateway.hems.topics import AVAILABLE, NOT_AVAILABLE

ORIGIN = "smartevse-ref gateway"


@dataclass(frozen=True)
class Device:
    name: str  # the station id
    manufacturer: str
    model: str
    sw_version: str
    max_current_ma: int  # the EVSE rating: the HEMS limit number's maximum


def node_id(prefix):
    """A topic prefix -> a discovery node_id ([a-zA-Z0-9_-] only)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", prefix)


def _meter(expr):
    """A meter reading, unknown ("None") while the firmware has no fresh one."""
    return "{{ %s if value_json.meter_fresh else 'None' }}" % expr


def _on(cond):
    return "{{ 'ON' if %s else 'OFF' }}" % cond


_POWER = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
_ENERGY = {"device_class": "energy", "unit_of_measurement": "Wh",
           "state_class": "total_increasing"}
_CURRENT = {"device_class": "current", "unit_of_measurement": "A",
            "state_class": "measurement"}
_DIAG = {"entity_category": "diagnostic"}

# (component, object_id, name, value_template or None, extra keys)
ENTITIES = (
    ("sensor", "status", "Status", "{{ value_json.status }}", {}),
    ("sensor", "cp_state", "Pilot state", "{{ value_json.cp_state }}", _DIAG),
    ("sensor", "duty", "Pilot duty", "{{ value_json.duty_permille / 10 }}",
     dict(_DIAG, unit_of_measurement="%", state_class="measurement")),
    ("sensor", "offered_current", "Offered current", "{{ value_json.offered_ma / 1000 }}",
     _CURRENT),
    ("sensor", "current_l1", "Current L1", _meter("value_json.current_ma[0] / 1000"), _CURRENT),
    ("sensor", "current_l2", "Current L2", _meter("value_json.current_ma[1] / 1000"), _CURRENT),
    ("sensor", "current_l3", "Current L3", _meter("value_json.current_ma[2] / 1000"), _CURRENT),
    ("sensor", "power", "Power", _meter("value_json.power_w"), _POWER),
    ("sensor", "energy", "Energy", _meter("value_json.energy_wh"), _ENERGY),
    ("sensor", "session_energy", "Session energy", "{{ value_json.session_energy_wh }}",
     _ENERGY),
    ("sensor", "soc", "State of charge",
     "{{ value_json.soc_percent if value_json.soc_percent is not none else 'None' }}",
     {"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"}),
    ("sensor", "limit_source", "Limited by", "{{ value_json.limit_source }}", {}),
    ("binary_sensor", "plug", "Plugged in",
     _on("value_json.cp_state in ['B', 'C', 'D']"), {"device_class": "plug"}),
    ("binary_sensor", "contactor", "Contactor", _on("value_json.contactor"),
     {"device_class": "power"}),
    ("binary_sensor", "failsafe", "Failsafe", _on("value_json.failsafe"),
     {"device_class": "problem"}),
    ("binary_sensor", "link", "Controller link", _on("value_json.link == 'online'"),
     dict(_DIAG, device_class="connectivity")),
    ("switch", "override", "Override", _on("value_json.override"),
     {"command": "override", "payload_on": '{"on": true}', "payload_off": '{"on": false}',
      "state_on": "ON", "state_off": "OFF"}),
    ("number", "hems_limit", "Energy manager limit",
     "{% for l in value_json.limits if l.source == 'hems' %}{{ l.current_ma / 1000 }}"
     "{% else %}None{% endfor %}",
     {"command": "limit", "command_template":
      '{"source": "hems", "current_ma": {{ (value * 1000) | int }}, "duration_s": 0}',
      "min": 0, "step": 1, "mode": "box", "device_class": "current",
      "unit_of_measurement": "A"}),
    ("button", "clear_hems_limit", "Clear energy manager limit", None,
     {"command": "limit", "payload_press": '{"source": "hems", "current_ma": null}'}),
)


def messages(discovery_prefix, topics, evse_id, device):
    """[(config topic, payload dict)] of one EVSE (retain them)."""
    node = node_id(topics.prefix)
    dev_id = "%s_evse%d" % (node, evse_id)
    dev = {"identifiers": [dev_id], "name": "%s EVSE %d" % (device.name, evse_id),
           "manufacturer": device.manufacturer, "model": device.model,
           "sw_version": device.sw_version}
    out = []
    for component, obj, name, template, extra in ENTITIES:
        p = {"name": name, "unique_id": "%s_%s" % (dev_id, obj), "device": dev,
             "origin": {"name": ORIGIN, "sw_version": device.sw_version},
             "availability_topic": topics.availability, "payload_available": AVAILABLE,
             "payload_not_available": NOT_AVAILABLE, "qos": 1}
        if template is not None:
            p["state_topic"] = topics.state(evse_id)
            p["value_template"] = template
        p.update(extra)
        command = p.pop("command", None)
        if command is not None:
            p["command_topic"] = topics.command(evse_id, command)
        if component == "number":
            p["max"] = max(1, device.max_current_ma // 1000)
        out.append(("%s/%s/%s/evse%d_%s/config" % (discovery_prefix, component, node,
                                                   evse_id, obj), p))
    return out
