"""What the service serves from: the model with the catalog updates in force applied.

Built by ``recoengine.catalog.overlay`` (or, for the trained catalog alone, ``trained``) and
swapped into the service as a whole, so a request never mixes two catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recoengine.artifact import LoadedModel


@dataclass(frozen=True)
class CatalogView:
    """What the service serves from: the model, its item index and the overlay's effects."""

    loaded: LoadedModel
    item_index: dict[str, int]
    withdrawn: np.ndarray  # int32 item indices never served
    new_items: np.ndarray  # int32 items added by the overlay and available, newest first
    version: str | None = None  # the overlay in force (None: the trained catalog only)

    @staticmethod
    def trained(loaded: LoadedModel) -> CatalogView:
        index = {iid: i for i, iid in enumerate(loaded.catalog.item_ids)}
        empty = np.zeros(0, dtype=np.int32)
        return CatalogView(loaded, index, empty, empty, None)
