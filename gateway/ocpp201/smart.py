"""OCPP 2.0.1 smart charging (Part 2 K01-K10): SetChargingProfile, ClearChargingProfile,
GetChargingProfiles (+ ReportChargingProfiles) and GetCompositeSchedule, a ChargePoint mixin
over the station's gateway.charging.SmartCharging (`self.station.smart`, made with the 2.0.1
rules: ocpp_version V201). Every rule is gateway.smart's (its requirement IDs there); a
refused profile is answered Rejected with the Refusal's reasonCode and text in statusInfo.

GetChargingProfiles (K09) is answered Accepted or NoProfiles at once; the matching profiles
follow in `@after`, one ReportChargingProfiles per (chargingLimitSource, evseId) with the
request's requestId [K09.FR.01], tbc true on all but the last [K09.FR.02]."""

import logging

from ocpp.routing import after, on
from ocpp.v201 import call, call_result

from gateway.smart.model import PURPOSES_201, UNIT_A
from gateway.smart.profiles import profile_from_ocpp201

log = logging.getLogger(__name__)

# Longest composite schedule served (as 1.6: gateway/ocpp16/smart.py)
COMPOSITE_DURATION_MAX_S = 366 * 86400


def _status_info(refusal):
    return {"reason_code": getattr(refusal, "code", "InvalidValue"),
            "additional_info": str(refusal)[:512]}


def report_groups(profiles):
    """The ReportChargingProfiles of a GetChargingProfiles answer: [(chargingLimitSource,
    evseId, [profile, ...])], one per source and EVSE (the message carries one of each), in
    the order the profiles were installed."""
    groups = {}
    for p in profiles:
        groups.setdefault((p.source, p.evse_id), []).append(p)
    return [(source, evse_id, ps) for (source, evse_id), ps in groups.items()]


def _query(smart, evse_id, criterion):
    """GetChargingProfiles (K09): the installed profiles of evse_id (None: all EVSEs, 0: the
    station-wide ones only [K09.FR.04/05]) matching every criterion given."""
    c = criterion or {}
    purpose = c.get("charging_profile_purpose")
    ids, sources = c.get("charging_profile_id"), c.get("charging_limit_source")
    # smart.query: the installed profiles and the external constraints (external_limits.py)
    return smart.query(evse_id, PURPOSES_201.get(purpose, purpose),
                                c.get("stack_level"), ids or None, sources or None)


class SmartChargingHandlers:
    """ChargePoint mixin; needs self.station (with .smart and .connector_ids)."""

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        smart = self.station.smart
        if not self.device_model.flag("SmartChargingCtrlr", "Enabled"):
            return call_result.SetChargingProfile(status="Rejected", status_info={
                "reason_code": "NotEnabled",
                "additional_info": "SmartChargingCtrlr.Enabled is false"})
        profile, refusal = profile_from_ocpp201(evse_id, charging_profile, smart.now_s())
        if refusal:
            log.warning("SetChargingProfile rejected: %s", refusal)
        else:
            refusal = smart.install(profile)  # logs its refusal
        if refusal:
            return call_result.SetChargingProfile(status="Rejected",
                                                  status_info=_status_info(refusal))
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id=None,
                                  charging_profile_criteria=None, **_):
        c = charging_profile_criteria or {}
        purpose = c.get("charging_profile_purpose")
        if purpose is not None:
            purpose = PURPOSES_201.get(purpose, purpose)
        ids = self.station.smart.clear(charging_profile_id, c.get("evse_id"), purpose,
                                       c.get("stack_level"))
        return call_result.ClearChargingProfile(status="Accepted" if ids else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        smart = self.station.smart
        unit = charging_rate_unit or UNIT_A
        if evse_id != 0 and evse_id not in self.station.connector_ids:
            return call_result.GetCompositeSchedule(status="Rejected", status_info={
                "reason_code": "UnknownEvse", "additional_info": "no EVSE %d" % evse_id})
        if not 0 < duration <= COMPOSITE_DURATION_MAX_S or unit not in smart.config.rate_units:
            return call_result.GetCompositeSchedule(status="Rejected", status_info={
                "reason_code": "InvalidValue",
                "additional_info": "duration 1..%d s and a unit of RateUnit"
                                   % COMPOSITE_DURATION_MAX_S})
        c = smart.composite(evse_id, duration, unit)
        # TC_K_39: an unconstrained period is the station's own limit (its EVSEs' rating)
        return call_result.GetCompositeSchedule(status="Accepted", schedule=c.to_ocpp201(
            smart.unconstrained_limit(evse_id, unit)))

    # --- GetChargingProfiles (K09) ---------------------------------------------------------

    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        found = _query(self.station.smart, evse_id, charging_profile)
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")
        return call_result.GetChargingProfiles(status="Accepted")

    @after("GetChargingProfiles")
    async def after_get_charging_profiles(self, request_id, charging_profile, evse_id=None,
                                          **_):
        groups = report_groups(_query(self.station.smart, evse_id, charging_profile))
        for n, (source, eid, profiles) in enumerate(groups):
            await self.call(call.ReportChargingProfiles(
                request_id=request_id, charging_limit_source=source, evse_id=eid,
                charging_profile=[p.to_ocpp201() for p in profiles],
                tbc=n < len(groups) - 1))
