"""python -m gateway --csms ws://HOST:PORT/PATH --station-id ID --ocpp 1.6|2.0.1
--evse LINK [--evse LINK ...] [--state-dir DIR] [--config FILE]   (DESIGN §3.3)

One OCPP charging station made of the firmware controllers behind the --evse links (EVSE /
connector ids 1..N in order). Runs until SIGTERM / SIGINT. Exit 2 on bad arguments."""

import argparse
import asyncio
import json
import logging
import re
import signal
import ssl
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from gateway.charging import DEFAULT_CONFIG, PROFILE_FILE, SmartCharging
from gateway.ev_soc import DEFAULT_MAX_AGE_S as DEFAULT_SOC_MAX_AGE_S
from gateway.firmware_update import FirmwareUpdater
from gateway.hems import make_bridge, parse_hems_url
from gateway.hems.topics import check_prefix
from gateway.link import Backoff, EvseLink, make_transport, parse_link_url
from gateway.security import PROFILES, Security
from gateway.security_log import SecurityLog, queue_critical
from gateway.smart.rules import V201
from gateway.station import Station
from gateway.station_certificate import CertificateSigning
from gateway.store import Store

OCPP_VERSIONS = ("1.6", "2.0.1")
SERIAL_SCHEMES = ("socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110")
CONFIG_KEYS = {
    # key: (type check, default, what)
    "free_vend_id_tag": ((str, type(None)), "FREEVEND",
                         "idTag of a transaction started at plug-in; null: wait for a "
                         "RemoteStartTransaction"),
    "vendor": ((str,), "smartevse-ref", "BootNotification chargePointVendor"),
    "model": ((str,), "gateway", "BootNotification chargePointModel"),
    "link_timeout_ms": ((int,), 15000, "the gateway's link timeout announced in its HELLO"),
    "reconnect_max_s": ((int, float), 30, "longest wait between CSMS connection attempts"),
}

# numeric keys: (lowest, highest); the link timeout as the firmware accepts it (its
# link_timeout_ms setting, docs/configuration.md), which adopts it as its failsafe timeout
CONFIG_RANGES = {"link_timeout_ms": (1000, 3600000), "reconnect_max_s": (0.5, 3600)}


class UsageError(Exception):
    pass


def check_link(url):
    """A LINK of DESIGN §3.3, or UsageError saying what is wrong with it."""
    try:
        kind, _ = parse_link_url(url)
    except ValueError as e:
        raise UsageError("--evse %s" % e) from None
    if kind == "mqtt":
        return
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in SERIAL_SCHEMES:
            raise UsageError("--evse %r: unknown scheme %r (socket://, rfc2217://, mqtt://, "
                             "mqtts:// or a device path)" % (url, parts.scheme))
        if parts.scheme in ("socket", "rfc2217"):
            try:
                port = parts.port
            except ValueError:
                port = None
            if not parts.hostname or port is None:
                raise UsageError("--evse %r: needs %s://HOST:PORT" % (url, parts.scheme))
    elif not (url.startswith("/") or re.fullmatch(r"COM\d+", url)):
        raise UsageError("--evse %r: not a device path nor a URL" % url)


def load_config(path):
    cfg = {k: v[1] for k, v in CONFIG_KEYS.items()}
    if path is None:
        return cfg
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError("--config %s: %s" % (path, e)) from None
    if not isinstance(data, dict):
        raise UsageError("--config %s: must be a JSON object" % path)
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise UsageError("--config %s: unknown key %r (known: %s)"
                             % (path, key, ", ".join(sorted(CONFIG_KEYS))))
        types = CONFIG_KEYS[key][0]
        if not isinstance(value, types) or isinstance(value, bool):
            raise UsageError("--config %s: %s must be %s" % (
                path, key, " or ".join("null" if t is type(None) else t.__name__
                                       for t in types)))
        lo_hi = CONFIG_RANGES.get(key)
        if lo_hi and not lo_hi[0] <= value <= lo_hi[1]:
            raise UsageError("--config %s: %s %r outside %s..%s"
                             % (path, key, value, lo_hi[0], lo_hi[1]))
        cfg[key] = value
    return cfg


def add_hems_args(p):
    g = p.add_argument_group("energy-manager MQTT interface (docs/mqtt.md)")
    g.add_argument("--hems", metavar="URL",
                   help="mqtt://[USER:PASS@]HOST[:PORT]/PREFIX or mqtts://… (TLS): state, "
                        "events and commands for home / building energy managers")
    g.add_argument("--hems-ca", metavar="FILE", help="CA certificate(s) of the mqtts:// broker "
                                                     "(default: the system's)")
    g.add_argument("--hems-cert", metavar="FILE", help="client certificate (PEM), mqtts://")
    g.add_argument("--hems-key", metavar="FILE",
                   help="its private key (PEM), if not in --hems-cert")
    g.add_argument("--hems-discovery", metavar="PREFIX", default="homeassistant",
                   help="Home Assistant discovery prefix (default homeassistant)")
    g.add_argument("--hems-no-discovery", action="store_true",
                   help="publish no Home Assistant discovery configs")
    g.add_argument("--hems-soc-max-age", metavar="S", type=int, default=DEFAULT_SOC_MAX_AGE_S,
                   help="seconds a state of charge given over MQTT is reported "
                        "(default %d)" % DEFAULT_SOC_MAX_AGE_S)


def check_hems_args(args):
    given = [o for o, v in (("--hems-ca", args.hems_ca), ("--hems-cert", args.hems_cert),
                            ("--hems-key", args.hems_key)) if v is not None]
    if args.hems is None:
        if given:
            raise UsageError("%s needs --hems" % given[0])
        return
    try:
        tls = parse_hems_url(args.hems)["tls"]
        if not args.hems_no_discovery:
            check_prefix(args.hems_discovery)
    except ValueError as e:
        raise UsageError("--hems %s" % e) from None
    if given and not tls:
        raise UsageError("%s needs an mqtts:// --hems URL (TLS)" % given[0])
    if args.hems_key is not None and args.hems_cert is None:
        raise UsageError("--hems-key needs --hems-cert")
    for opt, path in (("--hems-ca", args.hems_ca), ("--hems-cert", args.hems_cert),
                      ("--hems-key", args.hems_key)):
        if path is not None and not Path(path).is_file():
            raise UsageError("%s %s: no such file" % (opt, path))
    if tls:  # what paho's tls_set will load: refused now rather than when connecting
        try:
            ctx = ssl.create_default_context(cafile=args.hems_ca)
            if args.hems_cert is not None:
                ctx.load_cert_chain(args.hems_cert, args.hems_key)
        except (ssl.SSLError, OSError) as e:
            raise UsageError("--hems TLS files (%s): %s" % (", ".join(given), e)) from None
    if not 0 < args.hems_soc_max_age <= 86400:
        raise UsageError("--hems-soc-max-age must be 1..86400 s")


def add_security_args(p):
    g = p.add_argument_group("OCPP security profiles (docs/ocpp.md \"Security\")")
    g.add_argument("--security-profile", type=int, choices=sorted(PROFILES), default=0,
                   help="0 ws:// no auth, 1 ws:// + Basic auth, 2 wss:// + Basic auth, "
                        "3 wss:// + client certificate (default 0); never lowered")
    g.add_argument("--password-file", metavar="FILE",
                   help="the Basic-auth password (16-40 characters), profiles 1-2; default: "
                        "generated once into STATE_DIR/csms_password (mode 0600)")
    g.add_argument("--csms-ca", metavar="FILE",
                   help="the CSMS root certificate(s) (PEM) the server is checked against, "
                        "profiles 2-3")
    g.add_argument("--client-cert", metavar="FILE",
                   help="the station's TLS client certificate (PEM), profile 3")
    g.add_argument("--client-key", metavar="FILE", help="its private key (PEM), profile 3")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m gateway", description=(
        "One OCPP charging station made of the firmware controllers behind the --evse links."))
    p.add_argument("--csms", required=True, help="ws://HOST:PORT/PATH or wss://… of the CSMS")
    p.add_argument("--station-id", required=True, help="charging station identity")
    p.add_argument("--ocpp", required=True, choices=OCPP_VERSIONS, help="OCPP version")
    p.add_argument("--evse", action="append", required=True, metavar="LINK",
                   help="firmware link, once per EVSE (ids 1..N in order): a device path, "
                        "socket://HOST:PORT, rfc2217://HOST:PORT or mqtt://HOST:PORT/PREFIX")
    p.add_argument("--state-dir", default="gateway-state",
                   help="directory of the durable state (default ./gateway-state)")
    p.add_argument("--config", help="JSON file of settings (docs/ocpp.md)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every OCPP message")
    add_hems_args(p)
    add_security_args(p)
    args = p.parse_args(argv)
    try:
        csms = urlsplit(args.csms)
        if csms.scheme not in ("ws", "wss") or not csms.hostname:
            raise UsageError("--csms %r: must be ws://HOST[:PORT]/PATH or wss://…" % args.csms)
        if not re.fullmatch(r"[A-Za-z0-9._:*+@-]{1,48}", args.station_id):
            raise UsageError("--station-id %r: 1-48 characters of A-Z a-z 0-9 . _ : * + @ -"
                             % args.station_id)
        for url in args.evse:
            check_link(url)
        args.settings = load_config(args.config)
        check_hems_args(args)
        try:
            args.security = Security.from_args(args, args.state_dir)
        except ValueError as e:
            raise UsageError(str(e)) from None
    except UsageError as e:
        p.error(str(e))  # exit 2 with the usage line
    return args


async def start_hems(args, station):
    """The energy-manager MQTT interface of --hems, started (None without --hems)."""
    if args.hems is None:
        return None
    cfg = args.settings
    station.ev_soc.max_age_s = args.hems_soc_max_age
    bridge = make_bridge(args.hems, station, ca_certs=args.hems_ca, certfile=args.hems_cert,
                         keyfile=args.hems_key,
                         discovery_prefix=None if args.hems_no_discovery else args.hems_discovery,
                         station_name=args.station_id, manufacturer=cfg["vendor"],
                         model=cfg["model"])
    await bridge.start()
    u = parse_hems_url(args.hems)
    print("gateway: hems %s://%s:%d/%s" % ("mqtts" if u["tls"] else "mqtt", u["host"],
                                          u["port"], u["prefix"]), flush=True)
    return bridge


def make_client(args, station, state):
    """The OCPP adapter of --ocpp over the station (and its smart charging, whose profile
    rules are the version's)."""
    cfg = args.settings
    common = dict(vendor=cfg["vendor"], model=cfg["model"],
                  backoff=Backoff(0.5, cfg["reconnect_max_s"]),
                  security_profile=args.security.profile,
                  connect_kwargs=args.security.connect_kwargs())
    if args.ocpp == "2.0.1":
        from gateway.ocpp201 import Ocpp201Client
        from gateway.ocpp201.transactions import transaction_id

        station.smart = SmartCharging(station, state / PROFILE_FILE,
                                      replace(DEFAULT_CONFIG, ocpp_version=V201))
        client = Ocpp201Client(args.csms, args.station_id, station, security=args.security,
                               state_dir=state, **common)
        # the station numbers its transactions: a TxProfile may name one from its start
        station.smart.transaction_name = lambda key: transaction_id(client.tx_prefix, key)
    else:
        from gateway.ocpp16 import Ocpp16Client

        station.smart = SmartCharging(station, state / PROFILE_FILE)
        client = Ocpp16Client(args.csms, args.station_id, station, **common)
    # A02 / whitepaper: the station's CSMS-signed certificate (gateway/station_certificate.py)
    client.signing = CertificateSigning(state, args.station_id, station, args.security,
                                        organization=cfg["vendor"])
    return client


async def run(args):
    cfg = args.settings
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    store = Store(state / "state.db")
    links = [EvseLink(make_transport(url, i + 1), store, i + 1,
                      link_timeout_ms=cfg["link_timeout_ms"])
             for i, url in enumerate(args.evse)]
    station = Station(links, store, free_vend_id_tag=cfg["free_vend_id_tag"])
    station.security_log = SecurityLog(state)  # UK-S10
    queue_critical(station)
    station.security_event("StartupOfTheDevice", "gateway started, OCPP %s" % args.ocpp)
    station.firmware = FirmwareUpdater(station, state)  # signed firmware update, certificates
    client = make_client(args, station, state)
    args.security.persist(state)
    if args.security.generated_password_file is not None:  # shown once, for the installer
        print("gateway: generated CSMS password for station %s: %s (stored in %s; enter it "
              "at the CSMS)" % (args.station_id, args.security.password,
                                args.security.generated_password_file), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await station.start()
    station.smart.start()
    await station.firmware.resume()
    task = asyncio.create_task(client.run())
    hems = await start_hems(args, station)
    print("gateway: station %s, %d EVSE, OCPP %s to %s" % (
        args.station_id, len(links), args.ocpp, client.url), flush=True)
    try:
        await stop.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if hems is not None:
            await hems.stop()
        await station.smart.stop()
        await station.firmware.stop()
        await station.stop()
        store.close()
    print("gateway: stopped", flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("ocpp").setLevel(logging.WARNING)
    asyncio.run(run(args))
    return 0
