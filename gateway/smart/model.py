"""Version-neutral charging profile model for OCPP 1.6 and 2.0.1 (DESIGN §8).

Built from the payload dicts of the mobilityhouse `ocpp` library: the snake_case
dicts its `@on` handlers receive, the camelCase dicts of raw payloads, or its
dataclasses. Pure: no I/O, no clock; times are int UTC seconds, limits exact
`Fraction`s (the library reads 1.6 numbers as `Decimal`, 2.0.1 ones as `float`).
A payload that cannot be read gives a `Refusal`, never an exception.
"""

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

# Purposes, with the 2.0.1 names as the neutral ones.
STATION_MAX = "ChargingStationMaxProfile"  # 1.6: ChargePointMaxProfile
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
EXTERNAL = "ChargingStationExternalConstraints"  # 2.0.1 only (K11-K13)
PURPOSES_16 = {"ChargePointMaxProfile": STATION_MAX, TX_DEFAULT: TX_DEFAULT, TX: TX}
PURPOSES_201 = {STATION_MAX: STATION_MAX, TX_DEFAULT: TX_DEFAULT, TX: TX, EXTERNAL: EXTERNAL}
NAMES_16 = {v: k for k, v in PURPOSES_16.items()}

ABSOLUTE = "Absolute"
RECURRING = "Recurring"
RELATIVE = "Relative"
KINDS = (ABSOLUTE, RECURRING, RELATIVE)
DAILY = "Daily"
WEEKLY = "Weekly"
RECURRENCE_S = {DAILY: 86400, WEEKLY: 7 * 86400}

UNIT_A = "A"  # per phase
UNIT_W = "W"  # total
UNITS = (UNIT_A, UNIT_W)
DEFAULT_PHASES = 3  # numberPhases when absent (1.6 §7.14, 2.0.1 K01.FR.49)

SOURCE_CSO = "CSO"  # chargingLimitSource of profiles set by the CSMS (2.0.1)


class Refusal(str):
    """Why a request is refused: the text to log, with `.code` the 2.0.1
    statusInfo reasonCode (InvalidValue, InvalidSchedule, TxNotFound ...)."""

    def __new__(cls, code, text):
        obj = super().__new__(cls, text)
        obj.code = code
        return obj


class Bad(Exception):
    """Internal: a payload or rule check failed; carries the Refusal."""

    def __init__(self, code, text):
        super().__init__(text)
        self.refusal = Refusal(code, text)


@dataclasses.dataclass(frozen=True)
class Period:
    start_s: int  # startPeriod, seconds from the start of the schedule
    limit: Fraction  # in the schedule's unit: A per phase or W total
    number_phases: int | None = None  # None: DEFAULT_PHASES

    @property
    def phases(self):
        return self.number_phases or DEFAULT_PHASES


@dataclasses.dataclass(frozen=True)
class Schedule:
    unit: str  # UNIT_A or UNIT_W
    periods: tuple  # of Period, first start_s 0, ascending
    start_s: int | None = None  # startSchedule (absent for Relative)
    duration_s: int | None = None  # None: the last period lasts
    min_rate: Fraction | None = None  # minChargingRate (informative)
    schedule_id: int | None = None  # 2.0.1 ChargingScheduleType.id


@dataclasses.dataclass(frozen=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: str  # STATION_MAX, TX_DEFAULT, TX or EXTERNAL
    kind: str  # ABSOLUTE, RECURRING or RELATIVE
    schedule: Schedule
    evse_id: int = 0  # 1.6 connectorId; 0 = the whole station
    recurrency: str | None = None  # DAILY or WEEKLY for RECURRING
    valid_from: int | None = None
    valid_to: int | None = None
    transaction_id: str | None = None  # TxProfile only; 1.6 ints kept as str
    source: str = SOURCE_CSO  # 2.0.1 chargingLimitSource (EMS, SO, Other for EXTERNAL)

    # --- OCPP payloads out (snake_case, as the library's call/call_result take them)

    def to_ocpp16(self):
        """The 1.6 csChargingProfiles dict (numbers as float)."""
        out = {"charging_profile_id": self.id, "stack_level": self.stack_level,
               "charging_profile_purpose": NAMES_16.get(self.purpose, self.purpose),
               "charging_profile_kind": self.kind,
               "charging_schedule": _schedule_out(self.schedule, False)}
        if self.transaction_id is not None:
            out["transaction_id"] = int(self.transaction_id)
        self._common_out(out)
        return out

    def to_ocpp201(self):
        """The 2.0.1 ChargingProfileType dict (one chargingSchedule)."""
        out = {"id": self.id, "stack_level": self.stack_level,
               "charging_profile_purpose": self.purpose, "charging_profile_kind": self.kind,
               "charging_schedule": [_schedule_out(self.schedule, True)]}
        if self.transaction_id is not None:
            out["transaction_id"] = self.transaction_id
        self._common_out(out)
        return out

    def _common_out(self, out):
        if self.recurrency is not None:
            out["recurrency_kind"] = self.recurrency
        if self.valid_from is not None:
            out["valid_from"] = format_time(self.valid_from)
        if self.valid_to is not None:
            out["valid_to"] = format_time(self.valid_to)

    # --- persistence (exact: limits as fraction strings)

    def to_json(self):
        d = dataclasses.asdict(self)
        s = d["schedule"]
        s["periods"] = [[p.start_s, str(p.limit), p.number_phases] for p in self.schedule.periods]
        s["min_rate"] = None if s["min_rate"] is None else str(s["min_rate"])
        return d

    @classmethod
    def from_json(cls, d):
        """Inverse of to_json; ValueError / KeyError / TypeError on a bad entry."""
        s = dict(d["schedule"])
        s["periods"] = tuple(Period(int(a), Fraction(b), c) for a, b, c in s["periods"])
        s["min_rate"] = None if s["min_rate"] is None else Fraction(s["min_rate"])
        fields = dict(d)
        fields["schedule"] = Schedule(**s)
        p = cls(**fields)
        ints = [p.id, p.stack_level, p.evse_id] + [x.start_s for x in p.schedule.periods]
        if (not all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
                or p.purpose not in PURPOSES_201 or p.kind not in KINDS
                or p.schedule.unit not in UNITS or not p.schedule.periods
                or (p.kind == RECURRING and p.recurrency not in RECURRENCE_S)
                or (p.kind != RELATIVE and not isinstance(p.schedule.start_s, int))):
            raise ValueError("profile %r is not a valid profile" % (d.get("id"),))
        return p


def _schedule_out(s, v201):
    out = {"charging_rate_unit": s.unit, "charging_schedule_period": [
        dict({"start_period": p.start_s, "limit": float(p.limit)},
             **({} if p.number_phases is None else {"number_phases": p.number_phases}))
        for p in s.periods]}
    if v201:
        out["id"] = s.schedule_id if s.schedule_id is not None else 0
    if s.start_s is not None:
        out["start_schedule"] = format_time(s.start_s)
    if s.duration_s is not None:
        out["duration"] = s.duration_s
    if s.min_rate is not None:
        out["min_charging_rate"] = float(s.min_rate)
    return out


# --- time -------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value):
    """ISO 8601 (…Z, +hh:mm, fractions; naive = UTC) or datetime -> int UTC
    seconds, rounded down. ValueError when unreadable."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise ValueError("not a date-time: %r" % (value,))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(seconds=1)


def format_time(unix_s):
    """int UTC seconds -> '2026-01-01T00:00:00Z'."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- payloads in --------------------------------------------------------------

_CAMEL1 = re.compile("(.)([A-Z][a-z]+)")
_CAMEL2 = re.compile("([a-z0-9])([A-Z])")


def snake_case(data):
    """camelCase keys -> snake_case, recursively (as `ocpp.charge_point` does);
    dataclasses become dicts; snake_case input passes through."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    if isinstance(data, dict):
        return {_CAMEL2.sub(r"\1_\2", _CAMEL1.sub(r"\1_\2", k)).lower(): snake_case(v)
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [snake_case(v) for v in data]
    return data


def _text(v):
    # str enums of the library compare and format as their value
    return v.value if hasattr(v, "value") and isinstance(v.value, str) else v


def get_int(d, key, what=None, required=True, minimum=None):
    what = what or key
    v = d.get(key)
    if v is None:
        if required:
            raise Bad("MissingParam" if key == "transaction_id" else "InvalidValue",
                      "%s is missing" % what)
        return None
    if isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise Bad("InvalidValue", "%s must be an integer, got %r" % (what, v))
    if minimum is not None and v < minimum:
        raise Bad("InvalidValue", "%s must be >= %d, got %d" % (what, minimum, v))
    return v


def get_number(d, key, what):
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise Bad("InvalidValue", "%s must be a number, got %r" % (what, v))
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise Bad("InvalidValue", "%s must be finite, got %r" % (what, v))
        return Fraction(repr(v))  # the shortest decimal that reads back as v: 16.1 -> 161/10
    if isinstance(v, Decimal) and not v.is_finite():
        raise Bad("InvalidValue", "%s must be finite, got %r" % (what, v))
    return Fraction(v)


def get_time(d, key, what):
    v = d.get(key)
    if v is None:
        return None
    try:
        return parse_time(v)
    except (ValueError, OverflowError, OSError):
        raise Bad("InvalidValue", "%s is not an ISO 8601 date-time: %r" % (what, v)) from None


def get_enum(d, key, table, what, required=True):
    v = _text(d.get(key))
    if v is None and not required:
        return None
    if not isinstance(v, str) or v not in table:
        raise Bad("InvalidValue", "%s must be one of %s, got %r"
                  % (what, ", ".join(sorted(table)), v))
    return table[v] if isinstance(table, dict) else v


def _schedule_in(s, kind, now_s, v201):
    if not isinstance(s, dict):
        raise Bad("InvalidSchedule", "chargingSchedule must be an object, got %r" % (s,))
    unit = get_enum(s, "charging_rate_unit", UNITS, "chargingRateUnit")
    raw = s.get("charging_schedule_period")
    if not isinstance(raw, list) or not raw:
        raise Bad("InvalidSchedule", "chargingSchedulePeriod must list at least one period")
    periods = []
    for i, p in enumerate(raw):
        if not isinstance(p, dict):
            raise Bad("InvalidSchedule", "chargingSchedulePeriod[%d] must be an object" % i)
        what = "chargingSchedulePeriod[%d]." % i
        if p.get("phase_to_use") is not None:
            raise Bad("InvalidSchedule", what + "phaseToUse needs AC phase switching, which "
                      "this station does not support [K01.FR.20]")
        limit = get_number(p, "limit", what + "limit")
        if limit < 0:
            raise Bad("InvalidSchedule", "%slimit must be >= 0, got %s" % (what, float(limit)))
        phases = get_int(p, "number_phases", what + "numberPhases", False, 1)
        if phases is not None and phases > 3:
            raise Bad("InvalidSchedule", "%snumberPhases must be 1..3, got %d" % (what, phases))
        periods.append(Period(get_int(p, "start_period", what + "startPeriod", True, 0),
                              limit, phases))
    start = get_time(s, "start_schedule", "startSchedule")
    if kind == RELATIVE and start is not None:
        raise Bad("InvalidSchedule", "a Relative profile has no startSchedule [K01.FR.41]")
    if kind != RELATIVE and start is None:
        if v201 or kind == RECURRING:
            raise Bad("InvalidSchedule", "an %s profile needs a startSchedule [K01.FR.40]" % kind)
        start = now_s  # 1.6 Absolute without startSchedule: it starts when installed
    duration = get_int(s, "duration", "duration", False)
    if duration is not None and duration <= 0:
        raise Bad("InvalidSchedule", "duration must be > 0 s, got %d" % duration)
    min_rate = None
    if s.get("min_charging_rate") is not None:
        min_rate = get_number(s, "min_charging_rate", "minChargingRate")
    sid = get_int(s, "id", "chargingSchedule.id", False) if v201 else None
    return Schedule(unit, tuple(periods), start, duration, min_rate, sid)


def _profile_in(evse_id, p, now_s, v201):
    if not isinstance(evse_id, int) or isinstance(evse_id, bool) or evse_id < 0:
        raise Bad("InvalidValue", "%s must be an integer >= 0, got %r"
                  % ("evseId" if v201 else "connectorId", evse_id))
    p = snake_case(p)
    if not isinstance(p, dict):
        raise Bad("InvalidValue", "the charging profile must be an object, got %r" % (p,))
    pid = get_int(p, "id" if v201 else "charging_profile_id", "id" if v201 else
                  "chargingProfileId")
    purpose = get_enum(p, "charging_profile_purpose", PURPOSES_201 if v201 else PURPOSES_16,
                       "chargingProfilePurpose")
    kind = get_enum(p, "charging_profile_kind", KINDS, "chargingProfileKind")
    recurrency = get_enum(p, "recurrency_kind", (DAILY, WEEKLY), "recurrencyKind", False)
    if kind == RECURRING and recurrency is None:
        raise Bad("InvalidValue", "a Recurring profile needs recurrencyKind (Daily or Weekly)")
    if kind != RECURRING:
        recurrency = None  # meaningless for the other kinds: ignored
    if v201:
        schedules = p.get("charging_schedule")
        if not isinstance(schedules, list) or not schedules:
            raise Bad("InvalidSchedule", "chargingSchedule must list one schedule")
        if len(schedules) > 1:
            raise Bad("InvalidSchedule", "more than one chargingSchedule needs ISO 15118 "
                      "charging needs, not supported here [K01.FR.34]")
        schedule = _schedule_in(schedules[0], kind, now_s, True)
    else:
        schedule = _schedule_in(p.get("charging_schedule"), kind, now_s, False)
    tx = p.get("transaction_id")
    if tx is not None:
        if v201:
            if not isinstance(tx, str) or not tx:
                raise Bad("InvalidValue", "transactionId must be a non-empty string")
        else:
            tx = str(get_int(p, "transaction_id", "transactionId"))
        if purpose != TX:
            raise Bad("InvalidValue", "only a TxProfile may carry a transactionId")
    valid_from = get_time(p, "valid_from", "validFrom")
    valid_to = get_time(p, "valid_to", "validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Bad("InvalidValue", "validTo must be after validFrom")
    return ChargingProfile(pid, get_int(p, "stack_level", "stackLevel", True, 0), purpose, kind,
                           schedule, evse_id, recurrency, valid_from, valid_to, tx)


def profile_from_ocpp16(connector_id, cs_charging_profiles, now_s):
    """SetChargingProfile.req (or RemoteStartTransaction.req chargingProfile)
    -> (ChargingProfile, None) or (None, Refusal). now_s anchors a 1.6 Absolute
    profile sent without startSchedule (it starts when installed)."""
    try:
        return _profile_in(connector_id, cs_charging_profiles, now_s, False), None
    except Bad as e:
        return None, e.refusal


def profile_from_ocpp201(evse_id, charging_profile, now_s=0):
    """SetChargingProfileRequest (or RequestStartTransaction chargingProfile)
    -> (ChargingProfile, None) or (None, Refusal)."""
    try:
        return _profile_in(evse_id, charging_profile, now_s, True), None
    except Bad as e:
        return None, e.refusal
