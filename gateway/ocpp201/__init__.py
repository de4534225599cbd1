"""OCPP 2.0.1 adapter over the version-neutral Station (docs/ocpp.md): the same bridge,
smart-charging engine (gateway/charging.py) and durable queue as the 1.6 adapter."""

from gateway.ocpp201.charge_point import StationChargePoint
from gateway.ocpp201.client import Ocpp201Client

__all__ = ["Ocpp201Client", "StationChargePoint"]
