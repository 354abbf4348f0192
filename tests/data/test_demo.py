"""The demo generator: the small demo is unchanged, larger sizes are vectorised and keep the
latent structure the models learn from (taste, persona, popularity, sequence)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from recoengine.data.demo import GENRES, generate, write_generic
from recoengine.data.loaders import load_dataset

# generate()'s fingerprint before the vectorised sampler existed: make run's demo model, the
# README's examples (user-0001, item-0148) and many tests rely on this exact data.
SMALL_DEMO = "622000359ee3ea3dc266e41337de6651a33cc4dda10d65eb1b952e7e9e26c9ac"


def test_the_default_demo_is_unchanged() -> None:
    d = generate()
    assert d.fingerprint() == SMALL_DEMO
    assert (d.n_users, d.n_items, d.n_interactions) == (300, 400, 12148)
    assert d.user_ids.index("user-0001") == 1 and d.item_ids.index("item-0148") == 148


@pytest.fixture(scope="module")
def medium():  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    data = generate(n_users=20_000, n_items=5_000, per_user=10, seed=3)
    return data, time.perf_counter() - start


def test_a_medium_size_is_fast_and_well_formed(medium) -> None:  # type: ignore[no-untyped-def]
    d, seconds = medium
    assert seconds < 10
    assert (d.n_users, d.n_items) == (20_000, 5_000)
    assert 200_000 <= d.n_interactions < 202_000  # at least users x per_user
    assert d.users.dtype == np.int32 and d.items.dtype == np.int32
    assert np.all(np.diff(d.users) >= 0)  # user-major, like the small demo
    same_user = np.diff(d.users) == 0
    assert np.all(np.diff(d.timestamps)[same_user] >= 0)  # each user's walk moves forward
    pairs = d.users.astype(np.int64) * d.n_items + d.items
    assert np.unique(pairs).size == pairs.size  # a user meets an item once
    assert np.bincount(d.users).min() >= 2
    assert set(d.user_attrs) == {"age_band", "segment"}
    assert all(1 <= sum(t in GENRES for t in f) <= 2 and len(f) in (2, 3) for f in d.item_features)


def _top_genre(d) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([GENRES.index(f[0]) for f in d.item_features])


def test_the_medium_demo_has_the_signals_the_models_learn(medium) -> None:  # type: ignore[no-untyped-def]
    d, _ = medium
    counts = np.sort(np.bincount(d.items, minlength=d.n_items))[::-1]
    assert counts[: d.n_items // 10].sum() > 0.3 * counts.sum()  # popularity skew
    genre = _top_genre(d)[d.items]
    same_user = np.diff(d.users) == 0
    consecutive = np.mean(genre[1:][same_user] == genre[:-1][same_user])
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(genre)
    random_pairs = np.mean(shuffled[1:] == shuffled[:-1])
    assert consecutive > random_pairs + 0.1  # sequence: the next item resembles the previous
    segments = np.array(d.user_attrs["segment"])[d.users]
    mix = {s: np.bincount(genre[segments == s], minlength=len(GENRES)) for s in set(segments)}
    shares = np.array([m / m.sum() for m in mix.values()])
    assert np.abs(shares - shares.mean(axis=0)).max() > 0.03  # persona shifts taste


@pytest.mark.parametrize("parquet", [False, True])
def test_written_demo_data_loads_back(tmp_path: Path, parquet: bool) -> None:
    data = generate(n_users=3_000, n_items=800, per_user=20, seed=2)  # vectorised size
    out = write_generic(data, tmp_path / "demo", parquet=parquet)
    assert (out / ("interactions.parquet" if parquet else "interactions.csv")).exists()
    loaded = load_dataset(out)
    assert loaded.item_ids == data.item_ids and loaded.user_ids == data.user_ids
    assert loaded.item_features == data.item_features and loaded.titles == data.titles
    assert loaded.user_attrs == data.user_attrs
    assert np.array_equal(loaded.users, data.users) and np.array_equal(loaded.items, data.items)
    assert np.array_equal(loaded.timestamps, data.timestamps)
    assert loaded.fingerprint() == data.fingerprint()


def test_small_demo_round_trips_through_csv(tmp_path: Path) -> None:
    data = generate(n_users=20, n_items=30, per_user=5, seed=1)
    assert load_dataset(write_generic(data, tmp_path)).fingerprint() == data.fingerprint()
