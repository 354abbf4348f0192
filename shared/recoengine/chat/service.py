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

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from recoengine.chat.intents import RECOMMENDATION_INTENTS, Understanding
from recoengine.chat.interpreter import Asking, Interpreter, PreviousTurn, Reading
from recoengine.chat.memory import (
    Context,
    build_context,
    fold,
    stored_summary_chars,
    summarize_turn,
)
from recoengine.chat.personalities import PersonalityRouter, Routing
from recoengine.chat.picking import Picker, Picks, engine_down_note
from recoengine.chat.recommender import RecentItems, Recommender, Suggestion
from recoengine.chat.turn_cache import TurnCache
from recoengine.llm.base import Completion, LanguageModel, Prompt, PromptItem, ReplyStream
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
_T = TypeVar("_T")


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
    # Telemetry (log fields and metrics, not the answer): calls that reached the model
    # (understanding and reply, retries included), the reply's tokens as the model counted
    # them, and seconds from the turn's start until reply text existed (streamed: the first
    # delta; whole: the reply).
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    first_token_seconds: float | None = None
    streamed: bool = False  # asked as a stream (stream_turn)

    @property
    def reply_by(self) -> str:
        """``model``, ``fallback`` (the configured model failed; the offline text stood in)
        or ``offline`` (configured so)."""
        if self.fallback:
            return "fallback"
        return "offline" if self.responder == OfflineResponder.name else "model"

    def log_fields(self) -> dict[str, Any]:
        """The turn's access-log fields, for log-based metrics per revision: ``chat_turns``
        counts turns by who wrote the reply and who understood the message (chat's fallback
        rates, which the canary's rollback rules judge), each ``model``, ``fallback`` or
        ``offline``; the numbers give distributions of model calls, tokens and the time to
        the first token per turn."""
        fields: dict[str, Any] = {
            "chat_reply": self.reply_by,
            "chat_understanding": self.understood_by,
            "chat_model_calls": self.model_calls,
            "chat_tokens_in": self.tokens_in,
            "chat_tokens_out": self.tokens_out,
        }
        if self.first_token_seconds is not None:
            fields["chat_first_token_seconds"] = round(self.first_token_seconds, 4)
        fields["chat_streamed"] = self.streamed
        return fields

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
        on_turn: Callable[[TurnResult], None] | None = None,
        executor: Executor | None = None,
    ) -> None:
        """``events`` reads what the user just did; the wiring passes the reader the recommend
        function uses (one breaker for both). Without one, a reader over ``store`` is made.
        ``on_turn`` sees every saved turn (the wiring's metrics and access-log fields).
        ``executor`` runs the store's calls of the async turns (None: the event loop's
        default executor, ``asyncio.to_thread``); the wiring gives it the function's thread
        count (capacity.yml, ``SERVER_THREADS``), since each turn waits there on the store
        twice (three times when the model reads the message and the turn recommends)."""
        self.on_turn = on_turn
        self.executor = executor
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
    # One flow, three ways to run it: ``turn`` (sync), ``turn_async`` and ``stream_turn``
    # (the event loop). The steps are shared: ``_open`` and ``_prepare`` and ``_finish`` do
    # the store's I/O and the CPU-bound engine (called in a worker thread, ``_in_thread``, from the
    # loop, since the stores' clients are sync), and the model is asked in between — sync
    # (``generate``), async (``generate_async``) or as a stream (``stream``).
    def _stored_turns(self, session: Session) -> list[Turn]:
        """The turns the context window may use, from the store (none yet: no read)."""
        if not session.turns:
            return []
        return self.store.recent_turns(session.session_id, self.fetch_turns, total=session.turns)

    def _open(self, user_id: str, message: str, session_id: str | None) -> _Opened:
        """The session and its window. A new conversation's session is created only when
        its first turn is saved (``_finish``), so a turn that never completes (a client
        that left mid-stream) leaves nothing behind."""
        started = time.perf_counter()
        session: Session | None = None
        if session_id:
            session = self.owned_session(session_id, user_id)
            turns = self.cache.get(session.session_id, session.turns, utcnow())
            if turns is None:
                turns = self._stored_turns(session)
            state = session.state
        else:
            turns, state = [], SessionState()
        return _Opened(started, user_id, message, session, turns, state, self._vocabulary())

    def _reading_args(self, opened: _Opened) -> tuple[str, frozenset[str], PreviousTurn]:
        state = opened.state
        titles = tuple(i.title for i in state.last_items)
        previous = PreviousTurn(titles, state.last_features, state.last_match)
        return opened.message, opened.vocabulary, previous

    def _understanding(self, opened: _Opened) -> Reading:
        return self.interpreter.read(*self._reading_args(opened))

    def _open_and_prepare(
        self, user_id: str, message: str, session_id: str | None
    ) -> tuple[_Opened, Reading | Asking, _Prepared | None]:
        """``_open``, the parser and, when the model is not to read the message,
        ``_prepare``: one worker-thread call for the common turn (each hop from the loop to
        a thread and back costs a few syscalls and two context switches)."""
        opened = self._open(user_id, message, session_id)
        first = self.interpreter.begin(*self._reading_args(opened))
        if isinstance(first, Asking):
            return opened, first, None
        return opened, first, self._prepare(opened, first)

    async def _ready(self, user_id: str, message: str, session_id: str | None) -> _Prepared:
        """Everything before the reply, from the loop: the store, the parser and the engine
        in one hop to the thread pool; a message the model must read is awaited on the loop
        (no thread waits on it), and then routed and picked (a second hop if it recommends)."""
        opened, first, prepared = await self._in_thread(
            self._open_and_prepare, user_id, message, session_id
        )
        if prepared is not None:
            return prepared
        assert isinstance(first, Asking)
        reading = await self.interpreter.finish_async(first)
        return await self._prepare_async(opened, reading)

    def _prepare(self, opened: _Opened, reading: Reading) -> _Prepared:
        """Route, pick, build the context and the prompt: everything the model needs."""
        what, state, message = reading.what, opened.state, opened.message
        routing = self.router.route(what, message, state.personality, state.topic)
        picks = (
            self._picks(opened.user_id, what, state, opened.vocabulary)
            if what.intent in RECOMMENDATION_INTENTS
            else None
        )
        context = build_context(
            opened.turns,
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
            turn=(opened.session.turns if opened.session else 0) + 1,
            language=what.language,
        )
        return _Prepared(opened, reading, routing, picks, context, prompt)

    async def _in_thread(self, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)`` in a worker thread, with this context (access-log fields)."""
        if self.executor is None:
            return await asyncio.to_thread(call, *args)
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(context.run, call, *args))

    async def _prepare_async(self, opened: _Opened, reading: Reading) -> _Prepared:
        """``_prepare`` from the loop: in a thread when it picks items (the engine's CPU and
        the user's events read from the store), inline otherwise (routing and the context
        only: CPU, well under a millisecond, cheaper than the hop)."""
        if reading.what.intent in RECOMMENDATION_INTENTS and self.recommender is not None:
            return await self._in_thread(self._prepare, opened, reading)
        return self._prepare(opened, reading)

    def _generate(self, prompt: Prompt) -> Completion:
        try:
            return self.model.generate(prompt)
        except Exception as exc:  # adapters answer failures themselves; this is a safety net
            return _model_raised(prompt, exc)

    async def _generate_async(self, prompt: Prompt) -> Completion:
        try:
            return await self.model.generate_async(prompt)
        except Exception as exc:  # adapters answer failures themselves; this is a safety net
            return _model_raised(prompt, exc)

    def _finish(
        self,
        prepared: _Prepared,
        completion: Completion,
        first_token: float,
        streamed: bool = False,
    ) -> TurnResult:
        """Save the turn (one atomic append; a new conversation's session is created here)
        and answer. ``completion.text`` is the whole reply, notes included."""
        opened, picks, persona = prepared.opened, prepared.picks, prepared.routing.personality
        context, routing = prepared.context, prepared.routing
        shown = tuple(s.item_id for s in picks.items) if picks else ()
        line = summarize_turn(
            opened.message,
            completion.text,
            recommended=[s.title for s in picks.items] if picks else (),
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

        session = opened.session
        if session is None:
            session = self.store.create(opened.user_id)
        saved, turn = self.store.append_turn(
            session.session_id,
            opened.message,
            completion.text,
            persona.name,
            update,
            fallback=completion.fallback,
            expected=session,
            intent=prepared.reading.what.intent.value,
            items=shown,
        )
        self.cache.appended(session.session_id, opened.turns, turn, session.turns)
        model_seconds = prepared.reading.waited + prepared.model_seconds
        if self.observe_engine is not None:
            self.observe_engine(max(0.0, time.perf_counter() - opened.started - model_seconds))
        what = prepared.reading.what
        model_calls = completion.attempts + (1 if prepared.reading.model_called else 0)
        result = TurnResult(
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
            understood_by=prepared.reading.understood_by,
            model_calls=model_calls,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            first_token_seconds=first_token,
            streamed=streamed,
        )
        if self.on_turn is not None:
            self.on_turn(result)
        return result

    def turn(self, user_id: str, message: str, session_id: str | None = None) -> TurnResult:
        opened = self._open(user_id, message, session_id)
        prepared = self._prepare(opened, self._understanding(opened))
        model_started = time.perf_counter()
        completion = with_notes(self._generate(prepared.prompt), prepared.prompt.notes)
        prepared.model_seconds = time.perf_counter() - model_started
        return self._finish(prepared, completion, time.perf_counter() - opened.started)

    async def turn_async(
        self, user_id: str, message: str, session_id: str | None = None
    ) -> TurnResult:
        """``turn`` on the event loop: the store and the engine in threads, the model
        awaited (no thread waits on it)."""
        prepared = await self._ready(user_id, message, session_id)
        opened = prepared.opened
        model_started = time.perf_counter()
        completion = await self._generate_async(prepared.prompt)
        completion = with_notes(completion, prepared.prompt.notes)
        prepared.model_seconds = time.perf_counter() - model_started
        first_token = time.perf_counter() - opened.started
        return await _saved(self._in_thread(self._finish, prepared, completion, first_token))

    async def stream_turn(
        self, user_id: str, message: str, session_id: str | None = None
    ) -> AsyncGenerator[Delta | TurnResult, None]:
        """The turn with its reply streamed: ``Delta``s as the model writes, then the
        ``TurnResult`` (its ``reply`` is the deltas joined).

        The client's errors (an unknown session) raise before anything is yielded. A model
        failure before the first chunk streams the fallback reply; after it, the fallback
        text is the last delta (``fallback`` true); notes the model left out come as a last
        delta too. The turn is saved once, after the reply is complete: a consumer that
        stops early (a client gone mid-stream) leaves no turn, no state change, and for a
        new conversation no session. A save that began completes even if the consumer
        leaves during it."""
        prepared = await self._ready(user_id, message, session_id)
        opened = prepared.opened
        model_started = time.perf_counter()
        first_token: float | None = None
        reply = self._stream(prepared.prompt)
        try:
            async for text in reply:
                if first_token is None:
                    first_token = time.perf_counter() - opened.started
                yield Delta(text)
        finally:
            await reply.aclose()
        prepared.model_seconds = time.perf_counter() - model_started
        completion = reply.completion
        assert completion is not None  # the stream ran to its end
        unsaid = unsaid_notes(completion.text, prepared.prompt.notes)
        if unsaid:
            yield Delta(unsaid)
            completion = replace(completion, text=completion.text + unsaid)
        if first_token is None:
            first_token = time.perf_counter() - opened.started
        yield await _saved(self._in_thread(self._finish, prepared, completion, first_token, True))

    def _stream(self, prompt: Prompt) -> ReplyStream:
        """The model's reply stream, with the adapter safety net: a model that raises
        instead of answering its fallback still ends the reply with one."""
        return ReplyStream(_guarded(self.model, prompt))


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed reply, in the order written; the pieces joined are the reply."""

    text: str


@dataclass(frozen=True)
class _Opened:
    started: float
    user_id: str
    message: str
    session: Session | None  # None: a new conversation, created when its turn is saved
    turns: list[Turn]
    state: SessionState
    vocabulary: frozenset[str]


@dataclass
class _Prepared:
    opened: _Opened
    reading: Reading
    routing: Routing
    picks: Picks | None
    context: Context
    prompt: Prompt
    model_seconds: float = 0.0


def unsaid_notes(text: str, notes: Sequence[str]) -> str:
    """The notes a reply left out, as the text to append to it ("" when all were said)."""
    unsaid = [n for n in notes if n not in text]
    return f"\n\n{' '.join(unsaid)}" if unsaid else ""


def with_notes(completion: Completion, notes: Sequence[str]) -> Completion:
    """A model that left a note out: the reply still says it."""
    unsaid = unsaid_notes(completion.text, notes)
    return replace(completion, text=completion.text + unsaid) if unsaid else completion


def _model_raised(prompt: Prompt, exc: Exception) -> Completion:
    log.warning(
        "language model raised, answering offline: %s",
        exc,
        extra={"json_fields": {"fallback": True}},
    )
    offline = OfflineResponder().generate(prompt)
    return replace(offline, fallback=True, error=type(exc).__name__)


async def _guarded(model: LanguageModel, prompt: Prompt) -> AsyncIterator[str | Completion]:
    sent = False
    try:
        reply = model.stream(prompt)
        try:
            async for text in reply:
                sent = sent or bool(text)
                yield text
        finally:
            await reply.aclose()
        assert reply.completion is not None
        yield reply.completion
    except Exception as exc:  # adapters answer failures themselves; this is a safety net
        failed = _model_raised(prompt, exc)
        yield f"\n\n{failed.text}" if sent else failed.text
        yield failed


async def _saved(save: Awaitable[TurnResult]) -> TurnResult:
    """A save that began runs to its end even if the awaiting task is cancelled (the
    client left): the turn is then in the session, as its reply was complete."""
    return await asyncio.shield(save)


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
