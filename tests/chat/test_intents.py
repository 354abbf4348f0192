"""Understanding messages: recommendation intents, refinements, ordinals, features."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoengine.chat.intents import Intent, features_in, ordinal_of, understand

VOCAB = {"comedy", "sci-fi", "drama", "Action"}
PREVIOUS = ["Laugh Riot", "Space Drift", "Quiet Harbor"]


@pytest.mark.parametrize(
    "message",
    [
        "recommend me something",
        "Can you suggest a movie?",
        "what should I watch tonight",
        "I'm looking for a good film",
        "any good picks?",
    ],
)
def test_recommendation_requests(message):
    assert understand(message, VOCAB).intent is Intent.RECOMMEND


@pytest.mark.parametrize(
    ("message", "ordinal"),
    [
        ("more like the second one", 1),
        ("More like the 3rd please", 2),
        ("something similar to #1", 0),
        ("more like the last one", -1),
        ("more like number 2", 1),
    ],
)
def test_more_like_refers_to_a_position(message, ordinal):
    what = understand(message, VOCAB, PREVIOUS)
    assert what.intent is Intent.MORE_LIKE
    assert what.ordinal == ordinal


def test_more_like_by_title():
    what = understand("more like quiet harbor", VOCAB, PREVIOUS)
    assert (what.intent, what.anchor_title, what.ordinal) == (
        Intent.MORE_LIKE,
        "Quiet Harbor",
        None,
    )


@pytest.mark.parametrize("message", ["something else", "show me other options", "not these"])
def test_something_else_needs_previous_picks(message):
    assert understand(message, VOCAB, PREVIOUS).intent is Intent.SOMETHING_ELSE
    assert understand(message, VOCAB, []).intent is Intent.RECOMMEND


def test_features_are_found_case_insensitively_with_plurals():
    assert features_in("recommend me some comedies or action", VOCAB) == ("Action", "comedy")
    assert understand("any sci-fi recommendations?", VOCAB).features == ("sci-fi",)


def test_help_greeting_and_chat():
    assert understand("how does this work?").intent is Intent.HELP
    assert understand("Hello there").intent is Intent.GREETING
    assert understand("my cat is called Tom").intent is Intent.CHAT
    assert understand("my cat is called Tom").topic == ""


def test_ordinals():
    assert ordinal_of("the fifth") == 4
    assert ordinal_of("option 10") == 9
    assert ordinal_of("nothing here") is None


@given(st.text(max_size=300))
def test_any_text_is_understood_without_error(text):
    what = understand(text, VOCAB, PREVIOUS)
    assert isinstance(what.intent, Intent)
