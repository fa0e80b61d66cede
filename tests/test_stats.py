"""reports.stats against scipy and hand computations on small hand-made per-case tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from reports.stats import bootstrap_ci, holm, mean_ci, paired_comparison, per_case, wilcoxon

CASES = [f"case{i:02d}" for i in range(20)]


def frame(values, cases=CASES, shuffle: int | None = None) -> pd.DataFrame:
    df = pd.DataFrame({"case_id": cases, "dsc_mean": values})
    return df.sample(frac=1.0, random_state=shuffle) if shuffle is not None else df


@pytest.fixture
def scores():
    rng = np.random.default_rng(7)
    base = rng.uniform(0.5, 0.9, len(CASES))
    return {
        "ldseg": [base + rng.normal(0.02, 0.03, 20), base + rng.normal(0.02, 0.03, 20)],
        "unet": [base + rng.normal(0.03, 0.03, 20), base + rng.normal(0.03, 0.03, 20)],
        "vnet": [base - 0.1 + rng.normal(0, 0.02, 20), base - 0.1 + rng.normal(0, 0.02, 20)],
    }


def test_t_interval_matches_a_hand_computation():
    mean, half, n = mean_ci([0.80, 0.84, 0.83])
    # sd = sqrt(((-.02333)^2 + .01667^2 + .00667^2) / 2) = 0.0208167; t_.975,2 = 4.302653
    assert (round(mean, 6), n) == (0.823333, 3)
    assert half == pytest.approx(4.302653 * 0.0208167 / math.sqrt(3), rel=1e-5)
    assert half == pytest.approx(0.051712, abs=1e-6)
    assert math.isnan(mean_ci([0.5])[1]) and mean_ci([0.5])[:1] == (0.5,)
    assert mean_ci([])[2] == 0 and mean_ci([0.2, float("nan"), 0.4])[2] == 2


def test_per_case_averages_seeds_by_case_id_whatever_the_row_order():
    a, b = np.linspace(0, 1, 20), np.linspace(1, 0, 20)
    s = per_case([frame(a), frame(b, shuffle=3)])
    assert s.loc["case00"] == pytest.approx(0.5) and s.loc["case19"] == pytest.approx(0.5)
    assert per_case([frame(a, shuffle=1)]).loc["case05"] == pytest.approx(a[5])


def test_wilcoxon_equals_scipy_on_seed_averaged_cases(scores):
    frames = {m: [frame(v[0]), frame(v[1], shuffle=i)] for i, (m, v) in enumerate(scores.items())}
    res = paired_comparison(frames).set_index("method")
    for m in ("unet", "vnet"):
        a = (scores["ldseg"][0] + scores["ldseg"][1]) / 2
        b = (scores[m][0] + scores[m][1]) / 2
        direct = sps.wilcoxon(a, b, alternative="two-sided")
        assert res.loc[m, "p_value"] == pytest.approx(direct.pvalue, rel=1e-12)
        assert res.loc[m, "statistic"] == pytest.approx(direct.statistic)
        assert res.loc[m, "mean_diff"] == pytest.approx((a - b).mean())
        assert res.loc[m, "median_diff"] == pytest.approx(np.median(a - b))
        assert res.loc[m, "n_cases"] == 20 and res.loc[m, "seeds_method"] == 2
    assert res.loc["vnet", "p_value"] < 1e-4  # ldseg is better on every case
    assert res.loc["vnet", "mean_diff"] > 0 and res.loc["vnet", "ci_low"] > 0
    assert bool(res.loc["unet", "best"]) and not bool(res.loc["vnet", "best"])
    np.testing.assert_allclose(res["p_holm"], holm(res["p_value"]))


def test_one_seed_is_still_a_paired_test(scores):
    frames = {m: [frame(v[0])] for m, v in scores.items()}
    res = paired_comparison(frames).set_index("method")
    direct = sps.wilcoxon(scores["ldseg"][0], scores["unet"][0])
    assert res.loc["unet", "p_value"] == pytest.approx(direct.pvalue, rel=1e-12)
    assert res.loc["unet", "seeds_reference"] == 1


def test_cases_are_paired_by_id_and_missing_cases_dropped(scores):
    frames = {
        "ldseg": [frame(scores["ldseg"][0])],
        "unet": [frame(scores["unet"][0][:15], cases=CASES[:15])],
    }
    res = paired_comparison(frames).iloc[0]
    assert res["n_cases"] == 15
    direct = sps.wilcoxon(scores["ldseg"][0][:15], scores["unet"][0][:15])
    assert res["p_value"] == pytest.approx(direct.pvalue)
    assert paired_comparison({"unet": frames["unet"]}).empty  # no reference
    assert paired_comparison({"ldseg": frames["ldseg"]}).empty  # nothing to compare with


def test_identical_methods_give_p_one():
    v = np.linspace(0.2, 0.9, 20)
    assert wilcoxon(v, v.copy()) == (0.0, 1.0)
    res = paired_comparison({"ldseg": [frame(v)], "copy": [frame(v)]}).iloc[0]
    assert res["p_value"] == 1.0 and res["ci_low"] == res["ci_high"] == 0.0


def test_holm_on_a_hand_computed_example():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(1*0.04, 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.4]), [0.8, 0.8])
    np.testing.assert_allclose(holm([0.9, 0.001]), [0.9, 0.002])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])  # capped at 1
    out = holm([0.01, float("nan"), 0.04])  # NaN is not a test: m = 2
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
    assert math.isnan(out[1])
    assert holm([]).shape == (0,)


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    true = 0.05
    small = rng.normal(true, 0.1, 25)
    large = rng.normal(true, 0.1, 400)
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert lo_s < true < hi_s and lo_l < true < hi_l
    # width ~ 2 * 1.96 * sd / sqrt(n): 16x the cases -> about a quarter of the width
    assert 3.0 < (hi_s - lo_s) / (hi_l - lo_l) < 5.0
    assert (hi_l - lo_l) == pytest.approx(2 * 1.96 * large.std(ddof=1) / 20, rel=0.1)
    assert bootstrap_ci(small, seed=1) == (lo_s, hi_s)  # seeded: reproducible


def test_bootstrap_ci_agrees_with_a_plain_numpy_bootstrap():
    d = np.random.default_rng(3).normal(-0.02, 0.05, 60)
    idx = np.random.default_rng(9).integers(0, len(d), (20_000, len(d)))
    ref = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    np.testing.assert_allclose(bootstrap_ci(d, seed=5), ref, atol=0.002)
    assert all(math.isnan(v) for v in bootstrap_ci([0.1]))
