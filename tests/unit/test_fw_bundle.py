"""tools/fw_bundle.py (`make fw-bundle VERSION=...`, issue 10): the bundle holds whole
packages of the firmware tree in firmware/fwboot.py's EVB1 format, unpacks to the same
files, is named after its version, and bad arguments get a clear error and exit 2."""

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fw_bundle_tool", REPO / "tools" / "fw_bundle.py")
fw_bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw_bundle)
sys.path.insert(0, str(REPO / "firmware"))
import fwboot  # noqa: E402


def _unpack(bundle, dest):
    u = fwboot._Unpacker(str(dest))
    u.feed(bundle)
    assert u.field == 5  # every record whole, nothing after the last
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())


def test_source_bundle_unpacks_to_the_tree(tmp_path):
    """The default bundle is evse/ and protocols/, each module byte for byte."""
    bundle, names = fw_bundle.build()
    files = _unpack(bundle, tmp_path)
    assert files == sorted(names)
    assert "evse/controller.py" in files and "protocols/link.py" in files
    assert not any(n.startswith(("main", "fwboot", "hal/")) for n in files)
    for name in files:
        src = REPO / ("firmware/" + name if name.startswith("evse/") else name)
        assert (tmp_path / name).read_bytes() == src.read_bytes(), name


def test_mpy_bundle_holds_mpy_cross_output(tmp_path):
    """--mpy: every module compiled (MicroPython 1.27 .mpy v6 header), the bundle about a
    third of the source's size."""
    bundle, names = fw_bundle.build(("evse",), mpy=True)
    source, _ = fw_bundle.build(("evse",))
    assert all(n.endswith(".mpy") for n in names)
    assert len(bundle) * 3 < len(source) * 1.1
    _unpack(bundle, tmp_path)
    head = (tmp_path / "evse" / "controller.mpy").read_bytes()[:2]
    assert head == b"M\x06"


def test_cli_writes_version_named_file_and_prints_size_and_sha256(tmp_path):
    out = tmp_path / "b.bin"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "fw_bundle.py"), "--version",
                           "0.2.0", "--package", "evse", "-o", str(out)],
                          capture_output=True, text=True, check=True)
    data = out.read_bytes()
    assert "size: %d bytes" % len(data) in proc.stdout
    assert "sha256: %s" % hashlib.sha256(data).hexdigest() in proc.stdout
    assert data[:4] == b"EVB1"


@pytest.mark.parametrize("args, why", [
    (["--version", "a b"], "the version must be"),
    (["--version", "x" * 33], "the version must be"),
    (["--version", "1.0", "--board", "esp32"], "--board needs --mpy"),
    (["--version", "1.0", "--package", "main"], "invalid choice"),
])
def test_cli_bad_arguments_exit_2_with_a_clear_error(args, why):
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "fw_bundle.py"), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and why in proc.stderr


def test_unknown_package_refused_by_the_library():
    with pytest.raises(fw_bundle.BundleError, match="unknown package 'main'"):
        fw_bundle.build(("main",))
