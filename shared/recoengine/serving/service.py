"""The recommender service: one request in, the top items with their component scores out.

Pure logic over a loaded artifact (numpy only), in two stages: gather candidates (neighbours
of the user's recent items in the item graphs, the popular items of their segment and overall,
and for a feature filter the most popular items carrying the feature), then blend CF, CB and PA
on the candidates only. Nothing in a request grows with the catalog. Context handling:

- ``recent_items`` (from the request) and ``recent_events`` (the user's latest clicks/accepts,
  from the session store) extend the user's history, so answers follow what the user just did
  without retraining; ``exclude`` and the history are never recommended;
- ``features`` keeps only items carrying at least one of the tokens (all of them with
  ``match_all_features``), matched case-insensitively; the feature index fills ``k`` even when
  none of the user's neighbours carries them;
- ``persona`` overrides/extends the persona attributes known from training.

A user the model has never seen gets persona (if given) + popularity + context, never an error.
Unknown item ids or feature tokens in the context are ignored and reported in ``warnings``.

Such a user's answer depends on the request alone (context, ``k``), not on who asks; so unseen
users with no recent events share one cache entry per request context (``_UNSEEN`` in place of
the user id), and the first new user's miss serves every other's. A user with recent events is
personalised by them and keeps an entry of their own; the entry carries the catalog version
and the weights, and ``apply_catalog`` empties the cache, as for every other entry.

Catalog updates (``recoengine.catalog``) reach a running service through ``apply_catalog``: it
swaps the whole view (model, item index, withdrawn and new items) at once and empties the
cache, and each request reads the view once, so no request mixes two catalogs. Withdrawn items
are banned in every request, "more like this" included. ``new_item_share`` reserves that share
of each answer's slots for the items the updates added (default 0: off).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recoengine.artifact import Catalog, LoadedModel
from recoengine.models import kernels
from recoengine.models.blend import DEFAULT_WEIGHTS, Blended, weight_vector
from recoengine.models.hybrid import HybridModel, Scored
from recoengine.serving.cache import TTLCache
from recoengine.serving.view import CatalogView

# "More like this" ranks by the anchor alone, no persona: content first (people asking for
# "more like Toy Story" expect its kind), item-to-item CF to order the items of that kind.
_SIMILARITY_WEIGHTS = np.asarray((0.3, 0.7, 0.0), dtype=np.float32)
# A feature filter adds this many of each token's most popular items beyond k and the banned.
_FILTER_SLACK = 50
_NONE = np.zeros(0, dtype=np.int32)
# The newest new items (beyond k) offered for the boosted slots: bounded, whatever the update.
_FRESH_CANDIDATES = 100
# The cache key's "user" for every user the model has never seen and who has no recent events
# (user ids are strings: no user id equals it).
_UNSEEN = None

Weights = tuple[float, float, float]


def weights_in_force(configured: Weights | None, tuned: Weights | None) -> tuple[Weights, str]:
    """BLEND_WEIGHTS when set, else the weights training tuned (recorded in the artifact),
    else the product's default; with where they came from, for /health/detailed."""
    if configured is not None:
        return configured, "BLEND_WEIGHTS"
    if tuned is not None:
        return tuned, "artifact (tuned on validation)"
    return DEFAULT_WEIGHTS, "default"


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
        observe_latency: Callable[[float], None] | None = None,
        *,
        weights_source: str = "caller",
        new_item_share: float = 0.0,
    ) -> None:
        """``observe_latency`` receives the scoring seconds of each cache miss (the wiring
        passes the ``recommendation_engine_latency`` histogram); ``weights_source`` says where
        ``weights`` came from, for /health/detailed."""
        self.trained = CatalogView.trained(loaded)
        self._view = self.trained
        self.weights = weights
        self.weights_source = weights_source
        self.new_item_share = new_item_share
        self.cache: TTLCache[Recommendations] = cache if cache is not None else TTLCache(0, 0)
        self._observe = observe_latency
        self._user_index = {uid: u for u, uid in enumerate(loaded.catalog.user_ids)}
        self._weights = weight_vector(weights)
        # Each known user's PA segment rows, filled on first use (a few ints per user).
        self._known_rows: dict[int, list[int]] = {}
        self.catalog_status: dict[str, Any] = {"version": None}

    @property
    def loaded(self) -> LoadedModel:
        return self._view.loaded

    @property
    def model(self) -> HybridModel:
        return self._view.loaded.model

    @property
    def catalog(self) -> Catalog:
        return self._view.loaded.catalog

    @property
    def n_items(self) -> int:
        return len(self._view.item_index)

    @property
    def version(self) -> str:
        return self.trained.loaded.version

    @property
    def catalog_version(self) -> str | None:
        return self._view.version

    def apply_catalog(self, view: CatalogView) -> None:
        """Serve ``view`` (the trained catalog with an update applied) from now on: one
        assignment, then the cache emptied (its keys carry the catalog version too, so an
        answer scored on the old view while swapping is never served from the new one)."""
        self._view = view
        self.cache.clear()
        self.catalog_status = {
            "version": view.version,
            "new_items": len(view.new_items),
            "withdrawn": len(view.withdrawn),
            "applied_at": time.time(),
        }

    def status(self) -> dict[str, Any]:
        """The loaded model, the catalog update in force, the weights and the cache, for
        /health/detailed."""
        return {
            "status": "ok",
            "model_version": self.version,
            "catalog": dict(self.catalog_status),
            "items": self.n_items,
            "weights": list(self.weights),
            "weights_source": self.weights_source,
            "new_item_share": self.new_item_share,
            "cache": self.cache.stats(),
        }

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

    def _indices(
        self, view: CatalogView, ids: Sequence[str], what: str, warnings: list[str]
    ) -> list[int]:
        found = []
        for iid in ids:
            idx = view.item_index.get(iid)
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
        view = self._view
        if self.cache.enabled:
            who = user_id if recent_events or user_id in self._user_index else _UNSEEN
            key = (who, context.key(), tuple(recent_events), k, view.version, self.weights)
            cached = self.cache.get(key)
            if cached is not None:
                return Recommendations(cached.items, cached.model_version, cached.warnings, True)
        started = time.perf_counter()
        result = self._score(view, user_id, k, context, recent_events)
        result.engine_seconds = time.perf_counter() - started
        if self._observe is not None:
            self._observe(result.engine_seconds)
        if key is not None:
            self.cache.put(key, result)
        return result

    def _score(
        self,
        view: CatalogView,
        user_id: str,
        k: int,
        context: RecommendContext,
        recent_events: Sequence[str],
    ) -> Recommendations:
        warnings: list[str] = []
        user = self._user_index.get(user_id)
        history = view.loaded.history(user) if user is not None else _NONE
        if recent_events or context.recent_items:
            extra = self._indices(view, recent_events, "recent events", []) + self._indices(
                view, context.recent_items, "context.recent_items", warnings
            )
            history = np.concatenate([history, np.asarray(extra, dtype=np.int32)])
        banned = history
        if context.exclude or len(view.withdrawn):
            excluded = self._indices(view, context.exclude, "context.exclude", warnings)
            banned = np.concatenate([history, np.asarray(excluded, dtype=np.int32), view.withdrawn])
        model = view.loaded.model
        tokens = self._tokens(model, context.features, warnings)
        rows = self._persona_rows(user, context.persona)
        all_of = context.match_all_features
        filter_items = self._filter_items(model, tokens, all_of, k + len(banned))
        fresh = self._fresh(view, tokens, all_of, k)
        candidates = (history, rows, banned, filter_items, fresh, tokens, context, k)
        items = self._rank(view, *candidates, k)
        if len(items) < k and len(banned):
            # Banned items crowded the popular candidates out: widen them (rare, small k).
            items = self._rank(view, *candidates, k + len(banned))
        return Recommendations(items, self.version, warnings)

    def _fresh(
        self, view: CatalogView, tokens: list[int], all_of: bool, k: int
    ) -> np.ndarray | None:
        """The new items that may take the boosted slots (the newest first, those carrying the
        filter's tokens when there is one), or None when the boost is off or nothing is new."""
        if not len(view.new_items) or _slots(self.new_item_share, k) == 0:
            return None
        fresh = view.new_items
        if tokens:
            fresh = fresh[view.loaded.model.cb.match(fresh, tokens, all_of)]
        return fresh[: _FRESH_CANDIDATES + k]

    def _rank(
        self,
        view: CatalogView,
        history: np.ndarray,
        rows: list[int],
        banned: np.ndarray,
        filter_items: np.ndarray | None,
        fresh: np.ndarray | None,
        tokens: list[int],
        context: RecommendContext,
        k: int,
        popular: int,
    ) -> list[ScoredItem]:
        model = view.loaded.model
        extra = filter_items
        if fresh is not None and len(fresh):
            extra = fresh if extra is None else np.concatenate([extra, fresh])
        scored, blended = model.blended(history, rows, self._weights, banned, extra, popular)
        if tokens:
            blended.total[
                ~model.cb.match(scored.items, tokens, context.match_all_features)
            ] = -np.inf
        if fresh is not None and len(fresh):
            return self._top_boosted(view, scored, blended, k, fresh)
        return self._top(view, scored, blended, k)

    def _top_boosted(
        self, view: CatalogView, scored: Scored, blended: Blended, k: int, fresh: np.ndarray
    ) -> list[ScoredItem]:
        """The top ``k`` with at least ``new_item_share`` of the slots (rounded) held by new
        items when enough of them qualify: the best new items replace the lowest others, and
        the list stays in score order."""
        total = blended.total
        positions, scores = kernels.top_k(total, k)
        top = np.asarray(positions, dtype=np.int64)
        is_new = np.isin(scored.items, fresh)
        is_new &= np.isfinite(total)
        missing = min(_slots(self.new_item_share, k), int(is_new.sum())) - int(is_new[top].sum())
        if missing <= 0:
            return self._items(view, scored, blended, positions, scores)
        others = np.flatnonzero(is_new)
        others = others[~np.isin(others, top)]
        extra_new = others[np.lexsort((others, -total[others]))][:missing]
        old = top[~is_new[top]]  # in score order
        # Free slots (fewer candidates than k) first, then the lowest others make room.
        drop = max(0, len(extra_new) - (k - len(top)))
        kept = np.concatenate([old[: len(old) - drop], top[is_new[top]], extra_new])
        top = kept[np.lexsort((kept, -total[kept]))]
        return self._items(view, scored, blended, top.tolist(), total[top].tolist())

    def _tokens(self, model: HybridModel, names: Sequence[str], warnings: list[str]) -> list[int]:
        """Feature columns of ``names`` (case-insensitive); unknown names become warnings.
        With no known name at all the filter is dropped (not "match nothing")."""
        tokens = []
        for name, token in zip(names, model.cb.tokens_for(list(names)), strict=True):
            if token is None:
                warnings.append(f"unknown feature {name!r} in context.features ignored")
            else:
                tokens.append(token)
        return tokens

    def _filter_items(
        self, model: HybridModel, tokens: list[int], all_of: bool, wanted: int
    ) -> np.ndarray | None:
        """The feature index's candidates: each token's most popular items (any), or the
        rarest token's items that carry every token (all)."""
        if not tokens:
            return None
        cb, limit = model.cb, wanted + _FILTER_SLACK
        if not all_of:
            return np.concatenate([cb.carrying(t)[:limit] for t in tokens])
        # The rarest token's items, most popular first, scanned in chunks until enough carry
        # every token: a common pair never costs a pass over the catalog.
        rarest = cb.carrying(min(tokens, key=lambda t: len(cb.carrying(t))))
        found: list[np.ndarray] = []
        chunk = max(limit, 256)
        for lo in range(0, len(rarest), chunk):
            part = np.ascontiguousarray(rarest[lo : lo + chunk])
            found.append(part[cb.match(part, tokens, True)])
            if sum(len(f) for f in found) >= limit:
                break
        return np.concatenate(found)[:limit] if found else _NONE

    def _top(self, view: CatalogView, scored: Scored, blended: Blended, k: int) -> list[ScoredItem]:
        positions, scores = kernels.top_k(blended.total, k)
        return self._items(view, scored, blended, positions, scores)

    def _items(
        self,
        view: CatalogView,
        scored: Scored,
        blended: Blended,
        positions: list[int],
        scores: list[float],
    ) -> list[ScoredItem]:
        items = scored.items[positions].tolist()
        ids, titles = view.loaded.catalog.item_ids, view.loaded.catalog.titles
        return [
            ScoredItem(ids[i], titles[i], score, parts)
            for i, score, parts in zip(items, scores, blended.components(positions), strict=True)
        ]

    def similar_items(
        self,
        item_id: str,
        k: int = 5,
        *,
        exclude: Sequence[str] = (),
        user_id: str | None = None,
    ) -> list[ScoredItem]:
        """Items most like ``item_id`` itself (item-to-item CF and content, no persona), for
        "more like this": never the item, ``exclude``, or what ``user_id`` has already seen.
        Its neighbours in the item graphs and the items sharing its features are the
        candidates."""
        view = self._view
        idx = view.item_index.get(item_id)
        if idx is None:
            return []
        anchor = np.asarray([idx], dtype=np.int32)
        user = self._user_index.get(user_id) if user_id is not None else None
        seen = view.loaded.history(user) if user is not None else _NONE
        excluded = np.asarray(self._indices(view, exclude, "exclude", []), np.int32)
        banned = np.concatenate([anchor, excluded, seen, view.withdrawn])
        model = view.loaded.model
        cb = model.cb
        tokens = cb.items.row(idx)[0].tolist()
        limit = k + len(banned) + _FILTER_SLACK
        sharing = [cb.carrying(t)[:limit] for t in tokens]
        extra = np.concatenate(sharing) if sharing else None
        scored, blended = model.blended(anchor, [], _SIMILARITY_WEIGHTS, banned, extra, k)
        if not blended.scale[:2].any():
            return []  # no neighbour and no shared feature: nothing is "like" this item
        return self._top(view, scored, blended, k)

    def feature_vocabulary(self) -> list[str]:
        """The catalog's feature tokens as the catalog spells them (matched case-insensitively)."""
        return list(self.model.cb.vocabulary)

    def item_features(self, item_id: str) -> list[str] | None:
        view = self._view
        idx = view.item_index.get(item_id)
        return None if idx is None else list(view.loaded.catalog.features[idx])

    def item_title(self, item_id: str) -> str | None:
        view = self._view
        idx = view.item_index.get(item_id)
        return None if idx is None else view.loaded.catalog.titles[idx]


def _slots(share: float, k: int) -> int:
    """The boosted slots of a list of ``k``: ``share * k`` rounded half up."""
    return int(share * k + 0.5)
