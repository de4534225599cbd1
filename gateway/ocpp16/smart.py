"""OCPP 1.6 smart charging (§3.13, §5.5, §5.7, §5.16): SetChargingProfile,
ClearChargingProfile and GetCompositeSchedule, a ChargePoint mixin over the station's
gateway.charging.SmartCharging (`self.station.smart`). Every rule is gateway.smart's; a
refused profile is answered Rejected and the reason logged. The library reads 1.6 numbers as
Decimal (DESIGN §8): they are converted before use or echo."""

import logging

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)

from gateway.smart.model import PURPOSES_16, UNIT_A
from gateway.smart.profiles import profile_from_ocpp16

log = logging.getLogger(__name__)


def _int(v):
    return None if v is None else int(v)


# Longest composite schedule served (§5.7 Rejected otherwise): a year covers every weekly
# recurrence. The work and the answer grow with the duration times the recurrences: a
# CSMS asking 10**12 s with a daily profile held the receive loop for hours and took
# gigabytes (found by bench/fuzz_campaigns.py)
COMPOSITE_DURATION_MAX_S = 366 * 86400

class SmartChargingHandlers:
    """ChargePoint mixin; needs self.station (with .smart and .connector_ids)."""

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        smart = self.station.smart
        profile, refusal = profile_from_ocpp16(int(connector_id), cs_charging_profiles,
                                               smart.now_s())
        if refusal:
            log.warning("SetChargingProfile rejected: %s", refusal)
        else:
            refusal = smart.install(profile)  # logs its refusal
        return call_result.SetChargingProfile(
            status=ChargingProfileStatus.rejected if refusal else ChargingProfileStatus.accepted)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id=None, connector_id=None,
                                  charging_profile_purpose=None, stack_level=None):
        purpose = None
        if charging_profile_purpose is not None:
            purpose = PURPOSES_16.get(charging_profile_purpose, charging_profile_purpose)
        ids = self.station.smart.clear(_int(id), _int(connector_id), purpose,
                                       _int(stack_level))
        return call_result.ClearChargingProfile(
            status=ClearChargingProfileStatus.accepted if ids
            else ClearChargingProfileStatus.unknown)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None):
        cid = int(connector_id)
        smart = self.station.smart
        unit = charging_rate_unit or UNIT_A
        if (cid != 0 and cid not in self.station.connector_ids) \
                or not 0 < int(duration) <= COMPOSITE_DURATION_MAX_S \
                or unit not in smart.config.rate_units:
            log.warning("GetCompositeSchedule connector %d, %s s, %s rejected", cid,
                        duration, unit)
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        c = smart.composite(cid, int(duration), unit)
        # an unconstrained period is the EVSE's own limit (its rating), as in 2.0.1 TC_K_39
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            **c.to_ocpp16(smart.unconstrained_limit(cid, unit)))
