"""Property-based tests (hypothesis) of the two places hostile input reaches the core:

- the recommender: any user id and any context (known and unknown items, tokens, personas,
  any k) never raises, never recommends what the user has seen or asked to exclude, respects
  k and the feature filter, and ranks by score;
- the session store, through its public interface on both backends: any message text
  round-trips exactly (every Unicode scalar value that can be UTF-8 encoded, NULs, newlines,
  RTL marks, emoji) and turns come back in the order they were appended.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoengine.artifact import LoadedModel
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving import RecommendContext, RecommenderService
from recoengine.serving.cache import TTLCache
from recoengine.sessions.sqlite_store import SqliteSessionStore

FAST = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

ANY_TEXT = st.text(max_size=40)


@pytest.fixture(scope="module")
def service(loaded: LoadedModel) -> RecommenderService:
    return RecommenderService(loaded, DEFAULT_WEIGHTS, TTLCache(0, 0))


def contexts(loaded: LoadedModel) -> st.SearchStrategy[tuple]:
    cat = loaded.catalog
    items = st.one_of(st.sampled_from(cat.item_ids), ANY_TEXT)
    vocab = sorted({t for fs in cat.features for t in fs})
    tokens = st.one_of(st.sampled_from(vocab), ANY_TEXT)
    attrs = sorted(cat.user_attrs)
    persona = st.dictionaries(
        st.one_of(st.sampled_from(attrs), ANY_TEXT) if attrs else ANY_TEXT, ANY_TEXT, max_size=4
    )
    users = st.one_of(st.sampled_from(cat.user_ids), ANY_TEXT)
    context = st.builds(
        RecommendContext,
        persona=persona,
        features=st.lists(tokens, max_size=4),
        exclude=st.lists(items, max_size=60),
        recent_items=st.lists(items, max_size=20),
    )
    return st.tuples(users, st.integers(1, 500), context, st.lists(items, max_size=10))


def test_recommend_never_raises_and_never_returns_seen_or_excluded(service, loaded):
    cat = loaded.catalog
    index = {iid: i for i, iid in enumerate(cat.item_ids)}

    @FAST
    @given(contexts(loaded))
    def prop(args: tuple) -> None:
        user_id, k, context, events = args
        result = service.recommend(user_id, k, context, recent_events=events)
        ids = [it.item_id for it in result.items]
        assert len(ids) <= k and len(ids) == len(set(ids))
        user = cat.user_ids.index(user_id) if user_id in cat.user_ids else None
        seen = {cat.item_ids[i] for i in loaded.history(user)} if user is not None else set()
        banned = seen | set(context.exclude) | set(context.recent_items) | set(events)
        assert not banned & set(ids)
        scores = [it.score for it in result.items]
        assert all(np.isfinite(scores)) and scores == sorted(scores, reverse=True)
        # exactly min(k, eligible): the filter drops nothing it should keep
        eligible = np.ones(len(cat.item_ids), dtype=bool)
        eligible[[index[i] for i in banned if i in index]] = False
        cb = service.model.cb
        known = [t for t in cb.tokens_for(list(context.features)) if t is not None]
        if known:
            eligible &= cb.match(np.arange(len(cat.item_ids), dtype=np.int32), known, False)
        assert len(ids) == min(k, int(eligible.sum()))
        assert all(eligible[index[i]] for i in ids)

    prop()


# -- the session store ------------------------------------------------------------------------

MESSAGES = st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=6)
MESSAGE_SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
EDGE_TEXTS = [
    "\x00",
    "a\x00b",
    "line\nbreak\r\n",
    "\u202eevil\u202c",
    "🙂👍🏽",
    "\U0010ffff",
    "é" * 4000,
    " ",
    "",
    "'; DROP TABLE sessions; --",
]


def _round_trip(store, texts: list[str]) -> None:
    session = store.create("prop-user")
    for n, text in enumerate(texts):
        store.append_turn(session.session_id, text, text[::-1], f"p{n}")
    turns = store.recent_turns(session.session_id, len(texts) + 5)
    assert [t.seq for t in turns] == list(range(len(texts)))
    for turn, text in zip(turns, texts, strict=True):
        assert turn.user_text.encode("utf-8") == text.encode("utf-8")
        assert turn.reply_text == text[::-1]
    got = store.get(session.session_id)
    assert got is not None and got.turns == len(texts)


def test_sqlite_store_round_trips_any_text_in_order(tmp_path):
    store = SqliteSessionStore(tmp_path / "s.sqlite3", timedelta(hours=1))
    try:
        _round_trip(store, EDGE_TEXTS)

        @MESSAGE_SETTINGS
        @given(MESSAGES)
        def prop(texts: list[str]) -> None:
            _round_trip(store, texts)

        prop()
    finally:
        store.close()


@pytest.mark.firestore
def test_firestore_store_round_trips_any_text_in_order(firestore_client):
    from recoengine.sessions.firestore_store import FirestoreSessionStore

    store = FirestoreSessionStore(firestore_client, timedelta(hours=1))
    _round_trip(store, EDGE_TEXTS)

    @settings(MESSAGE_SETTINGS, max_examples=15)
    @given(MESSAGES)
    def prop(texts: list[str]) -> None:
        _round_trip(store, texts)

    prop()
