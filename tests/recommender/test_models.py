"""Each component learns the signal it is for; the graphs, candidates, blend and calibration
agree with brute-force definitions on small data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoengine.data.dataset import Dataset
from recoengine.data.demo import generate
from recoengine.evaluation import metrics
from recoengine.evaluation.evaluator import Evaluator
from recoengine.evaluation.peers import popularity_scores
from recoengine.evaluation.protocol import leave_last_out
from recoengine.models import kernels
from recoengine.models.blend import (
    DEFAULT_WEIGHTS,
    BlendCalibration,
    combine,
    logistic_slope,
    standardize,
)
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.history import Histories
from recoengine.models.item_graphs import GraphParams, ease_k, fit_graphs
from recoengine.models.persona import PersonaModel
from recoengine.models.sparse import SparseRows
from recoengine.training import blend_scorer, train, weight_grid


def _brute_graphs(lists: list[list[int]], n: int, p: GraphParams) -> dict[str, np.ndarray]:
    """The definitions of item_graphs.py, written densely and naively."""
    cooc = np.zeros((n, n))
    users_of = np.zeros(n)
    trans = np.zeros((n, n))
    for h in lists:
        held = sorted(set(h[-p.max_user_items :]))
        for i in held:
            users_of[i] += 1
            for j in held:
                if i != j:
                    cooc[i, j] += 1
        for t in range(len(h)):
            for s in range(1, p.transition_window + 1):
                if t + s < len(h) and h[t] != h[t + s]:
                    trans[h[t], h[t + s]] += 0.5 ** ((s - 1) / p.transition_half_life)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.nan_to_num(cooc / np.sqrt(np.outer(users_of, users_of)))
        nexts = np.nan_to_num(trans / (trans.sum(axis=1, keepdims=True) + p.transition_smoothing))
    gram = cooc + np.diag(users_of + p.ease_l2)
    precision = np.linalg.inv(gram)
    ease = precision / -np.diag(precision)
    np.fill_diagonal(ease, 0.0)
    return {"cooccurrence": cosine, "transitions": nexts, "ease": ease}


def _assert_top_k(got: SparseRows, dense: np.ndarray, k: int, name: str) -> None:
    """``got`` keeps, per row, ``k`` of the largest positive values of ``dense`` (a tie may go
    either way when the two computations round differently), with their values."""
    for i, row in enumerate(dense):
        cols, vals = got.row(i)
        positive = np.flatnonzero(row > 1e-9)
        assert len(cols) == min(k, len(positive)), (name, i)
        assert np.allclose(vals, row[cols], atol=1e-5), (name, i)
        dropped = np.setdiff1d(positive, cols)
        if len(cols) and len(dropped):
            assert vals.min() >= row[dropped].max() - 1e-6, (name, i)


@settings(max_examples=40, deadline=None)
@given(
    lists=st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=12), min_size=1, max_size=15),
    k=st.integers(1, 8),
    cap=st.integers(1, 12),
    smoothing=st.sampled_from([0.0, 0.5, 30.0]),
)
def test_graphs_equal_their_brute_force_definitions(
    lists: list[list[int]], k: int, cap: int, smoothing: float
) -> None:
    p = GraphParams(neighbours=k, max_user_items=cap, ease_l2=2.0, transition_smoothing=smoothing)
    hist = Histories.from_lists([np.asarray(h, np.int32) for h in lists])
    graphs = fit_graphs(hist, 8, p)
    brute = _brute_graphs(lists, 8, p)
    for name in ("cooccurrence", "transitions"):
        got: SparseRows = getattr(graphs, name)
        assert np.diff(got.indptr).max(initial=0) <= k
        _assert_top_k(got, brute[name], k, name)
    # Eight items: EASE is kept whole, negative entries too (every entry of EASE itself).
    assert ease_k(8, p) == 7
    assert graphs.ease is not None
    whole = brute["ease"]
    for i, row in enumerate(whole):
        cols, vals = graphs.ease.row(i)
        np.testing.assert_array_equal(np.sort(cols), np.flatnonzero(np.abs(row) > 1e-9))
        assert np.allclose(vals, row[cols], atol=1e-5)
    if k < 7:  # a K short of a whole row keeps the K best positive entries
        pruned = fit_graphs(hist, 8, replace(p, ease_entries=0)).ease
        assert pruned is not None
        _assert_top_k(pruned, whole, k, "ease pruned")


def test_ease_is_kept_whole_only_where_it_is_small() -> None:
    p = GraphParams(neighbours=100, ease_entries=3_000_000)
    assert ease_k(1_682, p) == 1_681  # ML-100K: all of EASE (2.8M entries)
    assert ease_k(1_800, p) == 100  # 3.2M entries: the best K positive ones
    assert ease_k(11_924, p) == 100
    assert ease_k(1_682, GraphParams(ease_neighbours=50)) == 50


def test_large_catalogs_skip_exact_ease() -> None:
    hist = Histories.from_lists([np.array([0, 1, 2], np.int32), np.array([1, 2], np.int32)])
    assert fit_graphs(hist, 3, GraphParams(ease_max_items=2)).ease is None


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_gather_equals_a_dense_weighted_sum(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 30))
    dense = [
        np.asarray(
            data.draw(
                st.lists(
                    st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]), min_size=n, max_size=n),
                    min_size=n,
                    max_size=n,
                )
            ),
            np.float32,
        )
        for _ in range(2)
    ]
    graphs = [SparseRows.from_dense(d).kernel for d in dense]
    rows = [
        np.asarray(data.draw(st.lists(st.integers(0, n - 1), max_size=6)), np.int32) for _ in dense
    ]
    weights = [
        np.asarray(
            data.draw(st.lists(st.floats(0, 2, width=32), min_size=len(r), max_size=len(r))),
            np.float32,
        )
        for r in rows
    ]
    extra = np.asarray(data.draw(st.lists(st.integers(0, n - 1), max_size=5)), np.int32)
    forbidden = np.asarray(data.draw(st.lists(st.integers(0, n - 1), max_size=5)), np.int32)
    items, cf = kernels.gather(graphs, rows, weights, extra, forbidden)

    expected = np.zeros(n)
    touched = np.zeros(n, bool)
    for d, r, w in zip(dense, rows, weights, strict=True):
        for row, wt in zip(r, w, strict=True):
            if wt != 0:
                expected += wt * d[row]
                touched |= d[row] != 0
    touched[extra] = True
    touched[forbidden] = False
    assert len(set(items.tolist())) == len(items)
    assert sorted(items.tolist()) == np.flatnonzero(touched).tolist()
    assert np.allclose(cf, expected[items], atol=1e-4)


def test_cf_learns_what_follows_what() -> None:
    # Every user watches 0 -> 1 -> 2 or 3 -> 4 -> 5; after 3 comes 4.
    lists = [np.array([0, 1, 2], np.int32)] * 20 + [np.array([3, 4, 5], np.int32)] * 20
    graphs = fit_graphs(Histories.from_lists(lists), 6, GraphParams(ease_l2=1.0))
    cf = SequenceCF(graphs, CFParams())
    items, scores = cf.gather(
        np.array([3], np.int32), np.arange(6, dtype=np.int32), np.array([3], np.int32)
    )
    score = dict(zip(items.tolist(), scores.tolist(), strict=True))
    assert max(score, key=score.__getitem__) in (4, 5)
    assert score[4] > score[1] and score[4] > score[0] and 3 not in score


def test_cf_cold_history_scores_zero() -> None:
    graphs = fit_graphs(Histories.from_lists([np.array([0, 1], np.int32)]), 3, GraphParams())
    items, scores = SequenceCF(graphs).gather(
        np.zeros(0, np.int32), np.arange(3, dtype=np.int32), np.zeros(0, np.int32)
    )
    assert len(items) == 3 and not scores.any()


def test_cb_prefers_items_sharing_features_and_matches_case_insensitively() -> None:
    features = [["horror"], ["horror", "dark"], ["Comedy"], ["Comedy", "cozy"]]
    cb = ContentModel.fit(features, popularity=np.array([1.0, 5.0, 3.0, 2.0]))
    out = np.empty(4, np.float32)
    cb.score(np.array([0], np.int32), np.arange(4, dtype=np.int32), out)
    assert out[1] > out[2] and out[1] > out[3]
    comedy, cozy, nope = cb.tokens_for(["comedy", "COZY", "nope"])
    assert comedy is not None and cozy is not None and nope is None
    every = np.arange(4, dtype=np.int32)
    assert cb.match(every, [comedy], False).tolist() == [False, False, True, True]
    assert cb.match(every, [comedy, cozy], True).tolist() == [False, False, False, True]
    assert cb.carrying(comedy).tolist() == [2, 3]  # most popular first
    assert cb.carrying(cb.tokens_for(["horror"])[0]).tolist() == [1, 0]  # type: ignore[arg-type]


def test_cb_folds_two_spellings_of_a_token_into_one_feature() -> None:
    cb = ContentModel.fit([["Comedy"], ["comedy"], ["Drama"]], popularity=np.ones(3))
    (comedy,) = cb.tokens_for(["COMEDY"])
    assert comedy is not None and cb.vocabulary == ["Comedy", "Drama"]
    assert cb.match(np.arange(3, dtype=np.int32), [comedy], False).tolist() == [True, True, False]


def test_cb_without_features_says_nothing() -> None:
    cb = ContentModel.fit([[], [], []], popularity=np.ones(3))
    out = np.ones(3, np.float32)
    cb.score(np.array([0], np.int32), np.arange(3, dtype=np.int32), out)
    assert not out.any()


def test_pa_lifts_items_a_segment_prefers() -> None:
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    items = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    attrs = {"age": ["young", "young", "old", "old"]}
    pa = PersonaModel.fit(attrs, users, items, np.ones(8, np.float32), 3)
    every = np.arange(3, dtype=np.int32)
    young, old = np.empty(3, np.float32), np.empty(3, np.float32)
    pa.score(pa.rows_for({"age": "young"}), every, young)
    pa.score(pa.rows_for({"age": "old"}), every, old)
    assert young[0] > young[1] and old[1] > old[0]
    assert pa.rows_for({"age": "unknown"}) == [] and pa.rows_for({"zzz": "young"}) == []
    assert pa.segment_top[pa.rows_for({"age": "young"})[0]][0] == 0


def test_candidate_ranks_equal_dense_ranks() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(5, 40))
        hist = rng.choice(n, size=int(rng.integers(0, 4)), replace=False)
        free = np.setdiff1d(np.arange(n), hist)
        target = int(rng.choice(free))
        cands = rng.choice(free, size=int(rng.integers(0, len(free) + 1)), replace=False)
        scores = rng.integers(0, 4, size=len(cands)).astype(np.float32)
        dense = np.full(n, -np.inf)
        dense[cands] = scores
        negatives = rng.choice(
            np.setdiff1d(free, [target]), size=min(5, len(free) - 1), replace=False
        )
        pool = n - len(np.unique(np.append(hist, target)))
        rank, sampled = metrics.candidate_ranks(scores, dense[target], pool, dense[negatives])
        if target in cands:  # a scored target: exactly the dense definition
            assert rank == metrics.rank_of(dense, target, hist)
        else:  # unscored: below every scored item, half-way among the unscored
            assert rank == len(cands) + 0.5 * (pool - len(cands))
        assert sampled == metrics.sampled_rank(dense, target, negatives)


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
    assert len(combine(np.zeros((3, 0), np.float32), (1, 1, 1), BlendCalibration()).total) == 0


def test_logistic_slope_sees_signal_not_noise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * x - 3)))).astype(float)
    assert 1.6 < logistic_slope(x, y) < 2.4
    assert logistic_slope(x, rng.integers(0, 2, 4000).astype(float)) < 0.15


def test_weight_grid_sums_to_one() -> None:
    grid = weight_grid()
    assert DEFAULT_WEIGHTS in [tuple(round(v, 6) for v in w) for w in grid]
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)


def test_trained_blend_beats_popularity_on_held_out_demo_data() -> None:
    split = leave_last_out(generate())
    ev = Evaluator(split)
    model, report = train(split.train, tune=False)
    blend = ev.run(blend_scorer(model, split.train, DEFAULT_WEIGHTS)).summary()
    pop = ev.run(popularity_scores(split.train)).summary()
    assert blend["ndcg10"] > pop["ndcg10"] * 1.3, (blend, pop)
    assert all(v >= 0 for v in report.calibration.values())


def test_data_without_features_or_attributes_trains_and_serves() -> None:
    """Like the Amazon sets: CB and PA's segments have nothing to say and must not dilute CF."""
    demo = generate(n_users=120, n_items=90, per_user=15, seed=8)
    bare = Dataset(
        item_ids=demo.item_ids,
        titles=demo.item_ids,
        item_features=[[] for _ in demo.item_ids],
        user_ids=demo.user_ids,
        user_attrs={},
        users=demo.users,
        items=demo.items,
        timestamps=demo.timestamps,
        weights=demo.weights,
        name="bare",
    )
    model, _ = train(bare, tune=False)
    scored, _blended = model.blended(np.array([1, 2, 3], np.int32), [], DEFAULT_WEIGHTS)
    assert len(scored) > 0 and not scored.raw[1].any()
    cf_only = combine(scored.raw, (1.0, 0.0, 0.0), model.calibration)
    with_cb = combine(scored.raw, (0.5, 0.5, 0.0), model.calibration)
    assert np.array_equal(
        np.argsort(-cf_only.total, kind="stable"), np.argsort(-with_cb.total, kind="stable")
    )


def test_vectorised_weight_tuning_agrees_with_full_scoring() -> None:
    from recoengine.training import fit_components, one_se_choice, tune_weights, weight_distance

    data = generate(n_users=120, n_items=150, per_user=20, seed=5)
    split = leave_last_out(data, n_holdout=2)
    ev = Evaluator(split, seed=1)
    graphs = fit_graphs(
        Histories.from_lists(list(_histories(split.train))), data.n_items, GraphParams()
    )
    model = fit_components(split.train, graphs, CFParams())
    grid = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), DEFAULT_WEIGHTS]
    slow = [ev.run(blend_scorer(model, split.train, w)).ndcg10 for w in grid]
    expected = grid[one_se_choice(slow, [weight_distance(w, DEFAULT_WEIGHTS) for w in grid])]
    assert tune_weights(model, split.train, ev, grid) == expected


def _histories(data: Dataset) -> Histories:
    from recoengine.models.history import histories

    return histories(data)


def test_one_se_rule_prefers_the_default_unless_clearly_beaten() -> None:
    from recoengine.training import one_se_choice

    rng = np.random.default_rng(3)
    base = rng.random(2000)
    noisy_best = base + rng.normal(0.0005, 0.05, 2000)  # better by noise only (< 1 SE)
    clearly = base + 0.05
    assert one_se_choice([base, noisy_best], [0.0, 1.0]) == 0
    assert one_se_choice([base, noisy_best, clearly], [0.0, 1.0, 2.0]) == 2


def test_unusable_data_is_a_data_error() -> None:
    from recoengine.errors import DataError

    demo = generate(n_users=5, n_items=5, per_user=3, seed=1)
    empty = demo.subset(np.zeros(0, dtype=np.int64))
    with pytest.raises(DataError, match="no interactions"):
        train(empty, tune=False)


def test_a_ten_item_catalog_trains() -> None:
    model, _ = train(generate(n_users=30, n_items=10, per_user=4, seed=2), tune=True)
    scored, blended = model.blended(np.array([0], np.int32), [], DEFAULT_WEIGHTS)
    assert 0 < len(scored) <= 9 and np.isfinite(blended.total).all()


def test_graphs_do_not_depend_on_the_block_size() -> None:
    """Co-occurrence is counted and pruned block by block: tiny blocks give the same graphs."""
    data = generate(n_users=80, n_items=60, per_user=12, seed=4)
    hist = _histories(data)
    whole = fit_graphs(hist, data.n_items, GraphParams(neighbours=7))
    blocks = fit_graphs(hist, data.n_items, GraphParams(neighbours=7), block_pairs=50)
    for name in ("cooccurrence", "transitions", "ease"):
        a, b = getattr(whole, name), getattr(blocks, name)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.allclose(a.data, b.data)
