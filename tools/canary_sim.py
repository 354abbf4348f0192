"""Replay a synthetic metric timeline through the real canary policy and judge.

    make canary-sim SCENARIO=healthy|error-spike|latency-creep|memory-leak|cpu-saturation|
                             low-traffic [SEED=n] [PLAN=short|default|spec]
                             [PLOT=file.png] [RUNS=1000]

Prints the decision at each window and the outcome (promoted, rolled_back, held). With
``--runs N`` it replays N seeds and reports the outcome rates (e.g. the false-rollback rate of
healthy releases); with ``--plot`` it draws traffic share, each metric for both revisions with
its threshold, and the decisions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from recoengine.canary import simulate
from recoengine.canary.abtest import AbDesign
from recoengine.canary.policy import CanaryPolicy, parse_plan
from recoengine.canary.scenarios import SCENARIOS, Scenario


def _fmt(v: float | None, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}{unit}"


def print_timeline(result: simulate.SimResult, every: int) -> None:
    for row in result.timeline:
        c = row["candidate"]
        interesting = row["action"] not in ("continue", "hold") or any(row["breaches"].values())
        if not interesting and row["window"] % every:
            continue
        at = datetime.fromtimestamp(row["t"], UTC).strftime("%m-%d %H:%M")
        breaches = ",".join(f"{k.split('_')[0]}={v}" for k, v in row["breaches"].items() if v)
        print(
            f"w={row['window']:05d} {at} traffic={row['traffic']:>3}% "
            f"cand req={c['requests']:>5} err={_fmt(c['error_rate'], 100, 2, '%'):>7} "
            f"p95={_fmt(c['latency_p95_ms'], 1, 0, 'ms'):>7} cpu={_fmt(c['cpu_utilization']):>5} "
            f"mem={_fmt(c['memory_utilization']):>5} breaches[{breaches}] -> "
            f"{row['action']}: {row['reason']}"
        )


def plot(result: simulate.SimResult, policy: CanaryPolicy, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.timeline
    x = [r["window"] for r in rows]
    panels: list[tuple[str, str, float | None]] = [
        ("traffic %", "traffic", None),
        ("error rate", "error_rate", policy.rules.by_trigger("error_rate").threshold),
        ("p95 latency (ms)", "latency_p95_ms", policy.rules.by_trigger("latency_p95_ms").threshold),
        ("CPU", "cpu_utilization", policy.rules.by_trigger("cpu_utilization").threshold),
        ("memory", "memory_utilization", policy.rules.by_trigger("memory_utilization").threshold),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 11), sharex=True)
    for ax, (title, key, threshold) in zip(axes, panels, strict=True):
        if key == "traffic":
            ax.step(x, [r["traffic"] for r in rows], where="post", color="tab:purple")
        else:
            for rev, color in (("stable", "tab:blue"), ("candidate", "tab:orange")):
                ys = [r[rev][key] if r[rev][key] is not None else float("nan") for r in rows]
                ax.plot(x, ys, color=color, lw=1, label=rev)
            if threshold is not None:
                ax.axhline(threshold, color="red", ls="--", lw=1, label="threshold")
        ax.set_ylabel(title)
        for r in rows:
            if r["action"] in ("advance", "promote", "rollback", "pause"):
                color = {"rollback": "red", "pause": "grey"}.get(r["action"], "green")
                ax.axvline(r["window"], color=color, alpha=0.6, lw=1.5)
    axes[1].legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("window (1 min)")
    fig.suptitle(f"canary simulation: {result.scenario} (seed {result.seed}) -> {result.outcome}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scenario", default="healthy", choices=SCENARIOS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan", default="short", help="short | default | compact spec")
    parser.add_argument("--plot", default="", help="write the timeline chart to this PNG")
    parser.add_argument(
        "--runs", type=int, default=0, help="replay this many seeds and report rates"
    )
    parser.add_argument("--every", type=int, default=0, help="print every Nth quiet window")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    scenario = Scenario(args.scenario, seed=args.seed)
    policy = CanaryPolicy(
        plan=parse_plan(args.plan), ab=AbDesign(daily_exposures=scenario.daily_impressions())
    )
    if args.runs:
        started = time.perf_counter()
        report = simulate.study(args.scenario, range(args.seed, args.seed + args.runs), policy)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["plan"] = policy.plan.name
        print(json.dumps(report, indent=2))
        return 0
    result = simulate.run(scenario, policy)
    every = args.every or (1 if len(result.timeline) <= 400 else 60)
    if args.json:
        print(json.dumps({k: v for k, v in result.__dict__.items() if k != "timeline"}))
    else:
        print_timeline(result, every)
        summary: dict[str, Any] = {
            "scenario": result.scenario,
            "seed": result.seed,
            "plan": policy.plan.name,
            "outcome": result.outcome,
            "windows": result.windows,
            "trigger": result.trigger,
            "reason": result.reason,
        }
        if result.trigger in result.run_start:
            summary["bad_run_started_at_window"] = result.run_start[result.trigger]
            summary["rolled_back_at_window"] = result.windows - 1
            summary["consecutive_bad_windows"] = result.breach_count
        print("outcome:", json.dumps(summary))
    if args.plot:
        plot(result, policy, args.plot)
        print(f"chart written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
