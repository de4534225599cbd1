"""The CSMS-initiated calls the demo (sim_hardware/demo/) and the CSMS's web page
(sim_hardware/csms_web.py) send, per OCPP version: one small adapter per version with the
same methods, picked by `for_csms(csms)` (the CSMS's OCPP_VERSION) or `VERSIONS[version]`.
What the CSMS recorded is read back by sim_hardware/csms_view.py.

    v = for_csms(csms)
    csms.request(v.set_profile("TxDefaultProfile", 1, 10.0, profile_id=1))
    csms.request(v.clear_profiles(purpose="TxDefaultProfile", evse_id=1))
    v.accepted(csms.request(v.set_sample_interval(5)))   # -> "Accepted"

Profiles are Absolute, one period at limit_a (A) from a minute ago (a station clock a little
behind the CSMS's still has it in force), no end, stack level 0."""

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from sim_hardware.csms16 import Csms16
from sim_hardware.csms201 import Csms201


def _start_iso(now=None):
    return ((now or datetime.now(UTC)) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ocpp16:
    version = "1.6"
    csms_class = Csms16  # the bundled CSMS of the version
    # ChargingProfilePurposeType the page offers (1.6 §7.9); the station-wide one: connector 0
    purposes = ("TxDefaultProfile", "ChargePointMaxProfile")
    station_wide = ("ChargePointMaxProfile",)
    notice_action = "DataTransfer"  # how the gateway reports the firmware's own decisions

    @staticmethod
    def set_profile(purpose, evse_id, limit_a, profile_id, now=None):
        """SetChargingProfile (1.6 §6.43): csChargingProfiles with one chargingSchedule."""
        return call16.SetChargingProfile(connector_id=evse_id, cs_charging_profiles={
            "charging_profile_id": profile_id, "stack_level": 0,
            "charging_profile_purpose": purpose, "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A", "start_schedule": _start_iso(now),
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": limit_a}]}})

    @staticmethod
    def clear_profiles(purpose=None, evse_id=None, profile_id=None):
        """ClearChargingProfile (1.6 §6.9); no argument: every profile."""
        fields = {"id": profile_id, "connector_id": evse_id,
                  "charging_profile_purpose": purpose}
        return call16.ClearChargingProfile(**{k: v for k, v in fields.items() if v is not None})

    @staticmethod
    def set_sample_interval(interval_s):
        return call16.ChangeConfiguration(key="MeterValueSampleInterval", value=str(interval_s))

    @staticmethod
    def accepted(result):
        """The status of a set_sample_interval answer."""
        return result.status


class Ocpp201:
    version = "2.0.1"
    csms_class = Csms201
    # ChargingProfilePurposeEnumType (2.0.1 Part 2 K01); the station-wide one: evseId 0
    purposes = ("TxDefaultProfile", "ChargingStationMaxProfile")
    station_wide = ("ChargingStationMaxProfile",)
    notice_action = "NotifyEvent"

    @staticmethod
    def set_profile(purpose, evse_id, limit_a, profile_id, now=None):
        """SetChargingProfile (K01): chargingProfile with chargingSchedule a list (one here)."""
        return call201.SetChargingProfile(evse_id=evse_id, charging_profile={
            "id": profile_id, "stack_level": 0, "charging_profile_purpose": purpose,
            "charging_profile_kind": "Absolute",
            "charging_schedule": [{"id": 1, "charging_rate_unit": "A",
                                   "start_schedule": _start_iso(now),
                                   "charging_schedule_period": [{"start_period": 0,
                                                                 "limit": limit_a}]}]})

    @staticmethod
    def clear_profiles(purpose=None, evse_id=None, profile_id=None):
        """ClearChargingProfile (K10); no argument: every profile."""
        criteria = {k: v for k, v in (("evse_id", evse_id),
                                      ("charging_profile_purpose", purpose)) if v is not None}
        return call201.ClearChargingProfile(charging_profile_id=profile_id,
                                            charging_profile_criteria=criteria or None)

    @staticmethod
    def set_sample_interval(interval_s):
        """SetVariables SampledDataCtrlr.TxUpdatedInterval: 1.6 MeterValueSampleInterval."""
        return call201.SetVariables(set_variable_data=[{
            "attribute_value": str(interval_s), "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedInterval"}}])

    @staticmethod
    def accepted(result):
        return result.set_variable_result[0]["attribute_status"]


VERSIONS = {v.version: v for v in (Ocpp16, Ocpp201)}


def for_csms(csms):
    """The adapter of a bundled CSMS (Csms16 or Csms201)."""
    return VERSIONS[getattr(csms, "OCPP_VERSION", "1.6")]

