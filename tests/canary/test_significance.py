"""The hand-written statistics and normal distribution against scipy (allowed in tests, not in
the serving core)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from recoengine.canary import normal
from recoengine.canary.significance import (
    RankTest,
    histogram_quantile,
    mann_whitney_binned,
    two_proportion_test,
)


def mann_whitney(stable: np.ndarray, candidate: np.ndarray) -> RankTest:
    """U on raw samples: bin on the unique values (each one a tie group), then the binned form."""
    values, inverse = np.unique(np.concatenate([stable, candidate]), return_inverse=True)
    ca = np.bincount(inverse[: stable.size], minlength=values.size)
    cb = np.bincount(inverse[stable.size :], minlength=values.size)
    return mann_whitney_binned(ca, cb)


@pytest.mark.parametrize("x", [-8.0, -3.1, -1.0, 0.0, 0.5, 1.96, 4.0, 9.0])
def test_normal_cdf_and_tail_match_scipy(x):
    assert normal.cdf(x) == pytest.approx(sps.norm.cdf(x), rel=1e-12, abs=1e-300)
    assert normal.sf(x) == pytest.approx(sps.norm.sf(x), rel=1e-9)


def test_the_vectorised_normal_is_within_its_stated_error():
    x = np.linspace(-6.0, 6.0, 241)
    assert normal.sf_array(x) == pytest.approx(sps.norm.sf(x), rel=1.2e-7)
    assert normal.cdf_array(x) == pytest.approx(sps.norm.cdf(x), rel=1.2e-7, abs=1e-12)


@pytest.mark.parametrize("p", [1e-10, 1e-4, 0.01, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999999])
def test_normal_ppf_inverts_the_cdf(p):
    assert normal.ppf(p) == pytest.approx(sps.norm.ppf(p), rel=1e-9, abs=1e-9)


def test_ppf_rejects_out_of_range():
    with pytest.raises(ValueError):
        normal.ppf(1.5)
    assert normal.ppf(0.0) == -math.inf


def test_two_proportion_z_matches_the_textbook_pooled_test():
    t = two_proportion_test(30, 1000, 52, 1000)
    pooled = 82 / 2000
    z = (0.052 - 0.030) / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert t.z == pytest.approx(z)
    assert t.p_greater == pytest.approx(sps.norm.sf(z))
    assert t.ci_low < t.diff < t.ci_high


def test_two_proportion_needs_observations():
    with pytest.raises(ValueError):
        two_proportion_test(0, 0, 1, 10)


def test_zero_errors_on_both_sides_still_has_an_honest_interval():
    t = two_proportion_test(0, 50, 0, 50)
    assert t.ci_high > 0.01  # 0/50 vs 0/50 cannot prove "within half a point"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_whitney_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = np.round(rng.lognormal(5.0, 0.5, 300), -1)  # rounding creates many ties
    b = np.round(rng.lognormal(5.1, 0.5, 200), -1)
    ours = mann_whitney(a, b)
    ref = sps.mannwhitneyu(b, a, alternative="greater", method="asymptotic", use_continuity=True)
    assert ours.u == pytest.approx(ref.statistic)
    assert ours.p_greater == pytest.approx(ref.pvalue, rel=1e-6)
    assert 0.5 < ours.superiority < 1.0


def test_binned_mann_whitney_equals_raw_on_tie_groups():
    counts_a = np.array([5, 10, 20, 0, 3])
    counts_b = np.array([1, 4, 22, 9, 8])
    raw_a = np.repeat(np.arange(5), counts_a)
    raw_b = np.repeat(np.arange(5), counts_b)
    assert mann_whitney_binned(counts_a, counts_b) == mann_whitney(raw_a, raw_b)


def test_mann_whitney_rejects_mismatched_or_empty_histograms():
    with pytest.raises(ValueError):
        mann_whitney_binned([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        mann_whitney_binned([0, 0], [1, 2])


def test_histogram_quantile_interpolates_inside_a_bucket():
    bounds = [100.0, 200.0, 300.0]
    counts = [0, 50, 50, 0]  # half in [100,200), half in [200,300)
    assert histogram_quantile(bounds, counts, 0.5) == pytest.approx(200.0)
    assert histogram_quantile(bounds, counts, 0.95) == pytest.approx(290.0)
    assert histogram_quantile(bounds, [0, 0, 0, 0], 0.5) is None
    assert histogram_quantile(bounds, [0, 0, 0, 5], 0.5) == 300.0
