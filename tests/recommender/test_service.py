"""The recommender service: exclusions, context, cold start, warnings, components, cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoengine.artifact import LoadedModel
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving import RecommendContext, RecommenderService
from recoengine.serving.cache import TTLCache
from recoengine.serving.view import CatalogView


@pytest.fixture()
def service(loaded: LoadedModel) -> RecommenderService:
    return RecommenderService(loaded, DEFAULT_WEIGHTS, TTLCache(100, 60))


def test_known_user_gets_k_unseen_items_with_components(service: RecommenderService) -> None:
    uid = service.catalog.user_ids[5]
    seen = {service.catalog.item_ids[i] for i in service.loaded.history(5)}
    result = service.recommend(uid, 10)
    assert len(result.items) == 10
    assert not seen & {it.item_id for it in result.items}
    scores = [it.score for it in result.items]
    assert scores == sorted(scores, reverse=True)
    for it in result.items:
        assert set(it.components) == {"cf", "cb", "pa"}
        assert it.title == service.item_title(it.item_id)
    assert result.model_version == service.version and not result.warnings


def test_score_is_the_weighted_sum_of_components(loaded: LoadedModel) -> None:
    svc = RecommenderService(loaded, (0.5, 0.3, 0.2))
    for it in svc.recommend(loaded.catalog.user_ids[1], 5).items:
        c = it.components
        assert it.score == pytest.approx(0.5 * c["cf"] + 0.3 * c["cb"] + 0.2 * c["pa"], abs=1e-4)


def test_context_exclude_features_and_recent_items(service: RecommenderService) -> None:
    uid = service.catalog.user_ids[2]
    first = service.recommend(uid, 5).items
    banned = [first[0].item_id, first[1].item_id]
    again = service.recommend(uid, 5, RecommendContext(exclude=banned)).items
    assert not set(banned) & {it.item_id for it in again}
    feature = service.catalog.features[0][0]
    only = service.recommend(uid, 5, RecommendContext(features=[feature])).items
    assert only and all(
        feature in service.catalog.features[service.catalog.item_ids.index(it.item_id)]
        for it in only
    )
    recent = service.catalog.item_ids[7:10]
    cold = service.recommend("someone-new", 5).items
    moved = service.recommend("someone-new", 5, RecommendContext(recent_items=recent)).items
    assert not set(recent) & {it.item_id for it in moved}
    assert [it.item_id for it in moved] != [it.item_id for it in cold]


def test_cold_start_user_never_errors_and_persona_matters(service: RecommenderService) -> None:
    plain = service.recommend("someone-new", 8)
    assert len(plain.items) == 8
    attrs = service.catalog.user_attrs
    attr = sorted(attrs)[0]
    values = sorted(set(attrs[attr]) - {""})
    a = service.recommend("someone-new", 8, RecommendContext(persona={attr: values[0]}))
    b = service.recommend("someone-new", 8, RecommendContext(persona={attr: values[-1]}))
    assert [i.item_id for i in a.items] != [i.item_id for i in b.items]
    assert all(i.components["cf"] == 0 for i in plain.items)


def test_unknown_ids_are_ignored_with_warnings(service: RecommenderService) -> None:
    result = service.recommend(
        "u", 3, RecommendContext(recent_items=["ghost"], exclude=["phantom"], features=["nope"])
    )
    assert len(result.items) == 3
    text = " ".join(result.warnings)
    assert "ghost" in text and "phantom" in text and "nope" in text


def test_cache_hits_on_repeat_and_respects_context(service: RecommenderService) -> None:
    uid = service.catalog.user_ids[0]
    first = service.recommend(uid, 4)
    second = service.recommend(uid, 4)
    assert not first.cached and second.cached and first.items == second.items
    assert not service.recommend(uid, 4, RecommendContext(exclude=["x"])).cached
    assert service.cache.stats()["hits"] == 1


def test_k_larger_than_candidates(service: RecommenderService) -> None:
    n = service.n_items
    result = service.recommend(
        "cold", 100, RecommendContext(exclude=service.catalog.item_ids[: n - 3])
    )
    assert len(result.items) == 3


def test_similar_items(service: RecommenderService) -> None:
    iid = service.catalog.item_ids[0]
    sims = service.similar_items(iid, 5)
    assert len(sims) == 5 and iid not in {s.item_id for s in sims}
    assert service.similar_items("ghost") == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_request_answers_the_best_allowed_items_in_order(
    loaded: LoadedModel, data: st.DataObject
) -> None:
    """Against a brute-force ranking of the same blended scores: whatever the user and context,
    the answer is the top k of the items that are neither seen, excluded nor filtered out."""
    svc = RecommenderService(loaded, DEFAULT_WEIGHTS)
    cat = svc.catalog
    item = st.sampled_from(cat.item_ids)
    user = data.draw(st.one_of(st.sampled_from(cat.user_ids), st.just("someone-new")))
    ctx = RecommendContext(
        exclude=data.draw(st.lists(item, max_size=30)),
        recent_items=data.draw(st.lists(item, max_size=5)),
        features=data.draw(st.lists(st.sampled_from(svc.model.cb.vocabulary), max_size=2)),
    )
    k = data.draw(st.integers(1, 100))
    result = svc.recommend(user, k, ctx)

    u = cat.user_ids.index(user) if user in cat.user_ids else None
    history = [int(i) for i in loaded.history(u)] if u is not None else []
    history += [cat.item_ids.index(i) for i in ctx.recent_items]
    rows = svc.model.pa.rows_for(
        {a: v[u] for a, v in cat.user_attrs.items() if v[u]} if u is not None else {}
    )
    banned = np.asarray(history + [cat.item_ids.index(i) for i in ctx.exclude], np.int32)
    tokens = [t for t in svc.model.cb.tokens_for(ctx.features) if t is not None]
    extra = np.concatenate([svc.model.cb.carrying(t) for t in tokens]) if tokens else None
    for popular in (k, k + len(banned)):  # the service widens once when banned items crowd
        scored, blended = svc.model.blended(
            np.asarray(history, np.int32), rows, DEFAULT_WEIGHTS, banned, extra, popular
        )
        total = blended.total
        allowed = np.ones(len(scored), bool)
        if tokens:
            allowed &= svc.model.cb.match(scored.items, tokens, False)
        assert not set(scored.items.tolist()) & set(banned.tolist())
        positions = np.flatnonzero(allowed)
        best = positions[np.lexsort((positions, -total[positions]))][:k]
        if len(best) == k or not len(banned):
            break
    assert [it.item_id for it in result.items] == [cat.item_ids[scored.items[i]] for i in best]
    assert [it.score for it in result.items] == pytest.approx(total[best].tolist(), rel=1e-6)


def test_a_filter_with_no_matching_neighbour_still_fills_k_from_the_index(
    loaded: LoadedModel,
) -> None:
    """The user's neighbours carry none of the feature; the inverted index supplies k items."""
    svc = RecommenderService(loaded, DEFAULT_WEIGHTS)
    cb = svc.model.cb
    uid = svc.catalog.user_ids[4]
    history = svc.loaded.history(4)
    neighbours, _ = svc.model.cf.gather(history, np.zeros(0, np.int32), history)
    counts = {t: int(cb.match(neighbours, [t], False).sum()) for t in range(len(cb.vocabulary))}
    rare = min(counts, key=lambda t: (counts[t], -len(cb.carrying(t))))
    carrying = set(cb.carrying(rare).tolist()) - set(history.tolist())
    k = min(5, len(carrying))
    name = cb.vocabulary[rare].upper()  # case-insensitive too
    items = svc.recommend(uid, k, RecommendContext(features=[name])).items
    assert len(items) == k
    assert all(svc.catalog.item_ids.index(i.item_id) in carrying for i in items)


def test_all_features_mode_keeps_items_carrying_every_token(service: RecommenderService) -> None:
    cat = service.catalog
    pair = next(f[:2] for f in cat.features if len(f) >= 2)
    ctx = RecommendContext(features=list(pair), match_all_features=True)
    items = service.recommend("someone-new", 5, ctx).items
    assert items
    assert all(set(pair) <= set(cat.features[cat.item_ids.index(i.item_id)]) for i in items)


def test_similar_items_share_the_anchor_and_skip_seen_and_excluded(
    service: RecommenderService,
) -> None:
    cat = service.catalog
    anchor = cat.item_ids[10]
    seen = {cat.item_ids[i] for i in service.loaded.history(0)}
    sims = service.similar_items(anchor, 5, exclude=[cat.item_ids[11]], user_id=cat.user_ids[0])
    ids = {s.item_id for s in sims}
    assert len(sims) == 5 and anchor not in ids and cat.item_ids[11] not in ids
    assert not ids & seen
    shared = [set(cat.features[cat.item_ids.index(i)]) & set(cat.features[10]) for i in ids]
    assert sum(bool(s) for s in shared) >= 3


def test_weights_in_force_blend_weights_then_tuned_then_default(demo_model_dir) -> None:
    import json

    from recoengine.serving.service import weights_in_force

    assert weights_in_force((0.2, 0.3, 0.5), (0.5, 0.4, 0.1)) == ((0.2, 0.3, 0.5), "BLEND_WEIGHTS")
    assert weights_in_force(None, (0.5, 0.4, 0.1))[0] == (0.5, 0.4, 0.1)
    assert DEFAULT_WEIGHTS == (0.4, 0.4, 0.2)  # the product: CF 40%, CB 40%, PA 20%
    assert weights_in_force(None, None) == (DEFAULT_WEIGHTS, "default")
    # The demo model is trained without tuning: it records no tuned weights.
    manifest = json.loads((demo_model_dir / "manifest.json").read_text())
    assert manifest["weights"]["tuned"] is None


def test_the_cache_and_the_latency_report_through_callbacks(loaded) -> None:
    """Serving knows no metrics library: the wiring hands it the counters as callbacks."""
    counted: list[str] = []
    latencies: list[float] = []
    cache: TTLCache = TTLCache(
        10, 60, on_hit=lambda: counted.append("hit"), on_miss=lambda: counted.append("miss")
    )
    svc = RecommenderService(
        loaded, DEFAULT_WEIGHTS, cache, latencies.append, weights_source="test"
    )
    first = svc.recommend(loaded.catalog.user_ids[0], 3)
    again = svc.recommend(loaded.catalog.user_ids[0], 3)
    assert (first.cached, again.cached) == (False, True)
    assert counted == ["miss", "hit"] and len(latencies) == 1 and latencies[0] > 0
    status = svc.status()
    assert status["weights_source"] == "test" and status["weights"] == list(DEFAULT_WEIGHTS)
    assert status["cache"]["hits"] == 1 and status["model_version"] == loaded.version


def test_serving_imports_no_web_layer_and_no_training() -> None:
    """The recommend function's hot path stays light: no Prometheus, Flask, training code."""
    import subprocess
    import sys

    code = (
        "import sys, recoengine.serving, recoengine.serving.feedback,"
        " recoengine.sessions.user_events;"
        "bad = [m for m in sys.modules if m.startswith(('recoengine.web', 'prometheus_client',"
        " 'flask', 'recoengine.pipeline', 'recoengine.training', 'recoengine.evaluation',"
        " 'recoengine.config'))];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unseen_users_with_the_same_context_share_one_answer(service: RecommenderService) -> None:
    context = RecommendContext(persona={"segment": "student"}, exclude=["x"])
    first = service.recommend("new-user-a", 5, context)
    second = service.recommend("new-user-b", 5, RecommendContext(**vars(context)))
    assert not first.cached and second.cached
    assert [i.item_id for i in second.items] == [i.item_id for i in first.items]
    assert second.warnings == first.warnings == ["unknown item id 'x' in context.exclude ignored"]
    # Any difference in the request is another entry: k, persona, features, exclusions.
    for k, other in (
        (6, context),
        (5, RecommendContext(persona={"segment": "retiree"}, exclude=["x"])),
        (5, RecommendContext(persona={"segment": "student"})),
        (5, RecommendContext(persona={"segment": "student"}, exclude=["x"], features=["a"])),
    ):
        assert not service.recommend("new-user-c", k, other).cached
    assert service.cache.stats()["hits"] == 1


def test_unseen_users_with_events_and_known_users_keep_their_own_answers(
    service: RecommenderService,
) -> None:
    shared = service.recommend("new-user-a", 5)
    clicked = shared.items[0].item_id
    personal = service.recommend("new-user-b", 5, recent_events=[clicked])
    assert not personal.cached and clicked not in {i.item_id for i in personal.items}
    # Their events did not enter the shared entry, nor did a known user's answer.
    known = service.catalog.user_ids[0]
    assert not service.recommend(known, 5).cached
    again = service.recommend("new-user-c", 5)
    assert again.cached and [i.item_id for i in again.items] == [i.item_id for i in shared.items]
    # The same events from another new user are that user's alone: no entry is shared.
    assert not service.recommend("new-user-d", 5, recent_events=[clicked]).cached


def test_the_shared_entry_goes_with_a_catalog_update(service: RecommenderService) -> None:
    shared = service.recommend("new-user-a", 5)
    withdrawn = shared.items[0].item_id
    trained = service.trained
    view = CatalogView(
        trained.loaded,
        trained.item_index,
        np.asarray([trained.item_index[withdrawn]], dtype=np.int32),
        trained.new_items,
        "update-1",
    )
    service.apply_catalog(view)
    after = service.recommend("new-user-b", 5)
    assert not after.cached and withdrawn not in {i.item_id for i in after.items}
    assert service.recommend("new-user-c", 5).cached
