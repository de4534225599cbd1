"""The fuzz campaigns of bench/fuzz_campaigns.py (issue 10, "Fuzz campaigns of at least
100,000 inputs per decoder"), CI-sized: each runs a few thousand seeded inputs and must end
with no undocumented exception, no broken invariant and bounded memory. The 100,000-input
runs are `make bench` / `.venv/bin/python bench/fuzz_campaigns.py` (docs/fuzzing.md).

Also the regression tests of what the campaigns found, named after the finding."""

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

from protocols import link
from protocols import link_messages as lm

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fuzz_campaigns",
                                               REPO / "bench" / "fuzz_campaigns.py")
fc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fc)

# RSS may move by allocator arenas and the first imports; a leak of a few hundred bytes per
# input would show as megabytes at these counts
RSS_GROWTH_MAX_KB = 8 * 1024


@pytest.mark.parametrize("name,inputs", [("link", 3000), ("modbus", 3000), ("firmware", 3000),
                                         ("ocpp", 1500)])
def test_fuzz_campaign_has_no_undocumented_exception_and_bounded_memory(name, inputs):
    """One campaign with a fixed seed: every input ran, no exception escaped, no invariant
    (documented result codes, buffer bounds, safe pilot duty and contactor, valid
    settings, one OCPP answer per call with a §4.2.3 code) broke, more than one kind of
    outcome was reached, and the process grew less than RSS_GROWTH_MAX_KB after warm-up."""
    c = fc.CAMPAIGNS[name](inputs, 7)
    assert c.done == inputs
    assert not c.exceptions, c.report()
    assert not c.violations, c.report()
    assert len(c.outcomes) >= 3, c.report()
    assert c.rss_end_kb - c.rss_warm_kb < RSS_GROWTH_MAX_KB, c.report()


def test_mutation_changes_bytes_and_stays_within_its_bound():
    """The generator the campaigns rely on: seeded (same input, same output), it changes
    the input in most draws and never returns more than max_len bytes."""
    import random

    data = link.frame(link.encode(lm.HEARTBEAT, {"uptime_s": 5}))
    a = [fc.mutate(random.Random(1), data, 50) for _ in range(1)]
    b = [fc.mutate(random.Random(1), data, 50) for _ in range(1)]
    assert a == b
    rnd = random.Random(2)
    outs = [fc.mutate(rnd, data, 50) for _ in range(500)]
    assert all(len(o) <= 50 for o in outs)
    assert sum(o != data for o in outs) > 450


def test_fuzz_finding_setting_get_with_an_empty_key_is_answered_not_raised():
    """Found by the firmware campaign: SETTING_GET with an empty key (the wire allows 0..32
    bytes) made the handler build a SETTING_VALUE with an empty key, which the codec refuses:
    a ValueError out of Controller.tick(). LINK.md: it is answered ST_UNKNOWN, in a RESULT."""
    from evse_rig import Rig

    rig = Rig(seed=1, logs=False)
    rig.send(lm.SETTING_GET, {"key": ""}, tag=9)
    rig.tick()
    answers = [(t, f) for t, g, f in rig.up if g == 9]
    assert answers == [(lm.RESULT, {"request_type": lm.SETTING_GET,
                                    "status": lm.ST_UNKNOWN, "value": 0})]


@pytest.mark.parametrize("limit", ["1e308", "Infinity", "NaN", "-Infinity"])
def test_fuzz_finding_huge_number_in_a_multiple_of_field_is_a_formation_violation(limit):
    """Found by the OCPP campaign: a chargingSchedulePeriod limit of 1e308 (schema
    multipleOf 0.1) made jsonschema raise decimal.InvalidOperation out of route_message, and
    Infinity / NaN (no JSON numbers, RFC 8259 §6, yet parsed) a TypeError; either ends the
    connection's receive loop. OCPP-J 1.6 §4.2.3: they are answered FormationViolation."""
    from gateway.ocpp16.charge_point import StationChargePoint

    class Conn:
        sent = []

        async def send(self, m):
            self.sent.append(json.loads(m))

    class NoStation:
        connector_ids = (1,)

    profile = {"chargingProfileId": 1, "stackLevel": 0,
               "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                   {"startPeriod": 0, "limit": 0}]}}
    conn = Conn()
    conn.sent = []
    cp = StationChargePoint("CS", conn, NoStation())
    raw = json.dumps([2, "u1", "SetChargingProfile", {"connectorId": 1,
                                                      "csChargingProfiles": profile}])
    raw = raw.replace('"limit": 0', '"limit": ' + limit)
    asyncio.run(cp.route_message(raw))
    assert [(m[0], m[1], m[2]) for m in conn.sent] == [(4, "u1", "FormationViolation")]


def test_fuzz_finding_composite_schedule_of_a_huge_duration_is_rejected(tmp_path):
    """Found by the OCPP campaign: GetCompositeSchedule with a duration of 10**12 s over a
    daily Recurring profile held the receive loop for hours and grew the gateway to
    gigabytes (the work grows with duration x recurrences). Durations past
    COMPOSITE_DURATION_MAX_S (a year) are Rejected (OCPP 1.6 §6.21), a year is served."""
    from gateway.ocpp16.smart import COMPOSITE_DURATION_MAX_S

    profile = {"chargingProfileId": 1, "stackLevel": 0,
               "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
               "recurrencyKind": "Daily", "chargingSchedule": {
                   "chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
                   "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6},
                                              {"startPeriod": 3600, "limit": 16}]}}

    async def run():
        cp, conn, store = fc.ocpp_station(tmp_path)
        answers = []
        calls = [("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})]
        calls += [("GetCompositeSchedule", {"connectorId": 1, "duration": d})
                  for d in (10**12, COMPOSITE_DURATION_MAX_S + 1, COMPOSITE_DURATION_MAX_S)]
        for i, (action, payload) in enumerate(calls):
            conn.sent.clear()
            await cp.route_message(json.dumps([2, str(i), action, payload]))
            answers.append(json.loads(conn.sent[0])[2]["status"])
        store.close()
        return answers

    assert asyncio.run(asyncio.wait_for(run(), 60)) == ["Accepted", "Rejected", "Rejected",
                                                        "Accepted"]
