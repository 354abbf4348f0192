"""The recommendation engine as the chat sees it: small ports.

The chat core depends on ``Recommender`` and ``RecentItems`` only, so it is tested with a tiny
in-test catalogue; ``recoengine.wiring.serving_recommender.ServingRecommender`` adapts the
serving layer's ``RecommenderService`` to it in production, ``make run`` and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Suggestion:
    item_id: str
    title: str
    score: float = 0.0


@runtime_checkable
class Recommender(Protocol):
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
        """Top ``k`` for the user; ``features`` keep items carrying all (``match_all``) or any
        of the tokens; the user's history and ``exclude`` are never returned."""
        ...

    def similar(
        self, item_id: str, k: int, *, exclude: Sequence[str] = (), user_id: str | None = None
    ) -> list[Suggestion]:
        """Items most like ``item_id`` itself; never the item, ``exclude`` or (with
        ``user_id``) what the user has already seen."""
        ...

    def vocabulary(self) -> frozenset[str]:
        """The catalogue's feature tokens, in their original case."""
        ...

    def features_of(self, item_id: str) -> tuple[str, ...]:
        """An item's feature tokens (empty for an unknown item)."""
        ...

    def describe(self) -> dict[str, Any]: ...


class RecentItems(Protocol):
    """What the user just did: their recent clicked/accepted items, oldest first, empty when
    the store cannot say (``recoengine.sessions.user_events.UserEvents``)."""

    def recent_item_ids(self, user_id: str, limit: int = 20) -> list[str]: ...
