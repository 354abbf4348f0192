"""A synthetic catalog with real latent structure, so ``make run``, the tests and the scale
benchmark need no external data.

Items have genre/mood features and a popularity; users have a persona (age band, segment)
that shifts their taste; each user's taste is a mixture over genres; interactions follow a
chronological walk where the next item tends to resemble the previous one (sequence signal),
fits the user's taste (CF/CB signal), their persona (PA signal) and popularity.
Deterministic for a given seed.

Two samplers share that model. Small demos (``make run``'s model, the tests) use the exact
walk, which scores the whole catalog at every step and stays bit-identical to earlier releases.
Larger sizes use a vectorised sampler: each step, for all users at once, picks a genre (the
previous item's, or the user's taste) and a mood (likewise), then an item from that
(genre, mood) pool by popularity x genre weight (a ``searchsorted`` per pool). 10^6 users,
2 x 10^5 items and 10^7 interactions take about half a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recoengine.data.dataset import Dataset
from recoengine.data.tables import gc_paused


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GENRES = _words(
    "action comedy drama sci-fi romance thriller documentary animation horror fantasy mystery music"
)
MOODS = ("uplifting", "dark", "cozy", "epic", "quirky", "tense")
ADJECTIVES = _words(
    "Silent Crimson Hidden Last Golden Broken Electric Midnight "
    "Distant Wild Frozen Secret Lucky Hollow Bright Restless"
)
NOUNS = _words(
    "Harbor Garden Signal Empire Orchard Voyage Circuit Lantern "
    "Frontier Tide Archive Canyon Melody Station Mirror Atlas"
)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
SEGMENTS = ("student", "professional", "parent", "retiree", "creative")


_EXACT_MAX_INTERACTIONS = 50_000  # n_users * per_user up to which the exact walk runs
_EXACT_MAX_ITEMS = 10_000
_SPARE_STEPS = 2  # extra steps per user in the vectorised walk, to replace repeated items


def generate(n_users: int = 300, n_items: int = 400, per_user: int = 40, seed: int = 7) -> Dataset:
    """A demo dataset of about ``n_users * per_user`` interactions, each user max(3, Poisson);
    at the vectorised sizes at least ``n_users * per_user`` (a benchmark asks for a count)."""
    if n_users < 1 or n_items < 2 or per_user < 1:
        raise ValueError("need n_users >= 1, n_items >= 2 and per_user >= 1")
    if n_users * per_user <= _EXACT_MAX_INTERACTIONS and n_items <= _EXACT_MAX_ITEMS:
        return _walk(n_users, n_items, per_user, seed)
    return _vectorised(n_users, n_items, per_user, seed)


def _walk(n_users: int, n_items: int, per_user: int, seed: int) -> Dataset:
    """The exact per-user walk (O(items) per interaction): the small demo, kept bit-identical."""
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


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _vectorised(n_users: int, n_items: int, per_user: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_genres, n_moods = len(GENRES), len(MOODS)
    item_genre = rng.dirichlet(np.full(n_genres, 0.3), size=n_items)
    popularity = np.exp(rng.normal(0.0, 1.0, size=n_items))  # log-normal: a long tail
    item_mood = rng.integers(n_moods, size=n_items)
    ranked = np.argsort(-item_genre, axis=1)[:, :2]
    two = item_genre.max(axis=1) < 0.6
    genre_name = np.array(GENRES, dtype=object)
    mood_name = np.array(MOODS, dtype=object)
    with gc_paused():
        features = [
            [a, b, m] if both else [a, m]
            for a, b, m, both in zip(
                genre_name[ranked[:, 0]].tolist(),
                genre_name[ranked[:, 1]].tolist(),
                mood_name[item_mood].tolist(),
                two.tolist(),
                strict=True,
            )
        ]
    titles = [
        f"The {ADJECTIVES[i % 16]} {NOUNS[(i // 16) % 16]} {'I' * (1 + i // 256)}"
        if i < 4096
        else f"The {ADJECTIVES[i % 16]} {NOUNS[(i // 16) % 16]} {i // 256}"
        for i in range(n_items)
    ]
    # Pools: (genre, mood) -> items of that mood weighted by popularity x genre weight, as
    # cumulative weights; a draw is a searchsorted in a pool small enough to stay in cache.
    by_mood = [np.flatnonzero(item_mood == m) for m in range(n_moods)]
    pools: list[tuple[np.ndarray, np.ndarray]] = []
    for g in range(n_genres):
        for m in range(n_moods):
            members = by_mood[m]
            if not members.size:  # only in tiny catalogs
                pools.append((np.zeros(1, dtype=np.int64), np.ones(1)))
                continue
            cdf = np.cumsum(popularity[members] * item_genre[members, g] ** 3)
            pools.append((members, cdf / cdf[-1]))

    # Persona shifts taste: each (attribute, value) prefers a few genres.
    band_pref = rng.dirichlet(np.full(n_genres, 0.5), size=len(AGE_BANDS))
    seg_pref = rng.dirichlet(np.full(n_genres, 0.5), size=len(SEGMENTS))
    bands = rng.integers(len(AGE_BANDS), size=n_users)
    segs = rng.integers(len(SEGMENTS), size=n_users)
    taste = 0.5 * rng.dirichlet(np.full(n_genres, 0.4), size=n_users)
    taste += 0.25 * band_pref[bands] + 0.25 * seg_pref[segs]
    mood_taste = rng.dirichlet(np.full(n_moods, 0.5), size=n_users)
    lengths = np.maximum(3, rng.poisson(per_user, size=n_users))
    short = n_users * per_user - int(lengths.sum())
    if short > 0:  # at least n_users * per_user interactions, as asked
        np.add.at(lengths, rng.integers(n_users, size=short), 1)
    lengths = np.minimum(lengths, n_items)
    walked = lengths + _SPARE_STEPS  # spares replace the rare repeat of an item
    steps = int(walked.max())
    walk = np.zeros((steps, n_users), dtype=np.int32)
    for t in range(steps):
        active = np.flatnonzero(walked > t)
        genre = _categorical(rng, taste[active])
        mood = _categorical(rng, mood_taste[active])
        if t > 0:  # sequence signal: the next item resembles the previous one
            prev = walk[t - 1, active]
            follow = rng.random(active.size) < 0.6
            genre[follow] = _categorical(rng, item_genre[prev[follow]])
            keep_mood = rng.random(active.size) < 0.5
            mood[keep_mood] = item_mood[prev[keep_mood]]
        pool = genre * n_moods + mood
        draw = rng.random(active.size)
        order = np.argsort(pool, kind="stable")
        bounds = np.searchsorted(pool[order], np.arange(len(pools) + 1))
        chosen = np.empty(active.size, dtype=np.int32)
        for p, (members, cdf) in enumerate(pools):
            who = order[bounds[p] : bounds[p + 1]]
            if who.size:
                at = np.minimum(np.searchsorted(cdf, draw[who]), members.size - 1)
                chosen[who] = members[at]
        walk[t, active] = chosen
    in_walk = (np.arange(steps)[:, None] < walked[None, :]).T  # user-major
    items = walk.T[in_walk]
    users = np.repeat(np.arange(n_users, dtype=np.int32), walked)
    # A user meets an item once (the exact walk excludes seen items): keep first meetings,
    # then each user's first ``lengths`` of them.
    _, first = np.unique(users.astype(np.int64) * n_items + items, return_index=True)
    keep = np.zeros(items.size, dtype=bool)
    keep[first] = True
    kept = np.cumsum(keep)
    starts = np.concatenate(([0], np.cumsum(walked)[:-1]))
    rank = kept - np.repeat(kept[starts] - keep[starts], walked) - 1
    keep &= rank < np.repeat(lengths, walked)
    items, users = items[keep], users[keep]
    lengths = np.bincount(users, minlength=n_users)
    gaps = rng.exponential(3600.0, size=items.size)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    clock = np.cumsum(gaps)
    clock -= np.repeat(clock[starts] - gaps[starts], lengths)
    stamps = np.round(
        1_700_000_000.0 + np.repeat(rng.uniform(0, 30 * 86400, n_users), lengths) + clock
    )
    band_name = np.array(AGE_BANDS, dtype=object)
    seg_name = np.array(SEGMENTS, dtype=object)
    return Dataset(
        item_ids=[f"item-{i:04d}" for i in range(n_items)],
        titles=titles,
        item_features=features,
        user_ids=[f"user-{u:04d}" for u in range(n_users)],
        user_attrs={"age_band": band_name[bands].tolist(), "segment": seg_name[segs].tolist()},
        users=users,
        items=items,
        timestamps=stamps,
        weights=np.ones(items.size, dtype=np.float32),
        name="demo",
    )


def write_generic(data: Dataset, directory: str | Path, parquet: bool = False) -> Path:
    """Write ``data`` in the documented generic format (a sample users can copy): CSV files, or
    ``interactions.parquet`` when ``parquet`` (10^7 rows of CSV are slow to write and read)."""
    import pyarrow.csv as pa_csv

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("interactions.csv", "interactions.jsonl", "interactions.parquet"):
        (out / stale).unlink(missing_ok=True)
    features = pa.array(data.item_features, pa.list_(pa.string()))
    items = pa.table(
        {
            "item_id": pa.array(data.item_ids, pa.string()),
            "title": pa.array(data.titles, pa.string()),
            "features": pc.binary_join(features, "|"),
        }
    )
    pa_csv.write_csv(items, out / "items.csv")
    user_ids = pa.array(data.user_ids, pa.string())
    users = {"user_id": user_ids}
    users.update({a: pa.array(data.user_attrs[a], pa.string()) for a in sorted(data.user_attrs)})
    pa_csv.write_csv(pa.table(users), out / "users.csv")
    stamps = data.timestamps
    whole = np.array_equal(stamps, np.round(stamps))
    interactions = pa.table(
        {
            "user_id": user_ids.take(pa.array(data.users)),
            "item_id": items.column("item_id").take(pa.array(data.items)),
            "timestamp": pa.array(stamps.astype(np.int64) if whole else stamps),
            "weight": pa.array(data.weights),
        }
    )
    if parquet:
        import pyarrow.parquet as pq

        pq.write_table(interactions, out / "interactions.parquet", row_group_size=1 << 20)
    else:
        pa_csv.write_csv(interactions, out / "interactions.csv")
    return out
