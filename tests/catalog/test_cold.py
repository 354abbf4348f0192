"""Cold-item quality (``make eval``'s ``cold_items``) on a tiny generated data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recoengine import cli
from recoengine.catalog import cold
from recoengine.data.dataset import Dataset
from recoengine.data.demo import generate, write_generic


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(n_users=120, n_items=150, per_user=20, seed=11)


def test_the_newest_items_are_those_first_seen_last(data: Dataset) -> None:
    newest, cutoff = cold.newest_items(data, 15)
    first = {int(i): float(data.timestamps[data.items == i].min()) for i in np.unique(data.items)}
    later = [i for i, t in first.items() if t > cutoff]
    assert set(later) <= set(newest.tolist()) and len(newest) == 15
    assert min(first[int(i)] for i in newest) == cutoff


def test_cold_items_are_added_back_by_an_update_and_measured(data: Dataset) -> None:
    result = cold.evaluate(data, n_new=20, tune=False)
    assert result["new_items"] == 20 and result["users"] > 0 and result["applied"] is True
    assert 0.0 <= result["hr@10"] <= 1.0 and 0.0 < result["random_hr@10"] < 1.0
    # Random: exact expectation, not a draw; a user who rated r of n has 1 - C(n-r,10)/C(n,10).
    assert result["random_hr@10"] >= 0.5  # 10 of 20 items: every user's chance is >= 1/2


def test_a_data_set_without_features_is_skipped_with_a_reason(data: Dataset) -> None:
    bare = Dataset(
        data.item_ids,
        data.titles,
        [[] for _ in data.item_ids],
        data.user_ids,
        data.user_attrs,
        data.users,
        data.items,
        data.timestamps,
        data.weights,
    )
    assert "no item features" in cold.evaluate(bare)["skipped"]


def test_make_eval_writes_the_cold_items(
    data: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import recoengine.comparison as comparison
    import recoengine.console as console

    monkeypatch.setattr(comparison, "run_suite", lambda *a, **k: {"engine": "local"})
    monkeypatch.setattr(
        console, "write_comparison", lambda r, out, plot: Path(out).write_text(json.dumps(r))
    )
    figures = {"hr@10": 0.5, "random_hr@10": 0.25, "lift_over_random": 2.0, "users": 7}
    monkeypatch.setattr(cold, "evaluate", lambda d: {**figures, "new_items": d.n_items})
    folder = write_generic(data, tmp_path / "data")
    cli.main(["eval", "--data", str(folder), "--out", str(tmp_path / "e.json")])
    written = json.loads((tmp_path / "e.json").read_text())["cold_items"]
    assert written == {**figures, "new_items": 150}
    assert "HR@10 0.5000 vs random 0.2500 (2.0x) over 7 users" in capsys.readouterr().out
