"""Goodness of fit to the discrete uniform distribution, for the randomised
delay tests (UK-11, AG-13): Pearson's chi-square over every whole second and
the Kolmogorov-Smirnov distance, both computed here (no scipy)."""

import math

ALPHA_SEEDED = 0.001
ALPHA_OS = 1e-6
C_KS = {ALPHA_SEEDED: 1.9495, ALPHA_OS: 2.6934}  # sqrt(-ln(alpha/2)/2)


def chi2_sf(x, df):
    """P(X >= x) for X ~ chi-square(df): 1 - P(df/2, x/2), series expansion."""
    a = df / 2.0
    h = x / 2.0
    term = total = 1.0 / a
    n = 1
    while term > 1e-17 * total:
        term *= h / (a + n)
        total += term
        n += 1
    lower = math.exp(-h + a * math.log(h) - math.lgamma(a)) * total
    return max(0.0, 1.0 - lower)


def wilson_hilferty(df, z):
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi_square(counts):
    n = sum(counts)
    expected = n / len(counts)
    return sum((c - expected) ** 2 for c in counts) / expected


def ks_distance(counts):
    n = sum(counts)
    bins = len(counts)
    cum = 0
    d = 0.0
    for k, c in enumerate(counts):
        cum += c
        d = max(d, abs(cum / n - (k + 1) / bins))
    return d


def assert_uniform(counts, alpha):
    n = sum(counts)
    df = len(counts) - 1
    chi2 = chi_square(counts)
    p = chi2_sf(chi2, df)
    assert p > alpha, "chi-square %.1f on df %d: p = %.2g <= %g" % (chi2, df, p, alpha)
    d = ks_distance(counts)
    d_crit = C_KS[alpha] / math.sqrt(n)
    assert d <= d_crit, "KS D = %.5f > %.5f (alpha %g, n %d)" % (d, d_crit, alpha, n)
    return chi2, d
