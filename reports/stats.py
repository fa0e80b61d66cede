"""Statistics of the accuracy tables: a t interval over seeds and paired tests over test cases.

* :func:`mean_ci`: mean +/- ``t_{0.975, n-1} * sd / sqrt(n)`` over seeds (n >= 2).
* :func:`paired_comparison`: the reference method (LDSeg) against every other method on the same
  test cases. Each case's score is first averaged over the seeds a method has (one seed is
  fine: the cases are still paired). Per other method: the two-sided Wilcoxon signed-rank test
  (scipy; zero differences dropped, ``zero_method="wilcox"``), its p-value Holm-corrected across
  the other methods, and a percentile-bootstrap 95% CI of the mean per-case difference
  reference - other.

Holm is written out (:func:`holm`, a few lines) because the only library that ships it,
statsmodels, is not a dependency; the test checks it on a hand-computed example.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
N_RESAMPLES = 10_000


def mean_ci(values: Iterable[float], level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, CI half-width, n) of the finite values; the half-width is NaN when n < 2."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def per_case(frames: Sequence[pd.DataFrame], metric: str = "dsc_mean") -> pd.Series:
    """case_id -> ``metric`` averaged over the given per-case tables (one per seed)."""
    both = pd.concat([f[["case_id", metric]] for f in frames])
    return both.groupby(both["case_id"].astype(str))[metric].mean()


def wilcoxon(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(W, p) of the two-sided Wilcoxon signed-rank test of paired ``a`` vs ``b``.

    When every difference is zero the methods are indistinguishable on these cases and scipy
    has no test to run: W = 0, p = 1 (no evidence of a difference).
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not len(d) or np.all(d == 0):
        return 0.0, 1.0
    res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count as tests)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]  # the i-th smallest (0-based) times m - i
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def bootstrap_ci(
    diff: Sequence[float],
    *,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of ``diff`` (cases resampled with replacement).

    scipy's vectorised implementation with a seeded generator: the same input gives the same
    interval. A constant ``diff`` gives the degenerate interval (d, d); fewer than two values
    give (NaN, NaN).
    """
    d = np.asarray(diff, dtype=float)
    if len(d) < 2:
        return float("nan"), float("nan")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    res = stats.bootstrap(
        (d,),
        np.mean,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


COMPARISON_COLUMNS = [
    "reference",
    "method",
    "n_cases",
    "seeds_reference",
    "seeds_method",
    "mean_reference",
    "mean_method",
    "mean_diff",
    "median_diff",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "p_holm",
    "best",
]


def paired_comparison(
    frames: Mapping[str, Sequence[pd.DataFrame]],
    reference: str = "ldseg",
    metric: str = "dsc_mean",
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """``reference`` vs every other method of ``frames`` (method -> per-case tables, one per
    seed), one row per other method (columns :data:`COMPARISON_COLUMNS`; differences are
    reference - method). ``best`` marks the other method with the highest mean. Empty when the
    reference or every other method is missing."""
    means = {m: per_case(f, metric) for m, f in frames.items() if len(f)}
    if reference not in means or len(means) < 2:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    rows = []
    for method, s in means.items():
        if method == reference:
            continue
        a, b = means[reference].align(s, join="inner")
        d = (a - b).to_numpy()
        w, p = wilcoxon(a.to_numpy(), b.to_numpy()) if len(d) else (np.nan, np.nan)
        lo, hi = bootstrap_ci(d, seed=seed, n_resamples=n_resamples)
        rows.append(
            {
                "reference": reference,
                "method": method,
                "n_cases": len(d),
                "seeds_reference": len(frames[reference]),
                "seeds_method": len(frames[method]),
                "mean_reference": float(a.mean()),
                "mean_method": float(b.mean()),
                "mean_diff": float(d.mean()) if len(d) else np.nan,
                "median_diff": float(np.median(d)) if len(d) else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "statistic": w,
                "p_value": p,
            }
        )
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_value"])
    out["best"] = out.index == out["mean_method"].idxmax()
    return out[COMPARISON_COLUMNS]
