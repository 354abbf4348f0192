"""One chat turn, end to end: session, understanding, routing, recommendations, reply, save.

The service owns no I/O of its own; it talks to a ``SessionStore``, a ``LanguageModel``, a
``Recommender`` and a ``RecentItems`` reader (the user's recent clicks, the same reader the
recommend function uses) through their interfaces, and understands messages through an
``Interpreter`` (the offline parser, or a model's structured output validated against the
catalogue). Everything here except the model calls is the "multi-turn engine" whose time is
observed (``multiturn_engine_latency``). A turn is saved
in one atomic append after the reply exists; the state update runs on the freshest stored
state, so concurrent turns on one session neither lose messages nor clobber each other's
summary or the list of items already shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recoengine.chat.intents import RECOMMENDATION_INTENTS, Understanding
from recoengine.chat.interpreter import Interpreter
from recoengine.chat.memory import build_context, fold, stored_summary_chars, summarize_turn
from recoengine.chat.personalities import PersonalityRouter
from recoengine.chat.picking import Picker, Picks, engine_down_note
from recoengine.chat.recommender import RecentItems, Recommender, Suggestion
from recoengine.chat.turn_cache import TurnCache
from recoengine.llm.base import Completion, LanguageModel, Prompt, PromptItem
from recoengine.llm.offline import OfflineResponder
from recoengine.sessions.model import (
    RecommendedItem,
    Session,
    SessionNotFound,
    SessionState,
    SessionStore,
    Turn,
    is_session_id,
    utcnow,
)
from recoengine.sessions.user_events import UserEvents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatLimits:
    budget_chars: int = 6000
    summary_max_chars: int = 1500
    max_window_turns: int = 12
    k: int = 5
    events_for_context: int = 20


@dataclass(frozen=True)
class TurnResult:
    """One turn's answer. ``responder`` names who wrote the reply (``offline`` or ``gemini``)
    and ``fallback`` whether that was a stand-in: a configured model failed and the offline
    responder answered. The offline responder configured on purpose is not a fallback, which
    is why a reply marked "[offline responder …]" can carry ``fallback: false``."""

    session_id: str
    reply: str
    personality: str
    turn: int
    expires_at: datetime
    fallback: bool
    responder: str
    intent: str
    recommendations: tuple[Suggestion, ...] | None
    language: str = "en"
    notes: tuple[str, ...] = ()
    understood: dict[str, Any] | None = None
    understood_by: str = "offline"  # "model", "fallback" (the model failed) or "offline"

    def log_fields(self) -> dict[str, str]:
        """The turn's access-log fields, counted per revision by the ``chat_turns`` log-based
        metric (chat's fallback rates, which the canary's rollback rules judge): who wrote the
        reply and who understood the message, each ``model``, ``fallback`` (the configured
        model failed and the offline part stood in) or ``offline`` (configured so)."""
        if self.fallback:
            reply = "fallback"
        else:
            reply = "offline" if self.responder == OfflineResponder.name else "model"
        return {"chat_reply": reply, "chat_understanding": self.understood_by}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "reply": self.reply,
            "personality": self.personality,
            "turn": self.turn,
            "expires_at": self.expires_at.isoformat(),
            "fallback": self.fallback,
            "responder": self.responder,
            "intent": self.intent,
            "language": self.language,
        }
        if self.notes:
            body["notes"] = list(self.notes)
        if self.understood is not None:
            body["understood"] = self.understood
        if self.recommendations is not None:
            body["recommendations"] = [
                {"rank": i, "item_id": s.item_id, "title": s.title, "score": s.score}
                for i, s in enumerate(self.recommendations, 1)
            ]
        return body


class ChatService:
    def __init__(
        self,
        store: SessionStore,
        model: LanguageModel,
        router: PersonalityRouter,
        recommender: Recommender | None = None,
        limits: ChatLimits = ChatLimits(),
        observe_engine: Callable[[float], None] | None = None,
        cache: TurnCache | None = None,
        interpreter: Interpreter | None = None,
        *,
        events: RecentItems | None = None,
    ) -> None:
        """``events`` reads what the user just did; the wiring passes the reader the recommend
        function uses (one breaker for both). Without one, a reader over ``store`` is made."""
        self.interpreter = interpreter if interpreter is not None else Interpreter()
        self.events: RecentItems = events if events is not None else _events_of(store)
        self.store = store
        self.model = model
        self.router = router
        self.recommender = recommender
        self.limits = limits
        self.observe_engine = observe_engine
        self.fetch_turns = limits.max_window_turns + 8  # the window plus turns to summarise
        self.cache = cache if cache is not None else TurnCache(keep_turns=self.fetch_turns)

    # -- sessions --------------------------------------------------------------------
    def owned_session(self, session_id: str, user_id: str) -> Session:
        """The session if ``user_id`` owns it; one 404 for unknown, expired and foreign ids."""
        if not is_session_id(session_id):
            raise SessionNotFound()
        session = self.store.get(session_id)
        if session is None or session.user_id != user_id:
            raise SessionNotFound()
        return session

    def history(self, session_id: str, user_id: str, limit: int = 100) -> dict[str, Any]:
        session = self.owned_session(session_id, user_id)
        turns = (
            self.store.recent_turns(session_id, limit, total=session.turns) if session.turns else []
        )
        messages: list[dict[str, Any]] = []
        for t in turns:
            at = t.created_at.isoformat()
            messages.append({"turn": t.seq + 1, "role": "user", "text": t.user_text, "at": at})
            reply: dict[str, Any] = {
                "turn": t.seq + 1,
                "role": "assistant",
                "text": t.reply_text,
                "personality": t.personality,
                "fallback": t.fallback,
                "at": at,
            }
            if t.intent:
                reply["intent"] = t.intent
            if t.items:
                reply["item_ids"] = list(t.items)
            messages.append(reply)
        return {
            "session_id": session.session_id,
            "user_id": session.user_id,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
            "expires_at": session.expires_at.isoformat(),
            "turns": session.turns,
            "personality": session.state.personality,
            "topic": session.state.topic,
            "summary": session.state.summary,
            "messages": messages,
        }

    def delete(self, session_id: str, user_id: str) -> None:
        self.owned_session(session_id, user_id)
        self.store.delete(session_id)
        self.cache.forget(session_id)

    # -- recommendations -------------------------------------------------------------
    def _vocabulary(self) -> frozenset[str]:
        if self.recommender is None:
            return frozenset()
        try:
            return self.recommender.vocabulary()
        except Exception as exc:  # the engine being down must not fail the turn
            log.info("recommendation vocabulary unavailable: %s", exc)
            return frozenset()

    def _recent_items(self, user_id: str) -> list[str]:
        return self.events.recent_item_ids(user_id, self.limits.events_for_context)

    def _picks(
        self, user_id: str, what: Understanding, state: SessionState, vocabulary: frozenset[str]
    ) -> Picks:
        if self.recommender is None:
            return Picks((), notes=(engine_down_note(what.language),))
        try:
            return Picker(self.recommender, self.limits.k).pick(
                user_id, what, state, self._recent_items(user_id), vocabulary
            )
        except Exception as exc:
            log.warning("recommendation engine failed in chat: %s", exc)
            return Picks((), notes=(engine_down_note(what.language),))

    # -- the turn --------------------------------------------------------------------
    def _stored_turns(self, session: Session) -> list[Turn]:
        """The turns the context window may use, from the store (none yet: no read)."""
        if not session.turns:
            return []
        return self.store.recent_turns(session.session_id, self.fetch_turns, total=session.turns)

    def turn(self, user_id: str, message: str, session_id: str | None = None) -> TurnResult:
        started = time.perf_counter()
        if session_id:
            session = self.owned_session(session_id, user_id)
            turns = self.cache.get(session.session_id, session.turns, utcnow())
            if turns is None:
                turns = self._stored_turns(session)
        else:
            session = self.store.create(user_id)
            turns = []
        state = session.state
        vocabulary = self._vocabulary()
        what, understand_seconds = self.interpreter.understand(
            message, vocabulary, [i.title for i in state.last_items]
        )
        if self.interpreter.extractor is None:
            understood_by = "offline"
        else:
            understood_by = "model" if what.source == "model" else "fallback"
        routing = self.router.route(what, message, state.personality, state.topic)
        picks = (
            self._picks(user_id, what, state, vocabulary)
            if what.intent in RECOMMENDATION_INTENTS
            else None
        )
        context = build_context(
            turns,
            state.summary,
            state.summarized_through,
            budget_chars=self.limits.budget_chars,
            max_turns=self.limits.max_window_turns,
            summary_max_chars=self.limits.summary_max_chars,
        )
        persona = routing.personality
        prompt = Prompt(
            message=message,
            personality=persona.name,
            style=persona.style,
            system_instruction=persona.system_instruction,
            summary=context.summary,
            history=context.history,
            intent=what.intent.value,
            recommendations=tuple(PromptItem(s.item_id, s.title) for s in picks.items)
            if picks
            else (),
            anchor=picks.anchor if picks else "",
            notes=picks.notes if picks else (),
            turn=session.turns + 1,
            language=what.language,
        )
        model_started = time.perf_counter()
        try:
            completion: Completion = self.model.generate(prompt)
        except Exception as exc:  # adapters answer failures themselves; this is a safety net
            log.warning(
                "language model raised, answering offline: %s",
                exc,
                extra={"json_fields": {"fallback": True}},
            )
            offline = OfflineResponder().generate(prompt)
            completion = replace(offline, fallback=True, error=type(exc).__name__)
        model_seconds = time.perf_counter() - model_started + understand_seconds
        unsaid = [n for n in prompt.notes if n not in completion.text]
        if unsaid:  # a model that left a note out: the reply still says it
            completion = replace(completion, text=f"{completion.text}\n\n{' '.join(unsaid)}")
        shown = tuple(s.item_id for s in picks.items) if picks else ()
        line = summarize_turn(
            message, completion.text, recommended=[s.title for s in picks.items] if picks else ()
        )
        store_max = stored_summary_chars(
            self.limits.summary_max_chars, self.limits.max_window_turns
        )

        def update(fresh: SessionState) -> SessionState:
            new = replace(fresh, personality=persona.name, topic=routing.topic)
            # This turn is folded into the summary now, before its own document can expire.
            summary, through = fresh.summary, fresh.summarized_through
            if context.summarized_through > through:  # turns folded late, by this turn
                summary, through = context.stored_summary, context.summarized_through
            new = replace(
                new, summary=fold(summary, [line], store_max), summarized_through=through + 1
            )
            if picks and picks.items:
                new = replace(
                    new,
                    last_items=tuple(RecommendedItem(s.item_id, s.title) for s in picks.items),
                    shown_items=(*[i for i in fresh.shown_items if i not in shown], *shown),
                )
                if picks.features is not None:
                    new = replace(
                        new,
                        last_features=picks.features,
                        last_match="all" if picks.match_all else "any",
                    )
            return new

        saved, turn = self.store.append_turn(
            session.session_id,
            message,
            completion.text,
            persona.name,
            update,
            fallback=completion.fallback,
            expected=session,
            intent=what.intent.value,
            items=shown,
        )
        self.cache.appended(session.session_id, turns, turn, session.turns)
        if self.observe_engine is not None:
            self.observe_engine(max(0.0, time.perf_counter() - started - model_seconds))
        return TurnResult(
            session_id=saved.session_id,
            reply=completion.text,
            personality=persona.name,
            turn=turn.seq + 1,
            expires_at=saved.expires_at,
            fallback=completion.fallback,
            responder=OfflineResponder.name if completion.fallback else self.model.name,
            intent=what.intent.value,
            recommendations=picks.items if picks else None,
            language=what.language,
            notes=picks.notes if picks else (),
            understood=_understood(what, picks) if picks is not None else None,
            understood_by=understood_by,
        )


def _events_of(store: SessionStore) -> RecentItems:
    """A reader over ``store`` with its own breaker, for a service built without the wiring's
    shared one (tests, benchmarks)."""
    return UserEvents(lambda: store)


def _understood(what: Understanding, picks: Picks) -> dict[str, Any]:
    """What the turn understood, for clients and for judging understanding; ``filter`` is
    the one applied when it differs (kept from the previous request by "something else")."""
    body: dict[str, Any] = {
        "features": list(what.features),
        "match": "all" if what.match_all else "any",
        "source": what.source,
    }
    if what.excluded:
        body["excluded"] = list(what.excluded)
    if what.unknown:
        body["unknown"] = list(what.unknown)
    if what.ordinal is not None:
        body["ordinal"] = what.ordinal + 1 if what.ordinal >= 0 else -1
    if what.anchor_title:
        body["anchor_title"] = what.anchor_title
    if picks.features is not None and picks.features != what.features:
        match = "all" if picks.match_all else "any"
        body["filter"] = {"features": list(picks.features), "match": match}
    return body
