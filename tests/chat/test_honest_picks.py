"""What a turn recommends and what its reply says about it: "more like" by similarity to the
anchor, nothing shown or seen coming back, honest notes for every word, filter and reference
that could not be served, replies in the user's language, and per-turn history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.service import ChatLimits, ChatService
from recoengine.chat.turn_cache import TurnCache
from recoengine.llm.base import Completion, Prompt
from recoengine.llm.offline import OFFLINE_NOTE, OfflineResponder
from recoengine.sessions.sqlite_store import SqliteSessionStore
from tests.chat.support import CATALOGUE, TinyRecommender

FEATURES = {i: set(f) for i, _, f in CATALOGUE}
PROMISE = "Here is what I would pick for you"


def make(tmp_path, recommender=None, model=None, store=None, k=3, cache=None):
    personalities, default = load_personalities()
    return ChatService(
        store or SqliteSessionStore(tmp_path / "h.sqlite3"),
        model or OfflineResponder(),
        PersonalityRouter(personalities, default),
        recommender if recommender is not None else TinyRecommender(),
        ChatLimits(k=k),
        cache=cache,
    )


def ids(result):
    return [s.item_id for s in result.recommendations]


def test_more_like_ranks_by_the_anchor_and_never_repeats_shown_or_seen(tmp_path):
    recommender = TinyRecommender(seen={"ann": ["m9"]})  # m9 (sci-fi) is in her history
    engine = make(tmp_path, recommender, k=2)
    engine.store.record_item_event("ann", "m6", "click")  # and she just clicked m6
    first = engine.turn("ann", "any sci-fi?")
    assert ids(first) == ["m2", "m4"]  # m6 clicked, m9 seen: never offered
    more = engine.turn("ann", "more like the second one", first.session_id)
    assert recommender.calls[-1][0] == "similar"
    assert recommender.calls[-1][1]["item_id"] == "m4"  # the anchor itself, not a pseudo-user
    assert recommender.calls[-1][1]["user_id"] == "ann"
    got = ids(more)
    assert got and all(FEATURES[i] & FEATURES["m4"] for i in got)
    assert not set(got) & {"m2", "m4", "m6", "m9"}
    again = engine.turn("ann", "more like the first one", more.session_id)
    assert not set(ids(again)) & {"m2", "m4", "m6", "m9", *got}  # two turns back included
    assert f"more like {more.recommendations[0].title}" in again.reply


def test_a_position_past_the_list_is_said_and_nothing_is_substituted(tmp_path):
    engine = make(tmp_path)
    first = engine.turn("bo", "recommend me a comedy")
    ninth = engine.turn("bo", "more like the ninth one", first.session_id)
    assert ninth.intent == "more_like" and ninth.recommendations == ()
    assert "There is no ninth one: I showed you 3. Pick one from 1 to 3." in ninth.reply
    assert PROMISE not in ninth.reply
    assert engine.store.get(first.session_id).state.last_items  # the list is still there


def test_several_genres_mean_all_of_them_and_fall_back_to_any_with_a_note(tmp_path):
    engine = make(tmp_path)
    both = engine.turn("cy", "a comedy romance")
    assert ids(both)[0] == "m12" and FEATURES["m12"] >= {"comedy", "romance"}
    assert "Only 1 of these is comedy and romance at once; the rest are comedy or romance." in (
        both.reply
    )
    assert all(FEATURES[i] & {"comedy", "romance"} for i in ids(both))
    none = engine.turn("cy", "a horror comedy")  # the tiny catalogue has no horror at all
    assert "This catalogue has no horror category, so I left it out." in none.reply
    scifi_romance = engine.turn("cy", "sci-fi romance", none.session_id)
    assert "Nothing I can offer is sci-fi and romance at once, so these are sci-fi or " in (
        scifi_romance.reply
    )


def test_dropped_words_are_said(tmp_path):
    engine = make(tmp_path)
    result = engine.turn("di", "I want a zombie comedy")
    assert all("comedy" in FEATURES[i] for i in ids(result))
    assert 'I don\'t know "zombie" in this catalogue, so I left it out.' in result.reply
    understood = {"features": ["comedy"], "match": "all", "source": "offline"}
    assert result.understood == understood | {"unknown": ["zombie"]}


def test_an_exhausted_filter_is_said_before_wider_picks(tmp_path):
    engine = make(tmp_path, k=2)
    sid = engine.turn("ed", "a drama").session_id  # m2, m3 of the three dramas
    more = engine.turn("ed", "something else", sid)
    assert ids(more)[0] == "m7"
    assert "Only 1 more drama title is left that I haven't shown you" in more.reply
    out = engine.turn("ed", "something else", sid)
    assert "There are no more drama titles I haven't shown you, so here is something wider." in (
        out.reply
    )
    assert out.recommendations and not set(ids(out)) & {"m2", "m3", "m7"}


def test_exclusions_are_applied_and_said(tmp_path):
    engine = make(tmp_path)
    result = engine.turn("fa", "no romance, something funny")
    assert ids(result) and all(
        "comedy" in FEATURES[i] and "romance" not in FEATURES[i] for i in ids(result)
    )
    assert "Leaving out romance, as you asked." in result.reply


def test_korean_is_answered_in_korean(tmp_path):
    engine = make(tmp_path)
    result = engine.turn("gu", "코미디 영화 추천해줘")
    assert result.language == "ko" and result.intent == "recommend"
    assert all("comedy" in FEATURES[i] for i in ids(result))
    assert result.reply.startswith("[오프라인 응답") and "이런 작품을 골라 봤어요" in result.reply
    zombie = engine.turn("gu", "좀비 영화 추천해줘", result.session_id)
    assert '"좀비"은(는) 이 카탈로그에서 찾을 수 없는 말이라 빼고 골랐어요.' in zombie.reply
    ninth = engine.turn("gu", "아홉 번째랑 비슷한 거", zombie.session_id)
    assert "아홉 번째 작품은 없어요" in ninth.reply and ninth.recommendations == ()
    down = make(tmp_path, TinyRecommender(down=True)).turn("gu", "공포 영화 보여줘")
    assert "추천 엔진을 사용할 수 없어요" in down.reply and down.recommendations == ()


def test_no_reply_promises_picks_it_does_not_give(tmp_path):
    engine = make(tmp_path)
    sid = engine.turn("ho", "recommend me a comedy").session_id  # the curator now answers
    for message in ("thanks, sounds great", "my cat is called Tom", "hello"):
        result = engine.turn("ho", message, sid)
        assert result.recommendations is None and PROMISE not in result.reply
    down = make(tmp_path, TinyRecommender(down=True)).turn("ho", "recommend me a drama")
    assert down.recommendations == () and PROMISE not in down.reply
    assert down.reply.startswith(OFFLINE_NOTE) and "unavailable" in down.reply


def test_each_turn_stores_its_intent_and_items(tmp_path):
    engine = make(tmp_path)
    first = engine.turn("ivy", "recommend me a comedy")
    engine.turn("ivy", "hello", first.session_id)
    turns = engine.store.recent_turns(first.session_id, 10)
    assert [(t.intent, t.items) for t in turns] == [
        ("recommend", tuple(ids(first))),
        ("greeting", ()),
    ]
    messages = engine.history(first.session_id, "ivy")["messages"]
    assert messages[1]["intent"] == "recommend" and messages[1]["item_ids"] == ids(first)
    assert "item_ids" not in messages[3]


class Capture:
    name = "capture"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def generate(self, prompt: Prompt) -> Completion:
        self.prompts.append(prompt)
        return Completion(f"reply {len(self.prompts)}", self.name)

    def describe(self) -> dict:
        return {"status": "ok"}


def test_a_turn_that_expires_before_its_session_survives_in_the_summary(tmp_path):
    """A turn's document expires 24 h after it was written; the session lives on while the
    user talks. The turn was folded into the summary when it was written, so neither the
    history nor the model's context loses it."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = SqliteSessionStore(tmp_path / "t.sqlite3", clock=lambda: now[0])
    model = Capture()
    engine = make(tmp_path, model=model, store=store, cache=TurnCache(max_sessions=0))
    sid = engine.turn("jo", "my favourite colour is teal").session_id
    now[0] += timedelta(hours=20)
    engine.turn("jo", "and I live in Busan", sid)
    now[0] += timedelta(hours=10)  # the first turn has expired, the session has not
    assert [t.user_text for t in store.recent_turns(sid, 10)] == ["and I live in Busan"]
    engine.turn("jo", "what do you remember?", sid)
    prompt = model.prompts[-1]
    assert "teal" in prompt.summary  # from the summary: its turn document is gone
    assert [u for u, _ in prompt.history] == ["and I live in Busan"]
    assert "Busan" not in prompt.summary  # no turn twice in one prompt
    view = engine.history(sid, "jo")
    assert "teal" in view["summary"] and "Busan" in view["summary"]


def test_an_excluded_genre_leaves_the_kept_filter(tmp_path):
    engine = make(tmp_path, k=2)
    sid = engine.turn("kim", "a comedy romance").session_id
    other = engine.turn("kim", "로맨스 말고 다른 거", sid)
    assert other.intent == "something_else" and other.language == "ko"
    got = ids(other)
    assert got and all("comedy" in FEATURES[i] and "romance" not in FEATURES[i] for i in got)


def test_a_title_that_was_not_shown_is_said(tmp_path):
    engine = make(tmp_path)
    first = engine.turn("lee", "recommend me a comedy")
    more = engine.turn("lee", "movies like the godfather", first.session_id)
    assert more.intent == "more_like" and more.recommendations
    anchor = first.recommendations[0].title
    assert (
        'I can only compare with titles I have shown you, and "godfather" is not one of them, so'
        f" I took the first one, {anchor}." in more.reply
    )
    fresh = make(tmp_path).turn("lee", "something like Toy Story")
    assert "I have not shown you anything yet to compare with" in fresh.reply


def test_words_dropped_from_a_more_like_are_said(tmp_path):
    engine = make(tmp_path)
    first = engine.turn("max", "recommend me a comedy")
    more = engine.turn("max", "more like the second one but with zombies", first.session_id)
    assert more.intent == "more_like" and more.recommendations
    assert 'I don\'t know "zombies" in this catalogue, so I left it out.' in more.reply
