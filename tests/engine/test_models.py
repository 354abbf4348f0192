"""Each component learns the signal it is for; the blend and calibration behave."""

from __future__ import annotations

import numpy as np
import pytest

from recoengine.data.demo import generate
from recoengine.evaluation.evaluator import Evaluator
from recoengine.evaluation.peers import popularity_scores
from recoengine.evaluation.protocol import leave_last_out
from recoengine.models.blend import BlendCalibration, combine, logistic_slope, standardize
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.persona import PersonaModel
from recoengine.training import blend_scorer, train, weight_grid


def test_cf_learns_what_follows_what() -> None:
    # Every user watches 0 -> 1 -> 2 or 3 -> 4 -> 5; after 3 comes 4.
    hist = [np.array([0, 1, 2])] * 20 + [np.array([3, 4, 5])] * 20
    cf = SequenceCF(CFParams(l2=1.0)).fit(hist, 6)
    scores = cf.score(np.array([3]))
    assert int(np.argmax(scores)) in (4, 5)
    assert scores[4] > scores[1] and scores[4] > scores[0]
    assert np.allclose(np.diag(cf.ease), 0)


def test_cf_cold_history_scores_zero() -> None:
    cf = SequenceCF().fit([np.array([0, 1])], 3)
    assert not cf.score(np.array([], dtype=np.int32)).any()


def test_cb_prefers_items_sharing_features() -> None:
    cb = ContentModel().fit([["horror"], ["horror", "dark"], ["comedy"], ["comedy", "cozy"]])
    s = cb.score(np.array([0]))
    assert s[1] > s[2] and s[1] > s[3]
    assert cb.feature_mask(["comedy"]).tolist() == [False, False, True, True]
    assert not cb.feature_mask(["nope"]).any()


def test_pa_lifts_items_a_segment_prefers() -> None:
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    items = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    attrs = {"age": ["young", "young", "old", "old"]}
    pa = PersonaModel().fit(attrs, users, items, np.ones(8, np.float32), 3)
    young = pa.score_rows(pa.rows_for({"age": "young"}))
    old = pa.score_rows(pa.rows_for({"age": "old"}))
    assert young[0] > young[1] and old[1] > old[0]
    assert pa.rows_for({"age": "unknown"}) == [] and pa.rows_for({"zzz": "young"}) == []


def test_standardize_and_combine() -> None:
    z = standardize(np.array([1.0, 2.0, 3.0]))
    assert z.mean() == 0 and abs(z.std() - 1) < 1e-9
    assert not standardize(np.ones(4)).any()
    parts = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])  # cf, cb, pa
    cf_only = combine(parts, (1.0, 0.0, 0.0), BlendCalibration())
    assert cf_only.total[2] > cf_only.total[1] > cf_only.total[0]
    cb_only = combine(parts, (0.0, 1.0, 0.0), BlendCalibration())
    assert cb_only.total[0] > cb_only.total[2]
    comps = cf_only.components(np.array([2]))[0]
    assert comps["pa"] == 0.0  # a constant component carries no information
    assert comps["cf"] == pytest.approx(float(standardize(parts[0])[2]), rel=1e-5)
    scaled = combine(parts, (1.0, 0.0, 0.0), BlendCalibration({"cf": 2.0, "cb": 1.0, "pa": 1.0}))
    assert scaled.total[2] == pytest.approx(2 * cf_only.total[2], rel=1e-5)


def test_logistic_slope_sees_signal_not_noise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * x - 3)))).astype(float)
    assert 1.6 < logistic_slope(x, y) < 2.4
    assert logistic_slope(x, rng.integers(0, 2, 4000).astype(float)) < 0.15


def test_weight_grid_sums_to_one() -> None:
    grid = weight_grid()
    assert (0.4, 0.4, 0.2) in [tuple(round(v, 6) for v in w) for w in grid]
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)


def test_trained_blend_beats_popularity_on_held_out_demo_data() -> None:
    split = leave_last_out(generate())
    ev = Evaluator(split)
    model, report = train(split.train, tune=False)
    blend = ev.run(blend_scorer(model, split.train, (0.4, 0.4, 0.2))).summary()
    pop = ev.run(popularity_scores(split.train)).summary()
    assert blend["ndcg10"] > pop["ndcg10"] * 1.3, (blend, pop)
    assert all(v >= 0 for v in report.calibration.values())


def test_vectorised_weight_tuning_agrees_with_full_scoring() -> None:
    from recoengine.models.collaborative import CFParams as P
    from recoengine.training import _distance, _tune_weights, fit_components, one_se_choice

    data = generate(n_users=120, n_items=150, per_user=20, seed=5)
    split = leave_last_out(data, n_holdout=2)
    ev = Evaluator(split, seed=1)
    model = fit_components(split.train, P())
    grid = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.4, 0.4, 0.2)]
    slow = [ev.run(blend_scorer(model, split.train, w)).ndcg10 for w in grid]
    expected = grid[one_se_choice(slow, [_distance(w, (0.4, 0.4, 0.2)) for w in grid])]
    assert _tune_weights(model, split.train, ev, grid) == expected


def test_one_se_rule_prefers_the_default_unless_clearly_beaten() -> None:
    from recoengine.training import one_se_choice

    rng = np.random.default_rng(3)
    base = rng.random(2000)
    noisy_best = base + rng.normal(0.0005, 0.05, 2000)  # better by noise only (< 1 SE)
    clearly = base + 0.05
    assert one_se_choice([base, noisy_best], [0.0, 1.0]) == 0
    assert one_se_choice([base, noisy_best, clearly], [0.0, 1.0, 2.0]) == 2
