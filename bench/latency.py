"""What the OCPP latency benches (P2, P5) share: the TxDefaultProfile they push, the
nearest-rank percentiles they print, the per-version adapters (Ocpp16, Ocpp201: --ocpp) and
the side-by-side table of both versions."""

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


def tx_default_profile_201(limit_a, profile_id=1):
    """SetChargingProfile's charging_profile (OCPP 2.0.1 ChargingProfileType): the same
    TxDefaultProfile as tx_default_profile, its schedule a list of one."""
    p = tx_default_profile(limit_a, profile_id)
    schedule = dict(p["charging_schedule"], id=profile_id)
    return {"id": profile_id, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute", "charging_schedule": [schedule]}


class Ocpp16:
    """What a bench does differently per OCPP version: the test CSMS, the profile call, how
    a started transaction and an Available connector look, the sampled meter interval."""

    VERSION = "1.6"

    @staticmethod
    def csms():
        from sim_hardware.csms16 import Csms16
        return Csms16()

    @staticmethod
    def set_profile(evse_id, limit_a, profile_id=1):
        from ocpp.v16 import call
        return call.SetChargingProfile(
            connector_id=evse_id, cs_charging_profiles=tx_default_profile(limit_a, profile_id))

    @staticmethod
    def started(csms):
        """Transactions started so far."""
        return len(csms.calls("StartTransaction"))

    @staticmethod
    def available(csms):
        """Connector ids reported Available."""
        return {p["connectorId"] for p in csms.calls("StatusNotification")
                if p["status"] == "Available"}

    @staticmethod
    def set_meter_interval(csms, interval_s):
        from ocpp.v16 import call
        return csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval",
                                                     value=str(interval_s))).status


class Ocpp201:
    VERSION = "2.0.1"

    @staticmethod
    def csms():
        from sim_hardware.csms201 import Csms201
        return Csms201()

    @staticmethod
    def set_profile(evse_id, limit_a, profile_id=1):
        from ocpp.v201 import call
        return call.SetChargingProfile(
            evse_id=evse_id, charging_profile=tx_default_profile_201(limit_a, profile_id))

    @staticmethod
    def started(csms):
        return len(csms.tx_ids())

    @staticmethod
    def available(csms):
        return {p["evseId"] for p in csms.calls("StatusNotification")
                if p["connectorStatus"] == "Available"}

    @staticmethod
    def set_meter_interval(csms, interval_s):
        from ocpp.v201 import call
        r = csms.request(call.SetVariables(set_variable_data=[{
            "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedInterval"}, "attribute_value": str(interval_s)}]))
        return r.set_variable_result[0]["attribute_status"]


VERSIONS = {"1.6": Ocpp16, "2.0.1": Ocpp201}


def add_ocpp_argument(ap):
    """--ocpp 1.6|2.0.1|both (default both): the versions a bench runs, in order."""
    ap.add_argument("--ocpp", choices=("1.6", "2.0.1", "both"), default="both",
                    help="OCPP version of the gateway and the test CSMS (default: both, "
                         "printed side by side)")


def versions(choice):
    return [VERSIONS[v] for v in (("1.6", "2.0.1") if choice == "both" else (choice,))]


def side_by_side(title, rows, names):
    """rows: (label, {version: value or None}, limit or None, unit): one line each, the
    values of each version in names' order and, with a limit, value / limit."""
    lines = [title, "  %-34s %s" % ("", "".join("%16s" % ("OCPP " + n) for n in names))
             + "  limit"]
    for label, values, limit, unit in rows:
        cells = "".join("%13.1f %-2s" % (values[n], unit) if values.get(n) is not None
                        else "%16s" % "-" for n in names)
        line = "  %-34s %s" % (label, cells)
        if limit is not None:
            line += "  %.4g %s; ratio %s" % (limit, unit, " / ".join(
                "%.2f" % (values[n] / limit) if values.get(n) is not None else "-"
                for n in names))
        lines.append(line.rstrip())
    return "\n".join(lines)
