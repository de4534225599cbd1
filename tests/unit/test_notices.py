"""gateway/notices.py: each firmware event the firmware decides on its own becomes one
DataTransfer notice (docs/ocpp.md); others are not notices."""

from gateway import notices
from protocols import link_messages as lm


def test_t7_pq_power_quality_notice():
    cause = lm.PQ_UNDERVOLTAGE | lm.PQ_UNDERFREQUENCY | 2 << 8
    kind, data = notices.notice(lm.EV_POWER_QUALITY, {"on": 1, "cause": cause,
                                                      "voltage_mv": 200000,
                                                      "frequency_mhz": 49300})
    assert kind == "PowerQuality"
    assert data == {"active": True, "causes": ["undervoltage", "underfrequency"], "phase": 2,
                    "voltageMv": 200000, "frequencyMhz": 49300}
    kind, data = notices.notice(lm.EV_POWER_QUALITY, {"on": 0, "cause": lm.PQ_METER_FAULT,
                                                      "voltage_mv": 0, "frequency_mhz": 0})
    assert data["active"] is False and data["causes"] == ["meter_fault"]


def test_every_kind_comes_from_the_table_and_others_are_not_notices():
    made = {notices.notice(lm.EV_FAILSAFE, {"on": 1, "current_ma": 6000})[0],
            notices.notice(lm.EV_DELAY, {"on": 1, "why": 1, "delay_s": 30})[0],
            notices.notice(lm.EV_OVERRIDE, {"on": 1, "by_link": 0})[0],
            notices.notice(lm.EV_METER, {"ok": 0, "reason": 1, "value": 0, "value2": 0})[0],
            notices.notice(lm.EV_METER, {"ok": 1, "reason": 16, "value": 5, "value2": 3})[0],
            notices.notice(lm.EV_POWER_QUALITY, {"on": 1, "cause": 1, "voltage_mv": 1,
                                                 "frequency_mhz": 1})[0],
            notices.notice(lm.EV_SECURITY, {"code": lm.SEC_TAMPER_OPEN})[0]}
    assert made == set(notices.KINDS)
    assert notices.notice(lm.EV_PLUG, {"cp_state": 1, "cable_ma": 32000}) is None


def test_uk_s8_tamper_security_event_notice():
    """UK Schedule 1 para 8: the firmware's EV_SECURITY tamper codes become a SecurityEvent
    DataTransfer, TamperDetected when the lid opens and TamperCleared when it closes; an
    unknown code keeps its number rather than being dropped."""
    assert notices.notice(lm.EV_SECURITY, {"code": lm.SEC_TAMPER_OPEN}) == (
        "SecurityEvent", {"type": "TamperDetected"})
    assert notices.notice(lm.EV_SECURITY, {"code": lm.SEC_TAMPER_CLOSED}) == (
        "SecurityEvent", {"type": "TamperCleared"})
    assert notices.notice(lm.EV_SECURITY, {"code": 99}) == ("SecurityEvent", {"type": "code_99"})
