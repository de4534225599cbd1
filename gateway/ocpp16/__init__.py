"""OCPP 1.6J adapter over the version-neutral Station (docs/ocpp.md)."""

from gateway.ocpp16.charge_point import StationChargePoint
from gateway.ocpp16.client import Ocpp16Client

__all__ = ["Ocpp16Client", "StationChargePoint"]
