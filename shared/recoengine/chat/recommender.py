"""The recommendation engine as the chat sees it: small ports with an adapter to serving.

The chat core depends on ``Recommender`` and ``RecentItems`` only, so it is tested with a tiny
in-test catalogue; ``ServingRecommender`` adapts a ``RecommenderService`` (the wiring passes
its provider, so the model loads on the first turn that needs it) in production, ``make run``
and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from recoengine.serving.service import RecommenderService


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
    the store cannot say (``recoengine.serving.UserEvents``)."""

    def recent_item_ids(self, user_id: str, limit: int = 20) -> list[str]: ...


def _suggestions(items: Any) -> list[Suggestion]:
    return [Suggestion(i.item_id, i.title, float(i.score)) for i in items]


class ServingRecommender:
    """A ``RecommenderService`` behind the chat's port. ``service`` is called on each use, so
    while the model is missing it raises ServiceUnavailable (the chat service turns that into
    a reply without recommendations) and a model loaded later is picked up."""

    def __init__(self, service: Callable[[], RecommenderService]) -> None:
        self._service = service
        self._vocab: tuple[int, frozenset[str]] = (0, frozenset())

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
        from recoengine.serving import RecommendContext

        context = RecommendContext(
            features=list(features), match_all_features=match_all, exclude=list(exclude)
        )
        # What the user just did extends their history, as in the recommend function.
        result = self._service().recommend(user_id, k, context, recent_events=list(recent_items))
        return _suggestions(result.items)

    def similar(
        self, item_id: str, k: int, *, exclude: Sequence[str] = (), user_id: str | None = None
    ) -> list[Suggestion]:
        items = self._service().similar_items(item_id, k, exclude=list(exclude), user_id=user_id)
        return _suggestions(items)

    def vocabulary(self) -> frozenset[str]:
        """Feature tokens the catalogue knows (so "a comedy" can filter by ``Comedy``)."""
        service = self._service()
        if self._vocab[0] != id(service):  # cached per loaded model
            self._vocab = (id(service), frozenset(str(t) for t in service.feature_vocabulary()))
        return self._vocab[1]

    def features_of(self, item_id: str) -> tuple[str, ...]:
        return tuple(self._service().item_features(item_id) or ())

    def describe(self) -> dict[str, Any]:
        return self._service().status()
