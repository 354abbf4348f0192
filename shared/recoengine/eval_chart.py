"""The chart of ``make eval PLOT=...``: how our blend compares with its peer, at a glance.

It draws the result of :func:`recoengine.comparison.run_suite`. The comparison is carried by
the *paired* difference against the peer (same users, same split), whose 95% interval is far
narrower than the two models' own intervals side by side; so the chart shows that interval
beside each metric, against a zero line, and a difference whose interval excludes zero is drawn
filled. It also shows the sampled Top-2 (the held-out item among 99 random negatives), both the
seeded draw and its expectation over draws, since that is the protocol other papers report.

The data are taken from the result by pure functions (tested on their own); :func:`plot` only
draws. matplotlib is imported inside :func:`plot`, so importing this module costs nothing at
serving. Call :func:`check_writable` before the run, so a bad ``PLOT=`` fails in a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoengine.chart_file import check_writable

__all__ = ["ROLE_COLOURS", "Paired", "check_writable", "paired_differences", "peer_of", "plot"]

ROLE_COLOURS = {"blend": "#1a73e8", "peer": "#e37400", "baseline": "#9aa0a6"}
METRICS = (("ndcg10", "NDCG@10"), ("hr10", "HR@10"))
EXPECTED_MARKER = "D"


@dataclass(frozen=True)
class Paired:
    """One model's paired difference from the peer on one metric, with its 95% interval."""

    model: str
    diff: float
    low: float
    high: float
    significant: bool


def peer_of(result: dict[str, Any]) -> str:
    """The reference model: the one row the others are compared with (it has no comparison)."""
    peers = [name for name, row in result["models"].items() if "ndcg10_vs_peer" not in row]
    if len(peers) != 1:
        raise ValueError(f"eval result: expected one peer row, found {peers or 'none'}")
    return peers[0]


def role(name: str, peer: str) -> str:
    """Colour group of a model: our blends, the peer, or another baseline."""
    if name == peer:
        return "peer"
    return "blend" if name.startswith("blend") else "baseline"


def paired_differences(result: dict[str, Any], metric: str) -> list[Paired]:
    """Each non-peer model's paired difference on ``metric`` (``ndcg10`` or ``hr10``)."""
    found = []
    for name, row in result["models"].items():
        vs = row.get(f"{metric}_vs_peer")
        if vs is not None:
            low, high = vs["ci95"]
            found.append(Paired(name, vs["diff"], low, high, bool(vs["significant"])))
    return found


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Draw the comparison into ``path`` (its folder is created)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peer = peer_of(result)
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.08, wspace=0.32, hspace=0.42)
    users = result["users_evaluated"]
    for col, (metric, label) in enumerate(METRICS):
        _bars(axes[0, col], result, peer, metric)
        axes[0, col].set_title(f"{label}: full ranking over {result['n_items']:,} items")
        axes[0, col].set_xlabel(f"{label}, mean over {users:,} users (0 to 1, higher is better)")
        _paired(axes[1, col], paired_differences(result, metric), peer)
        axes[1, col].set_title(f"{label}: difference from {peer}, paired 95% interval")
        axes[1, col].set_xlabel(f"{label} minus {peer}'s, same users (absolute)")
    _sampled_top2(axes[0, 2], result, peer)
    _notes(axes[1, 2], result, peer)
    _legend(fig, peer)
    fig.suptitle(
        f"Offline quality on {result['dataset']}: {users:,} users, "
        f"leave-last-out by time, seed {result['seed']}",
        fontsize=14,
        fontweight="bold",
        y=0.985,
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _model_axis(ax: Any, names: list[str]) -> list[int]:
    ys = list(range(len(names)))
    ax.set_yticks(ys, names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first model on top
    ax.grid(axis="x", alpha=0.3)
    return ys


def _bars(ax: Any, result: dict[str, Any], peer: str, metric: str) -> None:
    names = list(result["models"])
    ys = _model_axis(ax, names)
    values = [result["models"][n][metric] for n in names]
    ax.barh(ys, values, color=[ROLE_COLOURS[role(n, peer)] for n in names])
    ax.axvline(result["models"][peer][metric], color=ROLE_COLOURS["peer"], ls=":", lw=1.5)
    for y, v in zip(ys, values, strict=True):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=9)
    ax.set_xlim(0, max(values) * 1.18)


def _paired(ax: Any, rows: list[Paired], peer: str) -> None:
    ys = _model_axis(ax, [p.model for p in rows])
    ax.axvline(0, color="black", lw=1)
    for y, p in zip(ys, rows, strict=True):
        colour = ROLE_COLOURS[role(p.model, peer)]
        ax.plot([p.low, p.high], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
        ax.plot(
            p.diff,
            y,
            "o",
            ms=9,
            color=colour,
            markerfacecolor=colour if p.significant else "white",
            markeredgewidth=2,
        )
        verdict = "" if p.significant else "\nincludes 0: no clear difference"
        ax.annotate(
            f"{p.diff:+.3f} [{p.low:+.3f}, {p.high:+.3f}]{verdict}",
            (p.high, y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
        )
    lo = min([0.0] + [p.low for p in rows])
    hi = max([0.0] + [p.high for p in rows])
    span = hi - lo or 1.0
    ax.set_xlim(lo - 0.05 * span, hi + 0.75 * span)  # room for the interval's text


def _sampled_top2(ax: Any, result: dict[str, Any], peer: str) -> None:
    names = list(result["models"])
    ys = _model_axis(ax, names)
    drawn = [result["models"][n]["sampled_hr2"] for n in names]
    expected = [result["models"][n]["expected_sampled_hr2"] for n in names]
    ax.barh(ys, drawn, color=[ROLE_COLOURS[role(n, peer)] for n in names])
    ax.plot(expected, ys, EXPECTED_MARKER, color="black", ms=6)
    for y, v, e in zip(ys, drawn, expected, strict=True):
        ax.text(max(v, e), y, f"  {v:.3f}  (E {e:.3f})", va="center", fontsize=9)
    ax.set_xlim(0, max(drawn + expected) * 1.45)
    ax.set_title("Sampled Top-2 (held-out item + 99 random)")
    ax.set_xlabel("sampled HR@2, seeded draw (share of users; chance = 0.02)")


def _notes(ax: Any, result: dict[str, Any], peer: str) -> None:
    ax.axis("off")
    weights = ", ".join(f"{w:.2f}" for w in result.get("tuned_weights", []))
    lines = [
        "How to read the differences",
        f"  a dot right of 0: better than {peer}",
        "  filled dot: the 95% interval excludes 0,",
        "      the difference is significant",
        "  hollow dot: the interval includes 0, no",
        "      measurable difference",
        "",
        "  paired: each user scores both models,",
        "  so the interval of the difference is",
        "  narrower than each model's own interval",
        "",
        f"blend_tuned weights (CF, CB, PA): {weights}",
    ]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", fontsize=10, family="monospace")


def _legend(fig: Any, peer: str) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=ROLE_COLOURS["blend"], label="our blend (default and tuned weights)"),
        Patch(color=ROLE_COLOURS["peer"], label=f"peer: {peer} (dotted line: its score)"),
        Patch(color=ROLE_COLOURS["baseline"], label="other baselines (components, popularity)"),
        Line2D(
            [], [], marker=EXPECTED_MARKER, ls="", color="black", label="E[sampled HR@2] over draws"
        ),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=11, bbox_to_anchor=(0.5, 0.95))
