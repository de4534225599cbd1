"""The MQTT interface for home and building energy managers (AG-05, T7-MULTI, AG-07, AG-12;
docs/mqtt.md), `python -m gateway … --hems mqtt://[USER:PASS@]HOST[:PORT]/PREFIX`:

- topics.py    the topic names under PREFIX
- commands.py  the command payloads, checked (CommandError says what is wrong)
- state.py     the state and event payloads, from TELEMETRY, records and the stored limits
- discovery.py Home Assistant MQTT discovery configs
- client.py    paho-mqtt on the asyncio loop (TLS, username/password, will, reconnect)
- bridge.py    HemsBridge: the station on one side, the client on the other
"""

from gateway.hems.bridge import HemsBridge
from gateway.hems.client import MqttClient
from gateway.hems.topics import NOT_AVAILABLE, Topics
from gateway.link.urls import parse_link_url

__all__ = ["HemsBridge", "MqttClient", "Topics", "make_bridge", "parse_hems_url"]


def parse_hems_url(url):
    """--hems URL -> {host, port, prefix, username, password, tls}; ValueError saying what
    is wrong."""
    try:
        kind, args = parse_link_url(url)
    except ValueError as e:  # no host, or a port that is not a number in 0..65535
        raise ValueError("%r: %s" % (url, e)) from None
    if kind != "mqtt":
        raise ValueError("%r: must be mqtt://[USER:PASS@]HOST[:PORT]/PREFIX or mqtts://…"
                         % url)
    if "#" in url or "?" in url:  # a fragment or a query: a wildcard meant as the prefix?
        raise ValueError("%r: # and ? have no place in the URL (the prefix takes no "
                         "wildcard; percent-encode them in a password)" % url)
    Topics(args["prefix"])  # ValueError for a bad prefix
    if args["password"] is not None and args["username"] is None:
        raise ValueError("%r: a password without a user name" % url)
    return args


def make_bridge(url, station, *, ca_certs=None, certfile=None, keyfile=None,
                discovery_prefix="homeassistant", station_name="station",
                manufacturer="smartevse-ref", model="gateway", client_id=None,
                keepalive_s=30):
    """The HemsBridge of --hems URL (call start() on the running loop)."""
    args = parse_hems_url(url)
    topics = Topics(args["prefix"])
    subs = [topics.commands]
    if discovery_prefix is not None:
        subs.append(discovery_prefix + "/status")
    client = MqttClient(args["host"], args["port"], username=args["username"],
                        password=args["password"], tls=args["tls"], ca_certs=ca_certs,
                        certfile=certfile, keyfile=keyfile, client_id=client_id,
                        keepalive_s=keepalive_s, will=(topics.availability, NOT_AVAILABLE),
                        subscriptions=subs)
    return HemsBridge(station, client, topics, station_name=station_name,
                      manufacturer=manufacturer, model=model,
                      discovery_prefix=discovery_prefix)
