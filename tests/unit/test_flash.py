"""tools/flash.py (`make flash BOARD=esp32|rp2040 PORT=...`, issue 3): the
compile step for each board's architecture, the copy step's refusals, and the
clear message plus exit 2 when no board answers, all without a board.

.mpy header (MicroPython 1.27, py/persistentcode.c; mpy-cross emits v6.3):
byte 0 'M', byte 1 the version 6, byte 2 feature flags (bits 2-7 the native
architecture, bits 0-1 the sub-version; 0 when the file holds bytecode only,
which every architecture loads), byte 3 the small-int bits (31 on 32-bit MCUs).
"""

import builtins
import errno
import importlib.util
import os
import select
import shutil
import struct
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLASH = REPO / "tools" / "flash.py"
_spec = importlib.util.spec_from_file_location("flash_tool", FLASH)
flash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flash)

MPY_VERSION = 6
MPY_SUB_VERSION = 3
NATIVE_ARCH = {"esp32": 10, "rp2040": 4}  # MP_NATIVE_ARCH_XTENSAWIN, MP_NATIVE_ARCH_ARMV6M


def _header(path):
    data = path.read_bytes()
    assert len(data) > 4, path
    return data[0], data[1], data[2], data[3]


def _board_sources():
    """(source file, path in the build) for every file the board gets."""
    out = []
    for root, dest in ((REPO / "firmware", Path()), (REPO / "protocols", Path("protocols"))):
        for py in root.rglob("*.py"):
            if "__pycache__" in py.parts:
                continue
            rel = py.relative_to(root)
            if dest == Path() and rel == Path("manifest.py"):
                continue
            out.append((py, dest / rel))
    return out


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, str(FLASH), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("board", sorted(flash.ARCH))
def test_compile_tree_gives_an_mpy_for_every_board_file(board, tmp_path):
    out = tmp_path / board
    written = set(flash.compile_tree(board, out))
    expected = set()
    for src, rel in _board_sources():
        if rel == Path("main.py"):
            assert (out / rel).read_bytes() == src.read_bytes()  # the board runs main.py
            expected.add(rel)
            continue
        mpy = rel.with_suffix(".mpy")
        expected.add(mpy)
        magic, version, flags, small_int_bits = _header(out / mpy)
        assert magic == ord("M"), mpy
        assert version == MPY_VERSION, mpy
        assert flags in (0, NATIVE_ARCH[board] << 2 | MPY_SUB_VERSION), (mpy, flags)
        assert small_int_bits == 31, mpy
    assert written == expected
    assert Path("protocols/crc16.mpy") in written
    assert not (out / "manifest.py").exists() and not (out / "manifest.mpy").exists()
    assert not list(out.rglob("*.py"))[1:]  # main.py is the only source file


@pytest.mark.parametrize("board", sorted(flash.ARCH))
def test_compile_passes_the_board_architecture(board, tmp_path):
    """Native code carries the architecture: mpy-cross got -march for the board."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "fast.py").write_text(
        "import micropython\n\n@micropython.native\ndef add(a, b):\n    return a + b\n")
    (src / "plain.py").write_text("X = 1\n")
    written = flash.compile_tree(board, tmp_path / "out", sources=((src, "lib"),))
    assert written == [Path("lib/pkg/fast.mpy"), Path("lib/plain.mpy")]
    _, _, flags, _ = _header(tmp_path / "out" / "lib" / "pkg" / "fast.mpy")
    assert flags >> 2 == NATIVE_ARCH[board]
    assert flags & 3 == MPY_SUB_VERSION
    _, _, flags, _ = _header(tmp_path / "out" / "lib" / "plain.mpy")
    assert flags == 0  # bytecode only: loads on any architecture


def test_compile_empties_the_build_dir_and_reports_a_syntax_error(tmp_path):
    out = tmp_path / "out"
    (out / "evse").mkdir(parents=True)
    (out / "evse" / "stale.mpy").write_bytes(b"M\x06")
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("A = 1\n")
    flash.compile_tree("esp32", out, sources=((src, ""),))
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["ok.mpy"]
    (src / "bad.py").write_text("def broken(:\n")
    with pytest.raises(flash.FlashError) as e:
        flash.compile_tree("esp32", out, sources=((src, ""),))
    assert e.value.code == 1
    assert "bad.py" in str(e.value)


def test_build_only_needs_no_board(tmp_path):
    proc = _run("--board", "rp2040", "--build-only", "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr
    assert "(armv6m)" in proc.stdout
    assert (tmp_path / "b" / "protocols" / "crc16.mpy").exists()


def test_built_tree_imports_on_the_micropython_vm(tmp_path):
    """The .mpy files load on MicroPython 1.27 (the official WebAssembly port)."""
    out = tmp_path / "b"
    flash.compile_tree("esp32", out)
    modules = sorted("protocols." + p.stem for p in (out / "protocols").glob("*.mpy")
                     if p.stem != "__init__")
    script = (
        "import sys\nsys.path.insert(0, '/board')\nimport hal.base\n"
        "for m in %r:\n    __import__(m)\n    assert sys.modules[m].__file__.endswith('.mpy'), m\n"
        "from protocols.crc16 import crc16\nprint('@@ok', hex(crc16(b'123456789')), %d)\n"
        % (modules, len(modules)))
    js = """
import { loadMicroPython } from "%s";
import fs from "node:fs"; import path from "node:path";
const mp = await loadMicroPython({stdout: (l) => console.log(l), stderr: (l) => console.error(l)});
function mount(src, dst) { try { mp.FS.mkdir(dst); } catch (e) {}
  for (const n of fs.readdirSync(src)) { const s = path.join(src, n);
    if (fs.statSync(s).isDirectory()) mount(s, dst + "/" + n);
    else mp.FS.writeFile(dst + "/" + n, fs.readFileSync(s)); } }
mount(process.argv[2], "/board");
mp.runPython(fs.readFileSync(process.argv[3], "utf8"));
""" % (REPO / "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs")
    (tmp_path / "load.mjs").write_text(js)
    (tmp_path / "check.py").write_text(script)
    node = shutil.which("node")
    assert node, "node is not installed: `make test` installs it (nodejs)"
    proc = subprocess.run([node, str(tmp_path / "load.mjs"), str(out), str(tmp_path / "check.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "@@ok 0x4b37 %d" % len(modules) in proc.stdout, proc.stdout + proc.stderr


def test_missing_port_exits_2_with_a_clear_message(tmp_path):
    proc = _run("--board", "esp32", "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert "no --port given" in proc.stderr
    assert "--port /dev/ttyUSB0" in proc.stderr
    proc = _run("--board", "esp32", "--port", "", "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 2 and "no --port given" in proc.stderr
    assert not (tmp_path / "b").exists()  # refused before building anything


def test_port_that_does_not_exist_exits_2(tmp_path):
    port = str(tmp_path / "ttyUSB9")
    proc = _run("--board", "rp2040", "--port", port, "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert "port %s does not exist" % port in proc.stderr
    assert "Serial ports seen:" in proc.stderr


def test_a_device_that_is_not_a_serial_port_exits_2(tmp_path):
    proc = _run("--board", "esp32", "--port", "/dev/null", "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert "no MicroPython board answered on /dev/null" in proc.stderr
    assert "mpremote exit 1" in proc.stderr


def test_a_silent_serial_port_exits_2_after_the_answer_timeout(tmp_path):
    """A serial device where nothing answers (no MicroPython on it)."""
    master, slave = os.openpty()
    try:
        proc = _run("--board", "esp32", "--port", os.ttyname(slave), "--answer-timeout", "2",
                    "--build-dir", str(tmp_path / "b"))
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 2
    assert "no MicroPython board answered on /dev/" in proc.stderr
    assert "within 2 s" in proc.stderr


class FakeBoard(threading.Thread):
    """A stand-in for a MicroPython board on a pty: the device side of the raw
    REPL (with raw paste) as mpremote drives it, running each snippet in
    CPython against `root`, a directory standing for the board's flash.
    `os`, `sys`, `machine` and `time` are shims with MicroPython's names
    (os.ilistdir, sys.platform of the board, machine.reset, time.sleep_ms);
    OSErrors are reported as MicroPython prints them ("OSError: [Errno 2]
    ENOENT"), which mpremote parses. One assumption is MicroPython's, not
    CPython's: os.stat("") is the current (root) directory, as on littlefs."""

    BANNER = b"raw REPL; CTRL-B to exit\r\n>"
    WINDOW = 512

    def __init__(self, root, platform="esp32", version=(1, 27, 0), mute=False):
        super().__init__(daemon=True)
        self.root = Path(root)
        self.master, self._slave = os.openpty()
        self.port = os.ttyname(self._slave)
        self.mute = mute
        self.snippets = []
        self.resets = 0
        self._closing = False
        self._out = []
        shims = {
            "os": types.SimpleNamespace(
                stat=lambda p: os.stat(self._path(p)), mkdir=lambda p: os.mkdir(self._path(p)),
                remove=lambda p: os.remove(self._path(p)),
                rename=lambda a, b: os.rename(self._path(a), self._path(b)),
                listdir=lambda p="": sorted(os.listdir(self._path(p))), ilistdir=self._ilistdir),
            "sys": types.SimpleNamespace(platform=platform, implementation=types.SimpleNamespace(
                name="micropython", version=version)),
            "machine": types.SimpleNamespace(reset=self._reset),
            "time": types.SimpleNamespace(sleep_ms=lambda ms: None),
        }

        def _import(name, globals=None, locals=None, fromlist=(), level=0):
            if name in shims:
                return shims[name]
            return builtins.__import__(name, globals, locals, fromlist, level)

        board_builtins = dict(vars(builtins), __import__=_import, print=self._print,
                              open=lambda p, mode="r": open(self._path(p), mode))
        self.namespace = {"__builtins__": board_builtins}

    def _path(self, p):
        full = os.path.normpath(os.path.join(self.root, p.lstrip("/")))
        assert full == str(self.root) or full.startswith(str(self.root) + os.sep), p
        return full

    def _ilistdir(self, p=""):
        for e in sorted(os.scandir(self._path(p)), key=lambda e: e.name):
            yield (e.name, 0x4000 if e.is_dir() else 0x8000, 0, e.stat().st_size)

    def _print(self, *args, sep=" ", end="\n"):
        if not self.mute:
            self._out.append(sep.join(str(a) for a in args) + end)

    def _reset(self):
        self.resets += 1

    def _run_snippet(self, code):
        self.snippets.append(code)
        self._out = []
        err = ""
        try:
            exec(code.decode(), self.namespace)
        except OSError as e:
            err = "Traceback (most recent call last):\r\nOSError: [Errno %d] %s\r\n" % (
                e.errno, errno.errorcode.get(e.errno, "EIO"))
        except Exception as e:
            err = "Traceback (most recent call last):\r\n%s: %s\r\n" % (type(e).__name__, e)
        return "".join(self._out).encode() + b"\x04" + err.encode() + b"\x04>"

    def run(self):
        mode = "friendly"
        code = bytearray()
        pending = b""
        received = 0
        while not self._closing:
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                pending += os.read(self.master, 65536)
            except OSError:
                return
            while pending:
                if mode == "raw" and pending.startswith(b"\x05"):
                    if len(pending) < 3:
                        break
                    pending = pending[3:]
                    os.write(self.master, b"R\x01" + struct.pack("<H", self.WINDOW))
                    mode, received = "paste", 0
                    continue
                c, pending = pending[:1], pending[1:]
                if mode == "paste":
                    if c == b"\x04":
                        os.write(self.master, b"\x04" + self._run_snippet(bytes(code)))
                        code.clear()
                        mode = "raw"
                    else:
                        code += c
                        received += 1
                        if received % self.WINDOW == 0:
                            os.write(self.master, b"\x01")
                elif c == b"\x01":
                    mode = "raw"
                    code.clear()
                    os.write(self.master, b"\r\n" + self.BANNER)
                elif c == b"\x02":
                    mode = "friendly"
                elif c == b"\x03":
                    code.clear()
                elif mode == "raw" and c == b"\x04":
                    if code:
                        os.write(self.master, b"OK" + self._run_snippet(bytes(code)))
                        code.clear()
                    else:
                        os.write(self.master, b"soft reboot\r\n" + self.BANNER)
                elif mode == "raw":
                    code += c

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._closing = True
        self.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.mark.parametrize(("board_kw", "message"), [
    ({"platform": "rp2"}, "is a rp2, not esp32: pass --board rp2040"),
    ({"version": (1, 22, 0)}, "runs MicroPython 1.22; the .mpy files need 1.27"),
    ({"mute": True}, "did not answer like MicroPython"),
])
def test_probe_refuses_the_wrong_board_or_micropython(board_kw, message, tmp_path):
    (tmp_path / "fs").mkdir()
    with FakeBoard(tmp_path / "fs", **board_kw) as fake:
        proc = _run("--board", "esp32", "--port", fake.port, "--answer-timeout", "20",
                    "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert any(b"sys.platform" in s for s in fake.snippets)
    assert fake.resets == 0 and not list((tmp_path / "fs").iterdir())  # nothing copied


def test_flash_copies_the_build_cleans_stale_sources_and_resets(tmp_path):
    """End to end through the real mpremote, twice (the second run copies into
    existing directories): the board's tree equals the build, an old evse/*.py
    that would shadow its .mpy is gone, /data is untouched, the board reset."""
    fs = tmp_path / "fs"
    (fs / "data").mkdir(parents=True)
    (fs / "data" / "settings.json").write_text('{"phases": 1}')
    (fs / "evse" / "old").mkdir(parents=True)
    (fs / "evse" / "pilot.py").write_text("STALE = 1\n")
    (fs / "evse" / "old" / "gone.py").write_text("STALE = 2\n")
    build = tmp_path / "b"
    with FakeBoard(fs, platform="rp2") as fake:
        for run in (1, 2):
            proc = _run("--board", "rp2040", "--port", fake.port, "--build-dir", str(build),
                        timeout=600)
            assert proc.returncode == 0, proc.stderr
            assert "flashed and reset" in proc.stdout
            assert fake.resets == run
    built = sorted(p.relative_to(build) for p in build.rglob("*") if p.is_file())
    assert Path("main.py") in built and Path("protocols/crc16.mpy") in built
    for rel in built:
        assert (fs / rel).read_bytes() == (build / rel).read_bytes(), rel
    assert not (fs / "evse" / "pilot.py").exists()
    assert not (fs / "evse" / "old" / "gone.py").exists()
    assert (fs / "data" / "settings.json").read_text() == '{"phases": 1}'
    on_board = sorted(p.relative_to(fs) for p in fs.rglob("*") if p.is_file())
    assert on_board == sorted(built + [Path("data/settings.json")])


def test_probe_accepts_the_right_board(tmp_path):
    with FakeBoard(tmp_path, platform="rp2") as fake:
        flash.probe_board(fake.port, "rp2040", timeout_s=20)
