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
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from recoengine.chat.lexicon import (
    CatalogMatcher,
    Found,
    Lexicon,
    PhraseIndex,
    Target,
    common_words,
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
_SCOPE_TOKEN = re.compile(r"[a-z0-9][a-z0-9'’]*|[\uac00-\ud7a3]+|[.,;:!?()]|/")
_LATIN_WORD = re.compile(r"[a-z][a-z'’\-]*")
_PUNCTUATION = frozenset(".,;:!?()")
MAX_CONFIDENT_WORDS = 20  # a longer message is free-form: the model reads it when there is one


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
    # The features refine the previous request ("also with some comedy", "drop the romance"):
    # they are the previous request's features changed by this message, not its own alone.
    refined: bool = False
    # The offline reading accounts for the whole message: a model could add nothing (a
    # greeting, small talk without a hint of a request, a request whose every word is
    # understood). False for the model's readings and whenever a model could do better.
    confident: bool = False


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
    negate_after: re.Pattern[str] | None
    any_markers: re.Pattern[str] | None
    filler: frozenset[str]
    particles: tuple[str, ...]
    hangul_filler: re.Pattern[str] | None
    triggers: frozenset[tuple[str, ...]]  # Latin negations as word tuples ("anything", "but")
    longest_trigger: int
    scope_words: int
    scope_breakers: frozenset[str]
    connectors: frozenset[str]
    chain_markers: frozenset[str]
    not_negating: re.Pattern[str] | None
    refine_add: re.Pattern[str] | None
    refine_keep: re.Pattern[str] | None
    request_hints: re.Pattern[str] | None
    hangul_negate_before: re.Pattern[str] | None


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
    negate_before = [
        re.escape(n.strip())
        for lex in lexicons
        for n in lex.negate_before
        if _HANGUL_RX.search(n)  # Latin negations reach over their clause (``_in_scope``)
    ]
    triggers = frozenset(
        tuple(n.lower().replace("’", "'").split())
        for lex in lexicons
        for n in lex.negate_before
        if n.strip() and not _HANGUL_RX.search(n)
    )
    negate_after = [re.escape(n) for lex in lexicons for n in lex.negate_after]
    filler = frozenset(f for lex in lexicons for f in lex.filler)
    return _Grammar(
        intents={n: rx for n, rx in intents.items() if rx is not None},
        ordinals=PhraseIndex(ordinals),
        ordinal_patterns=tuple(p for lex in lexicons for p in lex.ordinal_patterns),
        hangul_negate_before=re.compile(
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
        triggers=triggers,
        longest_trigger=max((len(t) for t in triggers), default=0),
        scope_words=max((lex.scope_words for lex in lexicons), default=0),
        scope_breakers=frozenset(w for lex in lexicons for w in lex.scope_breakers),
        connectors=frozenset(w for lex in lexicons for w in lex.connectors),
        chain_markers=frozenset(w for lex in lexicons for w in lex.chain_markers),
        not_negating=_alternation(p.pattern for lex in lexicons for p in lex.not_negating),
        refine_add=_alternation(p.pattern for lex in lexicons for p in lex.refine_add),
        refine_keep=_alternation(p.pattern for lex in lexicons for p in lex.refine_keep),
        request_hints=_alternation(p.pattern for lex in lexicons for p in lex.request_hints),
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


def _negated_nearby(text: str, start: int, end: int, grammar: _Grammar) -> bool:
    """Korean negations, which sit right before ("안 ") or after ("말고", "빼고") the genre."""
    if grammar.hangul_negate_before is not None and grammar.hangul_negate_before.search(
        text[max(0, start - 40) : start]
    ):
        return True
    return grammar.negate_after is not None and bool(
        grammar.negate_after.match(text[end : end + 24])
    )


@dataclass(frozen=True)
class _Words:
    """A message as words and punctuation, with where each starts, for negation scopes."""

    tokens: tuple[tuple[int, str], ...]  # (start, word with ’ as ')
    starts: tuple[int, ...]
    ignored: tuple[tuple[int, int], ...]  # spans where a negation is no negation ("why not")

    @classmethod
    def of(cls, text: str, grammar: _Grammar) -> _Words:
        tokens = tuple(
            (m.start(), m.group(0).replace("’", "'").strip("'-") or m.group(0))
            for m in _SCOPE_TOKEN.finditer(text)
        )
        rx = grammar.not_negating
        ignored = tuple(m.span() for m in rx.finditer(text)) if rx is not None else ()
        return cls(tokens, tuple(t[0] for t in tokens), ignored)

    def trigger_at(self, i: int, grammar: _Grammar) -> bool:
        """A negation ends at word ``i`` ("not", "isn't", "anything but", "take out")."""
        for n in range(min(grammar.longest_trigger, i + 1), 0, -1):
            phrase = tuple(self.tokens[j][1] for j in range(i - n + 1, i + 1))
            if phrase in grammar.triggers:
                at = self.tokens[i - n + 1][0]
                return not any(s <= at < e for s, e in self.ignored)
        return False


def _in_scope(
    words: _Words, found: Sequence[Found[Target]], k: int, flags: Sequence[bool], grammar: _Grammar
) -> bool:
    """Whether an English negation governs genre ``k``: walking back from it, a negation comes
    within ``scope_words`` words, before any clause breaker ("but", ",", "instead") and before
    another genre, except one negated itself and joined by "or" ("not horror or thriller")."""
    here = found[k]
    i = bisect_left(words.starts, here.start) - 1
    previous = found[k - 1] if k else None
    gap: list[str] = []
    while i >= 0:
        at, word = words.tokens[i]
        if previous is not None and at < previous.end:
            return (
                flags[k - 1]
                and all(w in grammar.connectors or w in grammar.chain_markers for w in gap)
                and any(w in grammar.chain_markers for w in gap)
            )
        if words.trigger_at(i, grammar):
            return True
        if word in _PUNCTUATION or word in grammar.scope_breakers:
            return False
        gap.append(word)
        if len(gap) > grammar.scope_words:
            return False
        i -= 1
    return False


def _misspelt(
    text: str, exact: Sequence[Found[Target]], matcher: CatalogMatcher, grammar: _Grammar
) -> list[Found[Target]]:
    """Genre words misspelt ("horor", "comdy", "documentry", "sci fy"): words the catalogue
    and the lexicons do not know, which are not common English words either (so "prime" is
    never "crime"), corrected by ``CatalogMatcher.correct`` when one meaning is close enough;
    two neighbouring words are tried as one first ("sci fy")."""
    taken = bytearray(len(text))
    for f in exact:
        taken[f.start : f.end] = b"\x01" * (f.end - f.start)
    words = [
        (m.start(), m.end(), m.group(0).replace("’", "'").strip("'-"))
        for m in _LATIN_WORD.finditer(text)
        if not taken[m.start()]
    ]
    if not words:
        return []
    common = common_words()
    known = grammar.filler | grammar.scope_breakers | grammar.connectors

    def unknown(word: str) -> bool:
        return word not in known and word not in common and word.rstrip("s") not in common

    found: list[Found[Target]] = []
    i = 0
    while i < len(words):
        start, end, word = words[i]
        if i + 1 < len(words):
            start2, end2, word2 = words[i + 1]
            pair = word + word2
            if (
                start2 - end == 1
                and word not in known
                and word2 not in known
                and (unknown(word) or unknown(word2))
                and pair not in common
            ):
                target = matcher.correct(pair)
                if target is not None:
                    found.append(Found(start, end2, target))
                    i += 2
                    continue
        if unknown(word):
            target = matcher.correct(word)
            if target is not None:
                found.append(Found(start, end, target))
        i += 1
    return found


@dataclass(frozen=True)
class _Slots:
    wanted: tuple[str, ...]
    excluded: tuple[str, ...]
    missing: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    conflict: bool = False  # a genre both asked for and refused ("a drama, nothing too sad")
    # no genre named plainly, only through words that may mean something else ("kids",
    # "sad", a typo): without a request around it, "I love my kids" may be small talk
    indirect: bool = False


def _slots(text: str, matcher: CatalogMatcher, grammar: _Grammar) -> _Slots:
    wanted: list[str] = []
    excluded: list[str] = []
    missing: list[str] = []
    spans: list[tuple[int, int]] = []
    found = matcher.find(text)
    corrected = _misspelt(text, found, matcher, grammar)
    indirect = bool(found or corrected) and not any(
        matcher.plainly_named(text[f.start : f.end], f.value) for f in found
    )
    found = sorted([*found, *corrected], key=lambda f: f.start)
    words = _Words.of(text, grammar) if found else None
    flags: list[bool] = []
    for k, m in enumerate(found):
        spans.append((m.start, m.end))
        negative = _negated_nearby(text, m.start, m.end, grammar) or (
            words is not None and _in_scope(words, found, k, flags, grammar)
        )
        flags.append(negative)
        if not m.value.tokens:
            if not negative:
                missing.extend(c for c in m.value.concepts if c not in missing)
            continue
        bucket = excluded if negative else wanted
        bucket.extend(t for t in m.value.tokens if t not in bucket)
    conflict = any(t in excluded for t in wanted)
    wanted = [t for t in wanted if t not in excluded]
    return _Slots(tuple(wanted), tuple(excluded), tuple(missing), tuple(spans), conflict, indirect)


def _unknown_words(
    text: str,
    spans: Sequence[tuple[int, int]],
    grammar: _Grammar,
    limit: int | None = MAX_UNKNOWN_WORDS,
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
    return tuple(unknown[:limit])


def _refine(
    request: Understanding,
    text: str,
    slots: _Slots,
    grammar: _Grammar,
    previous_features: Sequence[str],
    previous_match: str,
) -> Understanding | None:
    """The previous request changed by this message, when it is a follow-up that refines it
    (None otherwise): genres named with an adding word join it ("also with some comedy",
    "and make it a thriller too"); genres refused leave it ("drop the comedy", "less scary
    please", "same but no horror": refused, and kept out as ``excluded``)."""
    if not previous_features:
        return None
    adding = grammar.refine_add
    add = bool(slots.wanted) and adding is not None and adding.search(text) is not None
    keep = grammar.refine_keep is not None and grammar.refine_keep.search(text) is not None
    refused = {t.lower() for t in slots.excluded}
    overlap = any(f.lower() in refused for f in previous_features)
    if not (add or overlap or (keep and slots.excluded)):
        return None
    kept = [f for f in previous_features if f.lower() not in refused]
    have = {f.lower() for f in kept}
    features = (*kept, *(t for t in slots.wanted if t.lower() not in have))
    return replace(
        request,
        features=features,
        match_all=request.match_all and previous_match != "any",
        refined=True,
    )


def _confident(
    what: Understanding,
    text: str,
    spans: Sequence[tuple[int, int]],
    slots: _Slots,
    grammar: _Grammar,
    mixed_cues: bool,
    asked: bool,
) -> bool:
    """Whether a language model could add nothing to this reading. A request is read
    confidently when every word of it is accounted for (genres, synonyms, corrected typos,
    ordinals, titles shown, filler), nothing in it conflicts, and it is a request for sure:
    asked as one ("recommend", "I want", "more like" after picks), or naming its genres
    plainly ("comedies", "a war drama"), since "I love my kids" or "I feel sad" may be small
    talk. Anything else is a greeting, help or small talk, read confidently when no word
    hints at a request ("movie", "watch", "bored") and every word left is a common one.
    Long messages are free-form: never."""
    if len(_WORD.findall(text)) > MAX_CONFIDENT_WORDS:
        return False
    leftover = _unknown_words(text, spans, grammar, limit=None)
    if what.intent in RECOMMENDATION_INTENTS:
        if leftover or slots.conflict or mixed_cues:
            return False
        return asked or (bool(slots.wanted or slots.excluded) and not slots.indirect)
    if grammar.request_hints is not None and grammar.request_hints.search(text):
        return False
    common = common_words()
    return all(_HANGUL_RX.match(w) or w in common or w.rstrip("s") in common for w in leftover)


def understand(
    message: str,
    vocabulary: Iterable[str] = (),
    previous_titles: Sequence[str] = (),
    previous_features: Sequence[str] = (),
    previous_match: str = "all",
) -> Understanding:
    """Classify one message and fill its slots. Refinements need something to refine:
    without previous picks, "something else" and "more like ..." are plain requests.

    ``previous_features`` and ``previous_match`` are the filter of the conversation's last
    recommendation (``SessionState.last_features``/``last_match``). A follow-up that adds a
    genre ("also with some comedy") or removes one ("drop the romance", "less scary please")
    is read as that request changed (``refined``): its features are the whole new filter, so
    the picker uses them as they are. "Something else" without genres of its own keeps its
    features empty and the picker keeps the previous filter (minus what it refuses), as
    before; with an added genre it is refined like a request. "More like ..." is never
    refined: its features filter the similar items on their own. A plain new request
    ("a comedy", "how about a western?") replaces the previous one."""
    message = message or ""
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
    refined = _refine(request, text, slots, grammar, previous_features, previous_match)
    has_previous = bool(previous_titles)
    something_else = _has(grammar, "something_else", text)
    like = grammar.intents["more_like"].search(text) if "more_like" in grammar.intents else None
    more_like = like is not None
    ordinal = (
        ordinal_of(text, lexicons, like.start() if like else None)
        if more_like or has_previous
        else None
    )
    spans: Sequence[tuple[int, int]] = slots.spans
    mixed = has_previous and something_else and more_like
    # asked as a request: in words, or as a follow-up to picks shown
    asked = _has(grammar, "recommend", text) or (has_previous and (something_else or more_like))
    if has_previous and something_else and not (more_like and ordinal is not None):
        what = replace(refined or request, intent=Intent.SOMETHING_ELSE)
    elif has_previous and more_like:
        found = _title_span(text, previous_titles)
        spans = (*slots.spans, found[1:]) if found else slots.spans
        what = replace(
            request,
            intent=Intent.MORE_LIKE,
            ordinal=ordinal if found is None else None,
            anchor_title=found[0] if found else None,
            # without a position or a title shown, what is left may name a title not shown
            unknown=_unknown_words(text, spans, grammar),
        )
    elif has_previous and ordinal is not None and _REFERS.search(text):
        what = replace(request, intent=Intent.MORE_LIKE, ordinal=ordinal)
    else:
        help_asked = _has(grammar, "help", text)
        cued = _has(grammar, "recommend", text) or more_like or something_else
        if slots.wanted or slots.missing or (not help_asked and (cued or slots.excluded)):
            what = replace(
                refined or request,
                unknown=_unknown_words(text, slots.spans, grammar),
                missing=slots.missing,
                dangling=more_like,  # "like the second one" / "like Toy Story": nothing shown
            )
        elif help_asked:
            what = Understanding(Intent.HELP, TOPIC_HELP, language=language)
        elif _has(grammar, "greeting", text):
            what = Understanding(Intent.GREETING, "", language=language)
        else:
            what = Understanding(Intent.CHAT, "", language=language)
    confident = len(message) <= MAX_UNDERSTOOD_CHARS and _confident(
        what, text, spans, slots, grammar, mixed, asked or what.refined
    )
    return replace(what, confident=confident)


def warm_up(vocabulary: Iterable[str] = ()) -> None:
    """Load and compile what the first message would otherwise wait for (the language files,
    the catalogue's matcher, the common-word list and the typo index: ~60-80 ms on this
    machine), e.g. when an instance starts or its catalogue changes."""
    understand("hello", vocabulary)
    matcher_for(vocabulary).correct("warmup")
