"""A pymodbus 3.16 RTU server emulating an SDM630 (sdm630_server.py) on one end
of a socat pseudo-terminal pair, for the tests that read it as a Modbus master
(DESIGN §9: the independent peer). Every wait is bounded; socat missing is a
test failure with the install hint, never a skip."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 20.0


def wait_for(predicate, timeout_s, what, log_path=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    detail = ""
    if log_path is not None and log_path.exists():
        detail = "\n--- log ---\n" + log_path.read_text(errors="replace")[-3000:]
    pytest.fail("timed out after %.0f s waiting for %s%s" % (timeout_s, what, detail))


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def sdm630_on_pty(tmp, unit_id=1):
    """Yields the path of the master's end of the pty pair."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: the Modbus RTU pty tests need it "
                    "(Debian: apt-get install socat; .ci/run installs it)")
    master_end, meter_end = tmp / "master", tmp / "meter"
    socat_log, server_log = tmp / "socat.log", tmp / "server.log"
    procs = []
    try:
        with open(socat_log, "wb") as log:
            procs.append(subprocess.Popen(
                [socat, "-d", "-d", "pty,raw,echo=0,link=%s" % master_end,
                 "pty,raw,echo=0,link=%s" % meter_end], stdout=log, stderr=subprocess.STDOUT))
        wait_for(lambda: master_end.exists() and meter_end.exists(), 10,
                 "socat to create the pty pair", socat_log)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(server_log, "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, str(HERE / "sdm630_server.py"), str(meter_end), str(unit_id)],
                stdout=log, stderr=subprocess.STDOUT, env=env))
        wait_for(lambda: b"READY" in server_log.read_bytes() or procs[-1].poll() is not None,
                 START_TIMEOUT_S, "the pymodbus server to listen", server_log)
        assert procs[-1].poll() is None, "pymodbus server exited:\n" + server_log.read_text()
        yield master_end
    finally:
        for proc in reversed(procs):
            stop_process(proc)
