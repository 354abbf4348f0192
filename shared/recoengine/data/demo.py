"""A synthetic catalog with real latent structure, so ``make run`` and the tests need no data.

Items have genre/mood features and a popularity; users have a persona (age band, segment)
that shifts their taste; each user's taste is a mixture over genres; interactions follow a
chronological walk where the next item tends to resemble the previous one (sequence signal),
fits the user's taste (CF/CB signal), their persona (PA signal) and popularity.
Deterministic for a given seed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from recoengine.data.dataset import Dataset

GENRES = (
    "action", "comedy", "drama", "sci-fi", "romance", "thriller",
    "documentary", "animation", "horror", "fantasy", "mystery", "music",
)  # fmt: skip
MOODS = ("uplifting", "dark", "cozy", "epic", "quirky", "tense")
ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Last", "Golden", "Broken", "Electric", "Midnight",
    "Distant", "Wild", "Frozen", "Secret", "Lucky", "Hollow", "Bright", "Restless",
)  # fmt: skip
NOUNS = (
    "Harbor", "Garden", "Signal", "Empire", "Orchard", "Voyage", "Circuit", "Lantern",
    "Frontier", "Tide", "Archive", "Canyon", "Melody", "Station", "Mirror", "Atlas",
)  # fmt: skip
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
SEGMENTS = ("student", "professional", "parent", "retiree", "creative")


def generate(n_users: int = 300, n_items: int = 400, per_user: int = 40, seed: int = 7) -> Dataset:
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    item_genre = rng.dirichlet(np.full(n_genres, 0.3), size=n_items)
    popularity = np.exp(rng.normal(0.0, 1.0, size=n_items))
    popularity /= popularity.sum()
    features: list[list[str]] = []
    titles: list[str] = []
    for i in range(n_items):
        top = np.argsort(item_genre[i])[::-1][: 1 + int(item_genre[i].max() < 0.6)]
        tokens = [GENRES[g] for g in top] + [MOODS[int(rng.integers(len(MOODS)))]]
        features.append(tokens)
        titles.append(f"The {ADJECTIVES[i % 16]} {NOUNS[(i // 16) % 16]} {'I' * (1 + i // 256)}")
    # Persona shifts taste: each (attribute, value) prefers a few genres.
    band_pref = rng.dirichlet(np.full(n_genres, 0.5), size=len(AGE_BANDS))
    seg_pref = rng.dirichlet(np.full(n_genres, 0.5), size=len(SEGMENTS))
    users, items, stamps = [], [], []
    bands = rng.integers(len(AGE_BANDS), size=n_users)
    segs = rng.integers(len(SEGMENTS), size=n_users)
    start = 1_700_000_000.0
    for u in range(n_users):
        taste = 0.5 * rng.dirichlet(np.full(n_genres, 0.4)) + 0.25 * band_pref[bands[u]]
        taste += 0.25 * seg_pref[segs[u]]
        affinity = item_genre @ taste
        base = np.log(popularity) + 6.0 * affinity / affinity.max()
        length = max(3, int(rng.poisson(per_user)))
        seen: set[int] = set()
        prev: int | None = None
        t = start + rng.uniform(0, 30 * 86400)
        for _ in range(length):
            logits = base.copy()
            if prev is not None:  # sequence signal: the next item resembles the previous one
                logits += 4.0 * (item_genre @ item_genre[prev])
            if seen:
                logits[list(seen)] = -np.inf
            p = np.exp(logits - logits[np.isfinite(logits)].max())
            p /= p.sum()
            i = int(rng.choice(n_items, p=p))
            seen.add(i)
            prev = i
            t += rng.exponential(3600.0)
            users.append(u)
            items.append(i)
            stamps.append(round(t))
    return Dataset(
        item_ids=[f"item-{i:04d}" for i in range(n_items)],
        titles=titles,
        item_features=features,
        user_ids=[f"user-{u:04d}" for u in range(n_users)],
        user_attrs={
            "age_band": [AGE_BANDS[b] for b in bands],
            "segment": [SEGMENTS[s] for s in segs],
        },
        users=np.asarray(users, dtype=np.int32),
        items=np.asarray(items, dtype=np.int32),
        timestamps=np.asarray(stamps, dtype=np.float64),
        weights=np.ones(len(users), dtype=np.float32),
        name="demo",
    )


def write_generic(data: Dataset, directory: str | Path) -> Path:
    """Write ``data`` in the documented generic CSV format (a sample users can copy)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "title", "features"])
        for iid, title, feats in zip(data.item_ids, data.titles, data.item_features, strict=True):
            w.writerow([iid, title, "|".join(feats)])
    attrs = sorted(data.user_attrs)
    with (out / "users.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", *attrs])
        for u, uid in enumerate(data.user_ids):
            w.writerow([uid, *(data.user_attrs[a][u] for a in attrs)])
    with (out / "interactions.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "item_id", "timestamp", "weight"])
        for u, i, t, wt in zip(data.users, data.items, data.timestamps, data.weights, strict=True):
            w.writerow([data.user_ids[u], data.item_ids[i], int(t), f"{wt:g}"])
    return out
