"""Cold-item quality, measured (``make eval``'s ``cold_items``): new items added through a
catalog update, recommended to the users who went on to rate them.

Protocol: the ``n`` most recently introduced items (by their first interaction) are held out;
the model is trained on the interactions before the first of them, so it has never seen any;
the held-out items are then published as a catalog update beside that model (the same
``store.publish`` as ``make catalog-update``, from an items file with their titles and
features) and the service picks the update up as a running instance does. For each user who
rated one of them afterwards, the service is asked for 10 items with every slot given to new
items (``new_item_share=1``), so it ranks the new items by the blend of its production path
(content from features, the persona prior by similar items). HR@10: the share of those users
who rated one of the 10 it returned. The baseline is a random choice of 10 of the same new
items, whose expected HR@10 is exact: 1 - C(n - r, 10) / C(n, 10) for a user who rated r.
"""

from __future__ import annotations

import csv
import tempfile
from math import comb
from pathlib import Path
from typing import Any

import numpy as np

from recoengine.data.dataset import Dataset

K = 10
MAX_NEW = 100  # the boosted slots' candidates (serving.service._FRESH_CANDIDATES) hold them all


def newest_items(data: Dataset, n: int) -> tuple[np.ndarray, float]:
    """The ``n`` items introduced last (by first interaction; ties: the file's order) and the
    time the first of them appeared."""
    first = np.full(data.n_items, np.inf)
    np.minimum.at(first, data.items, data.timestamps)
    seen = np.flatnonzero(np.isfinite(first))
    order = seen[np.argsort(first[seen], kind="stable")]
    newest = order[-n:]
    return newest, float(first[newest].min())


def evaluate(data: Dataset, *, n_new: int | None = None, tune: bool = True) -> dict[str, Any]:
    from recoengine import artifact
    from recoengine.catalog import store
    from recoengine.catalog.watcher import CatalogWatcher
    from recoengine.models.blend import DEFAULT_WEIGHTS
    from recoengine.pipeline import train_and_save
    from recoengine.serving import RecommenderService

    if not any(data.item_features):
        return {"skipped": "the data set has no item features: a new item has nothing to score"}
    n = n_new or min(MAX_NEW, max(10, data.n_items // 10))
    newest, cutoff = newest_items(data, n)
    drop = np.zeros(data.n_items, dtype=bool)
    drop[newest] = True
    before = data.timestamps < cutoff
    train = data.without_items(drop, before)
    after = ~before & drop[data.items]
    rated: dict[str, set[str]] = {}
    for u, i in zip(data.users[after].tolist(), data.items[after].tolist(), strict=True):
        rated.setdefault(data.user_ids[u], set()).add(data.item_ids[i])
    with tempfile.TemporaryDirectory(prefix="cold-items-") as tmp:
        model_dir, _ = train_and_save(train, Path(tmp) / "model", tune=tune)
        items_file = Path(tmp) / "new-items.csv"
        with items_file.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["item_id", "title", "features"])
            for i in newest.tolist():
                writer.writerow([data.item_ids[i], data.titles[i], "|".join(data.item_features[i])])
        update = store.publish(str(model_dir), items_file)
        loaded = artifact.load(str(model_dir))
        weights = loaded.model.tuned_weights or DEFAULT_WEIGHTS
        service = RecommenderService(loaded, weights, new_item_share=1.0)
        CatalogWatcher(service, store.location(str(model_dir)), 60.0).check()
        hits, expected = [], []
        for user_id, wanted in rated.items():
            got = {it.item_id for it in service.recommend(user_id, K).items}
            hits.append(bool(got & wanted))
            expected.append(1.0 - comb(n - len(wanted), K) / comb(n, K))
    hr = float(np.mean(hits)) if hits else 0.0
    rnd = float(np.mean(expected)) if expected else 0.0
    return {
        "protocol": (
            f"the {n} items introduced last held out, trained on what came before, added back "
            "by a catalog update; HR@10 among the new items over the users who rated one"
        ),
        "new_items": n,
        "users": len(hits),
        "catalog_update": update.version,
        "applied": service.catalog_version == update.version,
        "hr@10": round(hr, 4),
        "random_hr@10": round(rnd, 4),
        "lift_over_random": round(hr / rnd, 3) if rnd else None,
    }
