"""Personalities from configuration and the router that picks one for each turn.

A personality is a name, a style and a system instruction, plus the topics and keywords it
owns. The default set ships as ``personalities.json`` next to this module; ``PERSONALITIES_FILE``
points at another file in the same format. Routing is by the message's topic (from its intent
or a personality's keywords) and is sticky: a message that carries no topic of its own, or
the same topic, keeps the current personality; only a change of topic switches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoengine.chat.intents import Understanding
from recoengine.errors import ConfigError

DEFAULT_FILE = Path(__file__).with_name("personalities.json")
_MAX_PERSONALITIES = 50


@dataclass(frozen=True)
class Personality:
    name: str
    style: str
    system_instruction: str
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Routing:
    personality: Personality
    topic: str
    switched: bool
    reason: str


def _personality(raw: Any, source: str) -> Personality:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: each personality must be an object")
    missing = [k for k in ("name", "style", "system_instruction") if not raw.get(k)]
    if missing:
        raise ConfigError(f"{source}: personality is missing {', '.join(missing)}")
    return Personality(
        name=str(raw["name"]),
        style=str(raw["style"]),
        system_instruction=str(raw["system_instruction"]),
        topics=tuple(str(t) for t in raw.get("topics", [])),
        keywords=tuple(str(k).lower() for k in raw.get("keywords", [])),
        description=str(raw.get("description", "")),
    )


def load_personalities(path: str | Path | None = None) -> tuple[dict[str, Personality], str]:
    """The personalities by name (file order kept) and the default's name.

    Raises ConfigError naming the file when it is unreadable or inconsistent, so a bad
    deployment fails at start-up.
    """
    source = Path(path) if path else DEFAULT_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"PERSONALITIES_FILE={source}: {exc}") from None
    raw = data.get("personalities") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw or len(raw) > _MAX_PERSONALITIES:
        raise ConfigError(f"{source}: expected 1 to {_MAX_PERSONALITIES} personalities")
    personalities: dict[str, Personality] = {}
    for item in raw:
        p = _personality(item, str(source))
        if p.name in personalities:
            raise ConfigError(f"{source}: duplicate personality {p.name!r}")
        personalities[p.name] = p
    default = str(data.get("default") or next(iter(personalities)))
    if default not in personalities:
        raise ConfigError(f"{source}: default {default!r} is not a personality")
    return personalities, default


class PersonalityRouter:
    def __init__(
        self,
        personalities: dict[str, Personality],
        default: str,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.personalities = personalities
        self.default = personalities[default]
        self.observe = observe
        self._by_topic: dict[str, Personality] = {}
        for p in personalities.values():
            for topic in p.topics:
                self._by_topic.setdefault(topic, p)

    def _keyword_topic(self, message: str) -> str:
        words = set(message.lower().split())
        for p in self.personalities.values():
            if p.topics and any(k in words for k in p.keywords):
                return p.topics[0]
        return ""

    def route(
        self, understanding: Understanding, message: str, current: str, topic: str
    ) -> Routing:
        started = time.perf_counter()
        try:
            return self._route(understanding, message, current, topic)
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - started)

    def _route(
        self, understanding: Understanding, message: str, current: str, topic: str
    ) -> Routing:
        now = self.personalities.get(current)
        new_topic = understanding.topic or self._keyword_topic(message)
        if now is not None and (not new_topic or new_topic == topic):
            return Routing(now, topic, False, "sticky")
        chosen = self._by_topic.get(new_topic, self.default) if new_topic else self.default
        reason = f"topic {new_topic}" if new_topic else "default"
        switched = now is not None and chosen.name != now.name
        return Routing(chosen, new_topic, switched, reason)
