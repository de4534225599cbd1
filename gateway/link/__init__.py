"""The gateway's end of the firmware link (protocols/LINK.md): transports and EvseLink."""

from gateway.link.evse_link import EvseLink
from gateway.link.mqtt_transport import MqttTransport, mqtt_topics
from gateway.link.serial_transport import SerialTransport
from gateway.link.transport import Backoff, Transport
from gateway.link.urls import make_transport, parse_link_url
from gateway.link.values import (
    LinkError,
    LinkTimeout,
    Nak,
    PeerInfo,
    Result,
    SettingValue,
    Telemetry,
)

__all__ = [
    "Backoff", "EvseLink", "LinkError", "LinkTimeout", "MqttTransport", "Nak", "PeerInfo",
    "Result", "SerialTransport", "SettingValue", "Telemetry", "Transport", "make_transport",
    "mqtt_topics", "parse_link_url",
]
