"""UK-11 / AG-13: the randomised delay is uniform on the whole seconds [0, max].

Each test simulates at least 10,000 power restorations: a fresh
`RandomDelay().start(now_ms, max_s, rand_u32, CAUSE_RESTORATION)` per
restoration, with a seeded PRNG (`random.Random(seed).getrandbits(32)`) or the
OS entropy pool (`os.urandom`) as the board's `random_u32`.

Statistical tests (computed here, no scipy):

* Pearson chi-square goodness of fit on all max+1 bins (601 bins for max 600,
  df = 600; every expected count >= 16, well above the usual 5). The p-value
  is the upper tail of the chi-square distribution, P(X >= x) = Q(df/2, x/2),
  from the series of the regularised lower incomplete gamma function.
  Critical values (Wilson-Hilferty, checked against that series):
  df 600: 712.8 at alpha 0.001, 779.4 at alpha 1e-6.
* Kolmogorov-Smirnov against the discrete uniform CDF F(k) = (k+1)/(max+1):
  D = max_k |F_n(k) - F(k)|, rejected when D > c(alpha)/sqrt(n) with
  c(alpha) = sqrt(-ln(alpha/2)/2): 1.9495 at alpha 0.001, 2.6934 at 1e-6. For a
  discrete distribution these continuous critical values are conservative
  (the true level is at most alpha).

Alpha is 0.001 for the seeded inputs (deterministic, so the outcome never
changes between CI runs) and 1e-6 for os.urandom (a false alarm once in a
million runs). A negative control shows the same statistics reject a
modulo-biased draw, so a pass means something.
"""

import math
import os
import random

import pytest

from evse.restart import CAUSE_RESTORATION, RandomDelay
from uniformity import (
    ALPHA_OS,
    ALPHA_SEEDED,
    C_KS,
    assert_uniform,
    chi2_sf,
    chi_square,
    ks_distance,
    wilson_hilferty,
)


def _restorations(n, max_s, rand_u32):
    """n simulated power restorations; returns the counts per delay second."""
    counts = [0] * (max_s + 1)
    now_ms = 0
    for _ in range(n):
        d = RandomDelay()
        delay_s = d.start(now_ms, max_s, rand_u32, CAUSE_RESTORATION)
        assert d.ends_at_ms - now_ms == delay_s * 1000
        assert d.active(now_ms) == (delay_s > 0)
        assert not d.active(now_ms + delay_s * 1000)
        counts[delay_s] += 1
        now_ms += 3_600_000
    return counts


def test_statistics_critical_values_as_documented():
    z_001 = 3.090232306167805  # standard normal quantile 0.999
    z_1e6 = 4.753424308811478  # 1 - 1e-6
    assert round(wilson_hilferty(600, z_001), 1) == 712.8
    assert round(wilson_hilferty(600, z_1e6), 1) == 779.4
    assert abs(chi2_sf(712.8, 600) - 0.001) < 2e-5
    assert abs(chi2_sf(779.4, 600) - 1e-6) < 5e-8
    for alpha, c in C_KS.items():
        assert abs(math.sqrt(-math.log(alpha / 2) / 2) - c) < 1e-4


@pytest.mark.parametrize("seed", [1, 2026, 0x5EED])
def test_uk11_delay_uniform_on_0_600_seeded_prng(seed):
    """20,000 restorations, max 600: chi-square (601 bins) and KS, alpha 0.001."""
    rng = random.Random(seed)
    counts = _restorations(20_000, 600, lambda: rng.getrandbits(32))
    assert_uniform(counts, ALPHA_SEEDED)
    assert counts[0] > 0 and counts[600] > 0  # both ends reachable


def test_uk11_delay_uniform_on_0_600_os_urandom():
    """20,000 restorations from os.urandom: alpha 1e-6 (unseeded input)."""
    counts = _restorations(20_000, 600, lambda: int.from_bytes(os.urandom(4), "little"))
    assert_uniform(counts, ALPHA_OS)
    assert counts[0] > 0 and counts[600] > 0


def test_uk11_delay_uniform_on_0_1800_ceiling():
    """40,000 restorations at the 1800 s ceiling (1801 bins, ~22 per bin)."""
    rng = random.Random(1800)
    counts = _restorations(40_000, 1800, lambda: rng.getrandbits(32))
    assert_uniform(counts, ALPHA_SEEDED)
    assert counts[0] > 0 and counts[1800] > 0


@pytest.mark.parametrize("max_s", [1, 2, 7])
def test_uk11_small_max_uniform(max_s):
    rng = random.Random(max_s)
    counts = _restorations(10_000, max_s, lambda: rng.getrandbits(32))
    assert_uniform(counts, ALPHA_SEEDED)
    assert min(counts) > 0


def test_statistics_reject_a_modulo_biased_draw():
    """Negative control: `r % 601` of a source uniform on [0, 1000) (where
    plain modulo bias is large: 0..398 twice as likely) fails both tests."""
    rng = random.Random(7)
    counts = [0] * 601
    for _ in range(20_000):
        counts[rng.randrange(1000) % 601] += 1
    chi2 = chi_square(counts)
    assert chi2_sf(chi2, 600) < ALPHA_SEEDED
    assert ks_distance(counts) > C_KS[ALPHA_SEEDED] / math.sqrt(20_000)

