"""The chart of a simulated rollout (``make canary-sim PLOT=...``), readable at a glance.

What a reader needs to see, and what a first version hid: the candidate's traffic as it really
moves (down to 0% when the canary rolls back, up to 100% when it promotes, which happen after
the last measured window, so the series is extended by the final state), each decision named
where it happens, and every metric in the unit the console prints (error rate in percent, CPU
and memory in percent of the container's limit, latency in ms) beside its rollback rule.

The series are computed by pure functions (tested on their own); :func:`plot` only draws them.
matplotlib is imported inside :func:`plot`, so importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.simulate import START, SimResult

FINAL_TRAFFIC = {"rolled_back": 0, "promoted": 100}  # share after the rollout's last decision
DECISION_COLOURS = {
    "advance": "tab:green",
    "promote": "tab:blue",
    "rollback": "tab:red",
    "pause": "darkgoldenrod",
}
REVISION_COLOURS = (("stable", "dimgray"), ("candidate", "tab:orange"))


@dataclass(frozen=True)
class MetricPanel:
    """One metric, shown as ``value * scale`` in ``unit`` (the console's units)."""

    key: str
    name: str
    unit: str
    scale: float
    ceiling: float = 0.0  # the axis reaches at least this (100 for a share of the limit)

    @property
    def ylabel(self) -> str:
        return f"{self.name} ({self.unit})"


PANELS = (
    MetricPanel("error_rate", "error rate", "% of requests", 100.0),
    MetricPanel("latency_p95_ms", "p95 latency", "ms", 1.0),
    MetricPanel("cpu_utilization", "CPU", "% of limit", 100.0, ceiling=100.0),
    MetricPanel("memory_utilization", "memory", "% of limit", 100.0, ceiling=100.0),
)


@dataclass(frozen=True)
class Decision:
    minute: float  # end of the window the decision was taken on
    action: str
    label: str


def window_minutes(result: SimResult) -> float:
    """Length of one window: the first window ends one window after the simulator's start."""
    return (result.timeline[0]["t"] - START) / 60.0 if result.timeline else 1.0


def final_traffic(result: SimResult) -> int:
    """The candidate's share once the last decision is applied."""
    last = result.timeline[-1]["traffic"] if result.timeline else 0
    return FINAL_TRAFFIC.get(result.outcome, last)


def traffic_steps(result: SimResult) -> tuple[list[float], list[float]]:
    """(minutes, percent) for a post-step line: each window's share from the window's start,
    then the final share from the end of the last window, held for a short tail so it shows."""
    width = window_minutes(result)
    rows = result.timeline
    minutes = [row["window"] * width for row in rows]
    percent = [float(row["traffic"]) for row in rows]
    end = len(rows) * width
    tail = max(width, 0.04 * end)
    final = float(final_traffic(result))
    return [*minutes, end, end + tail], [*percent, final, final]


def metric_series(
    result: SimResult, panel: MetricPanel
) -> tuple[list[float], dict[str, list[float]]]:
    """(minutes at each window's middle, {revision: values in the panel's unit}); a window
    with no value (no requests) is NaN, a gap in the line."""
    width = window_minutes(result)
    minutes = [(row["window"] + 0.5) * width for row in result.timeline]
    values = {
        rev: [
            float("nan") if row[rev][panel.key] is None else row[rev][panel.key] * panel.scale
            for row in result.timeline
        ]
        for rev, _ in REVISION_COLOURS
    }
    return minutes, values


def decisions(result: SimResult) -> list[Decision]:
    """The windows where the rollout moved or stopped, each named by what it did."""
    width = window_minutes(result)
    rows = result.timeline
    found: list[Decision] = []
    for i, row in enumerate(rows):
        action = row["action"]
        if action not in DECISION_COLOURS:
            continue
        if action == "advance":
            after = rows[i + 1]["traffic"] if i + 1 < len(rows) else row["traffic"]
            label = f"advance to {after}%"
        elif action == "promote":
            label = "promote to 100%"
        elif action == "rollback":
            label = f"rollback to 0% ({(result.trigger or 'judge').split('_')[0]})"
        else:
            label = "pause (a human decides)"
        found.append(Decision((row["window"] + 1) * width, action, label))
    return found


def rule_label(policy: CanaryPolicy, panel: MetricPanel) -> tuple[float, str]:
    """The rollback rule of ``panel``'s metric, in the panel's unit: (threshold, label)."""
    rule = policy.rules.by_trigger(panel.key)
    threshold = rule.threshold * panel.scale
    shown = f"{threshold:g}{' ms' if panel.unit == 'ms' else '%'}"
    return threshold, f"rollback if > {shown}\nfor {rule.windows} windows in a row"


def level_labels(
    xs: list[float], percent: list[float], min_share: float = 0.04
) -> list[tuple[float, float]]:
    """(start, level) of each traffic level of a post-step series worth a label: the final
    state always, the others when they last over ``min_share`` of the span (a shorter one
    has no room for its label)."""
    span = xs[-1] - xs[0] or 1.0
    starts = [i for i in range(len(percent)) if i == 0 or percent[i] != percent[i - 1]]
    ends = [*starts[1:], len(xs) - 1]
    return [
        (xs[i], percent[i])
        for i, end in zip(starts, ends, strict=True)
        if end == len(xs) - 1 or xs[end] - xs[i] > min_share * span
    ]


def bad_run(result: SimResult) -> tuple[str, float, float] | None:
    """(metric, start, end) in minutes of the run of bad windows that caused the rollback."""
    trigger = result.trigger
    if result.outcome != "rolled_back" or trigger not in result.run_start:
        return None
    width = window_minutes(result)
    return trigger, result.run_start[trigger] * width, result.windows * width


def time_axis(span_minutes: float) -> tuple[float, str]:
    """(divisor, unit) that keeps the x axis in small numbers: minutes, hours or days."""
    if span_minutes <= 6 * 60:
        return 1.0, "minutes"
    if span_minutes <= 3 * 24 * 60:
        return 60.0, "hours"
    return 24 * 60.0, "days"


def plot(result: SimResult, policy: CanaryPolicy, path: str | Path) -> None:
    """Draw the traffic, the four metrics with their rules, and the decisions into ``path``
    (its folder is created)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, _ = traffic_steps(result)
    div, unit = time_axis(xs[-1])
    moves = decisions(result)
    run = bad_run(result)
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(12, 13), sharex=True)
    fig.subplots_adjust(left=0.08, right=0.84, top=0.92, bottom=0.05, hspace=0.12)
    _draw_traffic(axes[0], result, moves, div)
    for ax, panel in zip(axes[1:], PANELS, strict=True):
        _draw_metric(ax, result, policy, panel, div)
        if run is not None and run[0] == panel.key:
            ax.axvspan(run[1] / div, run[2] / div, color="red", alpha=0.12)
    for ax in axes:
        ax.grid(alpha=0.3)
        for d in moves:
            ax.axvline(d.minute / div, color=DECISION_COLOURS[d.action], lw=1.5, alpha=0.7)
    width = window_minutes(result)
    axes[-1].set_xlabel(f"{unit} since the rollout started (one window = {width:g} min)")
    fig.legend(
        handles=_legend_handles(moves, run is not None),
        loc="upper center",
        ncol=4,
        fontsize=9,
        bbox_to_anchor=(0.46, 0.965),
    )
    fig.suptitle(
        f"canary simulation: {result.scenario} (seed {result.seed}, plan {policy.plan.name}) "
        f"-> {result.outcome.replace('_', ' ')} after {result.windows} windows",
        y=0.99,
        fontweight="bold",
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _draw_traffic(ax: Any, result: SimResult, moves: list[Decision], div: float) -> None:
    xs, traffic = traffic_steps(result)
    x = [m / div for m in xs]
    ax.step(x, traffic, where="post", color="tab:purple", lw=2)
    ax.fill_between(x, traffic, step="post", color="tab:purple", alpha=0.12)
    ax.set_ylim(-4, 112)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("candidate traffic (%)")
    for start, level in level_labels(x, traffic):
        ax.annotate(
            f"{level:.0f}%",
            (start, level),
            xytext=(3, 3),
            textcoords="offset points",
            va="bottom",
            fontweight="bold",
            color="tab:purple",
        )
    span = x[-1] - x[0] or 1.0
    for d in moves:
        late = d.minute / div - x[0] > 0.7 * span  # right of the line it would leave the axes
        ax.annotate(
            d.label,
            (d.minute / div, 104),
            xytext=(-4 if late else 4, 0),
            textcoords="offset points",
            ha="right" if late else "left",
            va="center",
            fontsize=9,
            fontweight="bold",
            color=DECISION_COLOURS[d.action],
        )


def _draw_metric(
    ax: Any, result: SimResult, policy: CanaryPolicy, panel: MetricPanel, div: float
) -> None:
    minutes, values = metric_series(result, panel)
    for rev, colour in REVISION_COLOURS:
        ax.plot([m / div for m in minutes], values[rev], color=colour, lw=1.1)
    threshold, label = rule_label(policy, panel)
    ax.axhline(threshold, color="red", ls="--", lw=1)
    ax.annotate(
        label,
        (1.0, threshold),
        xycoords=("axes fraction", "data"),
        xytext=(6, 0),
        textcoords="offset points",
        va="center",
        fontsize=9,
        color="red",
    )
    if all(v != v for rev, _ in REVISION_COLOURS for v in values[rev]):  # all NaN
        ax.text(
            0.5,
            0.5,
            f"no value: fewer than {policy.rules.by_trigger(panel.key).min_requests} requests "
            "in each window",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="dimgray",
        )
    ax.set_ylabel(panel.ylabel)
    ax.set_ylim(bottom=0, top=max(threshold * 1.15, panel.ceiling, ax.get_ylim()[1]))


def _legend_handles(moves: list[Decision], with_bad_run: bool) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colour, lw=1.5, label=f"{rev} revision")
        for rev, colour in REVISION_COLOURS
    ]
    handles.append(Line2D([], [], color="red", ls="--", lw=1, label="rollback threshold"))
    if with_bad_run:
        handles.append(
            Line2D([], [], color="red", alpha=0.25, lw=8, label="bad windows that rolled back")
        )
    handles += [
        Line2D([], [], color=DECISION_COLOURS[a], lw=1.5, label=f"decision: {a}")
        for a in dict.fromkeys(d.action for d in moves)
    ]
    return handles
