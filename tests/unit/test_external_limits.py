"""The pure parts of OCPP 2.0.1 external charging limits (gateway/ocpp201/external_limits.py,
Part 2 K11-K13): LimitChangeSignificance, the limits read from the store's LIMIT requests, the
ChargingStationExternalConstraints profiles and the NotifyChargingLimit payload (checked
against the 2.0.1 schema by the `ocpp` library's validator)."""

import asyncio
import dataclasses
from fractions import Fraction

from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import Call, validate_payload

from gateway.ocpp201.external_limits import (
    ID_BASE,
    External,
    entity_limits,
    notify_call,
    significant,
)
from gateway.smart.model import EXTERNAL
from gateway.store import Request
from protocols import link_messages as lm


def _req(entity, body, kind=lm.LIMIT, gen=1):
    return Request(kind, entity, gen, body)


def test_k11_fr_02_limit_change_significance_is_more_than_the_percentage():
    """K11.FR.02 / K12.FR.02: only a change by more than LimitChangeSignificance percent of
    the value last reported is reported; from 0 any change is."""
    assert not significant(16000, 16000, 10)
    assert not significant(16000, 15000, 10)  # 6.25 %
    assert not significant(10000, 11000, 10)  # exactly 10 %: not more than
    assert significant(10000, 11001, 10)
    assert significant(16000, 20000, 10)
    assert significant(0, 6000, 10)
    assert significant(16000, 15000, 0)


def test_k11_fr_06_entity_limits_in_force_become_external_constraints():
    """The HEMS and DNO LIMIT requests in force -> EMS (not grid critical) and SO (grid
    critical) external limits, from when they were set until they expire; expired, cleared,
    other entities and SCHEDULE requests are not external limits."""
    now = 1_800_000_000
    started = {}
    reqs = [_req(lm.SRC_HEMS, {"limit_ma": 10000, "duration_s": 0, "expires_unix_s": None}),
            _req(lm.SRC_DNO, {"limit_ma": 8000, "duration_s": 60, "expires_unix_s": now + 20}),
            _req(lm.SRC_CSMS, {"limit_ma": 6000, "duration_s": 0, "expires_unix_s": None}),
            _req(lm.SRC_HEMS, {"limit_ma": None, "duration_s": 0, "expires_unix_s": None},
                 gen=2),
            _req(lm.SRC_DNO, {"limit_ma": 7000, "duration_s": 5, "expires_unix_s": now},
                 gen=3),
            _req(lm.SRC_CSMS, {"periods": []}, kind=lm.SCHEDULE)]
    ems, so = entity_limits(1, reqs, now, started)
    assert ems == External(1, "EMS", False, 10000, now, None)
    assert so == External(1, "SO", True, 8000, now - 40, now + 20)
    # a limit without expiry keeps the instant it was first seen
    assert entity_limits(1, reqs[:1], now + 30, started)[0].start_s == now


def test_k11_fr_06_profile_and_notify_payload_valid():
    """The profile is a ChargingStationExternalConstraints of the source, Absolute, in A, for
    the limit's span, with an id far from the CSMS's; NotifyChargingLimit with its schedule
    (K11.FR.03) is a valid 2.0.1 request and never says CSO (K11.FR.05)."""
    e = External(2, "SO", True, 8000, 1_800_000_000, 1_800_000_060)
    p = e.profile()
    assert p.purpose == EXTERNAL and p.source == "SO" and p.evse_id == 2
    assert p.id == ID_BASE + 2000 + 2 and p.schedule.duration_s == 60
    assert p.schedule.periods[0].limit == Fraction(8)
    for with_schedule in (False, True):
        req = notify_call(e, with_schedule)
        assert req.charging_limit["charging_limit_source"] == "SO"
        assert (req.charging_schedule is not None) == with_schedule
        payload = snake_to_camel_case({k: v for k, v in dataclasses.asdict(req).items()
                                       if v is not None})
        asyncio.run(validate_payload(Call("1", "NotifyChargingLimit", payload), "2.0.1"))
