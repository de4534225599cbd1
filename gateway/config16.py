"""The OCPP 1.6 configuration keys of the station (OCPP 1.6 §9 "Standard Configuration Key
Names & Values"), for GetConfiguration / ChangeConfiguration: a table of keys with their
type, default, accessibility and check; changed values persist in the store's metadata
(state.db under --state-dir), so they survive a restart.

    cfg = Config16(store, connector_count=2)
    cfg.number("MeterValueSampleInterval")      # 60
    cfg.csl("MeterValuesSampledData")       # ("Energy.Active.Import.Register", ...)
    cfg.change("HeartbeatInterval", "30")    # "Accepted" / "Rejected" / "NotSupported"
    cfg.get(["HeartbeatInterval", "Nope"])   # ([{key, readonly, value}], ["Nope"])
"""

import logging

log = logging.getLogger(__name__)

META_KEY = "ocpp16:config"

# Measurands the station can report from the firmware's TELEMETRY (gateway/ocpp16/meter_values.py)
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
              "Voltage", "Current.Offered", "Frequency", "SoC")

# ChargingProfile limits (gateway/smart/rules.py defaults the smart-charging adapter uses)
SMART_READ_ONLY = {
    "ChargeProfileMaxStackLevel": "10",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "28",
    "MaxChargingProfilesInstalled": "20",
}


def _int_check(lo, hi=None):
    def check(text):
        try:
            v = int(text.strip())
        except ValueError:
            return None
        if v < lo or (hi is not None and v > hi):
            return None
        return str(v)
    return check


def _csl_check(allowed, max_items):
    """A comma-separated list of known names (OCPP 1.6 §9: CSL), "" for none."""
    def check(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        if len(items) > max_items or any(s not in allowed for s in items):
            return None
        return ",".join(items)
    return check


def _bool_check(text):
    t = text.strip().lower()
    return t if t in ("true", "false") else None


# key -> (default, check (None: read-only), what) — OCPP 1.6 §9.1 (Core), §9.4 (SmartCharging)
KEYS = {
    "HeartbeatInterval": ("300", _int_check(0, 86400),
                          "s between Heartbeats; BootNotification.conf sets it too"),
    "MeterValueSampleInterval": ("60", _int_check(0, 86400),
                                 "s between sampled MeterValues in a transaction; 0 = none"),
    "ClockAlignedDataInterval": ("0", _int_check(0, 86400),
                                 "s between clock-aligned MeterValues; 0 = none"),
    "MeterValuesSampledData": (
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,"
        "Current.Offered,SoC", _csl_check(MEASURANDS, len(MEASURANDS)), "measurands sampled"),
    "MeterValuesAlignedData": ("Energy.Active.Import.Register",
                               _csl_check(MEASURANDS, len(MEASURANDS)),
                               "measurands clock-aligned"),
    "StopTxnSampledData": ("Energy.Active.Import.Register",
                           _csl_check(("Energy.Active.Import.Register",), 1),
                           "transactionData of StopTransaction (begin and end register)"),
    "TransactionMessageAttempts": ("3", _int_check(1, 100),
                                   "tries of a transaction message the CSMS refuses"),
    "TransactionMessageRetryInterval": ("10", _int_check(0, 3600),
                                        "s x attempt between those tries"),
    "ConnectionTimeOut": ("60", _int_check(0, 3600),
                          "s a remote start waits for the plug-in; 0 = forever"),
    "NumberOfConnectors": (None, None, "connectors (one per --evse)"),
    "SupportedFeatureProfiles": (None, None, "feature profiles built"),
    "AuthorizeRemoteTxRequests": ("true", None,
                                  "an Authorize precedes every StartTransaction, remote too"),
    "LocalPreAuthorize": ("false", None, "no local authorisation list or cache"),
    "LocalAuthorizeOffline": ("false", None, "no local authorisation list or cache"),
    # the firmware ends the session when the EV leaves (pilot state A): the transaction
    # stops, reason EVDisconnected; the reference socket has no lock, so the cable is free
    "StopTransactionOnEVSideDisconnect": ("true", None, "EV leaves: the transaction stops"),
    "UnlockConnectorOnEVSideDisconnect": ("true", None, "no socket lock holds the cable"),
    # §4.8: a StartTransaction.conf whose idTagInfo is not Accepted (gateway/invalid_id.py)
    "StopTransactionOnInvalidId": ("true", _bool_check,
                                   "not Accepted: the transaction stops (DeAuthorized)"),
    "MaxEnergyOnInvalidId": ("0", _int_check(0, 1000000),
                             "Wh still delivered when not Accepted and not stopped"),
    # OCPP 1.6 security whitepaper: the profile may only be raised, never lowered; here it is
    # set by the installer (--security-profile, gateway/security.py) and read-only
    "SecurityProfile": (None, None, "security profile of the CSMS connection (0-3)"),
}
KEYS.update({k: (v, None, "smart charging limit") for k, v in SMART_READ_ONLY.items()})

STATUS_ACCEPTED, STATUS_REJECTED, STATUS_NOT_SUPPORTED = "Accepted", "Rejected", "NotSupported"


class Config16:
    def __init__(self, store, connector_count, feature_profiles=("Core",), security_profile=0):
        self.store = store
        self.fixed = {"NumberOfConnectors": str(connector_count),
                      "SupportedFeatureProfiles": ",".join(feature_profiles),
                      "SecurityProfile": str(security_profile)}
        saved = store.get_meta(META_KEY, {}) or {}
        self._values = {}
        for key, value in saved.items():  # a stored value no longer valid is dropped
            if key in KEYS and KEYS[key][1] is not None and KEYS[key][1](value) == value:
                self._values[key] = value
        self._listeners = []

    def value(self, key):
        if key in self.fixed:
            return self.fixed[key]
        return self._values.get(key, KEYS[key][0])

    def number(self, key):
        return int(self.value(key))

    def csl(self, key):
        return tuple(s for s in self.value(key).split(",") if s)

    def on_change(self, fn):
        """fn(key, value) after every accepted change (plain function)."""
        self._listeners.append(fn)

    def get(self, keys=None):
        """GetConfiguration: ([{key, readonly, value}], [unknown keys]); keys None or
        empty: every key."""
        wanted = list(KEYS) if not keys else list(keys)
        known = [{"key": k, "readonly": KEYS[k][1] is None, "value": self.value(k)}
                 for k in wanted if k in KEYS]
        return known, [k for k in wanted if k not in KEYS]

    def change(self, key, value):
        """ChangeConfiguration -> "Accepted", "Rejected" (read-only key or a bad value),
        "NotSupported" (unknown key)."""
        if key not in KEYS:
            return STATUS_NOT_SUPPORTED
        check = KEYS[key][1]
        norm = check(value) if check is not None and isinstance(value, str) else None
        if norm is None:
            return STATUS_REJECTED
        self.set(key, norm)
        return STATUS_ACCEPTED

    def set(self, key, value):
        """Set and persist a (checked) value; listeners are told."""
        self._values[key] = value
        self.store.set_meta(META_KEY, self._values)
        log.info("configuration %s = %s", key, value)
        for fn in self._listeners:
            fn(key, value)
