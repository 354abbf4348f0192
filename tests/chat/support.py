"""Shared support of the chat tests: a tiny catalogue behind the chat's ``Recommender``
port (fast and deterministic), a chat service over it, and the documented answer's check."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import jsonschema_rs

from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.recommender import Suggestion
from recoengine.chat.service import ChatLimits, ChatService
from recoengine.errors import ServiceUnavailable
from recoengine.llm.offline import OfflineResponder
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.sessions.user_events import UserEvents
from recoengine.web.openapi import document

CATALOGUE = [
    ("m1", "Laugh Riot", ("comedy",)),
    ("m2", "Space Drift", ("sci-fi", "drama")),
    ("m3", "Quiet Harbor", ("drama",)),
    ("m4", "Robot Dawn", ("sci-fi", "action")),
    ("m5", "Funny Bones", ("comedy", "animation")),
    ("m6", "Star Siege", ("sci-fi", "action")),
    ("m7", "Tears of June", ("drama", "romance")),
    ("m8", "Giggle Town", ("comedy",)),
    ("m9", "Deep Orbit", ("sci-fi",)),
    ("m10", "Last Waltz", ("romance",)),
    ("m11", "Night Chase", ("action", "thriller")),
    ("m12", "Paper Moon", ("comedy", "romance")),
]


class TinyRecommender:
    """Ranks the catalogue in list order (similar items by shared features); ``down=True``
    behaves like a missing model; ``seen`` plays the users' training histories."""

    def __init__(self, down: bool = False, seen: dict[str, list[str]] | None = None) -> None:
        self.down = down
        self.seen = seen or {}  # user -> items in their history (never recommended)
        self.calls: list[tuple[str, dict]] = []

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("recommendation model unavailable")

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        features: Sequence[str] = (),
        match_all: bool = False,
        exclude: Sequence[str] = (),
        recent_items: Sequence[str] = (),
    ) -> list[Suggestion]:
        self._check()
        asked = {
            "features": list(features),
            "match_all": match_all,
            "exclude": list(exclude),
            "recent_items": list(recent_items),
        }
        self.calls.append(("recommend", asked))
        skip = set(exclude) | set(recent_items) | set(self.seen.get(user_id, ()))
        wanted = {f.lower() for f in features}

        def fits(tokens: tuple[str, ...]) -> bool:
            if not wanted:
                return True
            have = set(tokens)
            return wanted <= have if match_all else bool(wanted & have)

        out = [
            Suggestion(i, t, 1.0 / (n + 1))
            for n, (i, t, f) in enumerate(CATALOGUE)
            if i not in skip and fits(f)
        ]
        return out[:k]

    def similar(
        self, item_id: str, k: int, *, exclude: Sequence[str] = (), user_id: str | None = None
    ) -> list[Suggestion]:
        self._check()
        self.calls.append(
            ("similar", {"item_id": item_id, "exclude": list(exclude), "user_id": user_id})
        )
        feats = set(self.features_of(item_id))
        skip = set(exclude) | {item_id} | set(self.seen.get(user_id or "", ()))
        ranked = sorted(
            (
                Suggestion(i, t, float(len(feats & set(f))))
                for i, t, f in CATALOGUE
                if i not in skip and feats & set(f)
            ),
            key=lambda s: -s.score,
        )
        return ranked[:k]

    def vocabulary(self) -> frozenset[str]:
        self._check()
        return frozenset(t for _, _, f in CATALOGUE for t in f)

    def features_of(self, item_id: str) -> tuple[str, ...]:
        return next((f for i, _, f in CATALOGUE if i == item_id), ())

    def describe(self) -> dict:
        self._check()
        return {"status": "ok", "model_version": "tiny"}


def make_engine(tmp_path, model=None, recommender=None, store=None, **limits):
    """A chat service on its own SQLite file (or ``store``); the user's recent events are
    read from that store through a ``UserEvents`` reader, as the wiring gives it one.
    Returns the service and the engine latencies it observed."""
    store = store or SqliteSessionStore(tmp_path / "chat.sqlite3")
    personalities, default = load_personalities()
    observed: list[float] = []
    engine = ChatService(
        store,
        model or OfflineResponder(),
        PersonalityRouter(personalities, default),
        recommender if recommender is not None else TinyRecommender(),
        ChatLimits(**limits),
        observed.append,
        events=UserEvents(lambda: store),
    )
    return engine, observed


@cache
def _chat_reply_schema() -> Any:
    components = document()["components"]
    return jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/ChatReply", "components": components}
    )


def undocumented(answer: dict[str, Any]) -> list[str]:
    """Where a chat answer differs from the OpenAPI document's ``ChatReply`` (which admits no
    field it does not describe): empty when the answer is exactly as documented."""
    return [str(error) for error in _chat_reply_schema().iter_errors(answer)]
