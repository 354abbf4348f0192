"""The words the chat understands, loaded from data: one JSON file per language.

Each file in ``vocabulary/`` (``en.json``, ``ko.json``) names genre *concepts* with the
catalogue tokens a concept may be called in a catalogue (``children's``, ``kids``) and the
phrases users say for it ("kids", "family-friendly", "어린이"); the intent patterns; ordinals;
negations; the words that carry no wish of their own (so what is left over can be reported
as not understood); and the reply notes. A new language is a new file; a new catalogue needs
no file at all, since its own tokens are always understood. ``CatalogMatcher`` compiles all
of it once per catalogue vocabulary into a few regular expressions (cached), so a message is
understood in well under a millisecond.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from recoengine.errors import ConfigError

VOCABULARY_DIR = Path(__file__).with_name("vocabulary")
DEFAULT_LANGUAGE = "en"
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
V = TypeVar("V")


def detect_language(text: str) -> str:
    """``ko`` when the message has Hangul in it, else English (the two languages we serve)."""
    return "ko" if _HANGUL.search(text) else DEFAULT_LANGUAGE


def normal_token(token: str) -> str:
    """A catalogue token compared loosely: "Sci-Fi", "sci fi" and "scifi" are one token."""
    return re.sub(r"[\s\-_'’.]+", "", token.lower())


@dataclass(frozen=True, eq=False)  # hashed by identity: parsed once, cached
class Lexicon:
    """One language file, parsed and validated."""

    language: str
    concepts: dict[str, tuple[str, ...]]  # concept -> catalogue token names, in preference order
    phrases: dict[str, str]  # lower-cased phrase -> concept
    combined: dict[str, tuple[str, ...]]  # phrase -> several concepts ("rom-com")
    names: dict[str, str]  # concept -> its display name in this language
    intents: dict[str, tuple[re.Pattern[str], ...]]
    ordinals: dict[str, int]  # phrase -> 1-based position, -1 for the last
    ordinal_patterns: tuple[re.Pattern[str], ...]
    negate_before: tuple[str, ...]
    negate_after: tuple[str, ...]
    any_markers: tuple[re.Pattern[str], ...]
    filler: frozenset[str]
    particles: tuple[str, ...]
    placeholders: frozenset[str]  # catalogue tokens that mean "no genre" ("unknown")
    notes: dict[str, Any] = field(default_factory=dict)
    # A negation governs the genres after it in its clause ("a film that isn't romantic"):
    # at most ``scope_words`` words on, up to a breaker ("but", a comma); a genre joined to a
    # negated one by a chain marker ("not horror or thriller") is negated too.
    scope_words: int = 5
    scope_breakers: frozenset[str] = frozenset()
    connectors: frozenset[str] = frozenset()
    chain_markers: frozenset[str] = frozenset()
    not_negating: tuple[re.Pattern[str], ...] = ()  # "why not", "don't you have ..."
    refine_add: tuple[re.Pattern[str], ...] = ()  # "also", "too": add to the last request
    refine_keep: tuple[re.Pattern[str], ...] = ()  # "same but", "this time": keep the rest
    request_hints: tuple[re.Pattern[str], ...] = ()  # words that may hide a request

    def note(self, key: str, **values: object) -> str:
        template = self.notes.get(key)
        if not isinstance(template, str):
            template = _english().notes.get(key, key)
        return str(template).format(**values)


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(raw)


def parse_lexicon(data: Mapping[str, Any], source: str) -> Lexicon:
    """Validate one language file; errors name the file and the field."""
    try:
        language = str(data["language"])
        concepts: dict[str, tuple[str, ...]] = {}
        phrases: dict[str, str] = {}
        names: dict[str, str] = {}
        for concept, entry in dict(data.get("genres", {})).items():
            concepts[concept] = tuple(
                t.lower() for t in _strings(entry["tokens"], f"{source}: {concept}.tokens")
            )
            names[concept] = str(entry.get("name", concept))
            for phrase in _strings(entry["phrases"], f"{source}: {concept}.phrases"):
                phrases.setdefault(" ".join(phrase.lower().split()), concept)
        combined = {
            " ".join(p.lower().split()): _strings(c, f"{source}: combined.{p}")
            for p, c in dict(data.get("combined", {})).items()
        }
        intents = {
            name: tuple(re.compile(p) for p in _strings(patterns, f"{source}: intents.{name}"))
            for name, patterns in dict(data.get("intents", {})).items()
        }
        ordinals = {
            " ".join(str(k).lower().split()): int(v)
            for k, v in dict(data.get("ordinals", {})).items()
        }
        ordinal_patterns = tuple(
            re.compile(p) for p in _strings(data.get("ordinal_patterns", []), source)
        )
        negations = dict(data.get("negations", {}))
        refine = dict(data.get("refine", {}))

        def patterns(raw: Any, where: str) -> tuple[re.Pattern[str], ...]:
            return tuple(re.compile(p) for p in _strings(raw, f"{source}: {where}"))

        def lowered(raw: Any, where: str) -> frozenset[str]:
            return frozenset(w.lower() for w in _strings(raw, f"{source}: {where}"))

        return Lexicon(
            language=language,
            concepts=concepts,
            phrases=phrases,
            combined=combined,
            names=names,
            intents=intents,
            ordinals=ordinals,
            ordinal_patterns=ordinal_patterns,
            negate_before=_strings(negations.get("before", []), f"{source}: negations"),
            negate_after=_strings(negations.get("after", []), f"{source}: negations"),
            any_markers=tuple(re.compile(p) for p in _strings(data.get("any_markers", []), source)),
            filler=frozenset(w.lower() for w in _strings(data.get("filler", []), source)),
            placeholders=frozenset(
                t.lower() for t in _strings(data.get("placeholder_tokens", []), source)
            ),
            particles=tuple(
                sorted(_strings(data.get("particles", []), source), key=len, reverse=True)
            ),
            notes=dict(data.get("notes", {})),
            scope_words=int(negations.get("scope_words", 5)),
            scope_breakers=lowered(negations.get("scope_breakers", []), "scope_breakers"),
            connectors=lowered(negations.get("connectors", []), "connectors"),
            chain_markers=lowered(negations.get("chain_markers", []), "chain_markers"),
            not_negating=patterns(negations.get("not_negating", []), "not_negating"),
            refine_add=patterns(refine.get("add", []), "refine.add"),
            refine_keep=patterns(refine.get("keep", []), "refine.keep"),
            request_hints=patterns(data.get("request_hints", []), "request_hints"),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"{source}: bad vocabulary file: {exc}") from None


@cache
def load_lexicons(directory: str = str(VOCABULARY_DIR)) -> tuple[Lexicon, ...]:
    """Every language file in ``directory`` (English first), parsed once per process."""
    found: list[Lexicon] = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        found.append(parse_lexicon(data, str(path)))
    if not found:
        raise ConfigError(f"{directory}: no vocabulary files")
    found.sort(key=lambda lex: lex.language != DEFAULT_LANGUAGE)
    return tuple(found)


@cache
def common_words(
    language: str = DEFAULT_LANGUAGE, directory: str = str(VOCABULARY_DIR)
) -> frozenset[str]:
    """A language's common words (``vocabulary/words/<language>.json``, space-separated), which
    are never taken for a misspelt genre: "prime" stays "prime", not "crime". Loaded the first
    time a message has a word the catalogue does not know, once per process."""
    path = Path(directory) / "words" / f"{language}.json"
    if not path.exists():
        return frozenset()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return frozenset(str(data["words"]).split())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: bad word list: {exc}") from None


def edit_distance(a: str, b: str, bound: int) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap two neighbours),
    or ``bound + 1`` as soon as it must exceed ``bound`` (typos are one or two edits)."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    before: list[int] | None = None
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if (
                before is not None
                and i > 1
                and j > 1
                and a[i - 1] == b[j - 2]
                and a[i - 2] == b[j - 1]
            ):
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        before, row = row, current
    return row[-1]


def _deletions(word: str, depth: int) -> set[str]:
    """``word`` with up to ``depth`` letters deleted, itself included."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def typo_bound(length: int) -> int:
    """Edits a misspelt word of this length may be away from the word meant: none below 4
    letters (too many real words are one edit apart: "war", "was", "car"), one up to 7,
    two from 8 ("documentry", "sciencefction")."""
    return 0 if length < 4 else 1 if length <= 7 else 2


def lexicon_for(language: str, directory: str = str(VOCABULARY_DIR)) -> Lexicon:
    lexicons = load_lexicons(directory)
    return next((lex for lex in lexicons if lex.language == language), lexicons[0])


def _english() -> Lexicon:
    return lexicon_for(DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class Target:
    """What a phrase found in a message stands for in this catalogue."""

    tokens: tuple[str, ...]  # catalogue tokens (original case); empty: a concept it lacks
    concepts: tuple[str, ...]


def _plurals(phrase: str) -> Iterable[str]:
    yield phrase
    if _HANGUL.search(phrase) or not phrase[-1:].isalpha():
        return
    if phrase.endswith("y") and len(phrase) > 3:
        yield phrase[:-1] + "ies"
    if not phrase.endswith("s"):
        yield phrase + "s"


_TOKEN = re.compile(r"[a-z0-9][a-z0-9'’\-]*")
_PART = re.compile(r"[a-z0-9][a-z0-9'’]*")


@dataclass(frozen=True)
class Found(Generic[V]):
    start: int
    end: int
    value: V


class PhraseIndex(Generic[V]):
    """Finds known phrases in a lower-cased message, longest first, without overlaps.

    Latin phrases are looked up as word n-grams in a dict (word edges for free); Korean
    phrases as substrings, since particles attach to the word ("코미디를"). Much faster than
    one regular expression with hundreds of alternatives.
    """

    def __init__(self, phrases: dict[str, V]) -> None:
        self.words: dict[tuple[str, ...], V] = {}
        self.hangul: list[tuple[str, V]] = []
        for phrase, value in phrases.items():
            if _HANGUL.search(phrase):
                self.hangul.append((phrase, value))
            else:
                key = tuple(phrase.split())
                if key:
                    self.words.setdefault(key, value)
        self.hangul.sort(key=lambda pv: len(pv[0]), reverse=True)
        self.longest = max((len(k) for k in self.words), default=0)
        self.starts = frozenset(k[0] for k in self.words)

    def _tokens(self, text: str) -> list[tuple[int, int, str]]:
        """The message's words; a hyphenated word no phrase starts with is split into its
        parts, so "non-horror" and "romance-free" still name their genre."""
        tokens: list[tuple[int, int, str]] = []
        for m in _TOKEN.finditer(text):
            word = m.group(0).strip("'’-")
            if "-" in word and (word,) not in self.words and word not in self.starts:
                at = m.start() + m.group(0).index(word)
                for part in _PART.finditer(word):
                    tokens.append((at + part.start(), at + part.end(), part.group(0)))
            else:
                tokens.append((m.start(), m.end(), word))
        return tokens

    def find(self, text: str) -> list[Found[V]]:
        found: list[Found[V]] = []
        taken = bytearray(len(text))  # characters already matched by a longer phrase
        if self.hangul and _HANGUL.search(text):
            for phrase, value in self.hangul:
                at = text.find(phrase)
                while at >= 0:
                    end = at + len(phrase)
                    if not any(taken[at:end]):
                        taken[at:end] = b"\x01" * (end - at)
                        found.append(Found(at, end, value))
                    at = text.find(phrase, end)
        if self.words:
            tokens = self._tokens(text)
            i = 0
            while i < len(tokens):
                for n in range(min(self.longest, len(tokens) - i), 0, -1):
                    key = tuple(t[2] for t in tokens[i : i + n])
                    hit = self.words.get(key)
                    if hit is not None:
                        start, end = tokens[i][0], tokens[i + n - 1][1]
                        if not any(taken[start:end]):
                            found.append(Found(start, end, hit))
                        i += n
                        break
                else:
                    i += 1
        found.sort(key=lambda f: f.start)
        return found


class CatalogMatcher:
    """Every lexicon's phrases resolved against one catalogue's feature tokens."""

    def __init__(self, vocabulary: Iterable[str], lexicons: tuple[Lexicon, ...]) -> None:
        self.lexicons = lexicons
        self.vocabulary = tuple(sorted({str(t) for t in vocabulary}))
        self.by_normal = by_normal = {normal_token(t): t for t in self.vocabulary}
        self.concept_token: dict[str, str | None] = {}
        self.token_concept: dict[str, str] = {}
        for lex in lexicons:
            for concept, names in lex.concepts.items():
                if concept in self.concept_token and self.concept_token[concept] is not None:
                    continue
                token = next(
                    (by_normal[n] for n in map(normal_token, names) if n in by_normal), None
                )
                self.concept_token[concept] = token
                if token is not None:
                    self.token_concept.setdefault(token, concept)
        targets: dict[str, Target] = {}

        def add(phrase: str, target: Target) -> None:
            for form in _plurals(phrase):
                targets.setdefault(form, target)

        placeholders = {p for lex in lexicons for p in lex.placeholders}
        for token in self.vocabulary:  # the catalogue's own words always count
            low = token.lower()
            if low in placeholders:  # ML-100K's "unknown" genre is nobody's wish
                continue
            target = Target((token,), (self.token_concept.get(token, ""),))
            for form in {low, low.replace("-", " "), low.replace("-", ""), low.replace("'", "")}:
                if form.strip():
                    add(" ".join(form.split()), target)
        for lex in lexicons:
            for phrase, concepts in lex.combined.items():
                tokens = tuple(t for c in concepts if (t := self.concept_token.get(c)))
                add(phrase, Target(tokens, tuple(concepts)))
            for phrase, concept in lex.phrases.items():
                token = self.concept_token.get(concept)
                add(phrase, Target((token,) if token else (), (concept,)))
        self.targets = targets
        self.index: PhraseIndex[Target] = PhraseIndex(targets)
        # A genre said by its own name: a catalogue token, a concept, a language's name for
        # it (with plurals): "comedies", "sci fi", "코미디"; not "funny" or "kids".
        plain = {*self.vocabulary, *self.concept_token}
        plain |= {n for lex in lexicons for n in lex.names.values()}
        self.plain_names = frozenset(
            normal_token(form) for name in plain for form in _plurals(name.lower())
        )
        self._typo_forms: dict[str, list[tuple[str, Target]]] | None = None
        self._corrections: dict[str, Target | None] = {}

    def _typo_index(self) -> dict[str, list[tuple[str, Target]]]:
        """The catalogue's tokens and the lexicons' Latin phrases as one word each ("sci fi"
        -> "scifi"), indexed under every form with up to two letters deleted (symmetric
        deletion): a misspelt word finds its candidates by its own deletions, so only a few
        are compared letter by letter. Built the first time a word needs correcting."""
        if self._typo_forms is None:
            index: dict[str, list[tuple[str, Target]]] = {}
            seen: set[str] = set()
            for phrase, target in self.targets.items():
                form = normal_token(phrase)
                if len(form) < 4 or not form.isalpha() or _HANGUL.search(form) or form in seen:
                    continue
                seen.add(form)
                for variant in _deletions(form, 2):  # the largest typo_bound
                    index.setdefault(variant, []).append((form, target))
            self._typo_forms = index
        return self._typo_forms

    def correct(self, word: str) -> Target | None:
        """What a misspelt word stands for ("horor" -> horror, "documentry" -> documentary):
        the catalogue token or lexicon phrase within ``typo_bound`` edits, when exactly one
        meaning is that close. Callers pass only words that are not known words themselves
        (``common_words``, filler), so a real word is never turned into a genre."""
        form = normal_token(word)
        if form in self._corrections:
            return self._corrections[form]
        bound = typo_bound(len(form))
        found: Target | None = None
        if bound and form.isascii() and form.isalpha():
            best = bound + 1
            meanings: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
            index = self._typo_index()
            candidates = {c for v in _deletions(form, bound) for c in index.get(v, ())}
            for candidate, target in sorted(candidates, key=lambda c: c[0]):
                d = edit_distance(form, candidate, bound)
                if d < best:
                    best, found, meanings = d, target, set()
                if d == best and d <= bound:
                    meanings.add((target.tokens, target.concepts))
            if len(meanings) != 1:  # nothing close, or close to two meanings: no guess
                found = None
        if len(self._corrections) < 4096:
            self._corrections[form] = found
        return found

    def find(self, text: str) -> list[Found[Target]]:
        """The phrases of this catalogue in a lower-cased, whitespace-collapsed message."""
        return self.index.find(text)

    def plainly_named(self, said: str, target: Target) -> bool:
        """Whether ``said`` names its genres plainly (their own names, or a phrase naming
        several: "rom-com"), rather than through a word that may mean something else."""
        return len(target.tokens) > 1 or normal_token(said) in self.plain_names

    def display(self, token: str, language: str) -> str:
        """A token as the reply names it: the concept's name in that language, else the token."""
        concept = self.token_concept.get(token)
        if concept:
            lex = lexicon_for(language)
            if lex.language == language and concept in lex.names and language != DEFAULT_LANGUAGE:
                return lex.names[concept]
        return token.lower() if language == DEFAULT_LANGUAGE else token

    def concept_name(self, concept: str, language: str) -> str:
        lex = lexicon_for(language)
        return lex.names.get(concept) or _english().names.get(concept, concept)


_matchers: OrderedDict[tuple[str, ...], CatalogMatcher] = OrderedDict()
_matchers_lock = threading.Lock()


_last: list[tuple[frozenset[str], CatalogMatcher]] = []  # the vocabulary object seen last


def matcher_for(vocabulary: Iterable[str]) -> CatalogMatcher:
    """The compiled matcher of a catalogue vocabulary (a few kept, most recent first). The
    engine passes the same frozenset every turn: that is recognised without rehashing it."""
    last = _last[0] if _last else None
    if last is not None and last[0] is vocabulary:
        return last[1]
    key = tuple(sorted({str(t) for t in vocabulary}))
    with _matchers_lock:
        found = _matchers.get(key)
        if found is not None:
            _matchers.move_to_end(key)
    if found is None:
        found = CatalogMatcher(key, load_lexicons())
        with _matchers_lock:
            _matchers[key] = found
            while len(_matchers) > 8:
                _matchers.popitem(last=False)
    if isinstance(vocabulary, frozenset):
        _last[:] = [(vocabulary, found)]  # holds the set, so its identity is not reused
    return found
