"""Faults planted in a copy of the firmware are each caught by the suite (issue 8): the
copy is checked with `python -m conformance --firmware COPY` and the requirement the fault
breaks must come out "fail". A patch point that moved makes the test fail loudly (the
fault must really be planted, or the test proves nothing)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# name -> (file under firmware/, the code, its faulty replacement, IDs that must fail)
FAULTS = {
    "no failsafe": ("evse/failsafe.py",
                    "silent = not self.heard_once or now_ms - self.last_heard_ms >= "
                    "self.timeout_ms",
                    "silent = False", ("AG-11",)),
    "no randomised delay": ("evse/restart.py",
                            "delay_s = draw_s(max_s, rand_u32)",
                            "delay_s = 0", ("AG-13", "UK-11")),
    "override not reported": ("evse/controller.py",
                              "self.log(lm.EV_OVERRIDE, int(on), int(by_link), 0, 0)",
                              "pass", ("AG-12",)),
    "steps ignored": ("evse/limits.py",
                      "best -= best % self.current_step_ma",
                      "best -= 0", ("AG-10",)),
}


def _plant(tmp_path, path, code, faulty):
    copy = tmp_path / "firmware"
    shutil.copytree(REPO / "firmware", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / path
    text = target.read_text()
    assert text.count(code) == 1, "patch point moved: %r not once in firmware/%s" % (code, path)
    target.write_text(text.replace(code, faulty))
    return copy


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_planted_fault_is_caught(tmp_path, name):
    path, code, faulty, ids = FAULTS[name]
    copy = _plant(tmp_path, path, code, faulty)
    out = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "conformance", "--target", "sim", "--firmware",
                        str(copy), "--out", str(out), "--only", ",".join(ids)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["firmware"] == str(copy.resolve())
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts == {i: "fail" for i in ids}


def test_the_unmodified_copy_passes(tmp_path):
    """The control: the same copy procedure without a fault passes those IDs."""
    copy = tmp_path / "firmware"
    shutil.copytree(REPO / "firmware", copy, ignore=shutil.ignore_patterns("__pycache__"))
    ids = sorted({i for f in FAULTS.values() for i in f[3]})
    p = subprocess.run([sys.executable, "-m", "conformance", "--target", "sim", "--firmware",
                        str(copy), "--out", str(tmp_path / "r"), "--only", ",".join(ids)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
