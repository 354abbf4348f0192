"""The recommender service: one request in, the top items with their component scores out.

Pure logic over a loaded artifact (numpy only). Context handling:

- ``recent_items`` (from the request) and ``recent_events`` (the user's latest clicks/accepts,
  from the session store) extend the user's history, so answers follow what the user just did
  without retraining; ``exclude`` and the history are never recommended;
- ``features`` keeps only items carrying at least one of the tokens;
- ``persona`` overrides/extends the persona attributes known from training.

A user the model has never seen gets persona (if given) + popularity + context, never an error.
Unknown item ids or feature tokens in the context are ignored and reported in ``warnings``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recoengine.artifact import LoadedModel
from recoengine.models import kernels
from recoengine.models.blend import weight_vector
from recoengine.serving.cache import TTLCache
from recoengine.web.metrics import RECOMMENDATION_ENGINE_LATENCY


# "More like this" ranks by the anchor alone: item-to-item CF and content, no persona.
_SIMILARITY_WEIGHTS = np.asarray((0.5, 0.5, 0.0), dtype=np.float32)


@dataclass(frozen=True)
class RecommendContext:
    persona: dict[str, str] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    recent_items: list[str] = field(default_factory=list)
    match_all_features: bool = False  # AND of ``features`` (default: any of them)

    def key(self) -> tuple[object, ...]:
        return (
            tuple(sorted(self.persona.items())),
            tuple(self.features),
            self.match_all_features,
            tuple(self.exclude),
            tuple(self.recent_items),
        )


@dataclass(slots=True)  # not frozen: frozen init costs ~1 µs per field on the hot path
class ScoredItem:
    item_id: str
    title: str
    score: float
    components: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "score": self.score,
            "components": self.components,
        }


@dataclass
class Recommendations:
    items: list[ScoredItem]
    model_version: str
    warnings: list[str]
    cached: bool = False
    engine_seconds: float | None = None  # scoring time of a cache miss


class RecommenderService:
    def __init__(
        self,
        loaded: LoadedModel,
        weights: tuple[float, float, float],
        cache: TTLCache[Recommendations] | None = None,
    ) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.catalog = loaded.catalog
        self.weights = weights
        self.cache: TTLCache[Recommendations] = cache if cache is not None else TTLCache(0, 0)
        self._item_index = {iid: i for i, iid in enumerate(self.catalog.item_ids)}
        self._user_index = {uid: u for u, uid in enumerate(self.catalog.user_ids)}
        self.n_items = len(self.catalog.item_ids)
        self._weights = weight_vector(weights)
        self._tokens = {t.casefold(): t for t in self.model.cb.vocabulary}
        # Each known user's PA segment rows, filled on first use (a few ints per user).
        self._known_rows: dict[int, list[int]] = {}

    @property
    def version(self) -> str:
        return self.loaded.version

    def _persona_rows(self, user: int | None, override: dict[str, str]) -> list[int]:
        """The PA segment rows of the user's known persona, updated by the request's."""
        if not override and user is not None:
            rows = self._known_rows.get(user)
            if rows is None:
                rows = self._known_rows[user] = self.model.pa.rows_for(self._persona_of(user))
            return rows
        persona = self._persona_of(user) if user is not None else {}
        persona.update(override)
        return self.model.pa.rows_for(persona)

    def _persona_of(self, user: int) -> dict[str, str]:
        return {a: v[user] for a, v in self.catalog.user_attrs.items() if v[user]}

    def _indices(self, ids: Sequence[str], what: str, warnings: list[str]) -> list[int]:
        found = []
        for iid in ids:
            idx = self._item_index.get(iid)
            if idx is None:
                warnings.append(f"unknown item id {iid!r} in {what} ignored")
            else:
                found.append(idx)
        return found

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        context: RecommendContext | None = None,
        recent_events: Sequence[str] = (),
    ) -> Recommendations:
        context = context or RecommendContext()
        key = None
        if self.cache.enabled:
            key = (user_id, context.key(), tuple(recent_events), k, self.version, self.weights)
            cached = self.cache.get(key)
            if cached is not None:
                return Recommendations(cached.items, cached.model_version, cached.warnings, True)
        started = time.perf_counter()
        result = self._score(user_id, k, context, recent_events)
        result.engine_seconds = time.perf_counter() - started
        RECOMMENDATION_ENGINE_LATENCY.observe(result.engine_seconds)
        if key is not None:
            self.cache.put(key, result)
        return result

    def _score(
        self,
        user_id: str,
        k: int,
        context: RecommendContext,
        recent_events: Sequence[str],
    ) -> Recommendations:
        warnings: list[str] = []
        user = self._user_index.get(user_id)
        history = self.loaded.history(user) if user is not None else np.zeros(0, np.int32)
        if recent_events or context.recent_items:
            extra = self._indices(recent_events, "recent events", []) + self._indices(
                context.recent_items, "context.recent_items", warnings
            )
            history = np.concatenate([history, np.asarray(extra, dtype=np.int32)])
        rows = self._persona_rows(user, context.persona)
        blended = self.model.blended(history, rows, self._weights)
        total = blended.total
        masked = history
        if context.exclude:
            excluded = self._indices(context.exclude, "context.exclude", warnings)
            masked = np.concatenate([history, np.asarray(excluded, dtype=np.int32)])
        if context.features:
            known = [self._tokens.get(t.casefold()) for t in context.features]
            warnings.extend(
                f"unknown feature {t!r} in context.features ignored"
                for t, k in zip(context.features, known, strict=True)
                if k is None
            )
            tokens = [k for k in known if k is not None]
            if tokens:
                total[~self.model.cb.feature_mask(tokens, all_of=context.match_all_features)] = (
                    -np.inf
                )
        top, scores = kernels.top_k(total, k, masked)
        ids, titles = self.catalog.item_ids, self.catalog.titles
        items = [
            ScoredItem(ids[idx], titles[idx], score, parts)
            for idx, score, parts in zip(top, scores, blended.components(top), strict=True)
        ]
        return Recommendations(items, self.version, warnings)

    def similar_items(
        self,
        item_id: str,
        k: int = 5,
        *,
        exclude: Sequence[str] = (),
        user_id: str | None = None,
    ) -> list[ScoredItem]:
        """Items most like ``item_id`` itself (item-to-item CF and content, no persona), for
        "more like this": never the item, ``exclude``, or what ``user_id`` has already seen."""
        idx = self._item_index.get(item_id)
        if idx is None:
            return []
        history = np.asarray([idx], dtype=np.int32)
        blended = self.model.blended(history, [], _SIMILARITY_WEIGHTS)
        masked = [idx, *self._indices(exclude, "exclude", [])]
        user = self._user_index.get(user_id) if user_id is not None else None
        seen = self.loaded.history(user) if user is not None else np.zeros(0, np.int32)
        top, scores = kernels.top_k(
            blended.total, k, np.concatenate([np.asarray(masked, np.int32), seen])
        )
        ids, titles = self.catalog.item_ids, self.catalog.titles
        return [
            ScoredItem(ids[i], titles[i], s, parts)
            for i, s, parts in zip(top, scores, blended.components(top), strict=True)
        ]

    def feature_vocabulary(self) -> list[str]:
        """The catalog's feature tokens as the catalog spells them (matched case-insensitively)."""
        return list(self.model.cb.vocabulary)

    def item_features(self, item_id: str) -> list[str] | None:
        idx = self._item_index.get(item_id)
        return None if idx is None else list(self.catalog.features[idx])

    def item_title(self, item_id: str) -> str | None:
        idx = self._item_index.get(item_id)
        return None if idx is None else self.catalog.titles[idx]
