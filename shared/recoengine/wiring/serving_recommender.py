"""Adapter: the serving layer's ``RecommenderService`` behind the chat's ``Recommender`` port.

It lives with the wiring, not in ``recoengine.chat``, so the chat core never imports serving
(nor, through the artifact loader, any Google client).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from recoengine.chat.recommender import Suggestion

if TYPE_CHECKING:  # imported when first used: the chat function starts without numpy
    from recoengine.serving import RecommenderService


def _suggestions(items: Any) -> list[Suggestion]:
    return [Suggestion(i.item_id, i.title, float(i.score)) for i in items]


class ServingRecommender:
    """A ``RecommenderService`` behind the chat's port. ``service`` is called on each use, so
    while the model is missing it raises ServiceUnavailable (the chat service turns that into
    a reply without recommendations) and a model loaded later is picked up."""

    def __init__(self, service: Callable[[], RecommenderService]) -> None:
        self._service = service
        self._vocab: tuple[object, frozenset[str]] = (None, frozenset())

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
        """Feature tokens the catalogue knows (so "a comedy" can filter by ``Comedy``), those
        of catalog updates included."""
        service = self._service()
        key = (id(service), service.catalog_version)  # per loaded model and catalog update
        if self._vocab[0] != key:
            self._vocab = (key, frozenset(str(t) for t in service.feature_vocabulary()))
        return self._vocab[1]

    def features_of(self, item_id: str) -> tuple[str, ...]:
        return tuple(self._service().item_features(item_id) or ())

    def describe(self) -> dict[str, Any]:
        return self._service().status()
