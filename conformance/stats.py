"""Goodness of fit to a uniform distribution, for the randomised delay (AG-13, UK-11):
Kolmogorov-Smirnov and chi-square with critical values at alpha = 0.001."""

import math

KS_C_ALPHA = 1.949  # sqrt(-ln(alpha / 2) / 2) at alpha 0.001 (asymptotic, n > 35)


def ks_uniform(values, low, high):
    """-> (D, critical D) of values against U[low, high)."""
    xs = sorted(values)
    n = len(xs)
    d = 0.0
    for i, x in enumerate(xs):
        f = (x - low) / (high - low)
        d = max(d, f - i / n, (i + 1) / n - f)
    return d, KS_C_ALPHA / math.sqrt(n)


def chi_square_uniform(values, low, high, bins):
    """-> (chi-square, critical value at alpha 0.001 for bins - 1 df, bins)."""
    counts = [0] * bins
    width = (high - low) / bins
    for x in values:
        counts[min(int((x - low) / width), bins - 1)] += 1
    expected = len(values) / bins
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    return chi2, _chi2_critical(bins - 1), bins


def _chi2_critical(df):
    """Wilson-Hilferty: the 0.999 quantile of chi-square with df degrees of freedom."""
    z = 3.0902  # standard normal 0.999 quantile
    h = 2.0 / (9.0 * df)
    return round(df * (1 - h + z * math.sqrt(h)) ** 3, 2)
