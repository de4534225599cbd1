"""Runs tests/portable on the MicroPython 1.27 VM as well as on CPython.

Every test_*.py in tests/portable is collected twice: once by pytest as usual
(CPython) and once here, as items named `test_x[mpvm]` whose results come from
one run of tests/mpvm/run.mjs per module on the real MicroPython VM (node + the
official WebAssembly port). The summary line says how many tests ran on each interpreter.
"""

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PORTABLE = REPO / "tests" / "portable"
RUNNER = HERE / "run.mjs"
VM_TIMEOUT_S = 600
_MARK = "@@mpvm "
_RESULTS = pytest.StashKey[dict]()
_TALLY = pytest.StashKey[dict]()


def _test_names(path):
    tree = ast.parse(path.read_text(), str(path))
    return sorted(
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    )


class MpvmFile(pytest.File):
    def collect(self):
        for name in _test_names(self.path):
            yield MpvmItem.from_parent(self, name=name + "[mpvm]", test=name)


class MpvmItem(pytest.Item):
    def __init__(self, *, test, **kw):
        super().__init__(**kw)
        self.test = test
        self.add_marker("mpvm")

    def runtest(self):
        results = _vm_results(self.session, self.path)
        module = self.path.stem
        if "error" in results:
            raise MpvmFailure(results["error"])
        if (module, None) in results:
            raise MpvmFailure(results[(module, None)]["detail"])
        rec = results.get((module, self.test))
        if rec is None:
            raise MpvmFailure("the MicroPython VM did not run %s.%s" % (module, self.test))
        if rec["outcome"] != "passed":
            raise MpvmFailure(rec["detail"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpvmFailure):
            return "on the MicroPython VM:\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s::%s on MicroPython" % (self.path.name, self.test)


class MpvmFailure(Exception):
    pass


def _vm_results(session, path):
    """Run one portable module on the VM, once per session: its first item runs it. Per
    module, so that pytest-xdist workers (make test) each run only the modules they were
    given (a worker's session.items holds every test of the run)."""
    cache = session.stash.setdefault(_RESULTS, {})
    if path in cache:
        return cache[path]
    results = {}
    node = shutil.which("node")
    if node is None:
        results["error"] = "node is not installed: `make test` installs it (nodejs)"
    elif not (REPO / "node_modules" / "@micropython").is_dir():
        results["error"] = "the MicroPython VM is not installed: run `npm ci` (make test does)"
    else:
        try:
            proc = subprocess.run(
                [node, str(RUNNER), str(path)], cwd=REPO, capture_output=True, text=True,
                timeout=VM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            results["error"] = "the MicroPython VM run took longer than %d s" % VM_TIMEOUT_S
        else:
            for line in proc.stdout.splitlines():
                if line.startswith(_MARK):
                    rec = json.loads(line[len(_MARK):])
                    if "vm" in rec:
                        session.config.stash[_TALLY]["vm"] = rec["vm"]
                    else:
                        results[(rec["module"], rec["test"])] = rec
            if proc.returncode == 2 or (proc.returncode and not results):
                results["error"] = "VM runner exit %d:\n%s\n%s" % (
                    proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
    cache[path] = results
    return results


def pytest_configure(config):
    config.addinivalue_line("markers", "mpvm: runs on the MicroPython VM")
    config.stash[_TALLY] = {"CPython": {}, "MicroPython VM": {}, "vm": ""}


def pytest_collect_file(file_path, parent):
    if (file_path.parent == PORTABLE and file_path.suffix == ".py"
            and file_path.name.startswith("test_")):
        return MpvmFile.from_parent(parent, path=file_path, name=file_path.name + "[mpvm]")
    return None


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    config = _CONFIG[0]
    where = "MicroPython VM" if report.nodeid.endswith("[mpvm]") else "CPython"
    tally = config.stash[_TALLY][where]
    tally[report.outcome] = tally.get(report.outcome, 0) + 1


_CONFIG = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG[0] = session.config


def pytest_terminal_summary(terminalreporter, config):
    stash = config.stash[_TALLY]
    terminalreporter.section("tests per interpreter")
    for where in ("CPython", "MicroPython VM"):
        counts = stash[where]
        ran = sum(counts.values())
        detail = ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items())) or "none"
        label = where + (" (%s)" % stash["vm"] if where == "MicroPython VM" and stash["vm"] else "")
        terminalreporter.write_line("%s: %d tests ran: %s" % (label, ran, detail))
