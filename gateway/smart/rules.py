"""SetChargingProfile rules of OCPP 1.6 (SetChargingProfile, §3.13 smart
charging, the configuration keys of DESIGN §8) and 2.0.1 (use case K01, its
requirement IDs in brackets). `check_profile` returns a Refusal (a str with a
2.0.1 reasonCode) or None; it never raises for a bad profile."""

import dataclasses

from gateway.smart.model import (
    EXTERNAL,
    RELATIVE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    UNIT_A,
    UNIT_W,
    Refusal,
)

V16 = "1.6"
V201 = "2.0.1"

# ChargingScheduleAllowedChargingRateUnit (1.6) / RateUnit (2.0.1) members.
_UNIT_NAMES = {"current": UNIT_A, "a": UNIT_A, "power": UNIT_W, "w": UNIT_W}


def rate_units(value):
    """'Current,Power' (1.6) or 'A,W' (2.0.1), or a list -> ('A', 'W');
    ValueError on an unknown member."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        unit = _UNIT_NAMES.get(str(item).strip().lower())
        if unit is None:
            raise ValueError("unknown charging rate unit %r" % (item,))
        if unit not in out:
            out.append(unit)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class SmartConfig:
    """The station's smart-charging limits (1.6 keys / 2.0.1 SmartChargingCtrlr)."""

    ocpp_version: str = V16
    max_stack_level: int = 10  # ChargeProfileMaxStackLevel / ProfileStackLevel
    rate_units: tuple = (UNIT_A, UNIT_W)  # ChargingScheduleAllowedChargingRateUnit / RateUnit
    max_periods: int = 24  # ChargingScheduleMaxPeriods / PeriodsPerSchedule
    max_profiles: int = 64  # MaxChargingProfilesInstalled / Entries(ChargingProfiles)
    supply_phases: int = 3  # phases wired to the station (K01.FR.45)
    voltage_v: int = 230  # for A <-> W (W = A x V x phases)


@dataclasses.dataclass(frozen=True)
class Transaction:
    """The transaction running on an EVSE: its id (1.6 ints as str) and start."""

    transaction_id: str
    start_s: int


@dataclasses.dataclass(frozen=True)
class StationState:
    """What the rules need to know about the station now."""

    evse_ids: tuple = (1,)  # EVSE / connector ids that exist (0 = station is implied)
    transactions: dict = dataclasses.field(default_factory=dict)  # evse_id -> Transaction


def overlaps(a, b):
    """validFrom/validTo intervals meet (None = open) [K01.FR.06]."""
    lo_a = a.valid_from if a.valid_from is not None else float("-inf")
    hi_a = a.valid_to if a.valid_to is not None else float("inf")
    lo_b = b.valid_from if b.valid_from is not None else float("-inf")
    hi_b = b.valid_to if b.valid_to is not None else float("inf")
    return lo_a < hi_b and lo_b < hi_a


def replaced_by(profile, installed, config):
    """Ids of installed profiles the new one replaces: the same id (1.6, K01.FR.05)
    and, in 1.6, the same purpose, stackLevel and connector."""
    out = []
    for old in installed:
        same_slot = (old.purpose == profile.purpose and old.stack_level == profile.stack_level
                     and old.evse_id == profile.evse_id)
        if old.id == profile.id or (config.ocpp_version == V16 and same_slot):
            out.append(old.id)
    return out


def _schedule_rules(p, config):
    s = p.schedule
    if s.unit not in config.rate_units:
        return Refusal("UnsupportedRateUnit", "chargingRateUnit %s is not allowed here (allowed:"
                       " %s) [K01.FR.26]" % (s.unit, ",".join(config.rate_units)))
    if len(s.periods) > config.max_periods:
        return Refusal("InvalidSchedule", "%d periods exceed ChargingScheduleMaxPeriods %d"
                       % (len(s.periods), config.max_periods))
    if s.periods[0].start_s != 0:
        return Refusal("InvalidSchedule", "the first startPeriod must be 0, got %d [K01.FR.31]"
                       % s.periods[0].start_s)
    for a, b in zip(s.periods, s.periods[1:], strict=False):
        if b.start_s <= a.start_s:
            return Refusal("InvalidSchedule", "startPeriod must increase: %d after %d "
                           "[K01.FR.35]" % (b.start_s, a.start_s))
    for x in s.periods:
        if x.number_phases is not None and x.number_phases > config.supply_phases:
            return Refusal("InvalidSchedule", "numberPhases %d exceeds the %d phase(s) of the "
                           "station [K01.FR.45]" % (x.number_phases, config.supply_phases))
    return None


def _purpose_rules(p, state, remote_start, from_csms, v201):
    if remote_start and p.purpose != TX:
        return Refusal("InvalidValue", "the charging profile of a remote start must be a "
                       "TxProfile, got %s" % p.purpose)
    if remote_start and p.transaction_id is not None:
        return Refusal("InvalidValue", "the TxProfile of a remote start cannot name a "
                       "transactionId: the transaction does not exist yet")
    if p.purpose == EXTERNAL and from_csms:
        return Refusal("InvalidValue", "the CSMS cannot set ChargingStationExternalConstraints "
                       "[K01.FR.22]")
    if p.purpose == STATION_MAX:
        if p.evse_id != 0:
            return Refusal("InvalidValue", "a %s applies to the whole station: connector/EVSE "
                           "0 only, got %d" % (_max_name(v201), p.evse_id))
        if p.kind == RELATIVE:
            return Refusal("InvalidValue", "a %s cannot be Relative [K01.FR.38]"
                           % _max_name(v201))
    if p.purpose != TX:
        return None
    if p.evse_id == 0:
        return Refusal("InvalidValue", "a TxProfile needs a connector/EVSE > 0 [K01.FR.16]")
    if remote_start:  # RemoteStartTransaction / RequestStartTransaction (K05): no tx yet
        return None
    tx = state.transactions.get(p.evse_id)
    if v201 and p.transaction_id is None:
        return Refusal("MissingParam", "a TxProfile needs a transactionId [K01.FR.03]")
    if tx is None:
        return Refusal("TxNotFound", "no transaction is active on EVSE %d for this TxProfile "
                       "[K01.FR.09]" % p.evse_id)
    if p.transaction_id is not None and p.transaction_id != tx.transaction_id:
        return Refusal("TxNotFound", "transactionId %s is not the transaction on EVSE %d "
                       "[K01.FR.33]" % (p.transaction_id, p.evse_id))
    return None


def _max_name(v201):
    return STATION_MAX if v201 else "ChargePointMaxProfile"


def _conflict_rules(p, installed, from_csms):
    """2.0.1 refuses instead of replacing (1.6 replaces, see replaced_by)."""
    for old in installed:
        if old.id == p.id:
            if old.purpose == EXTERNAL and from_csms:
                return Refusal("DuplicateProfile", "profile id %d belongs to an external "
                               "constraint and cannot be replaced [K01.FR.05]" % p.id)
            continue  # the same id replaces [K01.FR.05]
        if old.purpose != p.purpose or old.stack_level != p.stack_level:
            continue
        if p.purpose == TX:
            if old.evse_id == p.evse_id and old.transaction_id == p.transaction_id:
                return Refusal("InvalidStackLevel", "TxProfile %d already has stackLevel %d "
                               "for this transaction [K01.FR.39]" % (old.id, p.stack_level))
        elif old.evse_id == p.evse_id and overlaps(old, p):
            return Refusal("DuplicateProfile", "%s %d has the same stackLevel %d on EVSE %d "
                           "with an overlapping validity [K01.FR.06]"
                           % (p.purpose, old.id, p.stack_level, p.evse_id))
        elif p.purpose == TX_DEFAULT and (old.evse_id == 0) != (p.evse_id == 0):
            return Refusal("DuplicateProfile", "TxDefaultProfile %d on EVSE %d already has "
                           "stackLevel %d [K01.FR.52/53]" % (old.id, old.evse_id, p.stack_level))
    return None


def check_profile(profile, state, config, installed=(), remote_start=False, from_csms=True):
    """Every SetChargingProfile rule for `profile` against the station and the
    installed profiles. remote_start: the TxProfile of RemoteStartTransaction /
    RequestStartTransaction (its transaction does not exist yet). from_csms=False
    for the station's own ChargingStationExternalConstraints (K11-K13).
    Returns None (acceptable) or the Refusal."""
    p = profile
    v201 = config.ocpp_version == V201
    if p.evse_id != 0 and p.evse_id not in state.evse_ids:
        return Refusal("UnknownEvse", "connector/EVSE %d does not exist [K01.FR.28]"
                       % p.evse_id)
    if p.stack_level > config.max_stack_level:
        return Refusal("InvalidStackLevel", "stackLevel %d exceeds ChargeProfileMaxStackLevel "
                       "%d" % (p.stack_level, config.max_stack_level))
    refusal = (_schedule_rules(p, config)
               or _purpose_rules(p, state, remote_start, from_csms, v201)
               or (_conflict_rules(p, installed, from_csms) if v201 else None))
    if refusal:
        return refusal
    replaced = replaced_by(p, installed, config)
    if len(installed) - len(replaced) + 1 > config.max_profiles:
        return Refusal("InvalidValue", "MaxChargingProfilesInstalled (%d) reached"
                       % config.max_profiles)
    return None
