"""Dataproc Serverless entry point of the Spark trainer (a PySpark batch's main file).

    job.py --data gs://BUCKET/PREFIX --out gs://BUCKET/PREFIX [--format generic] [--no-tune]
           [--staging gs://BUCKET/tmp/PREFIX]

1. Reads the data set under ``--data`` (``interactions.parquet`` or ``.csv``/``.jsonl``, plus
   the optional ``items.*`` and ``users.*`` files of the generic format) by copying those files
   to local disk and loading them with the engine's loader.
2. Trains with ``pipeline.train_and_save``, the item graphs fitted by ``SparkGraphFitter`` on
   the batch's executors: the same training as ``make train ENGINE=spark``.
3. Writes the artifact to ``--out``: saved locally by the engine, then every file uploaded
   under the prefix with ``google-cloud-storage``, ``manifest.json`` last, so the manifest a
   reader finds only ever lists files already uploaded (and their checksums catch a reader
   that mixes an older manifest with newer files: it refuses the artifact, it never serves it).

What the batch needs:
- Runtime 3.0 (Spark 4.0.1, Java 21) with a custom container: the engine requires Python 3.11
  and ships its scoring kernels as a C extension, which a zip on ``pythonFileUris`` cannot
  carry; the image holds the engine's wheel (``pip install recoengine-*.whl`` with scipy and
  pyarrow) and this file as the main Python file (see ``infra/spark/Dockerfile``). Executors
  run no Python code of ours (the fitter is pure DataFrame operations).
- A service account that reads ``--data`` and writes under ``--out``; the histories are staged
  as Parquet for the executors under ``--out``/``_staging/`` (or ``--staging``) and removed
  after the run.
- Driver memory for the data set and the items x K graphs (the rest of training runs there).

Local paths work too (``--data dir --out dir``), which is how the tests run it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Files of the generic format the loader may read; anything else under the prefix is ignored.
DATA_STEMS = ("interactions", "items", "users")
DATA_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    return bucket, prefix.strip("/")


def download_data(uri: str, target: Path, client: Any) -> Path:
    """Copy the data set's files directly under ``gs://bucket/prefix`` to ``target``."""
    bucket_name, prefix = _split(uri)
    target.mkdir(parents=True, exist_ok=True)
    found = []
    for blob in client.list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None):
        name = blob.name[len(prefix) + 1 :] if prefix else blob.name
        stem, _, suffix = name.partition(".")
        if "/" in name or stem not in DATA_STEMS or f".{suffix}" not in DATA_SUFFIXES:
            continue
        blob.download_to_filename(str(target / name))
        found.append(name)
    if not any(n.startswith("interactions.") for n in found):
        raise SystemExit(f"error: no interactions file under {uri}")
    return target


def upload_artifact(local: Path, uri: str, client: Any) -> list[str]:
    """Upload every file of the artifact under ``gs://bucket/prefix``, the manifest last."""
    bucket_name, prefix = _split(uri)
    bucket = client.bucket(bucket_name)
    names = sorted(p.name for p in local.iterdir() if p.is_file() and p.name != "manifest.json")
    names.append("manifest.json")
    for name in names:
        blob = bucket.blob(f"{prefix}/{name}" if prefix else name)
        blob.upload_from_filename(str(local / name))
    return names


def _staging_for(out: str) -> str | None:
    """Under the output prefix, the one place the batch's identity may write (Terraform grants
    object access under ``candidates/spark/`` only); removed after the run, and the artifact's
    reader only opens the files its manifest names."""
    if not out.startswith("gs://"):
        return None  # local mode: the fitter stages in a local temporary directory
    return f"{out.rstrip('/')}/_staging/{uuid.uuid4().hex}"


def main(argv: list[str] | None = None, storage_client: Any = None) -> str:
    """Train and write the artifact; returns where it was written."""
    parser = argparse.ArgumentParser(prog="job.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="gs://bucket/prefix (or a local dir)")
    parser.add_argument("--out", required=True, help="gs://bucket/prefix (or a local dir)")
    parser.add_argument("--format", default="generic")
    parser.add_argument("--no-tune", action="store_true")
    parser.add_argument("--staging", default=None, help="Parquet staging place for executors")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    from recoengine.data.loaders import load_dataset
    from recoengine.pipeline import train_and_save
    from recoengine.spark.graphs import SparkGraphFitter

    started = time.perf_counter()
    spark = SparkSession.builder.appName("recoengine-train").getOrCreate()
    cloud = args.data.startswith("gs://") or args.out.startswith("gs://")
    if cloud and storage_client is None:
        import google.cloud.storage as storage

        storage_client = storage.Client()
    with tempfile.TemporaryDirectory(prefix="recoengine-job-") as tmp:
        data_dir = (
            download_data(args.data, Path(tmp) / "data", storage_client)
            if args.data.startswith("gs://")
            else Path(args.data)
        )
        data = load_dataset(data_dir, args.format)
        print(
            f"data {args.data}: {data.n_users} users, {data.n_items} items, "
            f"{data.n_interactions} interactions",
            file=sys.stderr,
            flush=True,
        )
        local_out = Path(tmp) / "artifact" if args.out.startswith("gs://") else Path(args.out)
        with SparkGraphFitter(spark, staging=args.staging or _staging_for(args.out)) as fitter:
            path, report = train_and_save(
                data, local_out, tune=not args.no_tune, graph_fitter=fitter, engine="spark"
            )
        if args.out.startswith("gs://"):
            upload_artifact(path, args.out, storage_client)
    print(
        f"artifact written to {args.out} (engine spark) in "
        f"{time.perf_counter() - started:.0f} s; validation {report.validation}",
        file=sys.stderr,
        flush=True,
    )
    return args.out


if __name__ == "__main__":
    main()
