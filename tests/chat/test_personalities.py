"""Personalities from configuration and sticky routing by topic."""

from __future__ import annotations

import json

import pytest

from recoengine.chat.intents import understand
from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.errors import ConfigError
from recoengine.llm.offline import replies
from recoengine.web.metrics import PERSONALITY_ROUTER_LATENCY, REGISTRY


@pytest.fixture()
def router():
    personalities, default = load_personalities()
    return PersonalityRouter(personalities, default)


def route(router, message, current="", topic=""):
    return router.route(understand(message), message, current, topic)


def test_default_set_ships_with_the_package():
    personalities, default = load_personalities()
    assert default == "companion"
    assert {"curator", "guide", "companion"} <= set(personalities)
    assert all(p.system_instruction and p.style for p in personalities.values())


def test_the_offline_voices_are_those_of_the_shipped_personalities():
    """personalities.json names the personalities; the offline responder's phrases per
    personality (llm/replies.json) are keyed by those names and no others."""
    personalities, _ = load_personalities()
    for language, table in replies().items():
        for phrases in ("openers", "greetings"):
            named = set(table[phrases]) - {""}
            assert named == set(personalities), (language, phrases)


def test_routes_by_intent(router):
    assert route(router, "recommend me a film").personality.name == "curator"
    assert route(router, "how does this work?").personality.name == "guide"
    assert route(router, "hello").personality.name == "companion"


def test_sticky_until_the_topic_changes(router):
    r = route(router, "thanks, that sounds nice", "curator", "recommendations")
    assert (r.personality.name, r.switched, r.reason) == ("curator", False, "sticky")
    r = route(router, "how do I delete my data?", "curator", "recommendations")
    assert (r.personality.name, r.switched, r.topic) == ("guide", True, "help")


def test_keywords_set_the_topic(router):
    assert route(router, "I love this film", "guide", "help").personality.name == "curator"


def test_router_latency_is_observed():
    personalities, default = load_personalities()
    count = "personality_router_latency_seconds_count"
    before = REGISTRY.get_sample_value(count) or 0.0
    r = PersonalityRouter(personalities, default, PERSONALITY_ROUTER_LATENCY.observe)
    route(r, "recommend me something")
    assert REGISTRY.get_sample_value(count) == before + 1


def test_custom_file_and_bad_files(tmp_path):
    good = tmp_path / "p.json"
    pirate = {"name": "pirate", "style": "arr", "system_instruction": "Talk like a pirate."}
    good.write_text(json.dumps({"personalities": [pirate | {"topics": ["recommendations"]}]}))
    personalities, default = load_personalities(good)
    assert default == "pirate" and personalities["pirate"].topics == ("recommendations",)
    bad = tmp_path / "bad.json"
    incomplete = {"personalities": [{"name": "x"}]}
    unknown_default = {"default": "y", "personalities": [pirate]}
    for content in ("{nope", json.dumps(incomplete), json.dumps(unknown_default)):
        bad.write_text(content)
        with pytest.raises(ConfigError):
            load_personalities(bad)
