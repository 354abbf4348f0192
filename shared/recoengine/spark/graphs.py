"""``SparkGraphFitter``: the item graphs of ``recoengine.models.item_graphs`` with Spark.

A drop-in for ``item_graphs.fit_graphs`` (same signature, same ``ItemGraphs``), computing the
same definitions with DataFrame operations, so a model trained either way is the same model:

- the histories go to Spark as one Parquet file of ``(user, pos, age, item)`` written by
  pyarrow (never as Python rows), in a staging directory every executor can read (a local
  directory in local mode, ``gs://`` on Dataproc); ``age`` counts back from each user's last
  interaction, so "the last ``max_user_items``" is a filter;
- co-occurrence: each user's distinct items among their last ``max_user_items`` interactions,
  a self-join on the user (partitioned by user once), each unordered pair counted once and
  mirrored (no diagonal); cosine ``c / (sqrt(n_i) sqrt(n_j))`` in double precision, the same
  operations in the same order as the local trainer, so equal values tie exactly;
- transitions: each interaction with the items ``1..transition_window`` steps later (``lead``
  over the user's chronological order: one sort, no join, so a heavy user costs ``window`` rows
  per interaction, not ``len²``), ``i == j`` skipped, weighted ``0.5 ** ((step-1)/half_life)``,
  divided by the row's sum plus ``transition_smoothing``;
- pruning: per row the ``neighbours`` largest positive values (above the same noise floor),
  ties to the lower column (``row_number`` over ``value desc, column asc``);
- EASE (small catalogs only): the pair counts are collected and
  ``item_graphs.ease_from_counts`` itself runs on the driver, exactly as the local trainer does.

Only pruned graphs (items x K) and, for EASE, the counts of a small catalog come back to the
driver. Everything runs in the JVM (no Python UDFs): executors need no Python packages.

Transition weights are summed per step count (``n_1 w_1 + n_2 w_2 + ...``), which is exact
for equal step counts; the local trainer sums the same weights in scipy's order, so the two
values can differ in the last bit (far below float32, the stored precision).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from recoengine.models import item_graphs
from recoengine.models.item_graphs import (
    GraphParams,
    ItemGraphs,
    Progress,
    ease_from_counts,
    no_progress,
)
from recoengine.models.sparse import SparseRows

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

    from recoengine.models.history import Histories


_SCHEMA = "user INT, pos INT, age INT, item INT"


def histories_table(hist: Histories) -> pa.Table:
    """``(user, pos, age, item)`` per interaction: ``pos`` counts from 0 at the user's first
    interaction, ``age`` from 0 at their last (so "the last N" is a filter, not a window)."""
    import pyarrow as pa

    lengths = np.diff(hist.indptr)
    users = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    starts = np.repeat(hist.indptr[:-1], lengths)
    pos = (np.arange(len(hist.items), dtype=np.int64) - starts).astype(np.int32)
    age = (np.repeat(lengths, lengths) - 1 - pos).astype(np.int32)
    return pa.table(
        {
            "user": pa.array(users, pa.int32()),
            "pos": pa.array(pos, pa.int32()),
            "age": pa.array(age, pa.int32()),
            "item": pa.array(np.asarray(hist.items, dtype=np.int32), pa.int32()),
        }
    )


def _digest(hist: Histories, n_items: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.int64(n_items).tobytes())
    h.update(np.ascontiguousarray(hist.indptr, dtype=np.int64).data)
    h.update(np.ascontiguousarray(hist.items, dtype=np.int32).data)
    return h.hexdigest()


@dataclass
class _Cache:
    """What one set of histories already cost: its staged file, its co-occurrence graphs and,
    for a catalog small enough for EASE, the pair counts EASE is solved from (tuning refits
    with other transition parameters and EASE penalties on the same histories)."""

    digest: str = ""
    path: str = ""
    cooccurrence: dict[tuple[Any, ...], tuple[SparseRows, _Counts | None]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class _Counts:
    """The co-occurrence counts and users per item of a catalog small enough for EASE."""

    pairs: Any  # scipy.sparse.csr_matrix, items x items
    item_users: np.ndarray


class SparkGraphFitter:
    """Callable like ``item_graphs.fit_graphs``; holds the SparkSession and a staging place.

    ``staging``: a directory URI that the driver writes with pyarrow and every executor reads
    (``gs://bucket/tmp/...`` on Dataproc). Default: a temporary local directory, which only
    local mode can read. ``close()`` (or ``with``) removes what the fitter staged.
    """

    def __init__(self, spark: SparkSession, staging: str | None = None) -> None:
        self.spark = spark
        self._own_staging = staging is None
        self.staging = staging or tempfile.mkdtemp(prefix="recoengine-spark-stage-")
        self._cache = _Cache()

    def __enter__(self) -> SparkGraphFitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._drop_staged()
        if self._own_staging:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __call__(
        self,
        hist: Histories,
        n_items: int,
        params: GraphParams,
        progress: Progress = no_progress,
    ) -> ItemGraphs:
        events = self._events(hist, n_items)
        stages = progress(["co-occurrence", "transitions"], "spark graphs")
        out: dict[str, Any] = {}
        for stage in stages:
            if stage == "co-occurrence":
                key = (
                    n_items,
                    params.max_user_items,
                    params.neighbours,
                    n_items <= params.ease_max_items,
                )
                if key not in self._cache.cooccurrence:
                    self._cache.cooccurrence[key] = self._cooccurrence(events, n_items, params)
                out["cooc"], counts = self._cache.cooccurrence[key]
                out["ease"] = (
                    None
                    if counts is None
                    else ease_from_counts(counts.pairs, counts.item_users, params)
                )
            else:
                out["trans"] = self._transitions(events, n_items, params)
        return ItemGraphs(cooccurrence=out["cooc"], transitions=out["trans"], ease=out["ease"])

    # -- staging ---------------------------------------------------------------------------

    def _events(self, hist: Histories, n_items: int) -> DataFrame:
        digest = _digest(hist, n_items)
        if digest != self._cache.digest:
            import pyarrow.parquet as pq

            self._drop_staged()
            path = f"{self.staging.rstrip('/')}/histories-{uuid.uuid4().hex}.parquet"
            # Row groups of 1M rows: Spark splits the scan by row group.
            pq.write_table(histories_table(hist), path, row_group_size=1 << 20)
            self._cache = _Cache(digest=digest, path=path)
        # The schema given: Spark need not open the file to infer it.
        return self.spark.read.schema(_SCHEMA).parquet(self._cache.path)

    def _drop_staged(self) -> None:
        path = self._cache.path
        self._cache = _Cache()
        if not path:
            return
        if "://" in path:
            from pyarrow import fs

            filesystem, inner = fs.FileSystem.from_uri(path)
            filesystem.delete_file(inner)
        elif os.path.exists(path):
            os.remove(path)

    # -- the graphs ------------------------------------------------------------------------

    def _cooccurrence(
        self, events: DataFrame, n_items: int, params: GraphParams
    ) -> tuple[SparseRows, _Counts | None]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as sf

        # Partitioned by user once: the distinct and the self-join need no further shuffle.
        sets = (
            events.where(sf.col("age") < params.max_user_items)
            .select("user", "item")
            .repartition("user")
            .distinct()
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        a = sets.select("user", sf.col("item").alias("i"))
        b = sets.select("user", sf.col("item").alias("j"))
        # Counts are symmetric: each unordered pair once (i < j), mirrored before pruning.
        pairs = (
            a.join(b, "user")
            .where(sf.col("i") < sf.col("j"))
            .groupBy("i", "j")
            .agg(sf.count(sf.lit(1)).alias("c"))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        item_users = sets.groupBy("item").agg(sf.count(sf.lit(1)).alias("n"))
        try:
            norms = item_users.select("item", sf.sqrt(sf.col("n").cast("double")).alias("s"))
            upper = (
                pairs.join(sf.broadcast(norms.toDF("i", "si")), "i")
                .join(sf.broadcast(norms.toDF("j", "sj")), "j")
                .select("i", "j", (sf.col("c") / (sf.col("si") * sf.col("sj"))).alias("v"))
            )
            cosine = upper.unionByName(
                upper.select(sf.col("j").alias("i"), sf.col("i").alias("j"), "v")
            )
            cooc = self._top_k(cosine, n_items, params.neighbours)
            counts = None
            if n_items <= params.ease_max_items:
                counts = self._counts(pairs, item_users, n_items)
        finally:
            pairs.unpersist()
            sets.unpersist()
        return cooc, counts

    def _counts(self, pairs: DataFrame, item_users: DataFrame, n_items: int) -> _Counts:
        """The pair counts on the driver, mirrored: EASE is solved from them there, exactly as
        the local trainer does."""
        from scipy import sparse

        table = pairs.toArrow()
        i, j = table.column("i").to_numpy(), table.column("j").to_numpy()
        c = table.column("c").to_numpy().astype(np.float32)
        del table
        counts = sparse.csr_matrix(
            (np.concatenate([c, c]), (np.concatenate([i, j]), np.concatenate([j, i]))),
            shape=(n_items, n_items),
        )
        users = item_users.toArrow()
        n = np.zeros(n_items, dtype=np.float32)
        n[users.column("item").to_numpy()] = users.column("n").to_numpy()
        return _Counts(counts, n)

    def _transitions(self, events: DataFrame, n_items: int, params: GraphParams) -> SparseRows:
        from pyspark.sql import Window
        from pyspark.sql import functions as sf

        window = params.transition_window
        # Each interaction with the items 1..window steps later: one sort by (user, pos).
        chronological = Window.partitionBy("user").orderBy("pos")
        ahead = [
            sf.lead("item", s).over(chronological).alias(f"j{s}") for s in range(1, window + 1)
        ]
        following = sf.array(
            *[
                sf.struct(sf.lit(s).alias("step"), sf.col(f"j{s}").alias("j"))
                for s in range(1, window + 1)
            ]
        )
        steps = (
            events.select(sf.col("item").alias("i"), *ahead)
            .select("i", sf.explode(following).alias("f"))
            .select("i", "f.step", "f.j")
            .where(sf.col("j").isNotNull() & (sf.col("i") != sf.col("j")))
            .groupBy("i", "j")
            .agg(*[sf.count_if(sf.col("step") == s).alias(f"n{s}") for s in range(1, window + 1)])
        )
        weighted: Column = sf.lit(0.0)
        for s in range(1, window + 1):
            weight = 0.5 ** ((s - 1) / params.transition_half_life)
            weighted = weighted + sf.col(f"n{s}").cast("double") * sf.lit(weight)
        counts = steps.select("i", "j", weighted.alias("w"))
        row_sum = sf.sum("w").over(Window.partitionBy("i")) + sf.lit(params.transition_smoothing)
        normalised = counts.select("i", "j", (sf.col("w") / row_sum).alias("v"))
        return self._top_k(normalised, n_items, params.neighbours)

    @staticmethod
    def _top_k(values: DataFrame, n_rows: int, k: int) -> SparseRows:
        """Per row ``i``, the ``k`` largest positive ``v`` (ties: lower ``j``), collected.
        "Positive" as ``item_graphs.top_k_per_row`` means it: above its rounding-noise floor."""
        from pyspark.sql import Window
        from pyspark.sql import functions as sf

        order = Window.partitionBy("i").orderBy(sf.col("v").desc(), sf.col("j").asc())
        table = (
            values.where(sf.col("v") > item_graphs.NOISE)
            .withColumn("r", sf.row_number().over(order))
            .where(sf.col("r") <= k)
            .select("i", "j", "v", "r")
            .toArrow()
        )
        rows = table.column("i").to_numpy()
        ranks = table.column("r").to_numpy()
        sort = np.lexsort((ranks, rows))
        rows = rows[sort]
        cols = table.column("j").to_numpy()[sort].astype(np.int32)
        vals = table.column("v").to_numpy()[sort].astype(np.float32)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return SparseRows(indptr, cols, vals, n_rows)
