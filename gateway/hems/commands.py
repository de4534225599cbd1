"""Command payloads of the energy-manager MQTT interface (docs/mqtt.md), checked before
anything is applied (UK-8: unsafe input refused): `decode(name, payload)` -> a command, or
CommandError whose message says what is wrong. Every command is a JSON object of the keys
in its table; unknown keys, wrong types and values outside the ranges are refused. An
optional "id" (text of 1..64 characters or an integer) is echoed in the reply.

    limit     {"source": "hems"|"dno", "current_ma": 0..80000 | null, "duration_s": 0..}
    override  {"on": true|false}
    soc       {"soc_percent": 0..100}
"""

import json
from dataclasses import dataclass

from protocols import link_messages as lm

MAX_PAYLOAD_BYTES = 1024
MAX_LIMIT_MA = 80000  # protocols/LINK.md §4 LIMIT: 0..80000 mA per phase (Annex A 80 A)
MAX_DURATION_S = 0xFFFFFFFF  # LINK.md §4 LIMIT duration_s is a u32; 0 = until replaced
LIMIT_SOURCES = {"hems": lm.SRC_HEMS, "dno": lm.SRC_DNO}  # T7-MULTI: one slot each


class CommandError(ValueError):
    pass


@dataclass(frozen=True)
class Limit:
    source: str  # LIMIT_SOURCES key
    current_ma: int | None  # None: clear this source's limit
    duration_s: int  # 0: until replaced or cleared
    id: object = None

    @property
    def entity(self):
        return LIMIT_SOURCES[self.source]


@dataclass(frozen=True)
class Override:
    on: bool
    id: object = None


@dataclass(frozen=True)
class Soc:
    soc_percent: int
    id: object = None


def _int(lo, hi, nullable=False):
    def check(key, v):
        if v is None and nullable:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            raise CommandError("%s must be an integer%s, got %s"
                               % (key, " or null" if nullable else "", json.dumps(v)))
        if not lo <= v <= hi:
            raise CommandError("%s must be %d..%d, got %d" % (key, lo, hi, v))
        return v
    return check


def _bool(key, v):
    if not isinstance(v, bool):
        raise CommandError("%s must be true or false, got %s" % (key, json.dumps(v)))
    return v


def _source(key, v):
    if v not in LIMIT_SOURCES:
        raise CommandError("%s must be one of %s, got %s"
                           % (key, ", ".join('"%s"' % s for s in LIMIT_SOURCES), json.dumps(v)))
    return v


def _id(key, v):
    if isinstance(v, str) and 1 <= len(v) <= 64:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise CommandError("id must be text of 1..64 characters or an integer")


# command -> (type, {key: (required, check, default)})
SCHEMAS = {
    "limit": (Limit, {"source": (True, _source, None),
                      "current_ma": (True, _int(0, MAX_LIMIT_MA, nullable=True), None),
                      "duration_s": (False, _int(0, MAX_DURATION_S), 0)}),
    "override": (Override, {"on": (True, _bool, None)}),
    "soc": (Soc, {"soc_percent": (True, _int(0, 100), None)}),
}


def decode(name, payload):
    """The payload (bytes) of command `name` -> Limit, Override or Soc; CommandError."""
    if name not in SCHEMAS:
        raise CommandError("unknown command %r (commands: %s)" % (name, ", ".join(SCHEMAS)))
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError("payload over %d bytes" % MAX_PAYLOAD_BYTES)
    try:
        data = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8") from None
    except ValueError as e:
        raise CommandError("payload is not JSON: %s" % e) from None
    if not isinstance(data, dict):
        raise CommandError("payload must be a JSON object, got %s" % type(data).__name__)
    cls, keys = SCHEMAS[name]
    unknown = sorted(set(data) - set(keys) - {"id"})
    if unknown:
        raise CommandError("unknown key%s %s (%s takes %s, and id)" % (
            "s" if len(unknown) > 1 else "", ", ".join(map(repr, unknown)), name,
            ", ".join(keys)))
    args = {}
    for key, (required, check, default) in keys.items():
        if key not in data:
            if required:
                raise CommandError("%s is missing" % key)
            args[key] = default
        else:
            args[key] = check(key, data[key])
    if "id" in data:
        args["id"] = _id("id", data["id"])
    return cls(**args)


def request_id(payload):
    """The "id" of a payload that did not decode, if it has a usable one (for the reply)."""
    try:
        data = json.loads(payload)
        return _id("id", data["id"])
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
