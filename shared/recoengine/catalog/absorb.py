"""The next full training absorbs the published catalog updates (``make train
CATALOG_UPDATES=<model>``, ``--catalog-updates``).

The overlay published beside a model is applied to the data set before training: new items join
the catalog (with their features, so the content model learns their tokens, and with whatever
interactions the data already has for them), changed items take their new title and features,
and withdrawn items leave the catalog with their interactions, so the new artifact never serves
them and needs no overlay of its own. A model trained this way starts with an empty overlay.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recoengine.catalog import store
from recoengine.catalog.update import CatalogUpdate
from recoengine.data.dataset import Dataset


def read_published(model_uri: str) -> CatalogUpdate | None:
    """The overlay in force beside the model at ``model_uri`` (None when there is none)."""
    return store.read_current(store.location(model_uri))


def absorb(data: Dataset, update: CatalogUpdate) -> Dataset:
    index = {iid: i for i, iid in enumerate(data.item_ids)}
    item_ids, titles = list(data.item_ids), list(data.titles)
    features = [list(f) for f in data.item_features]
    gone: set[int] = set()
    for change in update.changes:
        idx = index.get(change.item_id)
        if idx is None:
            idx = index[change.item_id] = len(item_ids)
            item_ids.append(change.item_id)
            titles.append(change.title or change.item_id)
            features.append([])
        if change.title is not None:
            titles[idx] = change.title
        if change.features is not None:
            features[idx] = list(change.features)
        if not change.available:
            gone.add(idx)
    drop = np.zeros(len(item_ids), dtype=bool)
    drop[list(gone)] = True
    grown = dataclasses.replace(data, item_ids=item_ids, titles=titles, item_features=features)
    return grown.without_items(drop, ~drop[data.items])
