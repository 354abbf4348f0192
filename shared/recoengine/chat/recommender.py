"""The recommendation engine as the chat sees it: a small port with an adapter to serving.

The chat core depends on ``Recommender`` only, so it is tested with a tiny in-test catalogue;
``ServingRecommender`` adapts ``recoengine.serving.get_service()`` (imported lazily, loaded
once per instance) in production and ``make run``.
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
        exclude: Sequence[str] = (),
        recent_items: Sequence[str] = (),
    ) -> list[Suggestion]: ...

    def similar(self, item_id: str, k: int) -> list[Suggestion]: ...

    def vocabulary(self) -> frozenset[str]: ...

    def describe(self) -> dict[str, Any]: ...


class ServingRecommender:
    """``recoengine.serving`` behind the chat's port (raises ServiceUnavailable while the
    model is missing; the chat engine turns that into a reply without recommendations)."""

    def __init__(self) -> None:
        self._vocab: tuple[int, frozenset[str]] = (0, frozenset())

    def _service(self) -> Any:
        from recoengine.serving import get_service

        return get_service()

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        features: Sequence[str] = (),
        exclude: Sequence[str] = (),
        recent_items: Sequence[str] = (),
    ) -> list[Suggestion]:
        from recoengine.serving import RecommendContext

        context = RecommendContext(features=list(features), exclude=list(exclude))
        # What the user just did extends their history, as in the recommend function.
        result = self._service().recommend(user_id, k, context, recent_events=list(recent_items))
        return [Suggestion(i.item_id, i.title, float(i.score)) for i in result.items]

    def similar(self, item_id: str, k: int) -> list[Suggestion]:
        items = self._service().similar_items(item_id, k)
        return [Suggestion(i.item_id, i.title, float(i.score)) for i in items]

    def vocabulary(self) -> frozenset[str]:
        """Feature tokens the catalogue knows (so "a comedy" can filter by ``comedy``)."""
        service = self._service()
        if self._vocab[0] != id(service):  # cached per loaded model
            vocab = getattr(getattr(getattr(service, "model", None), "cb", None), "vocabulary", ())
            self._vocab = (id(service), frozenset(str(t) for t in vocab or ()))
        return self._vocab[1]

    def describe(self) -> dict[str, Any]:
        from recoengine.serving import service_status

        return dict(service_status())
