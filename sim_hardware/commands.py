# The commands that change a simulated charger's world, shared by the
# scenario language (scenario.py: positional words and key=value) and the
# JSON-lines control interface of `python -m sim_hardware` (engine.py: JSON
# fields). MicroPython subset: values arrive as str (scenario) or int / float
# (JSON) and are turned into integers without going through float.
#
# run(charger, name, args) -> (reply dict, wait_ms): wait_ms is how long a
# scenario lets the command take (a press, an outage); the control interface
# does not wait. ValueError with a readable message on a bad command.
from sim_hardware.ev import KINDS

# positional words of each command in a scenario line, in order
POSITIONAL = {
    "plug": ("state", "pp_ohms"),
    "unplug": ("side",),
    "draw": ("a", "phases"),
    "discharge": ("a",),
    "ev": ("kind",),
    "set_ev": (),
    "press_button": ("ms",),
    "power_cut": ("s",),
    "mains": (),
    "rcd": ("tripped",),
    "tamper": ("open",),
    "limit": ("a", "entity"),
    "hello": ("link_timeout_ms",),
    "settings": (),
    "status": (),
    "meter_fault": ("kind", "count"),
}


def milli(value, what):
    """'230', '49.95', 230, 49.95 -> 230000, 49950: a decimal with up to three
    places as thousandths, exactly (no float arithmetic)."""
    if type(value) is bool:
        value = int(value)
    if type(value) is int:
        return value * 1000
    s = str(value).strip()
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    whole, _, frac = s.partition(".")
    if (not whole and not frac) or (whole and not whole.isdigit()) or (
            frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError("%s: a number with at most 3 decimals expected, got %r" % (what, value))
    v = int(whole or "0") * 1000 + int((frac + "000")[:3])
    return -v if neg else v


def integer(value, what):
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        return value
    if type(value) is float and value == int(value):
        return int(value)
    s = str(value).strip()
    if s.startswith("-") and s[1:].isdigit() or s.isdigit():
        return int(s)
    raise ValueError("%s: an integer expected, got %r" % (what, value))


def _percent_permille(value, what):
    return milli(value, what) // 100


# set_ev key -> (EV parameter, converter). Units the user thinks in.
EV_KEYS = {
    "max_a": ("max_ma", milli),
    "phases": ("phases", integer),
    "capacity_kwh": ("capacity_wh", milli),
    "soc": ("soc_permille", _percent_permille),
    "full": ("full_permille", _percent_permille),
    "min": ("min_permille", _percent_permille),
    "response_ms": ("response_ms", integer),
    "follow_ms": ("follow_down_ms", integer),
    "ramp_a_s": ("ramp_ma_per_s", milli),
    "ready": ("ready", integer),
    "ventilation": ("ventilation", integer),
    "diode": ("diode", integer),
    "short": ("cp_short", integer),
    "ignores_x1": ("ignores_x1", integer),
    "bidirectional": ("bidirectional", integer),
    "discharge": ("discharge", integer),
    "discharge_a": ("discharge_max_ma", milli),
}


def _ev_params(args, skip=()):
    params = {}
    for key in args:
        if key in skip or key == "cmd" or key == "id":
            continue
        if key not in EV_KEYS:
            raise ValueError("set_ev: unknown key %r (keys: %s)"
                             % (key, ", ".join(sorted(EV_KEYS))))
        name, conv = EV_KEYS[key]
        params[name] = conv(args[key], key)
    return params


def _get(args, key, default, conv):
    if key not in args or args[key] is None:
        return default
    return conv(args[key], key)


def _settings_value(value):
    if type(value) is str and (value.isdigit() or value.startswith("-") and value[1:].isdigit()):
        return int(value)
    return value


def run(ch, name, args):
    ev = ch.ev
    wait_ms = 0
    if name == "plug":
        state = str(args.get("state") or "B").upper()
        ev.plug(state, _get(args, "pp_ohms", 220, integer))
    elif name == "unplug":
        side = str(args.get("side") or "all")
        if side not in ("all", "ev"):
            raise ValueError("unplug: side must be all or ev, got %r" % side)
        ev.unplug(keep_cable=side == "ev")
    elif name == "draw":
        a_ma = _get(args, "a", 0, milli)
        params = {"ready": 1 if a_ma > 0 else 0, "discharge": 0}
        if a_ma > 0:
            params["max_ma"] = a_ma
        if "phases" in args and args["phases"] is not None:
            params["phases"] = integer(args["phases"], "phases")
        ev.configure(**params)
    elif name == "discharge":
        a_ma = _get(args, "a", 0, milli)
        if a_ma > 0:
            ev.configure(discharge=1, discharge_max_ma=a_ma)
        else:
            ev.configure(discharge=0)
    elif name == "ev":
        kind = str(args.get("kind") or "basic")
        params = _ev_params(args, ("kind",))
        ev.kind(kind)
        if params:
            ev.configure(**params)
    elif name == "set_ev":
        ev.configure(**_ev_params(args))
    elif name == "press_button":
        wait_ms = _get(args, "ms", 100, integer)
        ch.press_button(wait_ms)
    elif name == "power_cut":
        wait_ms = _get(args, "s", 5000, milli)
        ch.power_cut(wait_ms)
    elif name == "mains":
        phase = _get(args, "phase", 0, integer)
        if "voltage_v" in args:
            ch.mains.set_voltage_mv(milli(args["voltage_v"], "voltage_v"), phase)
        if "frequency_hz" in args:
            ch.mains.set_frequency_mhz(milli(args["frequency_hz"], "frequency_hz"))
    elif name == "rcd":
        if _get(args, "tripped", 1, integer):
            ch.board.trip_rcd()
        else:
            ch.board.clear_rcd()
    elif name == "tamper":
        lid_open = _get(args, "open", 1, integer)
        if lid_open not in (0, 1):
            raise ValueError("tamper: open must be 1 (lid off) or 0 (lid on), got %r"
                             % (args.get("open"),))
        ch.board.set_tamper(lid_open)
    elif name == "limit":
        ch.limit(_get(args, "a", 0, milli), str(args.get("entity") or "csms"))
    elif name == "hello":
        ch.hello(_get(args, "link_timeout_ms", 0, integer))
    elif name == "settings":
        values = {}
        for k in args:
            if k != "cmd" and k != "id":
                values[k] = _settings_value(args[k])
        ch.settings(values)
    elif name == "meter_fault":
        if ch.meter is None:
            raise ValueError("meter_fault: no emulated meter (--meter MODEL)")
        kind = str(args.get("kind") or "clear")
        if kind == "clear":
            ch.meter.clear()
        else:
            ch.meter.inject(kind, _get(args, "count", -1, integer))
    elif name == "status":
        return {"ok": True, "status": ch.status()}, 0
    else:
        raise ValueError("unknown command %r" % (name,))
    return {"ok": True}, wait_ms


def help_text():
    """One line per command with its words (for error messages and docs)."""
    lines = []
    for name in sorted(POSITIONAL):
        lines.append(name + "".join([" [" + w + "]" for w in POSITIONAL[name]]))
    lines.append("EV kinds: " + ", ".join(sorted(KINDS)))
    lines.append("set_ev keys: " + ", ".join(sorted(EV_KEYS)))
    return "\n".join(lines)
