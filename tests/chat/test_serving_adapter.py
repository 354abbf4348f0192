"""The chat's port onto the real recommendation service (the demo model, trained once)."""

from __future__ import annotations

import pytest

from recoengine.errors import ServiceUnavailable
from recoengine.wiring.serving_recommender import ServingRecommender


@pytest.fixture()
def recommender(engine_env):
    """The adapter over the real service, loaded from the session's small demo model."""
    from recoengine.wiring.common import recommender as service

    adapter = ServingRecommender(service)
    assert adapter.describe()["status"] == "ok"
    return adapter


def test_a_missing_model_is_service_unavailable(monkeypatch, tmp_path):
    from recoengine import wiring
    from recoengine.wiring.common import recommender as service

    monkeypatch.setenv("MODEL_URI", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    wiring.reset_all()
    try:
        with pytest.raises(ServiceUnavailable):
            ServingRecommender(service).recommend("u", 3)
        with pytest.raises(ServiceUnavailable):  # remembered: not reloaded on every turn
            ServingRecommender(service).describe()
        assert not (tmp_path / "nothing-here").exists()  # never a demo model in its place
    finally:
        monkeypatch.undo()
        wiring.reset_all()


def test_describe_reports_the_weights_in_force(recommender):
    described = recommender.describe()
    assert described["model_version"] and described["items"] > 0
    assert described["weights_source"] in ("default", "artifact (tuned on validation)")
    assert set(described["cache"]) >= {"hits", "misses", "size"}


def test_recommend_filters_by_feature_and_follows_recent_items(recommender):
    vocab = recommender.vocabulary()
    assert vocab
    token = sorted(vocab)[0]
    picks = recommender.recommend("chat-user", 5, features=[token])
    assert len(picks) == 5 and len({p.item_id for p in picks}) == 5
    again = recommender.recommend("chat-user", 5, exclude=[p.item_id for p in picks])
    assert not {p.item_id for p in again} & {p.item_id for p in picks}
    steered = recommender.recommend("chat-user", 5, recent_items=[picks[0].item_id])
    assert picks[0].item_id not in {p.item_id for p in steered}


def test_similar_items_are_real_catalogue_items(recommender):
    first = recommender.recommend("chat-user", 1)[0]
    similar = recommender.similar(first.item_id, 4)
    assert similar and all(s.title for s in similar)
    assert first.item_id not in {s.item_id for s in similar}
    assert recommender.similar("no-such-item", 3) == []


def test_similar_items_leave_out_what_was_shown_and_what_the_user_saw(recommender):
    anchor = recommender.recommend("chat-user", 1)[0].item_id
    plain = [s.item_id for s in recommender.similar(anchor, 6)]
    shown = plain[:3]
    rest = [s.item_id for s in recommender.similar(anchor, 6, exclude=shown)]
    assert rest and not set(rest) & set(shown) and anchor not in rest


def test_vocabulary_features_and_all_of_several(recommender):
    vocab = recommender.vocabulary()
    first = recommender.recommend("chat-user", 1)[0].item_id
    tokens = recommender.features_of(first)
    assert tokens and set(tokens) <= vocab
    assert recommender.features_of("no-such-item") == ()
    pair = list(tokens[:2])
    if len(pair) == 2:
        both = recommender.recommend("chat-user", 5, features=pair, match_all=True)
        assert both and all(
            {t.lower() for t in pair} <= {f.lower() for f in recommender.features_of(s.item_id)}
            for s in both
        )
