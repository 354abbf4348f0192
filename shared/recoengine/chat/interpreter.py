"""Understanding a message: with the language model when one is configured, else offline.

A ``SlotExtractor`` (Gemini's structured output) proposes the intent and slots; nothing it
says is trusted. ``validate_slots`` keeps only what the catalogue and the conversation can
back: genres must be the catalogue's own tokens (case-insensitively), a title must be one
shown last, a position must be a small integer, words reported as not understood must occur
in the user's message (so a model cannot put its own text into a reply), and sizes are capped.
Anything malformed, and any failure or timeout of the call, falls back to the offline parser,
which always runs first (it is cheap and gives the fallback and the language).

The model is asked only when it could add something: the offline reading says when it is
``confident`` (a greeting, small talk without a hint of a request, a request whose every
word is understood), and then it is the answer, so a turn makes one model call (the reply)
in the common case. ``Interpreter.read`` and ``understand_async`` read a message against the
``PreviousTurn`` (the titles shown last and the filter of the last request) and return a
``Reading``: the understanding, the seconds spent waiting on the model, and whether the model
was asked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from recoengine.chat.intents import (
    MAX_UNKNOWN_WORDS,
    Intent,
    Understanding,
    plain_title,
    topic_of,
    understand,
)
from recoengine.chat.lexicon import matcher_for, normal_token
from recoengine.llm.base import SlotExtractor, SlotRequest

log = logging.getLogger(__name__)
MAX_LIST = 20  # entries of a list the model returns that are looked at
MAX_TERM_CHARS = 40
MAX_TERM_WORDS = 3  # a term is a word or a short phrase, never a sentence
MAX_ORDINAL = 1000


class InvalidSlots(ValueError):
    """The model's answer does not fit the schema (the offline parser answers instead)."""


def _strings(raw: Any, field: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidSlots(f"{field} is not a list")
    return [x for x in raw[:MAX_LIST] if isinstance(x, str) and len(x) <= 200]


def _tokens(names: Iterable[str], vocabulary: dict[str, str]) -> tuple[list[str], list[str]]:
    """Names mapped onto catalogue tokens, and the names that map to none."""
    found: list[str] = []
    dropped: list[str] = []
    for name in names:
        token = vocabulary.get(normal_token(name))
        if token is None:
            dropped.append(name)
        elif token not in found:
            found.append(token)
    return found, dropped


@dataclass(frozen=True)
class PreviousTurn:
    """What the conversation's last turn left for the next message to be read against: the
    ``titles`` it showed (what "more like the second one" points into) and the filter of its
    request, the genres ``features`` combined by ``match`` ("all" or "any"), which a follow-up
    ("also with some comedy") refines. The default is a conversation's first message."""

    titles: Sequence[str] = ()
    features: Sequence[str] = ()
    match: str = "all"


def validate_slots(
    raw: object,
    message: str,
    vocabulary: Iterable[str],
    offline: Understanding,
    previous: PreviousTurn = PreviousTurn(),
) -> Understanding:
    """The model's slots, checked against the catalogue and the conversation. When the
    offline reading found a follow-up that refines the previous request ("also with some
    comedy"), the model's genres change ``previous.features`` the same way: the model is
    asked about the message alone, so its genres are the change, not the whole filter."""
    if not isinstance(raw, dict):
        raise InvalidSlots("the answer is not an object")
    try:
        intent = Intent(str(raw.get("intent")))
    except ValueError:
        raise InvalidSlots(f"unknown intent {str(raw.get('intent'))[:40]!r}") from None
    by_normal = matcher_for(vocabulary).by_normal
    text = " ".join(message.lower().split())
    wanted, dropped = _tokens(_strings(raw.get("genres"), "genres"), by_normal)
    excluded, dropped_x = _tokens(_strings(raw.get("exclude_genres"), "exclude_genres"), by_normal)
    wanted = [t for t in wanted if t not in excluded]
    if dropped or dropped_x:
        log.info("model named genres outside the catalogue: %r", (dropped + dropped_x)[:5])
    # Words reported back to the user must be the user's own words.
    unknown: list[str] = []
    for term in _strings(raw.get("unknown_terms"), "unknown_terms") + dropped:
        term = " ".join(term.split())
        if (
            0 < len(term) <= MAX_TERM_CHARS
            and len(term.split()) <= MAX_TERM_WORDS
            and term.lower() in text
            and term.lower() not in unknown
            and normal_token(term) not in by_normal
        ):
            unknown.append(term.lower())
    match = raw.get("match")
    language = raw.get("language")
    language = language if language in ("en", "ko") else offline.language
    ordinal: int | None = None
    raw_ordinal = raw.get("anchor_ordinal")
    if isinstance(raw_ordinal, int) and not isinstance(raw_ordinal, bool):
        if raw_ordinal == -1:
            ordinal = -1
        elif 1 <= raw_ordinal <= MAX_ORDINAL:
            ordinal = raw_ordinal - 1
    anchor_title = None
    raw_title = raw.get("anchor_title")
    if isinstance(raw_title, str) and raw_title:
        wanted_title = plain_title(raw_title)
        anchor_title = next((t for t in previous.titles if plain_title(t) == wanted_title), None)
        said = " ".join(raw_title.lower().split())
        if (
            anchor_title is None
            and ordinal is None
            and len(said) <= MAX_TERM_CHARS
            and said in text
        ):
            # A title the user named but was never shown: the reply names it as the thing it
            # could not compare with (it replaces the other terms, which would blur the quote).
            unknown = [said]
    dangling = False
    if intent in (Intent.MORE_LIKE, Intent.SOMETHING_ELSE) and not previous.titles:
        dangling = intent is Intent.MORE_LIKE
        intent = Intent.RECOMMEND
    if intent is Intent.MORE_LIKE and anchor_title is not None:
        ordinal = None
    recommending = intent in (Intent.RECOMMEND, Intent.MORE_LIKE, Intent.SOMETHING_ELSE)
    refined = offline.refined and intent in (Intent.RECOMMEND, Intent.SOMETHING_ELSE)
    if refined:
        refused = {t.lower() for t in excluded}
        kept = [f for f in previous.features if f.lower() not in refused]
        have = {f.lower() for f in kept}
        wanted = [*kept, *(t for t in wanted if t.lower() not in have)]
        if previous.match == "any":
            match = "any"
    return Understanding(
        intent=intent,
        topic=topic_of(intent),
        ordinal=ordinal if intent is Intent.MORE_LIKE else None,
        features=tuple(wanted) if recommending else (),
        anchor_title=anchor_title,
        match_all=match != "any",
        excluded=tuple(excluded) if recommending else (),
        unknown=tuple(unknown[:MAX_UNKNOWN_WORDS]) if recommending else (),
        language=language,
        dangling=dangling,
        source="model",
        refined=refined,
    )


@dataclass(frozen=True)
class Reading:
    """One message understood. ``waited`` is the time spent on the model (0 when it was not
    asked), which the engine's latency metric leaves out as it does for replies;
    ``model_called`` says whether the model was asked (a call that failed was still made:
    it counts in the model calls per turn)."""

    what: Understanding
    waited: float = 0.0
    model_called: bool = False

    @property
    def understood_by(self) -> str:
        """Who understood the message, for the access log's ``chat_understanding``:
        ``model``; ``fallback`` (the model was asked and failed: the parser answered); or
        ``offline`` (no model configured, or the parser's reading was confident)."""
        if self.what.source == "model":
            return "model"
        return "fallback" if self.model_called else "offline"


class Interpreter:
    """The chat's understanding step: the offline parser, and a model validated against it
    when one is configured and the parser's reading is not ``confident``.

    ``gate=False`` asks the model about every message (issue 13's behaviour, kept for
    comparisons). ``model_calls``, ``gated`` and ``failures`` count, per instance, the calls
    made, the messages the parser answered alone although a model was configured, and the
    calls that fell back to the parser."""

    def __init__(self, extractor: SlotExtractor | None = None, *, gate: bool = True) -> None:
        self.extractor = extractor
        self.gate = gate
        self.failures = 0
        self.model_calls = 0
        self.gated = 0

    @property
    def name(self) -> str:
        return "offline" if self.extractor is None else f"model:{self.extractor.name}"

    def _offline(
        self, message: str, vocabulary: Iterable[str], previous: PreviousTurn
    ) -> tuple[Understanding, SlotRequest | None]:
        """The parser's reading, and the request to send the model (None: do not ask)."""
        offline = understand(
            message, vocabulary, previous.titles, previous.features, previous.match
        )
        if self.extractor is None:
            return offline, None
        if self.gate and offline.confident:
            self.gated += 1
            return offline, None
        self.model_calls += 1
        vocab = tuple(sorted(vocabulary))
        return offline, SlotRequest(message, vocab, tuple(previous.titles), offline.language)

    def _settle(self, raw: object, error: BaseException | None, asking: Asking) -> Understanding:
        """The model's answer validated, or the parser's reading when the call failed or
        the answer does not hold up (logged with ``understanding_fallback``)."""
        if error is not None:  # a failed or slow model call: understood offline
            self.failures += 1
            log.warning(
                "slot extraction failed, understanding offline: %s",
                f"{type(error).__name__}: {str(error)[:200]}",
                extra={"json_fields": {"understanding_fallback": True}},
            )
            return asking.offline
        try:
            return validate_slots(
                raw, asking.message, asking.vocabulary, asking.offline, asking.previous
            )
        except InvalidSlots as exc:
            self.failures += 1
            log.warning(
                "model slots rejected, understanding offline: %s",
                exc,
                extra={"json_fields": {"understanding_fallback": True}},
            )
            return replace(asking.offline, source="offline")

    def read(
        self,
        message: str,
        vocabulary: Iterable[str],
        previous: PreviousTurn = PreviousTurn(),
    ) -> Reading:
        """The message understood, blocking on the model when it is asked."""
        first = self.begin(message, vocabulary, previous)
        if isinstance(first, Reading):
            return first
        assert self.extractor is not None
        started = time.perf_counter()
        raw: object = None
        error: BaseException | None = None
        try:
            raw = self.extractor.extract(first.request)
        except Exception as exc:
            error = exc
        return self._reading(first, raw, error, started)

    def understand(
        self,
        message: str,
        vocabulary: Iterable[str],
        previous: PreviousTurn = PreviousTurn(),
    ) -> tuple[Understanding, float]:
        """``read`` as (understanding, seconds waited on the model), the shape the
        synchronous turn has always used."""
        reading = self.read(message, vocabulary, previous)
        return reading.what, reading.waited

    def begin(
        self,
        message: str,
        vocabulary: Iterable[str],
        previous: PreviousTurn = PreviousTurn(),
    ) -> Reading | Asking:
        """The parser's step alone (CPU, no I/O): the ``Reading`` when the model is not to be
        asked, else what to ask it (``finish_async``). The async turn runs this in the same
        worker-thread hop as the session read, so a turn the parser understands alone makes
        no extra hop to the event loop and back."""
        offline, request = self._offline(message, vocabulary, previous)
        if request is None or self.extractor is None:
            return Reading(offline)
        return Asking(request, offline, message, vocabulary, previous)

    async def finish_async(self, asking: Asking) -> Reading:
        """The model's reading of an ``Asking``: its ``extract_async`` awaited (an extractor
        without one runs its ``extract`` in a worker thread), validated against the parser's."""
        assert self.extractor is not None
        started = time.perf_counter()
        raw: object = None
        error: BaseException | None = None
        try:
            extract_async = getattr(self.extractor, "extract_async", None)
            if extract_async is not None:
                raw = await extract_async(asking.request)
            else:
                raw = await asyncio.to_thread(self.extractor.extract, asking.request)
        except Exception as exc:  # cancellation is no failure: it propagates
            error = exc
        return self._reading(asking, raw, error, started)

    def _reading(
        self, asking: Asking, raw: object, error: BaseException | None, started: float
    ) -> Reading:
        """The model's answer (or its failure) settled against the parser's reading."""
        waited = time.perf_counter() - started
        return Reading(self._settle(raw, error, asking), waited, model_called=True)

    async def understand_async(
        self,
        message: str,
        vocabulary: Iterable[str],
        previous: PreviousTurn = PreviousTurn(),
    ) -> Reading:
        """``read`` for the event loop: the parser inline (CPU-only, well under a
        millisecond), then the model awaited when it is asked (``begin``, ``finish_async``)."""
        first = self.begin(message, vocabulary, previous)
        return first if isinstance(first, Reading) else await self.finish_async(first)


@dataclass(frozen=True)
class Asking:
    """A message the model is to read: the request, the parser's reading (the fallback) and
    what the answer is validated with (the message, the vocabulary and the previous turn)."""

    request: SlotRequest
    offline: Understanding
    message: str
    vocabulary: Iterable[str]
    previous: PreviousTurn
