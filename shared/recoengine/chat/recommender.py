"""The recommendation engine as the chat sees it: a small port with an adapter to serving.

The chat core depends on ``Recommender`` only, so it is tested with a tiny in-test catalogue;
``ServingRecommender`` adapts ``recoengine.serving.get_service()`` (imported lazily, loaded
once per instance) in production and ``make run``, or any service handed to it (benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _suggestions(items: Any) -> list[Suggestion]:
    return [Suggestion(i.item_id, i.title, float(i.score)) for i in items]


class ServingRecommender:
    """``recoengine.serving`` behind the chat's port (raises ServiceUnavailable while the
    model is missing; the chat engine turns that into a reply without recommendations)."""

    def __init__(self, service: Callable[[], Any] | None = None) -> None:
        self._provider = service
        self._vocab: tuple[int, frozenset[str]] = (0, frozenset())

    def _service(self) -> Any:
        if self._provider is not None:
            return self._provider()
        from recoengine.serving import get_service

        return get_service()

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
        if self._provider is not None:
            return {"status": "ok", "model_version": str(self._service().version)}
        from recoengine.serving import service_status

        return dict(service_status())
