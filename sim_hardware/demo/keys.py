"""DEMO=interactive: the demo keeps running and a person drives it with single keys (the
terminal in cbreak mode, read without blocking between dashboard refreshes). KEYS is the
table: key -> (what it does, function of the script's Runner)."""

import contextlib
import os
import select
import sys
import termios
import tty

from sim_hardware.demo import script

PROFILE_ID = 1
POWER_OFF_S = 24 * 3600  # "cut" lasts until the key is pressed again


def _plug(r, state):
    r.charger.control("plug", state="B", pp_ohms=script.PLUG_PP_OHMS)
    r.charger.control("draw", a=script.EV_A, phases=3)
    return "the EV plugs in and asks for %d A" % script.EV_A


def _unplug(r, state):
    r.charger.control("unplug")
    return "the EV unplugs"


def _button(r, state):
    r.charger.control("press_button", ms=300)
    return "the owner presses the override button"


def _mains(r, state):
    if r.st().get("power"):
        r.charger.control("power_cut", s=POWER_OFF_S)
        return "power cut (press m again to restore it)"
    r.charger.control("power_cut", s=0)  # a cut that ends now: the power comes back
    return "power restored"


def _dno(r, state):
    state["dno"] = not state.get("dno")
    if not state["dno"]:
        r.em.limit("dno", None)
        return "the DNO clears its limit"
    r.em.limit("dno", script.DNO_A * 1000, script.DNO_DURATION_S)
    return "the DNO limits the charger to %d A for %d min" % (script.DNO_A,
                                                             script.DNO_DURATION_S // 60)


def _profile(r, state):
    state["profile"] = not state.get("profile")
    if not state["profile"]:
        r.csms.send(r.v.clear_profiles(profile_id=PROFILE_ID))
        return "the CSMS clears its charging profile"
    r.csms.send(script.tx_default_profile(r, PROFILE_ID, script.PROFILE_A))
    return "the CSMS sets a TxDefaultProfile of %d A" % script.PROFILE_A


KEYS = {  # key: (what it does, function, its marker on the plot)
    "p": ("plug in", _plug, "PLUG"),
    "u": ("unplug", _unplug, "UNPLUG"),
    "b": ("button (override)", _button, "BUTTON"),
    "m": ("cut / restore power", _mains, "POWER"),
    "d": ("DNO limit 8 A on / off", _dno, "DNO"),
    "t": ("10 A profile on / off", _profile, "PROFILE"),
    "q": ("quit", None, None),
}
HELP = "keys: " + "   ".join("%s %s" % (k, row[0]) for k, row in KEYS.items())


@contextlib.contextmanager
def cbreak(stream=sys.stdin):
    """Single keys without Enter and without echo; the terminal restored afterwards."""
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(r, marks):
    """Until q (or Ctrl-C): refresh the dashboard, act on each key, append (plot marker,
    charger s) to marks. -> [] (no scripted steps: the summary lists the keys pressed)."""
    state = {}  # what the toggles last did
    with cbreak() as fd:
        while True:
            r.tick()
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            for ch in os.read(fd, 32).decode(errors="ignore").lower():
                if ch == "q":
                    return []
                if ch in KEYS:
                    _what, fn, marker = KEYS[ch]
                    marks.append((marker, r.obs.vs()))
                    r.obs.note("you", fn(r, state))
