"""Fleet restoration (sim_hardware/fleet.py, AG-13 at scale, P6) on a small N:
the analytic fleet must be what the real controllers do, the delay spreads the
switch-on, the CSV and the PNG are written. The 10,000-charger run is
bench/p6_fleet_restoration.py."""

import struct
import subprocess
import sys
import zlib
from pathlib import Path

from evse import restart
from sim_hardware import fleet
from sim_hardware.charger import TICK_MS

REPO = Path(__file__).resolve().parents[2]


def test_each_charger_draws_the_firmware_delay_from_its_own_entropy():
    chargers = fleet.draw_fleet(400, 600, seed=9, mean_kwh=5.0)
    delays = [d for _, _, d, _ in chargers]
    assert len({s for s, _, _, _ in chargers}) == 400  # own entropy each
    assert min(delays) >= 0 and max(delays) <= 600 and len(set(delays)) > 250
    seed = chargers[0][0]
    assert delays[0] == restart.draw_s(600, fleet.SimBoard(seed=seed).random_u32)
    assert fleet.draw_fleet(400, 600, seed=9, mean_kwh=5.0) == chargers  # repeatable


def test_analytic_load_equals_the_real_controllers_summed():
    """Five chargers with short charges, each run tick by tick with the real
    controller and EV model for 170 s, against fleet.load_curve."""
    templates = [fleet.Template(p) for _, _, p in fleet.CLASSES]
    # whole Wh: the EV's battery is filled from 0 to exactly that
    chargers = [(s, c, d, round(wh)) for s, c, d, wh in fleet.draw_fleet(5, 30, 4, 0.25)]
    horizon_s = 170  # every EV is full before the end
    real = [0.0] * horizon_s
    for seed, cls, _delay, wh in chargers:
        ch = fleet.restoration(seed, fleet.CLASSES[cls][2], 30)
        ch.ev.configure(capacity_wh=wh, soc_permille=0)
        for i in range(horizon_s * 1000 // TICK_MS):
            ch.tick()
            real[i * TICK_MS // 1000] += fleet._power_w(ch) / (1000 // TICK_MS)
    model = fleet.load_curve(chargers, templates, horizon_s, True)
    worst = max(abs(a - b) for a, b in zip(real, model, strict=True))
    print("analytic vs real: worst 1 s difference %.1f W of %.1f W" % (worst, max(real)))
    assert worst < 0.03 * max(real), (worst, max(real))  # a tick or two at the edges
    assert sum(1 for v in real if v > 0) > 60


def test_small_fleet_writes_csv_png_and_reports_the_ratio(tmp_path):
    res = fleet.run(n=300, out=tmp_path, horizon_s=1500, sample=6)
    assert res["sampled"] == 6
    assert res["peak_ratio"] < 1.0 and res["step_ratio"] < 0.2
    assert res["peak_without_t_s"] < 10 <= res["peak_with_t_s"] <= 700
    rows = (tmp_path / "fleet_load.csv").read_text().splitlines()
    assert rows[0] == "t_s,without_delay_kw,with_delay_kw" and len(rows) == 1501
    png = (tmp_path / "fleet_load.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    pos, idat = 8, b""
    while pos < len(png):  # every chunk's CRC checks out
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + data)
        idat += data if kind == b"IDAT" else b""
        pos += 12 + n
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    text = fleet.report(res)
    assert "peak load without delay" in text and "ratio" in text and "wall time" in text


def test_fleet_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sim_hardware.fleet", "--n", "50", "--out",
                          str(tmp_path), "--horizon-s", "900", "--sample", "2"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "fleet: 50 chargers" in out.stdout and (tmp_path / "fleet_load.png").exists()
    bad = subprocess.run([sys.executable, "-m", "sim_hardware.fleet", "--n", "0", "--out",
                          str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--n >= 1" in bad.stderr
