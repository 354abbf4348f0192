"""The eval chart carries the comparison: the paired interval against the peer (not the two
models' own intervals), the sampled Top-2, a legend; and a bad ``PLOT=`` fails before the run."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from recoengine import eval_chart


def _row(value: float, vs: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """A result row as ``comparison.run_suite`` writes it; the model's own intervals are wide
    on purpose, so a chart that used them instead of the paired one would be caught."""
    row: dict[str, Any] = {
        "ndcg10": value,
        "hr10": 2 * value,
        "hr2": value / 2,
        "sampled_hr2": 3 * value,
        "expected_sampled_hr2": 3 * value - 0.01,
        "ndcg10_ci95": [value - 0.05, value + 0.05],
        "hr10_ci95": [2 * value - 0.08, 2 * value + 0.08],
        "ndcg10_ratio_to_peer": value / 0.07,
    }
    if vs is not None:
        diff, low, high = vs
        for metric, k in (("ndcg10", 1), ("hr10", 2)):
            row[f"{metric}_vs_peer"] = {
                "diff": k * diff,
                "ci95": [k * low, k * high],
                "significant": low > 0 or high < 0,
            }
    return row


@pytest.fixture()
def result() -> dict[str, Any]:
    return {
        "engine": "local",
        "dataset": "tiny",
        "users_evaluated": 100,
        "n_items": 500,
        "seed": 7,
        "tuned_weights": [0.4, 0.5, 0.1],
        "models": {
            "blend_default": _row(0.11, (0.04, 0.03, 0.05)),
            "blend_tuned": _row(0.08, (0.01, -0.002, 0.022)),  # interval includes 0
            "popularity": _row(0.04, (-0.03, -0.04, -0.02)),
            "implicit_als": _row(0.07),
        },
    }


def test_the_peer_is_the_row_without_a_comparison(result):
    assert eval_chart.peer_of(result) == "implicit_als"
    del result["models"]["blend_tuned"]["ndcg10_vs_peer"]
    with pytest.raises(ValueError, match="expected one peer row"):
        eval_chart.peer_of(result)


def test_differences_come_from_the_paired_comparison_not_the_models_own_intervals(result):
    rows = eval_chart.paired_differences(result, "hr10")
    assert [p.model for p in rows] == ["blend_default", "blend_tuned", "popularity"]
    tuned = rows[1]
    assert (tuned.diff, tuned.low, tuned.high) == pytest.approx((0.02, -0.004, 0.044))
    assert [tuned.low, tuned.high] != result["models"]["blend_tuned"]["hr10_ci95"]
    assert [p.significant for p in rows] == [True, False, True]


def test_colours_tell_our_blend_the_peer_and_the_baselines_apart():
    roles = [eval_chart.role(n, "als") for n in ("blend_tuned", "als", "cf_only")]
    assert roles == ["blend", "peer", "baseline"]
    assert len({eval_chart.ROLE_COLOURS[r] for r in roles}) == 3


def test_plot_draws_into_a_folder_it_creates(tmp_path, result):
    png = tmp_path / "not" / "yet" / "eval.png"
    eval_chart.plot(result, str(png))
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 50_000


def test_check_writable_creates_the_folder(tmp_path):
    target = tmp_path / "a" / "b" / "chart.png"
    assert eval_chart.check_writable(str(target)) == target
    assert target.parent.is_dir() and not target.exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("blocked/chart.png", "blocked: is a file"),
        ("folder", r"needs a \.png"),
        ("folder.png", "folder.png: is a folder"),
    ],
)
def test_check_writable_refuses_in_one_line(tmp_path, name, says):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ValueError, match=says) as info:
        eval_chart.check_writable(tmp_path / name)
    assert "\n" not in str(info.value)


def test_importing_the_chart_costs_nothing_at_serving():
    code = "import sys, recoengine.eval_chart; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
