"""tools.ease_l2 trains with each penalty fixed, and without EASE for ``none``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoengine.data.demo import generate, write_generic
from tools import ease_l2


def test_each_penalty_is_trained_fixed(tmp_path: Path) -> None:
    data_dir = write_generic(generate(n_users=80, n_items=60, per_user=12, seed=4), tmp_path / "d")
    out = tmp_path / "out.json"
    assert ease_l2.main(["--data", str(data_dir), "--l2", "none", "25", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["l2"], r["has_ease"]) for r in rows] == [("none", False), ("25", True)]
    assert rows[1]["chosen_l2"] == 25.0
    assert all(0.0 <= r["test_ndcg10_blend_tuned"] <= 1.0 for r in rows)


def test_ease_neighbours_are_fixed_when_asked(tmp_path: Path) -> None:
    data_dir = write_generic(generate(n_users=80, n_items=60, per_user=12, seed=4), tmp_path / "d")
    out = tmp_path / "out.json"
    args = ["--data", str(data_dir), "--l2", "25", "--ease-neighbours", "3", "--out", str(out)]
    assert ease_l2.main(args) == 0
    assert json.loads(out.read_text())["rows"][0]["ease_max_row"] <= 3


def test_the_transitions_pseudo_count_is_fixed_when_asked(tmp_path: Path) -> None:
    data_dir = write_generic(generate(n_users=80, n_items=60, per_user=12, seed=4), tmp_path / "d")
    out = tmp_path / "out.json"
    args = ["--data", str(data_dir), "--l2", "25", "--transition-smoothing", "0", "30"]
    assert ease_l2.main([*args, "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["transition_smoothing"] for r in rows] == [0.0, 30.0]
    # Row-normalised without the pseudo-count; every row shrunk below 1 with it.
    assert rows[0]["transitions_max_row_sum"] == pytest.approx(1.0)
    assert rows[1]["transitions_max_row_sum"] < 0.9
