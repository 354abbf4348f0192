"""Freshness of catalog updates on the local stack (``make catalog-freshness``): seconds from
``make catalog-update`` (the CLI, as a person runs it) to a new item being returned for a
request that filters on its feature, and to a withdrawn item being gone from every answer, with
``CATALOG_REFRESH_SECONDS`` at its default (60 s) unless set. The target is 90 s for both.

The stack runs on a fresh demo model in a temporary folder (nothing under ``var/`` changes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tools.localstack import running

URL = "/api/v2/recommendations"
TARGET_SECONDS = 90.0
POLL_SECONDS = 0.5


def _ids(base: str, user: str, context: dict[str, object]) -> set[str]:
    r = requests.post(
        base + URL,
        data=json.dumps({"user_id": user, "k": 10, "context": context}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    r.raise_for_status()
    return {i["item_id"] for i in r.json()["items"]}


def _publish(model: Path, items: Path) -> float:
    """Run ``make catalog-update``'s command; the time it started."""
    started = time.monotonic()
    command = [sys.executable, "-m", "recoengine.cli", "catalog-update", "--items", str(items)]
    subprocess.run([*command, "--model-uri", str(model)], check=True, capture_output=True)
    return started


def _until(condition: Callable[[], bool], started: float, limit: float) -> float | None:
    """Seconds from ``started`` until ``condition`` holds (None: not within ``limit``)."""
    while time.monotonic() - started < limit:
        if condition():
            return round(time.monotonic() - started, 1)
        time.sleep(POLL_SECONDS)
    return None


def measure(refresh: str | None) -> dict[str, object]:
    from recoengine.pipeline import train_demo_model

    with tempfile.TemporaryDirectory(prefix="catalog-freshness-") as tmp:
        root = Path(tmp)
        model = train_demo_model(root / "model")
        env = {"MODEL_URI": str(model), "VAR_DIR": str(root / "var"), "LOG_LEVEL": "WARNING"}
        if refresh:
            env["CATALOG_REFRESH_SECONDS"] = refresh
        users = [f"user-{n:04d}" for n in range(1, 21)]
        limit = 3 * TARGET_SECONDS
        with running(env) as base:
            items = root / "items.csv"
            items.write_text("item_id,title,features\nfresh-1,The Fresh One,Vinyl|Warm\n")
            added = _until(
                lambda: "fresh-1" in _ids(base, "user-0001", {"features": ["vinyl"]}),
                _publish(model, items),
                limit,
            )
            before = {u: _ids(base, u, {}) for u in users}
            gone_item = max(
                set.union(*before.values()), key=lambda i: sum(i in b for b in before.values())
            )
            items.write_text(f"item_id,available\nfresh-1,false\n{gone_item},false\n")

            def gone() -> bool:
                answers = [_ids(base, "user-0001", {"features": ["vinyl"]})]
                answers += [_ids(base, u, {}) for u in users]
                return not any({"fresh-1", gone_item} & a for a in answers)

            withdrawn = _until(gone, _publish(model, items), limit)
    return {
        "catalog_refresh_seconds": float(refresh) if refresh else 60.0,
        "new_item_served_seconds": added,
        "withdrawn_item_gone_seconds": withdrawn,
        "target_seconds": TARGET_SECONDS,
        "met": added is not None
        and withdrawn is not None
        and max(added, withdrawn) <= TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="var/catalog-freshness.json")
    args = parser.parse_args()
    result = measure(os.environ.get("CATALOG_REFRESH_SECONDS"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
