"""The LINK forms of the command line (DESIGN §3.3) -> a transport."""

from urllib.parse import unquote, urlsplit

from gateway.link.mqtt_transport import MqttTransport
from gateway.link.serial_transport import SerialTransport


def parse_link_url(url):
    """DESIGN §3.3 LINK -> ("mqtt", {host, port, prefix, username, password, tls}) for
    mqtt:// and mqtts://, else ("serial", {"url": url}) for anything serial_for_url opens.
    Raises ValueError for an mqtt URL without a host."""
    parts = urlsplit(url)
    if parts.scheme in ("mqtt", "mqtts"):
        if not parts.hostname:
            raise ValueError("%s: no broker host (mqtt://HOST:PORT/PREFIX)" % url)
        tls = parts.scheme == "mqtts"
        return "mqtt", {
            "host": parts.hostname, "port": parts.port or (8883 if tls else 1883),
            "prefix": unquote(parts.path.strip("/")),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "tls": tls,
        }
    if not url:
        raise ValueError("empty link URL")
    return "serial", {"url": url}


def make_transport(url, evse_id, backoff=None, **options):
    """The transport for one --evse LINK (DESIGN §3.3); evse_id is its position 1..N.
    options go to the transport (mqtt: username, password, tls, ca_certs, certfile,
    keyfile, tls_insecure, client_id, keepalive_s; serial: baudrate and pyserial options)."""
    kind, args = parse_link_url(url)
    if kind == "mqtt":
        for key in ("username", "password"):
            if options.get(key) is None:
                options.pop(key, None)
            else:
                args[key] = options.pop(key)
        args["tls"] = args["tls"] or options.pop("tls", False)
        return MqttTransport(evse_id=evse_id, backoff=backoff, **args, **options)
    return SerialTransport(args["url"], backoff=backoff, **options)
