"""What Home Assistant's MQTT integration accepts as a discovery config, restated for the
tests from its source (home-assistant/core homeassistant/components/mqtt: discovery.py
TOPIC_MATCHER and the abbreviation expansion, abbreviations.py, schemas.py device / origin /
availability schemas, config.py MQTT_RO_SCHEMA (state_topic required) and MQTT_RW_SCHEMA
(command_topic required), sensor.py, binary_sensor.py, number.py (min < max, step >=
0.001), switch.py, button.py) and the MQTT integration docs ("Discovery messages": retained,
a unique_id for the device registry, one of identifiers / connections in the device block).

Stricter than Home Assistant in one way: its discovery schemas drop unknown keys silently
(extra=REMOVE_EXTRA), so a misspelt key would pass there unnoticed; here it is an error.

    errors = validate({topic: payload bytes, ...})   # [] when Home Assistant would take all
    config = expand(json.loads(payload))             # abbreviations -> full names
"""

import json
import re

TOPIC_MATCHER = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")

# abbreviations.py (the ones of the components below and the common keys)
ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic",
    "cmd_tpl": "command_template", "dev": "device", "dev_cla": "device_class",
    "e": "encoding", "en": "enabled_by_default", "ent_cat": "entity_category",
    "ent_pic": "entity_picture", "exp_aft": "expire_after", "frc_upd": "force_update",
    "ic": "icon", "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template", "lrst_val_tpl": "last_reset_value_template",
    "max": "max", "min": "min", "name": "name", "o": "origin", "obj_id": "object_id",
    "off_dly": "off_delay", "ops": "options", "opt": "optimistic", "pl_avail":
    "payload_available", "pl_not_avail": "payload_not_available", "pl_off": "payload_off",
    "pl_on": "payload_on", "pl_prs": "payload_press", "pl_rst": "payload_reset",
    "ret": "retain", "stat_cla": "state_class", "stat_off": "state_off",
    "stat_on": "state_on", "stat_t": "state_topic", "step": "step",
    "sug_dsp_prc": "suggested_display_precision", "t": "topic", "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections", "cu": "configuration_url", "hw": "hw_version", "ids": "identifiers",
    "mdl": "model", "mdl_id": "model_id", "mf": "manufacturer", "name": "name",
    "sa": "suggested_area", "sn": "serial_number", "sw": "sw_version",
}
ORIGIN_ABBREVIATIONS = {"name": "name", "sw": "sw_version", "url": "support_url"}
DEVICE_KEYS = set(DEVICE_ABBREVIATIONS.values()) | {"via_device"}

COMMON = {"availability", "availability_mode", "availability_template",
          "availability_topic", "payload_available", "payload_not_available", "device",
          "origin", "enabled_by_default", "entity_category", "entity_picture", "icon",
          "json_attributes_topic", "json_attributes_template", "object_id",
          "default_entity_id", "unique_id", "name", "qos", "encoding"}
RO = {"state_topic", "value_template"}  # state_topic required
RW = {"command_topic", "retain", "optimistic", "state_topic", "value_template"}
SENSOR_CLASSES = {
    "apparent_power", "battery", "current", "duration", "energy", "energy_storage",
    "enum", "frequency", "power", "power_factor", "reactive_power", "temperature",
    "timestamp", "voltage"}
BINARY_CLASSES = {"battery_charging", "connectivity", "plug", "power", "problem", "running",
                  "safety"}
# sensor device class -> units Home Assistant takes for it
UNITS = {"power": {"W", "kW", "MW"}, "energy": {"Wh", "kWh", "MWh"},
         "current": {"A", "mA"}, "battery": {"%"}, "voltage": {"V", "mV"},
         "frequency": {"Hz", "kHz"}}
COMPONENTS = {
    # component: (allowed keys, required keys, checks)
    "sensor": (COMMON | RO | {"device_class", "expire_after", "force_update",
                              "last_reset_value_template", "options",
                              "suggested_display_precision", "state_class",
                              "unit_of_measurement"}, {"state_topic"}),
    "binary_sensor": (COMMON | RO | {"device_class", "expire_after", "force_update",
                                     "off_delay", "payload_on", "payload_off"},
                      {"state_topic"}),
    "number": (COMMON | RW | {"command_template", "device_class", "max", "min", "mode",
                              "payload_reset", "step", "unit_of_measurement"},
               {"command_topic"}),
    "switch": (COMMON | RW | {"command_template", "device_class", "payload_on",
                              "payload_off", "state_on", "state_off"}, {"command_topic"}),
    "button": (COMMON | {"command_topic", "command_template", "retain", "device_class",
                         "payload_press"}, {"command_topic"}),
}
STRINGS = {"name", "unique_id", "value_template", "command_template", "payload_on",
           "payload_off", "payload_press", "state_on", "state_off", "payload_available",
           "payload_not_available", "unit_of_measurement", "device_class", "icon",
           "payload_reset"}
TOPICS_PUBLISH = {"command_topic"}
TOPICS_SUBSCRIBE = {"state_topic", "availability_topic", "json_attributes_topic"}


def expand(config):
    """discovery.py: abbreviated keys -> full names (top level, device, origin)."""
    out = {ABBREVIATIONS.get(k, k): v for k, v in config.items()}
    if isinstance(out.get("device"), dict):
        out["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    if isinstance(out.get("origin"), dict):
        out["origin"] = {ORIGIN_ABBREVIATIONS.get(k, k): v for k, v in out["origin"].items()}
    base = out.pop("~", None)
    if base is not None:  # "~" stands for the base topic at either end of a *_topic value
        for k, v in list(out.items()):
            if k.endswith("_topic") and isinstance(v, str):
                out[k] = base + v[1:] if v.startswith("~") else (
                    v[:-1] + base if v.endswith("~") else v)
    return out


def _topic_errors(key, value, publish):
    if not isinstance(value, str) or not value or "\0" in value \
            or len(value.encode()) > 65535:
        return ["%s: not a valid MQTT topic: %r" % (key, value)]
    levels = value.split("/")
    if publish and any(c in value for c in "+#"):
        return ["%s: a publish topic holds a wildcard: %r" % (key, value)]
    for i, lv in enumerate(levels):
        if ("+" in lv and lv != "+") or ("#" in lv and (lv != "#" or i != len(levels) - 1)):
            return ["%s: a wildcard that is not a whole level: %r" % (key, value)]
    return []


def _device_errors(dev):
    if not isinstance(dev, dict):
        return ["device: not a mapping"]
    errors = ["device: unknown key %r" % k for k in dev if k not in DEVICE_KEYS]
    ids = dev.get("identifiers", [])
    ids = [ids] if isinstance(ids, str) else ids
    if not (ids or dev.get("connections")):
        errors.append("device: needs identifiers or connections (schemas.py)")
    if not all(isinstance(i, str) and i for i in ids):
        errors.append("device: identifiers must be non-empty strings")
    for k in ("name", "manufacturer", "model", "sw_version", "hw_version"):
        if k in dev and not isinstance(dev[k], str):
            errors.append("device: %s must be a string" % k)
    return errors


def config_errors(component, config):
    """Errors of one expanded config of a component."""
    if component not in COMPONENTS:
        return ["component %r is not one this validator knows" % component]
    allowed, required = COMPONENTS[component]
    errors = ["unknown key %r (Home Assistant would drop it)" % k
              for k in config if k not in allowed]
    errors += ["%s is required for %s" % (k, component) for k in sorted(required)
               if k not in config]
    if "unique_id" not in config:
        errors.append("unique_id is missing: the entity cannot join the device registry")
    for k in STRINGS & set(config):
        if not isinstance(config[k], str):
            errors.append("%s must be a string" % k)
    for k in TOPICS_PUBLISH & set(config):
        errors += _topic_errors(k, config[k], True)
    for k in TOPICS_SUBSCRIBE & set(config):
        errors += _topic_errors(k, config[k], False)
    if "availability_topic" in config and "availability" in config:
        errors.append("availability_topic and availability are exclusive")
    if "qos" in config and config["qos"] not in (0, 1, 2):
        errors.append("qos must be 0, 1 or 2")
    if "device" in config:
        errors += _device_errors(config["device"])
    else:
        errors.append("no device block")
    origin = config.get("origin")
    if origin is not None and not (isinstance(origin, dict) and isinstance(origin.get("name"),
                                                                           str)):
        errors.append("origin needs a name (MQTT_ORIGIN_INFO_SCHEMA)")
    if config.get("entity_category") not in (None, "config", "diagnostic"):
        errors.append("entity_category must be config or diagnostic")
    dc = config.get("device_class")
    if component == "sensor":
        if dc is not None and dc not in SENSOR_CLASSES:
            errors.append("sensor device_class %r unknown" % dc)
        if dc in UNITS and config.get("unit_of_measurement") not in UNITS[dc]:
            errors.append("unit %r does not fit device_class %s" % (
                config.get("unit_of_measurement"), dc))
        sc = config.get("state_class")
        if sc not in (None, "measurement", "total", "total_increasing"):
            errors.append("state_class %r unknown" % sc)
        if dc == "energy" and sc not in ("total", "total_increasing"):
            errors.append("an energy sensor needs state_class total or total_increasing")
        if "options" in config and dc != "enum":
            errors.append("options only with device_class enum")
    elif component == "binary_sensor":
        if dc is not None and dc not in BINARY_CLASSES:
            errors.append("binary_sensor device_class %r unknown" % dc)
    elif component == "number":
        lo, hi, step = config.get("min", 1), config.get("max", 100), config.get("step", 1)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (lo, hi, step)):
            errors.append("number min, max and step must be numbers")
        elif lo >= hi:
            errors.append("number: max must be > min (number.py validate_config)")
        elif step < 0.001:
            errors.append("number: step must be >= 0.001")
        if config.get("mode", "auto") not in ("auto", "box", "slider"):
            errors.append("number mode must be auto, box or slider")
    elif component == "switch":
        if dc not in (None, "outlet", "switch"):
            errors.append("switch device_class must be outlet or switch")
    elif component == "button":
        if dc not in (None, "identify", "restart", "update"):
            errors.append("button device_class must be identify, restart or update")
    return errors


def validate(configs, discovery_prefix="homeassistant"):
    """{topic: payload bytes} of retained discovery configs -> [error strings]."""
    errors = []
    unique = {}
    for topic, payload in sorted(configs.items()):
        head = discovery_prefix + "/"
        m = TOPIC_MATCHER.fullmatch(topic[len(head):]) if topic.startswith(head) else None
        if m is None:
            errors.append("%s: not <prefix>/<component>/[<node_id>/]<object_id>/config" % topic)
            continue
        try:
            raw = json.loads(payload)
        except ValueError as e:
            errors.append("%s: payload is not JSON (%s)" % (topic, e))
            continue
        if not isinstance(raw, dict):
            errors.append("%s: payload is not a JSON object" % topic)
            continue
        config = expand(raw)
        errors += ["%s: %s" % (topic, e) for e in config_errors(m["component"], config)]
        uid = config.get("unique_id")
        if uid is not None:
            if uid in unique:
                errors.append("%s: unique_id %r also in %s" % (topic, uid, unique[uid]))
            unique[uid] = topic
    return errors
