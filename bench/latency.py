"""What the OCPP latency benches (P2, P5) share: the TxDefaultProfile they push and the
nearest-rank percentiles they print."""

import time


def tx_default_profile(limit_a, profile_id=1):
    """SetChargingProfile's cs_charging_profiles: an Absolute TxDefaultProfile of limit_a
    amps from a minute ago (so it is in force at once)."""
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    return {"charging_profile_id": profile_id, "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A", "start_schedule": start,
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": limit_a}]}}


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]  # nearest rank


def summary(name, values, name_width=10):
    return "%-*s n=%4d  p50 %7.1f  p90 %7.1f  p99 %7.1f  max %7.1f ms" % (
        name_width, name, len(values), pct(values, 50), pct(values, 90), pct(values, 99),
        max(values))
