"""The offline reading strong enough to gate the model (issue 19): negation as a clause,
misspelt genre words, follow-ups that refine the last request, the reading's confidence, and
the gate in the ``Interpreter`` (sync and async) that asks the model only when the parser is
not confident."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoengine.chat.intents import Intent, understand
from recoengine.chat.interpreter import Interpreter, PreviousTurn, Reading, validate_slots
from recoengine.chat.lexicon import common_words, matcher_for
from recoengine.llm.base import SlotRequest

ML = (
    *("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime"),
    *("Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery"),
    *("Romance", "Sci-Fi", "Thriller", "War", "Western"),
)
SHOWN = ["Toy Story (1995)", "Heat (1995)", "Fargo (1996)"]


# -- negation as a clause ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "wanted", "excluded"),
    [
        ("I'd like a film that isn't a western", (), ("Western",)),
        ("give me something that is not too gory or scary", (), ("Horror",)),
        ("a movie which isn't a musical", (), ("Musical",)),
        ("a comedy that doesn't have any romance in it", ("Comedy",), ("Romance",)),
        ("anything but documentaries", (), ("Documentary",)),
        ("nothing with war in it please", (), ("War",)),
        ("a thriller that is not a horror movie", ("Thriller",), ("Horror",)),
        ("i want something that's not a thriller or a horror", (), ("Thriller", "Horror")),
        ("a film that isn't animated but is funny", ("Comedy",), ("Animation",)),
        ("something that won't be too romantic, maybe an adventure", ("Adventure",), ("Romance",)),
        ("I don't really want to watch anything sad", (), ("Drama",)),
        ("a crime story that's not a drama", ("Crime",), ("Drama",)),
        ("no horror something funny", ("Comedy",), ("Horror",)),
    ],
)
def test_a_negation_governs_its_clause(message, wanted, excluded):
    what = understand(message, ML)
    assert what.intent is Intent.RECOMMEND
    assert (what.features, what.excluded) == (wanted, excluded)


@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("isn't there a good comedy?", ("Comedy",)),  # a question, not a refusal
        ("don't you have any westerns?", ("Western",)),
        ("why not a thriller", ("Thriller",)),
        ("I don't mind horror", ("Horror",)),
        ("not sure what I want, maybe a mystery", ("Mystery",)),
        ("I'm not picky, but a comedy would be nice", ("Comedy",)),
    ],
)
def test_what_looks_like_a_negation_but_is_none(message, wanted):
    what = understand(message, ML)
    assert (what.features, what.excluded) == (wanted, ())


# -- misspelt genre words ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("a horrer movie", ("Horror",)),
        ("comedie please", ("Comedy",)),
        ("any good documentarys?", ("Documentary",)),
        ("documantary please", ("Documentary",)),
        ("a thriler", ("Thriller",)),
        ("something romantc", ("Romance",)),
        ("westrens", ("Western",)),
        ("a fantsy adventure", ("Fantasy", "Adventure")),
        ("sci fy", ("Sci-Fi",)),  # two words meant as one
        ("scfi", ("Sci-Fi",)),
        ("an animaton for kids", ("Animation", "Children's")),
        ("I want a mistery", ("Mystery",)),
        ("a draam", ("Drama",)),
        ("no horrer please", ()),  # corrected, then negated
    ],
)
def test_misspelt_genres_are_corrected(message, wanted):
    what = understand(message, ML)
    assert what.intent is Intent.RECOMMEND
    assert what.features == wanted and not what.unknown
    if "no " in message:
        assert what.excluded == ("Horror",)


@pytest.mark.parametrize(
    "message",
    [
        "a prime time movie",  # crime
        "a sunny day movie",  # funny
        "a bunny movie",  # funny
        "the manic one",  # magic
        "a kiss",  # kids
        "a dream of a movie",  # drama
        "a scare",  # scary (a real word: never taken for another)
    ],
)
def test_common_words_are_never_corrected_into_a_genre(message):
    assert understand(message, ML).features == ()


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def test_every_common_word_close_to_a_genre_word_stays_itself():
    """The guarantee over the whole catalogue vocabulary and lexicon: no common English word
    one edit from a genre word (found through shared one-letter deletions) is read as it."""
    matcher = matcher_for(ML)
    forms = {form for group in matcher._typo_index().values() for form, _ in group}
    keys = set().union(*(_deletions(f) for f in forms))
    near = [
        word
        for word in common_words()
        if word not in forms and len(word) >= 4 and _deletions(word) & keys
    ]
    assert len(near) > 20  # the guard matters: many real words are one edit from a genre
    for word in near:
        what = understand(f"a {word} one", ML)
        assert not what.features and not what.excluded, word


def test_an_ambiguous_misspelling_is_left_alone():
    vocabulary = ("Zorbax", "Zorbix")  # "zorbox" is one edit from both
    assert understand("a zorbox movie", vocabulary).features == ()
    assert understand("a zorbaxx movie", vocabulary).features == ("Zorbax",)
    assert understand("a zorbax movie", vocabulary).features == ("Zorbax",)


def test_short_words_are_not_corrected():
    assert understand("a wat movie", ML).features == ()  # "war" is one edit away


# -- follow-ups that refine the last request -------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "message", "features", "excluded"),
    [
        (("Horror",), "also with some comedy", ("Horror", "Comedy"), ()),
        (("Horror",), "could you add a bit of romance?", ("Horror", "Romance"), ()),
        (("Drama",), "and make it a war film too", ("Drama", "War"), ()),
        (("Action",), "throw in some sci-fi as well", ("Action", "Sci-Fi"), ()),
        (("Crime",), "same but with a thriller", ("Crime", "Thriller"), ()),
        (("Romance", "Comedy"), "without the romance this time", ("Comedy",), ("Romance",)),
        (("Romance", "Comedy"), "lose the comedy", ("Romance",), ("Comedy",)),
        (("Horror", "Comedy"), "less scary please", ("Comedy",), ("Horror",)),
        (("Horror", "Comedy"), "take out the horror", ("Comedy",), ("Horror",)),
        (("Comedy",), "same thing but no romance", ("Comedy",), ("Romance",)),
        (
            ("Horror", "Thriller"),
            "drop the horror and add mystery",
            ("Thriller", "Mystery"),
            ("Horror",),
        ),
        (("Comedy",), "로맨스도 넣어줘", ("Comedy", "Romance"), ()),
        (("Comedy", "Horror"), "이번엔 공포 빼고", ("Comedy",), ("Horror",)),
    ],
)
def test_a_follow_up_refines_the_previous_request(previous, message, features, excluded):
    what = understand(message, ML, SHOWN, previous)
    assert what.intent is Intent.RECOMMEND and what.refined
    assert (what.features, what.excluded) == (features, excluded)
    assert what.confident


@pytest.mark.parametrize(
    "message",
    ["a western this time", "how about a drama?", "comedies", "I want a mystery"],
)
def test_a_new_request_replaces_the_previous_one(message):
    what = understand(message, ML, SHOWN, ("Horror", "Comedy"))
    assert not what.refined and "Horror" not in what.features


def test_without_a_previous_request_there_is_nothing_to_refine():
    what = understand("also with some comedy", ML)
    assert (what.features, what.refined) == (("Comedy",), False)


def test_refinements_keep_the_previous_match():
    what = understand("also add a western", ML, SHOWN, ("Comedy", "Horror"), "any")
    assert what.features == ("Comedy", "Horror", "Western") and what.match_all is False


def test_something_else_and_more_like_against_refinements():
    """ "something else" keeps its features empty (the picker keeps the last filter, minus
    what it refuses); with an added genre it carries the whole new filter; "more like" is
    never refined (its features filter the similar items by themselves)."""
    previous = ("Comedy",)
    plain = understand("something else", ML, SHOWN, previous)
    assert (plain.intent, plain.features, plain.refined) == (Intent.SOMETHING_ELSE, (), False)
    added = understand("something else, also with romance", ML, SHOWN, previous)
    assert (added.intent, added.features) == (Intent.SOMETHING_ELSE, ("Comedy", "Romance"))
    like = understand("more like the first one, also a romance", ML, SHOWN, previous)
    assert (like.intent, like.features, like.refined) == (Intent.MORE_LIKE, ("Romance",), False)


# -- confidence ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "hello there",
        "hi",
        "thanks, that sounds good",
        "I had a long day at work today",
        "what do you think about rainy weekends?",
        "how does this work?",
        "recommend me a comedy",
        "a romantic comedy",  # genres named plainly
        "I want something funny",  # a synonym in a request
        "no horror, recommend me something funny",
        "more like the second one",
        "something else",
        "I'm in the mood for a thriler",
        "안녕하세요",
        "코미디 영화 추천해줘",
        "고마워요",
    ],
)
def test_readings_a_model_could_not_improve_are_confident(message):
    assert understand(message, ML, SHOWN).confident


@pytest.mark.parametrize(
    "message",
    [
        "a zombie comedy",  # a word the catalogue does not know
        "a thriler",  # a typo, and no request around it
        "I love my kids",  # a genre's synonym in what may be small talk
        "anything with Tom Hanks?",
        "I'm bored",  # small talk that may hide a request
        "what should I see with my parents",
        "what did you think of fargo",  # a name: perhaps a title
        "recommend a drama, but nothing too sad",  # drama wanted and refused
        "not these, more like the first one",  # two follow-ups at once
        "I want a movie " + "that my whole family will enjoy and " * 4,  # long, free-form
        "좀비 영화 추천해줘",
        "심심해",
    ],
)
def test_readings_that_leave_something_out_are_not_confident(message):
    assert not understand(message, ML, SHOWN).confident


def test_a_follow_up_with_nothing_to_follow_is_not_confident():
    """ "watched it" reads as "seen them" only after picks; before any, the model decides."""
    assert not understand("I watched it last night and loved it", ML).confident
    assert not understand("something else", ML).confident


# -- the gate ------------------------------------------------------------------------------
class Extractor:
    """A model at the wire's stand-in: records what it was asked, answers ``answer``."""

    name = "test-model"

    def __init__(self, answer: object = None, fail: Exception | None = None) -> None:
        self.answer = answer
        self.fail = fail
        self.requests: list[SlotRequest] = []
        self.async_requests: list[SlotRequest] = []

    def extract(self, request: SlotRequest) -> object:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        return self.answer

    async def extract_async(self, request: SlotRequest) -> object:
        self.async_requests.append(request)
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return self.answer


class SyncOnlyExtractor:
    name = "sync-only"

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.requests: list[SlotRequest] = []

    def extract(self, request: SlotRequest) -> object:
        self.requests.append(request)
        return self.answer


ZOMBIE = {"intent": "recommend", "genres": ["Horror", "Comedy"], "unknown_terms": ["zombie"]}


def test_a_confident_reading_does_not_ask_the_model():
    model = Extractor(ZOMBIE)
    interpreter = Interpreter(model)
    reading = interpreter.read("recommend me a comedy", ML)
    assert reading == Reading(reading.what, 0.0, False)
    assert reading.what.features == ("Comedy",) and reading.understood_by == "offline"
    assert model.requests == [] and (interpreter.model_calls, interpreter.gated) == (0, 1)


def test_an_unsure_reading_asks_the_model_and_takes_its_answer():
    model = Extractor(ZOMBIE)
    interpreter = Interpreter(model)
    reading = interpreter.read("a zombie comedy", ML, PreviousTurn(SHOWN))
    assert reading.model_called and reading.understood_by == "model"
    assert reading.what.features == ("Horror", "Comedy") and reading.what.unknown == ("zombie",)
    (request,) = model.requests
    assert request == SlotRequest("a zombie comedy", tuple(sorted(ML)), tuple(SHOWN), "en")
    assert interpreter.model_calls == 1


def test_without_the_gate_every_message_asks_the_model():
    model = Extractor({"intent": "recommend", "genres": ["Comedy"]})
    interpreter = Interpreter(model, gate=False)
    what, waited = interpreter.understand("recommend me a comedy", ML)
    assert what.source == "model" and len(model.requests) == 1 and waited >= 0


def test_a_failed_call_counts_as_a_call_and_falls_back(caplog):
    interpreter = Interpreter(Extractor(fail=TimeoutError("slow")))
    with caplog.at_level(logging.WARNING):
        reading = interpreter.read("a zombie comedy", ML)
    assert reading.model_called and reading.understood_by == "fallback"
    assert reading.what.source == "offline" and reading.what.features == ("Comedy",)
    assert interpreter.failures == 1
    assert any(getattr(r, "json_fields", {}).get("understanding_fallback") for r in caplog.records)


def test_the_async_gate_awaits_the_model_only_when_unsure():
    model = Extractor(ZOMBIE)
    interpreter = Interpreter(model)

    async def both() -> tuple[Reading, Reading]:
        sure = await interpreter.understand_async("show me comedies", ML)
        unsure = await interpreter.understand_async("a zombie comedy", ML, PreviousTurn(SHOWN))
        return sure, unsure

    sure, unsure = asyncio.run(both())
    assert not sure.model_called and sure.what.features == ("Comedy",)
    assert unsure.model_called and unsure.what.source == "model"
    assert len(model.async_requests) == 1 and model.requests == []  # the async call was used


def test_the_async_gate_runs_a_sync_only_extractor_in_a_thread():
    model = SyncOnlyExtractor(ZOMBIE)
    reading = asyncio.run(Interpreter(model).understand_async("a zombie comedy", ML))
    assert reading.what.source == "model" and len(model.requests) == 1


def test_the_async_gate_falls_back_on_failure_and_on_a_bad_answer():
    async def read(model: Extractor) -> Reading:
        return await Interpreter(model).understand_async("a zombie comedy", ML)

    failed = asyncio.run(read(Extractor(fail=RuntimeError("500"))))
    bad = asyncio.run(read(Extractor(["not", "an", "object"])))
    for reading in (failed, bad):
        assert reading.model_called and reading.understood_by == "fallback"
        assert reading.what.features == ("Comedy",)


def test_a_refinement_the_model_reads_changes_the_previous_request():
    """The model is asked about the message alone: its genres are the change, applied to the
    previous request as the parser would (an unknown word sends this one to the model)."""
    previous = PreviousTurn(SHOWN, ("Horror",))
    model = Extractor({"intent": "recommend", "genres": ["Comedy"], "unknown_terms": ["slapstick"]})
    reading = Interpreter(model).read("also with some slapstick comedy", ML, previous)
    assert reading.model_called and reading.what.refined
    assert reading.what.features == ("Horror", "Comedy") and reading.what.unknown == ("slapstick",)
    offline = understand("drop the horror, add slapstick", ML, SHOWN, ("Horror", "Drama"))
    assert offline.refined and not offline.confident
    raw = {"intent": "recommend", "genres": [], "exclude_genres": ["horror"]}
    previous = PreviousTurn(SHOWN, ("Horror", "Drama"))
    merged = validate_slots(raw, "drop the horror, add slapstick", ML, offline, previous)
    assert (merged.features, merged.excluded) == (("Drama",), ("Horror",))


def test_the_load_mix_is_read_without_the_model():
    """The chat load of ``make bench`` (tools.benchkit): in a conversation every message is
    read confidently, so with Gemini configured each of its turns makes one model call, the
    reply. Only "something else" as a conversation's very first message asks the model."""
    from tools.benchkit import CHAT_MESSAGES

    for message in CHAT_MESSAGES:
        assert understand(message, ML, SHOWN, ("Comedy",)).confident, message
        assert understand(message, ML).confident is (message != "something else"), message


def test_a_reading_serialises_its_fields_for_logs():
    reading = Reading(understand("hello", ML))
    assert json.dumps({"model_called": reading.model_called, "waited": reading.waited})


WORDS = ["not", "no", "isn't", "or", "horror", "comedy", "also", "too", "drop", "the", "less"]
WORDS += ["scary", "non-drama", "romance-free", "same", "but", "sci fi", "horor", "make it"]


@given(
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join) | st.text(max_size=80),
    st.lists(st.sampled_from(ML), max_size=3, unique=True),
    st.sampled_from(["all", "any"]),
)
def test_a_genre_is_never_both_wanted_and_refused(message, previous, match):
    what = understand(message, ML, SHOWN if previous else [], tuple(previous), match)
    assert not set(what.features) & set(what.excluded)
    assert what.refined <= bool(previous)  # nothing to refine without a previous request
