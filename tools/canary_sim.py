"""Replay a synthetic metric timeline through the real canary policy and judge.

    make canary-sim SCENARIO=healthy|error-spike|latency-creep|memory-leak|cpu-saturation|
                             low-traffic [SEED=n] [PLAN=short|default|spec]
                             [PLOT=file.png] [RUNS=1000]

Prints the decision at each window and the outcome (promoted, rolled_back, held). With
``--runs N`` it replays N seeds and reports the outcome rates (e.g. the false-rollback rate of
healthy releases); with ``--plot`` it draws the candidate's traffic (to 0% on rollback, 100% on
promotion), each metric for both revisions in the console's units beside its rollback rule, and
the decisions, named (``recoengine.canary.timeline_chart``). A chart path that cannot be written
is refused before the simulation runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from recoengine.canary import simulate, timeline_chart
from recoengine.canary.abtest import AbDesign
from recoengine.canary.policy import CanaryPolicy, parse_plan
from recoengine.canary.scenarios import SCENARIOS, Scenario
from recoengine.chart_file import check_writable


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
    if args.plot and not args.runs:
        try:
            check_writable(args.plot)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

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
        timeline_chart.plot(result, policy, args.plot)
        print(f"chart written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
