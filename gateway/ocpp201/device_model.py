"""The OCPP 2.0.1 device model of the station (OCPP 2.0.1 Part 1 §4 "Device model", Part 2
B05-B07 and appendix "Referenced Components and Variables"): one table of components and
variables with their characteristics (dataType, unit, minLimit, maxLimit, valuesList) and
Actual attribute (mutability, persistent, constant, default). Changed values persist in the
store's metadata under one key, so they survive a restart; dynamic read-only values (EVSE
AvailabilityState, ClockCtrlr DateTime ...) come from providers the gateway registers.
No OCPP library here: gateway/ocpp201/device_model_handlers.py speaks the messages.

    dm = DeviceModel(store, evse_count=2, station_id="CS1")
    dm.number("OCPPCommCtrlr", "HeartbeatInterval")             # 300
    dm.set("OCPPCommCtrlr", "HeartbeatInterval", "30")          # "Accepted"
    dm.get("EVSE", "AvailabilityState", evse=1)                 # ("Accepted", "Available")
    dm.report("ConfigurationInventory")                         # [ReportData dicts]
"""

import logging
import math
import re
from datetime import UTC, datetime
from typing import NamedTuple

from gateway.config16 import MEASURANDS
from gateway.security import PASSWORD_RE, PROFILES

log = logging.getLogger(__name__)

META_KEY = "ocpp201:variables"
RO, RW, WO = "ReadOnly", "ReadWrite", "WriteOnly"
ACTUAL = "Actual"
ATTRIBUTES = ("Actual", "Target", "MinSet", "MaxSet")  # AttributeEnumType; only Actual kept
AVAILABILITY = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
VALUE_MAX_CHARS = 1000  # SetVariableData.attributeValue maxLength (Part 3 schema)


class Var(NamedTuple):
    """One variable of one component; scope "station", "evse" (one per EVSE 1..N) or
    "connector" (connector 1 of every EVSE). Only the Actual attribute is supported."""
    component: str
    variable: str
    data_type: str  # DataEnumType: integer decimal string boolean dateTime OptionList ...
    mutability: str
    default: str
    instance: str = None
    unit: str = None
    min_limit: float = None  # integer/decimal: value range; string: length range
    max_limit: float = None
    values: tuple = ()  # valuesList of OptionList / MemberList / SequenceList
    persistent: bool = True  # kept in state.db across restarts
    constant: bool = False
    reboot: bool = False  # a change takes effect after a reboot: SetVariables RebootRequired
    scope: str = "station"
    min_items: int = 0  # MemberList / SequenceList: fewest members (not reported)
    pattern: str = None  # string: a regular expression the whole value must match


def _definitions(security_profile, station_id, vendor, model):
    """The table (Part 2 appendix, per functional block). Defaults follow the 1.6 keys of
    gateway/config16.py where one maps: HeartbeatInterval, MeterValueSampleInterval ->
    TxUpdatedInterval, ClockAlignedDataInterval -> AlignedDataCtrlr Interval,
    TransactionMessageAttempts/RetryInterval -> MessageAttempts/MessageAttemptInterval,
    ConnectionTimeOut -> EVConnectionTimeOut."""
    m = MEASURANDS
    energy = "Energy.Active.Import.Register"
    sampled = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage," \
              "Current.Offered,SoC"
    oc, sec, sc, tx = "OCPPCommCtrlr", "SecurityCtrlr", "SmartChargingCtrlr", "TxCtrlr"
    sd, ad, au, dd = "SampledDataCtrlr", "AlignedDataCtrlr", "AuthCtrlr", "DeviceDataCtrlr"
    cs = "ChargingStation"
    return [
        # B01-B04, B10, E (transaction message retries)
        Var(oc, "HeartbeatInterval", "integer", RW, "300", unit="s", min_limit=1,
            max_limit=86400),
        Var(oc, "OfflineThreshold", "integer", RW, "60", unit="s", min_limit=0,
            max_limit=86400),
        Var(oc, "MessageTimeout", "integer", RW, "30", instance="Default", unit="s",
            min_limit=1, max_limit=600),
        Var(oc, "MessageAttempts", "integer", RW, "3", instance="TransactionEvent",
            min_limit=1, max_limit=100),
        Var(oc, "MessageAttemptInterval", "integer", RW, "10", instance="TransactionEvent",
            unit="s", min_limit=0, max_limit=3600),
        Var(oc, "ResetRetries", "integer", RW, "2", min_limit=0, max_limit=10),
        # no file transfer (firmware update, log upload) over OCPP is built
        Var(oc, "FileTransferProtocols", "MemberList", RO, "", values=("HTTP", "HTTPS"),
            constant=True),
        # one connection profile: the command line's --csms (slot 1)
        Var(oc, "NetworkConfigurationPriority", "SequenceList", RW, "1", values=("1",),
            min_items=1, reboot=True),
        Var(oc, "NetworkProfileConnectionAttempts", "integer", RW, "3", min_limit=1,
            max_limit=100),
        Var(oc, "UnlockOnEVSideDisconnect", "boolean", RO, "true", constant=True),
        # A (security): the profile is set by the installer (--security-profile)
        Var(sec, "SecurityProfile", "integer", RO, str(security_profile), min_limit=0,
            max_limit=3, persistent=False),
        Var(sec, "Identity", "string", RO, station_id, max_limit=48, persistent=False),
        Var(sec, "OrganizationName", "string", RW, vendor, min_limit=1, max_limit=64),
        Var(sec, "CertificateEntries", "integer", RO, "0", persistent=False),
        # A01: never stored in state.db; the gateway's on_change listener applies it
        Var(sec, "BasicAuthPassword", "string", WO, "", min_limit=16, max_limit=40,
            persistent=False, pattern=PASSWORD_RE.pattern),
        # K (smart charging): limits of gateway/smart/rules.py, as the 1.6 keys
        Var(sc, "Enabled", "boolean", RW, "true"),
        Var(sc, "Available", "boolean", RO, "true", constant=True),
        Var(sc, "ProfileStackLevel", "integer", RO, "10", constant=True),
        # the units the station accepts profiles and composite schedules in (TC_K_42)
        Var(sc, "RateUnit", "MemberList", RW, "A,W", values=("A", "W"), min_items=1),
        Var(sc, "PeriodsPerSchedule", "integer", RO, "28", constant=True),
        Var(sc, "Entries", "integer", RO, "0", instance="ChargingProfiles", persistent=False),
        Var(sc, "LimitChangeSignificance", "decimal", RW, "10", unit="Percent",
            min_limit=0, max_limit=100),
        Var(sc, "ExternalControlSignalsEnabled", "boolean", RW, "true"),
        Var(sc, "NotifyChargingLimitWithSchedules", "boolean", RW, "false"),
        Var(sc, "ACPhaseSwitchingSupported", "boolean", RO, "false", constant=True),
        # E (transactions): gateway/station.py starts a transaction when the EV is plugged
        # in AND authorised (free vend at plug-in, or a remote start before/after it), and
        # ends it at the unplug or a remote stop: the only points this station has.
        Var(tx, "EVConnectionTimeOut", "integer", RW, "60", unit="s", min_limit=0,
            max_limit=3600),
        Var(tx, "StopTxOnEVSideDisconnect", "boolean", RO, "true", constant=True),
        # E05: an idToken the CSMS does not accept (gateway/invalid_id.py)
        Var(tx, "StopTxOnInvalidId", "boolean", RW, "true"),
        Var(tx, "MaxEnergyOnInvalidId", "integer", RW, "0", unit="Wh", min_limit=0,
            max_limit=1000000),
        Var(tx, "TxStartPoint", "MemberList", RW, "PowerPathClosed",
            values=("PowerPathClosed",), min_items=1),
        Var(tx, "TxStopPoint", "MemberList", RW, "EVConnected,Authorized",
            values=("EVConnected", "Authorized"), min_items=1),
        # J (meter values): measurands the firmware's TELEMETRY gives
        Var(sd, "Enabled", "boolean", RW, "true"),
        Var(sd, "TxStartedMeasurands", "MemberList", RW, energy, values=m),
        Var(sd, "TxUpdatedMeasurands", "MemberList", RW, sampled, values=m),
        Var(sd, "TxUpdatedInterval", "integer", RW, "60", unit="s", min_limit=0,
            max_limit=86400),
        Var(sd, "TxEndedMeasurands", "MemberList", RW, energy, values=m),
        Var(sd, "TxEndedInterval", "integer", RW, "0", unit="s", min_limit=0,
            max_limit=86400),
        Var(ad, "Enabled", "boolean", RW, "true"),
        Var(ad, "Measurands", "MemberList", RW, energy, values=m),
        Var(ad, "Interval", "integer", RW, "0", unit="s", min_limit=0, max_limit=86400),
        Var(ad, "SendDuringIdle", "boolean", RW, "false"),
        Var(ad, "TxEndedMeasurands", "MemberList", RW, energy, values=m),
        Var(ad, "TxEndedInterval", "integer", RW, "0", unit="s", min_limit=0,
            max_limit=86400),
        # C (authorisation): no local list or cache; free vend: the gateway sets Enabled
        Var(au, "Enabled", "boolean", RO, "true"),
        Var(au, "AuthorizeRemoteStart", "boolean", RO, "true", constant=True),
        Var(au, "LocalAuthorizeOffline", "boolean", RO, "false", constant=True),
        Var(au, "LocalPreAuthorize", "boolean", RO, "false", constant=True),
        # B06.FR.16/17, B08: limits of a request the station takes
        Var(dd, "ItemsPerMessage", "integer", RO, "25", instance="GetReport"),
        Var(dd, "ItemsPerMessage", "integer", RO, "50", instance="GetVariables"),
        Var(dd, "ItemsPerMessage", "integer", RO, "50", instance="SetVariables"),
        Var(dd, "BytesPerMessage", "integer", RO, "65000", instance="GetReport"),
        Var(dd, "BytesPerMessage", "integer", RO, "65000", instance="GetVariables"),
        Var(dd, "BytesPerMessage", "integer", RO, "65000", instance="SetVariables"),
        # the host's clock (the gateway sets the firmware's clock from it)
        Var("ClockCtrlr", "DateTime", "dateTime", RO, "", persistent=False),
        Var("ClockCtrlr", "TimeSource", "SequenceList", RW, "RealTimeClock",
            values=("RealTimeClock",), min_items=1),
        Var(cs, "AvailabilityState", "OptionList", RO, "Available", values=AVAILABILITY,
            persistent=False),
        Var(cs, "Available", "boolean", RO, "true", constant=True),
        Var(cs, "SupplyPhases", "integer", RO, "3", min_limit=0, max_limit=3),
        Var(cs, "Model", "string", RO, model, persistent=False, constant=True),
        Var(cs, "VendorName", "string", RO, vendor, persistent=False, constant=True),
        Var("EVSE", "AvailabilityState", "OptionList", RO, "Available", values=AVAILABILITY,
            persistent=False, scope="evse"),
        Var("EVSE", "Available", "boolean", RO, "true", constant=True, scope="evse"),
        # 32 A x 3 phases x 230 V; Actual: the power now, from a provider
        Var("EVSE", "Power", "decimal", RO, "0", unit="W", max_limit=22080,
            persistent=False, scope="evse"),
        Var("EVSE", "SupplyPhases", "integer", RO, "3", min_limit=0, max_limit=3,
            scope="evse"),
        Var("Connector", "AvailabilityState", "OptionList", RO, "Available",
            values=AVAILABILITY, persistent=False, scope="connector"),
        Var("Connector", "Available", "boolean", RO, "true", constant=True,
            scope="connector"),
        Var("Connector", "ConnectorType", "string", RO, "cType2", constant=True,
            scope="connector"),
        Var("Connector", "SupplyPhases", "integer", RO, "3", min_limit=0, max_limit=3,
            scope="connector"),
    ]


# --- value checks per dataType: text -> (normalised text, None) or (None, reasonCode) ----

_INT = re.compile(r"^[+-]?\d{1,15}$")


def _range(var, v):
    if var.min_limit is not None and v < var.min_limit:
        return "ValueTooLow"
    if var.max_limit is not None and v > var.max_limit:
        return "ValueTooHigh"
    return None


def _check_integer(var, text):
    if not _INT.match(text.strip()):
        return None, "InvalidValue"
    v = int(text)
    reason = _range(var, v)
    return (None, reason) if reason else (str(v), None)


def _check_decimal(var, text):
    try:
        v = float(text.strip())
    except ValueError:
        return None, "InvalidValue"
    if not math.isfinite(v):
        return None, "InvalidValue"
    reason = _range(var, v)
    return (None, reason) if reason else (text.strip(), None)


def _check_boolean(var, text):
    t = text.strip().lower()
    return (t, None) if t in ("true", "false") else (None, "InvalidValue")


def _check_string(var, text):
    lo, hi = var.min_limit or 0, VALUE_MAX_CHARS if var.max_limit is None else var.max_limit
    if len(text) < lo:
        return None, "ValueTooLow"
    if len(text) > hi:
        return None, "ValueTooHigh"
    if var.pattern is not None and not re.fullmatch(var.pattern, text):
        return None, "InvalidValue"
    return text, None


def _check_option(var, text):
    return (text, None) if text in var.values else (None, "InvalidValue")


def _check_list(var, text):
    """MemberList (a set) and SequenceList (ordered): comma-separated members of valuesList,
    each at most once."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if any(s not in var.values for s in items) or len(set(items)) != len(items):
        return None, "InvalidValue"
    if len(items) < var.min_items:
        return None, "ValueTooLow"
    return ",".join(items), None


def _check_datetime(var, text):
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, "InvalidValue"
    return text.strip(), None


CHECKS = {"integer": _check_integer, "decimal": _check_decimal, "boolean": _check_boolean,
          "string": _check_string, "OptionList": _check_option, "MemberList": _check_list,
          "SequenceList": _check_list, "dateTime": _check_datetime}


def check(var, text):
    """(normalised text, None) when text is a valid value of var, else (None, reasonCode)."""
    if not isinstance(text, str) or len(text) > VALUE_MAX_CHARS:
        return None, "InvalidValue"
    return CHECKS[var.data_type](var, text)


def _utc_now():
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ReportBaseEnumType -> which variables a GetBaseReport reports (B07)
REPORT_BASES = {
    "FullInventory": lambda var: True,
    "ConfigurationInventory": lambda var: var.mutability != RO,
    "SummaryInventory": lambda var: var.variable == "AvailabilityState",
}


def _key(component, variable, instance, evse, connector):
    """The store key of one variable: "EVSE:1/Power", "OCPPCommCtrlr/MessageTimeout:Default"."""
    where = component if evse is None else "%s:%d" % (component, evse)
    if connector is not None:
        where += ".%d" % connector
    return where + "/" + variable + ("" if instance is None else ":" + instance)


class DeviceModel:
    def __init__(self, store, evse_count, station_id, security_profile=0,
                 vendor="smartevse-ref", model="gateway", providers=None):
        """providers: {(component, variable, evse, connector): fn} as provide() takes."""
        self.store = store
        self.evse_count = evse_count
        self._vars = {}  # _key -> (Var, evse, connector), in report order
        for var in _definitions(security_profile, station_id, vendor, model):
            if var.variable == "BasicAuthPassword" and not PROFILES[security_profile][1]:
                continue  # A01: only profiles 1 and 2 authenticate with a password
            addresses = {"station": [(None, None)],
                         "evse": [(e, None) for e in range(1, evse_count + 1)],
                         "connector": [(e, 1) for e in range(1, evse_count + 1)]}[var.scope]
            for evse, connector in addresses:
                k = _key(var.component, var.variable, var.instance, evse, connector)
                self._vars[k] = (var, evse, connector)
        self._components = {(v.component, e, c) for v, e, c in self._vars.values()}
        self._providers = {}
        self._provide("ClockCtrlr", "DateTime", _utc_now, None, None, None)
        for (component, variable, evse, connector), fn in (providers or {}).items():
            self.provide(component, variable, fn, evse, connector)
        self._values = self._load()
        self._listeners = []

    def _load(self):
        """The persisted values still valid; corrupt data or bad values: defaults, a
        warning, never a crash; an unknown key (a variable no longer built) is ignored."""
        try:
            saved = self.store.get_meta(META_KEY, {})
        except (ValueError, TypeError) as e:
            log.warning("device model: stored variables unreadable (%s): defaults used", e)
            return {}
        if not isinstance(saved, dict):
            log.warning("device model: stored variables are not an object: defaults used")
            return {}
        values = {}
        for k, text in saved.items():
            if k not in self._vars:
                log.info("device model: stored %s is not a variable here: ignored", k)
                continue
            var = self._vars[k][0]
            norm, reason = check(var, text)
            if norm is None or not var.persistent:
                log.warning("device model: stored %s = %r is not valid (%s): default used",
                            k, text, reason)
                continue
            values[k] = norm
        return values

    # --- lookup -------------------------------------------------------------------------

    def _find(self, component, variable, instance, evse, connector, component_instance=None):
        """(status, key): status None when found, else UnknownComponent / UnknownVariable
        (B05.FR.04/05, B06.FR.06/07; a variable kept only per instance needs its instance,
        B06.FR.15)."""
        if component_instance is not None or (component, evse, connector) \
                not in self._components:
            return "UnknownComponent", None
        k = _key(component, variable, instance, evse, connector)
        return (None, k) if k in self._vars else ("UnknownVariable", None)

    def _var(self, component, variable, instance, evse=None, connector=None):
        k = _key(component, variable, instance, evse, connector)
        if k not in self._vars:
            raise KeyError("no device model variable %s" % k)
        return k, self._vars[k][0]

    def _actual(self, k):
        """The Actual value text of key k, or None when its provider failed."""
        provider = self._providers.get(k)
        if provider is not None:
            try:
                return str(provider())
            except Exception:  # a provider's bug must not break a GetVariables answer
                log.exception("device model: provider of %s failed", k)
                return None
        return self._values.get(k, self._vars[k][0].default)

    # --- typed reads of station-wide variables ------------------------------------------

    def text(self, component, variable, instance=None):
        k, _ = self._var(component, variable, instance)
        return self._actual(k)

    def number(self, component, variable, instance=None):
        k, var = self._var(component, variable, instance)
        text = self._actual(k)
        return int(text) if var.data_type == "integer" else float(text)

    def flag(self, component, variable, instance=None):
        return self.text(component, variable, instance) == "true"

    def members(self, component, variable, instance=None):
        return tuple(s for s in self.text(component, variable, instance).split(",") if s)

    # --- writes -------------------------------------------------------------------------

    def on_change(self, fn):
        """fn(component, variable, instance, value_text) after every successful set."""
        self._listeners.append(fn)

    def _provide(self, component, variable, fn, evse, connector, instance):
        matches = [k for k, (v, e, c) in self._vars.items()
                   if (v.component, v.variable, e, c) == (component, variable, evse, connector)
                   and (instance is None or v.instance == instance)]
        if not matches:
            raise KeyError("no device model variable %s.%s (evse %s, connector %s)"
                           % (component, variable, evse, connector))
        for k in matches:
            self._providers[k] = fn

    def provide(self, component, variable, fn, evse=None, connector=None, instance=None):
        """A dynamic read-only value: fn() -> text, read at every get and report (instance
        None: every instance of the variable)."""
        self._provide(component, variable, fn, evse, connector, instance)

    def _store(self, k, var, text):
        self._values[k] = text
        if var.persistent:
            self.store.set_meta(META_KEY, {key: v for key, v in self._values.items()
                                           if self._vars[key][0].persistent})
        log.info("device model %s = %s", k, "***" if var.mutability == WO else text)
        for fn in self._listeners:
            try:
                fn(var.component, var.variable, var.instance, text)
            except Exception:
                log.exception("device model: listener of %s failed", k)

    def set_actual(self, component, variable, text, instance=None, evse=None, connector=None):
        """An internal write, whatever the mutability (e.g. HeartbeatInterval from the
        BootNotification answer): checked (ValueError on a bad value, KeyError on an
        unknown variable), persisted, listeners told."""
        k, var = self._var(component, variable, instance, evse, connector)
        norm, reason = check(var, text)
        if norm is None:
            raise ValueError("%s: %r is not a valid %s (%s)" % (k, text, var.data_type, reason))
        self._store(k, var, norm)

    def set_result(self, component, variable, value, attribute=ACTUAL, evse=None,
                   connector=None, instance=None, component_instance=None):
        """SetVariables for one item (B05): (SetVariableStatus, reasonCode or None)."""
        status, k = self._find(component, variable, instance, evse, connector,
                               component_instance)
        if status:
            return status, None
        var = self._vars[k][0]
        if attribute != ACTUAL:
            return "NotSupportedAttributeType", None  # B05.FR.06
        if var.mutability == RO:
            return "Rejected", "ReadOnly"  # B05.FR.08
        norm, reason = check(var, value)
        if norm is None:
            return "Rejected", reason  # B05.FR.07
        changed = self._values.get(k, var.default) != norm
        self._store(k, var, norm)
        return ("RebootRequired" if var.reboot and changed else "Accepted"), None

    def set(self, component, variable, value, attribute=ACTUAL, evse=None, connector=None,
            instance=None):
        return self.set_result(component, variable, value, attribute, evse, connector,
                               instance)[0]

    # --- reads --------------------------------------------------------------------------

    def get_result(self, component, variable, attribute=ACTUAL, evse=None, connector=None,
                   instance=None, component_instance=None):
        """GetVariables for one item (B06): (GetVariableStatus, value or None, reasonCode
        or None)."""
        status, k = self._find(component, variable, instance, evse, connector,
                               component_instance)
        if status:
            return status, None, None
        var = self._vars[k][0]
        if attribute != ACTUAL:
            return "NotSupportedAttributeType", None, None  # B06.FR.08
        if var.mutability == WO:
            return "Rejected", None, "WriteOnly"  # B06.FR.09
        value = self._actual(k)
        if value is None:
            return "Rejected", None, "InternalError"
        return "Accepted", value, None

    def get(self, component, variable, attribute=ACTUAL, evse=None, connector=None,
            instance=None):
        return self.get_result(component, variable, attribute, evse, connector, instance)[:2]

    # --- reports ------------------------------------------------------------------------

    def report(self, report_base):
        """GetBaseReport (B07): the ReportData list (NotifyReport's camelCase) of the base,
        or None when the base is not supported."""
        wanted = REPORT_BASES.get(report_base)
        if wanted is None:
            return None
        return [self._report_data(k, var, evse, connector)
                for k, (var, evse, connector) in self._vars.items() if wanted(var)]

    def _report_data(self, k, var, evse, connector):
        component = {"name": var.component}
        if evse is not None:
            component["evse"] = {"id": evse}
            if connector is not None:
                component["evse"]["connectorId"] = connector
        variable = {"name": var.variable}
        if var.instance is not None:
            variable["instance"] = var.instance
        attribute = {"type": ACTUAL, "mutability": var.mutability,
                     "persistent": var.persistent or var.constant, "constant": var.constant}
        if var.mutability != WO:  # B07.FR.03: never the value of a WriteOnly variable
            value = self._actual(k)
            if value is not None:
                attribute["value"] = value
        characteristics = {"dataType": var.data_type, "supportsMonitoring": False}
        if var.unit is not None:
            characteristics["unit"] = var.unit
        if var.min_limit is not None:
            characteristics["minLimit"] = var.min_limit
        if var.max_limit is not None:
            characteristics["maxLimit"] = var.max_limit
        if var.values:
            characteristics["valuesList"] = ",".join(var.values)
        return {"component": component, "variable": variable,
                "variableAttribute": [attribute], "variableCharacteristics": characteristics}
