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


def feature_profiles(cp_class):
    """SupportedFeatureProfiles of a ChargePoint class: Core, and SmartCharging once it
    handles SetChargingProfile."""
    actions = {getattr(getattr(cp_class, n, None), "_on_action", None) for n in dir(cp_class)}
    return ("Core", "SmartCharging") if "SetChargingProfile" in actions else ("Core",)
