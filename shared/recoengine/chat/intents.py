"""What a chat message asks for, from its words alone (pure, deterministic, fast).

Recommendation intents drive the engine: ``recommend`` ("recommend me a comedy"),
``more_like`` ("more like the second one") and ``something_else`` ("something else").
``help`` and ``greeting`` steer the personality; everything else is ``chat``. The topic is
what the personality router uses to decide whether the conversation moved on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


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

_ORDINALS = {
    "first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4,
    "sixth": 5, "seventh": 6, "eighth": 7, "ninth": 8, "tenth": 9, "last": -1,
    "1st": 0, "2nd": 1, "3rd": 2, "4th": 3, "5th": 4,
    "6th": 5, "7th": 6, "8th": 7, "9th": 8, "10th": 9,
}  # fmt: skip
_ORDINAL_RX = re.compile(
    r"\b(" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")\b"
    r"|(?:#|\bnumber\s+|\bno\.?\s*|\bitem\s+|\boption\s+)(\d{1,2})\b"
)
_SOMETHING_ELSE = re.compile(
    r"\b(something|anything)\s+(else|different)\b"
    r"|\b(other|different|new|more)\s+(options|ones|picks|suggestions|recommendations|ideas)\b"
    r"|\bnot\s+(these|those|that|this)\b|\bshow\s+me\s+others\b|\bnone\s+of\s+(these|those)\b"
)
_MORE_LIKE = re.compile(
    r"\bmore\s+like\b|\bsimilar\s+to\b|\b(ones?|something|anything|stuff)\s+like\b"
    r"|\blike\s+the\s+\w+\s+one\b"
)
_RECOMMEND = re.compile(
    r"\b(recommend\w*|suggest\w*|recs?)\b"
    r"|\bwhat\s+should\s+i\s+(watch|read|see|listen|play|try)\b"
    r"|\b(i'?m|i\s+am)\s+looking\s+for\b|\bsomething\s+to\s+(watch|read|see|listen|play)\b"
    r"|\bany\s+(good\s+)?(ideas|picks|tips)\b|\bgive\s+me\s+(some|a\s+few)\b"
)
_HELP = re.compile(
    r"\bhelp\b|\bhow\s+(do|does|can|should)\s+(i|you|this|it)\b|\bwhat\s+can\s+you\s+do\b"
    r"|\bhow\s+does\s+this\s+work\b|\bprivacy\b|\bdelete\s+my\b"
)
_GREETING = re.compile(r"^\s*(hi|hello|hey|hiya|howdy|good\s+(morning|afternoon|evening))\b")
_WORD = re.compile(r"[\w][\w'\-]*")


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    topic: str  # "" when the message carries no topic of its own
    ordinal: int | None = None  # 0-based position referred to; -1 = the last one
    features: tuple[str, ...] = ()  # catalogue feature tokens the message names
    anchor_title: str | None = None  # a previous item named by title


def ordinal_of(text: str) -> int | None:
    m = _ORDINAL_RX.search(text)
    if m is None:
        return None
    if m.group(1):
        return _ORDINALS[m.group(1)]
    number = int(m.group(2))
    return number - 1 if number >= 1 else None


def features_in(text: str, vocabulary: Iterable[str]) -> tuple[str, ...]:
    """Vocabulary tokens named in the text (case-insensitive; "comedies" finds "comedy")."""
    words = set(_WORD.findall(text))
    words |= {w[:-3] + "y" for w in words if w.endswith("ies")}
    words |= {w[:-1] for w in words if w.endswith("s")}
    found = [token for token in vocabulary if token.lower() in words]
    return tuple(sorted(found))


def title_named(text: str, titles: Sequence[str]) -> str | None:
    """A previously shown title that the message quotes (longest match wins)."""
    hits = [t for t in titles if len(t) >= 3 and t.lower() in text]
    return max(hits, key=len) if hits else None


def understand(
    message: str,
    vocabulary: Iterable[str] = (),
    previous_titles: Sequence[str] = (),
) -> Understanding:
    """Classify one message. Refinements need something to refine: without previous
    recommendations "something else" and "more like ..." are plain recommendation requests."""
    text = " ".join(message.lower().split())
    features = features_in(text, vocabulary)
    has_previous = bool(previous_titles)
    if has_previous and _SOMETHING_ELSE.search(text):
        return Understanding(Intent.SOMETHING_ELSE, TOPIC_RECOMMENDATIONS, features=features)
    if has_previous:
        named = title_named(text, previous_titles)
        ordinal = ordinal_of(text)
        if _MORE_LIKE.search(text) and (named or ordinal is not None or "like th" in text):
            return Understanding(
                Intent.MORE_LIKE,
                TOPIC_RECOMMENDATIONS,
                ordinal=ordinal if named is None else None,
                features=features,
                anchor_title=named,
            )
    if _RECOMMEND.search(text) or _MORE_LIKE.search(text) or _SOMETHING_ELSE.search(text):
        return Understanding(Intent.RECOMMEND, TOPIC_RECOMMENDATIONS, features=features)
    if _HELP.search(text):
        return Understanding(Intent.HELP, TOPIC_HELP)
    if _GREETING.search(text):
        return Understanding(Intent.GREETING, "")
    return Understanding(Intent.CHAT, "", features=features)
