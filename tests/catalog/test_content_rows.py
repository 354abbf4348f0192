"""``ContentModel.with_items``: a new item's TF-IDF row and place in the feature index, and
the append-only fast path agreeing with the full rebuild."""

from __future__ import annotations

import numpy as np

from recoengine.models.content import ContentModel

FEATURES = [["Comedy", "Drama"], ["Drama"], ["Horror"], ["comedy"], ["Drama", "Horror"]]
POPULARITY = np.asarray([5.0, 3.0, 4.0, 1.0, 2.0], dtype=np.float32)


def test_appending_agrees_with_the_full_rebuild() -> None:
    cb = ContentModel.fit(FEATURES, POPULARITY)
    new = {5: ["Drama", "Vinyl"], 6: ["vinyl"], 7: ["Comedy"]}
    popularity = np.concatenate([POPULARITY, np.full(3, -np.inf, dtype=np.float32)])
    fast = cb.with_items(new, 8, popularity)
    # Restating item 0 as it is forces the full rebuild; the result must be the same.
    full = cb.with_items({0: ["Comedy", "Drama"], **new}, 8, popularity)
    for a, b in ((fast.items, full.items), (fast.token_items, full.token_items)):
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.allclose(a.data, b.data)
    assert fast.vocabulary == full.vocabulary == [*cb.vocabulary, "Vinyl"]
    # The filter finds the new items, after the trained ones; a new token only them.
    drama = fast.tokens_for(["drama"])[0]
    vinyl = fast.tokens_for(["VINYL"])[0]
    assert drama is not None and vinyl is not None
    assert fast.carrying(drama).tolist() == [0, 1, 4, 5]
    assert fast.carrying(vinyl).tolist() == [5, 6]
    # Rows are unit TF-IDF vectors; the trained rows are untouched.
    cols, vals = fast.items.row(5)
    assert np.isclose(float(np.sum(vals * vals)), 1.0) and vinyl in cols.tolist()
    assert np.array_equal(fast.items.row(2)[1], cb.items.row(2)[1])


def test_changing_a_trained_items_features_moves_it_in_the_index() -> None:
    cb = ContentModel.fit(FEATURES, POPULARITY)
    changed = cb.with_items({2: ["Comedy"]}, 5, POPULARITY)
    comedy, horror = changed.tokens_for(["comedy", "horror"])
    assert comedy is not None and horror is not None
    assert changed.carrying(comedy).tolist() == [0, 2, 3]  # by popularity
    assert changed.carrying(horror).tolist() == [4]
