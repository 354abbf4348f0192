"""What a chat message asks for, from its words alone: the offline parser (pure, fast).

Recommendation intents drive the engine: ``recommend`` ("I want a horror movie",
"documentaries please", "코미디 영화 추천해줘"), ``more_like`` ("more like the second one",
"비슷한 거") and ``something_else`` ("something else", "다른 거"). ``help`` and ``greeting``
steer the personality; everything else is ``chat``. The words come from the language files
in ``vocabulary/`` (see ``lexicon``); the catalogue's own feature tokens always count.

Slots: the catalogue features asked for and how they combine (several genres mean all of
them, "or" means any), features the user does not want ("no horror", "공포 말고"), the item
referred to (by position or by a title shown before), words that looked like a wish but match
nothing in the catalogue (reported to the user, never dropped silently), and the language
the user wrote in (the reply's language).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from recoengine.chat.lexicon import (
    CatalogMatcher,
    Lexicon,
    PhraseIndex,
    detect_language,
    load_lexicons,
    matcher_for,
)


class Intent(StrEnum):
    RECOMMEND = "recommend"
    MORE_LIKE = "more_like"
    SOMETHING_ELSE = "something_else"
    HELP = "help"
    GREETING = "greeting"
    CHAT = "chat"


RECOMMENDATION_INTENTS = frozenset({Intent.RECOMMEND, Intent.MORE_LIKE, Intent.SOMETHING_ELSE})
TOPIC_RECOMMENDATIONS = "recommendations"
TOPIC_HELP = "help"
MAX_UNKNOWN_WORDS = 4
MAX_UNDERSTOOD_CHARS = 500  # requests are short; a longer message is understood by its start
_TOPICS = dict.fromkeys(RECOMMENDATION_INTENTS, TOPIC_RECOMMENDATIONS) | {Intent.HELP: TOPIC_HELP}
_REFERS = re.compile(r"\blike\s+(th(e|is|at|ose|ese)|it|them|one)\b|\b(that|this|it)\s+one\b")
_WORD = re.compile(r"[a-z0-9][a-z0-9'’\-]*|[\uac00-\ud7a3]+")
_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_HANGUL_RX = re.compile(r"[\uac00-\ud7a3]")


def topic_of(intent: Intent) -> str:
    return _TOPICS.get(intent, "")


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    topic: str  # "" when the message carries no topic of its own
    ordinal: int | None = None  # 0-based position referred to; -1 = the last one
    features: tuple[str, ...] = ()  # catalogue feature tokens the message asks for
    anchor_title: str | None = None  # a previous item named by title
    match_all: bool = True  # several features: items must carry all of them (AND), else any
    excluded: tuple[str, ...] = ()  # catalogue tokens the user does not want
    unknown: tuple[str, ...] = ()  # words of the wish that match nothing in the catalogue
    missing: tuple[str, ...] = ()  # genre concepts understood but absent from this catalogue
    language: str = "en"
    dangling: bool = False  # refers to an earlier pick ("the second one") but none was shown
    source: str = "offline"  # "offline" or "model"


def plain_title(title: str) -> str:
    """A title as people say it: "Usual Suspects, The (1995)" -> "the usual suspects"."""
    text = _YEAR.sub("", title.lower()).strip()
    for article in (", the", ", a", ", an", ", les", ", la", ", le", ", il", ", das", ", der"):
        if text.endswith(article):
            text = article[2:] + " " + text[: -len(article)]
            break
    return " ".join(text.split())


def _title_span(text: str, titles: Sequence[str]) -> tuple[str, int, int] | None:
    hits: list[tuple[int, str, int, int]] = []
    for title in titles:
        for form in {title.lower(), plain_title(title)}:
            if len(form) < 3:
                continue
            m = re.search(r"(?<![\w])" + re.escape(form) + r"(?![a-z0-9])", text)
            if m:
                hits.append((len(form), title, m.start(), m.end()))
    if not hits:
        return None
    _, title, start, end = max(hits)
    return title, start, end


@dataclass(frozen=True)
class _Grammar:
    """Every language file's patterns folded into a few compiled expressions."""

    intents: dict[str, re.Pattern[str]]
    ordinals: PhraseIndex[int]
    ordinal_patterns: tuple[re.Pattern[str], ...]
    negate_before: re.Pattern[str] | None
    negate_after: re.Pattern[str] | None
    any_markers: re.Pattern[str] | None
    filler: frozenset[str]
    particles: tuple[str, ...]
    hangul_filler: re.Pattern[str] | None


def _alternation(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [p for p in patterns if p]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


@cache
def _grammar(lexicons: tuple[Lexicon, ...]) -> _Grammar:
    names = {n for lex in lexicons for n in lex.intents}
    intents = {
        n: _alternation(p.pattern for lex in lexicons for p in lex.intents.get(n, ()))
        for n in names
    }
    ordinals = {k: v for lex in lexicons for k, v in lex.ordinals.items()}
    negate_before = [re.escape(n.strip()) for lex in lexicons for n in lex.negate_before]
    negate_after = [re.escape(n) for lex in lexicons for n in lex.negate_after]
    filler = frozenset(f for lex in lexicons for f in lex.filler)
    return _Grammar(
        intents={n: rx for n, rx in intents.items() if rx is not None},
        ordinals=PhraseIndex(ordinals),
        ordinal_patterns=tuple(p for lex in lexicons for p in lex.ordinal_patterns),
        negate_before=re.compile(
            r"(?<![\w])(?:" + "|".join(negate_before) + r")\s+(?:[\w'’\-]+\s+){0,2}$"
        )
        if negate_before
        else None,
        negate_after=re.compile(
            r"^\S{0,3}\s*(?:[\uac00-\ud7a3]+\s+)?(?:" + "|".join(negate_after) + ")"
        )
        if negate_after
        else None,
        any_markers=_alternation(p.pattern for lex in lexicons for p in lex.any_markers),
        filler=filler | {w for phrase in ordinals for w in phrase.split()},
        particles=tuple(
            sorted({p for lex in lexicons for p in lex.particles}, key=len, reverse=True)
        ),
        hangul_filler=_alternation(
            "^" + re.escape(f)
            for f in sorted(filler, key=len, reverse=True)
            if _HANGUL_RX.search(f) and len(f) >= 2
        ),
    )


def _has(grammar: _Grammar, name: str, text: str) -> bool:
    rx = grammar.intents.get(name)
    return rx is not None and rx.search(text) is not None


def ordinal_of(
    text: str, lexicons: tuple[Lexicon, ...] | None = None, at: int | None = None
) -> int | None:
    """The 0-based position a message refers to ("the second one" -> 1, "last" -> -1). With
    ``at`` (where "more like" is), the one it points at: in English the first after it ("not
    the first, more like the third"), in Korean the last before it ("첫 번째 말고 세 번째랑
    비슷한 거"); else the first anywhere."""
    grammar = _grammar(lexicons if lexicons is not None else load_lexicons())
    found: list[tuple[int, int]] = [(f.start, f.value) for f in grammar.ordinals.find(text)]
    for rx in grammar.ordinal_patterns:
        found += [(m.start(), int(m.group(1))) for m in rx.finditer(text)]
    found.sort()
    best = found[0] if found else None  # (start, 1-based position)
    if at is not None and found:
        if _HANGUL_RX.match(text[at : at + 1]):
            before = [f for f in found if f[0] < at]
            best = before[-1] if before else best
        else:
            after = [f for f in found if f[0] >= at]
            best = after[0] if after else best
    if best is None or best[1] == 0:
        return None
    return -1 if best[1] < 0 else best[1] - 1


def _negated(text: str, start: int, end: int, grammar: _Grammar) -> bool:
    if grammar.negate_before is not None and grammar.negate_before.search(
        text[max(0, start - 40) : start]
    ):
        return True
    return grammar.negate_after is not None and bool(
        grammar.negate_after.match(text[end : end + 24])
    )


@dataclass(frozen=True)
class _Slots:
    wanted: tuple[str, ...]
    excluded: tuple[str, ...]
    missing: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def _slots(text: str, matcher: CatalogMatcher, grammar: _Grammar) -> _Slots:
    wanted: list[str] = []
    excluded: list[str] = []
    missing: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in matcher.find(text):
        spans.append((m.start, m.end))
        negative = _negated(text, m.start, m.end, grammar)
        if not m.value.tokens:
            if not negative:
                missing.extend(c for c in m.value.concepts if c not in missing)
            continue
        bucket = excluded if negative else wanted
        bucket.extend(t for t in m.value.tokens if t not in bucket)
    wanted = [t for t in wanted if t not in excluded]
    return _Slots(tuple(wanted), tuple(excluded), tuple(missing), tuple(spans))


def _unknown_words(
    text: str, spans: Sequence[tuple[int, int]], grammar: _Grammar
) -> tuple[str, ...]:
    """Words of a request that are neither understood nor mere filler ("zombie", "좀비")."""
    rest = text
    for start, end in spans:
        rest = rest[:start] + " " * (end - start) + rest[end:]
    filler = grammar.filler
    unknown: list[str] = []
    for word in _WORD.findall(rest):
        word = word.strip("'’-")
        if not word or word in filler:
            continue
        if _HANGUL_RX.match(word):
            stem = word
            for _ in range(3):  # 코미디를 -> 코미디, 영화는요 -> 영화
                cut = next(
                    (p for p in grammar.particles if stem.endswith(p) and len(stem) > len(p)), None
                )
                if cut is None:
                    break
                stem = stem[: -len(cut)]
            if stem in filler or len(stem) < 2:
                continue
            prefix = grammar.hangul_filler
            if prefix is not None and (prefix.match(word) or prefix.match(stem)):
                continue
            word = stem
        elif (
            len(word) < 3
            or word.isdigit()  # "#3", "top 5": positions and counts, not wishes
            or word.rstrip("s") in filler
            or word.endswith(("n't", "'s", "'ll", "'re", "'ve", "'m", "'d"))
        ):
            continue
        if word not in unknown:
            unknown.append(word)
    return tuple(unknown[:MAX_UNKNOWN_WORDS])


def understand(
    message: str,
    vocabulary: Iterable[str] = (),
    previous_titles: Sequence[str] = (),
) -> Understanding:
    """Classify one message and fill its slots. Refinements need something to refine:
    without previous picks, "something else" and "more like ..." are plain requests."""
    text = " ".join(message[: MAX_UNDERSTOOD_CHARS * 2].lower().split())[:MAX_UNDERSTOOD_CHARS]
    lexicons = load_lexicons()
    grammar = _grammar(lexicons)
    matcher = matcher_for(vocabulary)
    language = detect_language(text)
    slots = _slots(text, matcher, grammar)
    any_of = (
        len(slots.wanted) > 1
        and grammar.any_markers is not None
        and grammar.any_markers.search(text) is not None
    )
    # A recommendation request with its slots; the intents below refine it.
    request = Understanding(
        Intent.RECOMMEND,
        TOPIC_RECOMMENDATIONS,
        features=slots.wanted,
        excluded=slots.excluded,
        match_all=not any_of,
        language=language,
    )
    has_previous = bool(previous_titles)
    something_else = _has(grammar, "something_else", text)
    like = grammar.intents["more_like"].search(text) if "more_like" in grammar.intents else None
    more_like = like is not None
    ordinal = (
        ordinal_of(text, lexicons, like.start() if like else None)
        if more_like or has_previous
        else None
    )
    if has_previous and something_else and not (more_like and ordinal is not None):
        return replace(request, intent=Intent.SOMETHING_ELSE)
    if has_previous and more_like:
        found = _title_span(text, previous_titles)
        spans = (*slots.spans, found[1:]) if found else slots.spans
        return replace(
            request,
            intent=Intent.MORE_LIKE,
            ordinal=ordinal if found is None else None,
            anchor_title=found[0] if found else None,
            # without a position or a title shown, what is left may name a title not shown
            unknown=_unknown_words(text, spans, grammar),
        )
    if has_previous and ordinal is not None and _REFERS.search(text):
        return replace(request, intent=Intent.MORE_LIKE, ordinal=ordinal)
    help_asked = _has(grammar, "help", text)
    asked = _has(grammar, "recommend", text) or more_like or something_else
    if slots.wanted or slots.missing or (not help_asked and (asked or slots.excluded)):
        return replace(
            request,
            unknown=_unknown_words(text, slots.spans, grammar),
            missing=slots.missing,
            dangling=more_like,  # "like the second one" / "like Toy Story": nothing shown yet
        )
    if help_asked:
        return Understanding(Intent.HELP, TOPIC_HELP, language=language)
    if _has(grammar, "greeting", text):
        return Understanding(Intent.GREETING, "", language=language)
    return Understanding(Intent.CHAT, "", language=language)
