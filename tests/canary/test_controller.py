"""The scheduler's path end to end: synthetic metrics -> decisions -> fake Admin API traffic."""

from __future__ import annotations

import pytest

from recoengine.canary.controller import CanaryController
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.state import Phase
from recoengine.canary.traffic import CloudRunTraffic
from recoengine.errors import Conflict, NotFound
from testkit.fake_cloud_run import run_client

P, R = "test-project", "europe-west1"
T0 = 1_767_225_600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(run_admin, store, scenario: str):
    full = run_admin.add_service(P, R, "recommend", "recommend-00001-old", "recommend-00002-new")
    traffic = CloudRunTraffic(P, R, client=run_client(run_admin.endpoint), timeout_s=5)
    clock = Clock()
    metrics = SyntheticMetrics(scenario, seed=3)
    policy = CanaryPolicy(plan=SHORT_PLAN)
    ctrl = CanaryController(policy, store, traffic, metrics, clock=clock, metrics_lag_s=120.0)
    return ctrl, clock, full


def test_healthy_release_walks_the_plan_to_100_percent(run_admin, sqlite_store):
    ctrl, clock, full = make(run_admin, sqlite_store, "healthy")
    ctrl.enable("recommend", 5, None, "token:alice")
    seen = []
    while clock.now < T0 + 6 * 3600:
        clock.now += 300  # Cloud Scheduler every 5 minutes
        out = ctrl.advance("recommend")
        seen.append(out["rollout"]["traffic_percent"])
        if out["rollout"]["phase"] == "promoted":
            break
    assert out["rollout"]["phase"] == "promoted"
    assert [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]] == [5, 25, 50, 100]
    assert run_admin.split(full) == {"recommend-00002-new": 100}
    actions = [e["action"] for e in reversed(ctrl.store.audit("recommend", 100))]
    assert actions[0] == "start" and actions[-1] == "promote"
    assert actions.count("advance") == 2
    advance = next(e for e in ctrl.store.audit("recommend", 100) if e["action"] == "advance")
    assert advance["metrics"]["judgement"]["verdict"] == "pass"  # what the decision saw


def test_error_spike_is_rolled_back_by_the_scheduler(run_admin, sqlite_store):
    ctrl, clock, full = make(run_admin, sqlite_store, "error-spike")
    ctrl.enable("recommend", 5, None, "token:alice")
    for _ in range(10):
        clock.now += 300
        out = ctrl.advance("recommend")
        if out["rollout"]["phase"] == "rolled_back":
            break
    assert out["rollout"]["phase"] == "rolled_back"
    assert out["decision"]["trigger"] == "error_rate"
    assert run_admin.split(full)["recommend-00002-new"] == 0


def test_metrics_endpoint_data_shows_the_analysis_without_acting(run_admin, sqlite_store):
    ctrl, clock, _full = make(run_admin, sqlite_store, "healthy")
    ctrl.enable("recommend", 5, None, "token:alice")
    clock.now += 900
    a = ctrl.analysis("recommend")
    cand = a["revisions"]["candidate"]
    assert cand["revision"] == "recommend-00002-new" and cand["requests"] > 0
    assert set(cand["latency_ms"]) == {"p50", "p95", "p99"}
    triggers = {"error_rate", "latency_p95_ms", "memory_utilization", "cpu_utilization"}
    assert {r["trigger"] for r in a["rules"]} == triggers
    assert a["decision"]["action"] == "hold" and a["decision"]["judgement"] is not None
    assert len(a["chart"]["windows"]) == 13  # 15 minutes minus 2 minutes of ingestion lag
    assert ctrl.store.get("recommend").last_window_end is None  # nothing was persisted


def test_conflicts_and_unknown_services(run_admin, sqlite_store):
    ctrl, _clock, full = make(run_admin, sqlite_store, "healthy")
    with pytest.raises(NotFound):
        ctrl.status("nope")
    with pytest.raises(NotFound):
        ctrl.advance("recommend")  # known service, no rollout yet
    ctrl.enable("recommend", 5, None, "a")
    assert ctrl.enable("recommend", 5, None, "a")["rollout"]["traffic_percent"] == 5  # idempotent
    ctrl.enable("recommend", 20, None, "a")
    assert run_admin.split(full)["recommend-00002-new"] == 20
    with pytest.raises(Conflict):
        ctrl.enable("recommend", 5, "recommend-00003-x", "a")
    ctrl.rollback("recommend", "manual", "bob")
    ctrl.rollback("recommend", "manual again", "bob")  # idempotent
    with pytest.raises(Conflict):
        ctrl.promote("recommend", "no", "bob")
    assert ctrl.status("recommend")["phase"] == Phase.ROLLED_BACK.value


def test_a_lost_race_reconciles_traffic_to_the_winner(run_admin, sqlite_store):
    from recoengine.canary import state

    ctrl, clock, full = make(run_admin, sqlite_store, "healthy")
    ctrl.enable("recommend", 5, None, "a")
    stale = ctrl.store.get("recommend")  # the scheduler read this...
    ctrl.rollback("recommend", "incident", "incident:x")  # ...then an incident won
    late, audit = state.set_traffic(stale, 50, state.Cause(clock(), "scheduler", "late decision"))
    with pytest.raises(Conflict):
        ctrl._commit(late, audit)
    assert run_admin.split(full)["recommend-00002-new"] == 0  # traffic follows the winner
    assert ctrl.store.get("recommend").phase == Phase.ROLLED_BACK
