"""OCPP 1.6 GetConfiguration / ChangeConfiguration (§5.8, §5.3) over the station's
configuration keys (gateway/config16.py, `self.config` of the ChargePoint)."""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action


class ConfigurationHandlers:
    """ChargePoint mixin; needs self.config (a gateway.config16.Config16)."""

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None):
        known, unknown = self.config.get(key)
        return call_result.GetConfiguration(configuration_key=known,
                                            unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value):
        return call_result.ChangeConfiguration(status=self.config.change(key, value))


# feature profile -> the action whose handler means it is built (1.6 §3.2)
PROFILE_ACTIONS = (("SmartCharging", "SetChargingProfile"), ("RemoteTrigger", "TriggerMessage"))


def feature_profiles(cp_class):
    """SupportedFeatureProfiles of a ChargePoint class: Core, and each profile of
    PROFILE_ACTIONS whose action it handles."""
    actions = {getattr(getattr(cp_class, n, None), "_on_action", None) for n in dir(cp_class)}
    return ("Core",) + tuple(p for p, action in PROFILE_ACTIONS if action in actions)
