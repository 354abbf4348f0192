"""The served model with a catalog overlay applied: new items scored, withdrawn ones banned.

``apply`` never touches the trained artifact (memory-mapped, read-only): it builds a new
``LoadedModel`` whose arrays share the trained ones where nothing changes.

- A new item is appended (index ``n_trained + j``). It gets a TF-IDF row over the model's
  vocabulary (new tokens get new columns), so CB scores it from the first request, a place in
  the feature index (filters), and a persona prior: the mean segment lift of its most similar
  trained items by content. It has no neighbours in the item graphs (no interactions yet) and
  the popularity of the least popular item. Its clicks in a user's recent events count from
  the first one: the view's item index resolves it.
- A changed item gets its new title and features.
- A withdrawn item stays in the arrays (indices are stable) and is listed in ``withdrawn``,
  which the service adds to every request's banned items, "more like this" included.

Cost of an overlay: O(entries of the item features + segments x items), once per update, on
the poller's thread; requests only pay for banning the withdrawn items.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recoengine.artifact import Catalog, LoadedModel
from recoengine.catalog.update import CatalogUpdate, UpdateError, check_changes
from recoengine.models import kernels
from recoengine.models.hybrid import HybridModel
from recoengine.models.sparse import SparseRows
from recoengine.serving.view import CatalogView

_SIMILAR = 10  # trained items whose segment lifts average into a new item's prior
_PER_TOKEN = 200  # of each shared token's most popular items looked at for them


def _extended(rows: SparseRows, n_items: int) -> SparseRows:
    """``rows`` with empty rows appended up to ``n_items`` (an item graph's new items)."""
    extra = n_items - rows.n_rows
    indptr = np.concatenate([rows.indptr, np.full(extra, rows.indptr[-1], rows.indptr.dtype)])
    return dataclasses.replace(rows, indptr=indptr, n_columns=n_items)


def _priors(
    model: HybridModel, new: list[int], cb_rows: SparseRows
) -> tuple[np.ndarray, np.ndarray]:
    """Each new item's persona prior from its most similar trained items (content cosine
    among the most popular items sharing a token): their mean segment lifts, and a popularity
    halfway (in log) between theirs and the least popular item's. An item like the popular ones
    is expected to be popular, discounted because nobody has seen it yet; on ML-100K's newest
    items this ranked them 1.6x better than chance, against 1.33x with no popularity prior and
    1.53x with no discount. With no shared token: no lift, the least popular item's popularity."""
    lift, log_pop = model.pa.lift, model.pa.log_popularity
    floor = log_pop.min() if len(log_pop) else np.float32(0.0)
    out = np.zeros((lift.shape[0], len(new)), dtype=np.float32)
    popularity = np.full(len(new), floor, dtype=np.float32)
    n_trained_tokens = model.cb.items.n_columns
    vector = np.zeros(n_trained_tokens, dtype=np.float32)
    for j, item in enumerate(new):
        cols, vals = cb_rows.row(item)
        known = cols < n_trained_tokens
        pools = [model.cb.carrying(int(t))[:_PER_TOKEN] for t in cols[known]]
        if not pools:
            continue
        pool = np.unique(np.concatenate(pools)).astype(np.int32)
        vector[:] = 0.0
        vector[cols[known]] = vals[known]
        sims = np.empty(len(pool), dtype=np.float32)
        kernels.csr_rows_dot(model.cb.items.kernel, pool, vector, sims)
        best = pool[np.argsort(-sims, kind="stable")[:_SIMILAR]]
        if lift.shape[0]:
            out[:, j] = lift[:, best].mean(axis=1)
        popularity[j] = 0.5 * (float(log_pop[best].mean()) + float(floor))
    return out, popularity


def apply(trained: CatalogView, update: CatalogUpdate) -> CatalogView:
    """``trained`` (the artifact's own view) with ``update`` applied; ``UpdateError`` when the
    update does not fit this model (then the caller keeps what it serves)."""
    base = trained.loaded
    if update.model_version != base.version:
        raise UpdateError(
            f"catalog update {update.version} was published for model {update.model_version}, "
            f"this instance serves {base.version}"
        )
    check_changes(update.changes, frozenset(trained.item_index))
    index = dict(trained.item_index)
    item_ids = list(base.catalog.item_ids)
    titles = list(base.catalog.titles)
    features = list(base.catalog.features)
    new: list[int] = []
    rows: dict[int, list[str]] = {}
    withdrawn: list[int] = []
    for change in update.changes:
        idx = index.get(change.item_id)
        if idx is None:
            idx = index[change.item_id] = len(item_ids)
            item_ids.append(change.item_id)
            titles.append(change.title or change.item_id)
            features.append(list(change.features or ()))
            new.append(idx)
        if change.title is not None:
            titles[idx] = change.title
        if change.features is not None:
            features[idx] = list(change.features)
            rows[idx] = features[idx]
        if not change.available:
            withdrawn.append(idx)
    n_items = len(item_ids)
    model = base.model
    popularity = np.concatenate(
        [model.pa.log_popularity, np.full(len(new), -np.inf, dtype=np.float32)]
    )
    cb = model.cb.with_items(rows, n_items, popularity)
    pa = model.pa.with_items(*_priors(model, new, cb.items))
    graphs = model.cf.graphs
    extended = {
        f.name: _extended(getattr(graphs, f.name), n_items)
        for f in dataclasses.fields(graphs)
        if isinstance(getattr(graphs, f.name), SparseRows)
    }
    cf = type(model.cf)(dataclasses.replace(graphs, **extended), model.cf.params)
    hybrid = HybridModel(cf, cb, pa, model.calibration, model.tuned_weights)
    catalog = Catalog(item_ids, titles, features, base.catalog.user_ids, base.catalog.user_attrs)
    loaded = LoadedModel(hybrid, catalog, base.histories, base.manifest)
    gone = set(withdrawn)
    fresh = [i for i in reversed(new) if i not in gone]
    return CatalogView(
        loaded,
        index,
        np.asarray(sorted(gone), dtype=np.int32),
        np.asarray(fresh, dtype=np.int32),
        update.version,
    )


__all__ = ["CatalogView", "apply"]
