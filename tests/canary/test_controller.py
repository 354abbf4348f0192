"""The scheduler's path end to end: synthetic metrics -> decisions -> fake Admin API traffic."""

from __future__ import annotations

import http.server
import threading

import pytest

from recoengine.canary.controller import CanaryController
from recoengine.canary.incidents import Incident
from recoengine.canary.notify import Notifier
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.state import Phase
from recoengine.canary.store import SqliteCanaryStore
from recoengine.canary.traffic import CloudRunTraffic, LocalTraffic
from recoengine.errors import Conflict, NotFound, ServiceError
from testkit.fake_cloud_run import run_client
from tests.canary.helpers import fast_policy
from tests.canary.stateful_ports import (
    FAIL,
    OK,
    FaultyMetrics,
    FaultyStore,
    FaultyTraffic,
    NoFaults,
    Scripted,
    Switch,
    SwitchableMetrics,
    served,
    wanted,
)

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


def test_the_analysis_lists_the_rules_of_the_rollouts_own_service(run_admin, sqlite_store):
    """chat is judged by its own rule set (engine latency, fallback rates), and says so."""
    ctrl, clock, _full = make(run_admin, sqlite_store, "healthy")
    run_admin.add_service(P, R, "chat", "chat-00001-old", "chat-00002-new")
    ctrl.enable("chat", 5, None, "token:alice")
    clock.now += 900
    triggers = {r["trigger"] for r in ctrl.analysis("chat")["rules"]}
    assert {"engine_latency_p95_ms", "reply_fallback_rate"} <= triggers
    assert "latency_p95_ms" not in triggers  # a turn waiting on Gemini is not judged at 500 ms


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


def test_a_stale_transition_loses_the_compare_and_set_and_moves_nothing(run_admin, sqlite_store):
    from recoengine.canary import state

    ctrl, clock, full = make(run_admin, sqlite_store, "healthy")
    ctrl.enable("recommend", 5, None, "a")
    stale = ctrl.store.get("recommend")  # the scheduler read this...
    ctrl.rollback("recommend", "incident", "incident:x")  # ...then an incident won
    updates = len(run_admin.updates)
    late, audit = state.set_traffic(stale, 50, state.Cause(clock(), "scheduler", "late decision"))
    with pytest.raises(Conflict):
        ctrl._commit(late, audit, "scheduler")
    assert len(run_admin.updates) == updates  # intent first: the loser never touched traffic
    assert run_admin.split(full)["recommend-00002-new"] == 0
    assert ctrl.store.get("recommend").phase == Phase.ROLLED_BACK


# -- issue 18: each defect the stateful test found, replayed as one schedule -----------------
# (tests/canary/test_controller_stateful.py explores such schedules at random.)

S = "recommend"
OLD, NEW = f"{S}-00001-old", f"{S}-00002-new"
INCIDENT = Incident("0.reg", "open", S, NEW, "CanaryErrorRateHigh", "errors", "error_rate", None)


class Lab:
    """One controller over the real SQLite store and LocalTraffic, with scripted faults."""

    def __init__(self, tmp_path) -> None:
        self.store = SqliteCanaryStore(tmp_path / "canary.sqlite3")
        self.traffic = LocalTraffic(self.store, (S,))
        self.metrics = SwitchableMetrics()
        self.clock = Clock()
        self.switch = Switch()
        self.ctrl = CanaryController(
            fast_policy(),
            FaultyStore(self.store, self.switch),
            FaultyTraffic(self.traffic, self.switch),
            FaultyMetrics(self.metrics, self.switch),
            clock=self.clock,
            metrics_lag_s=0.0,
        )

    def live(self) -> dict[str, int]:
        return served(self.traffic.describe(S))

    def faults(self, script: dict) -> None:
        self.switch.source = Scripted(script)

    def no_faults(self) -> None:
        self.switch.source = NoFaults()


def once(action):
    """``action`` the first time, nothing afterwards (one interleaving at whichever of several
    calls comes first)."""
    done = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


@pytest.fixture()
def lab(tmp_path):
    lab = Lab(tmp_path)
    lab.ctrl.enable(S, 5, None, "op:alice")
    yield lab
    lab.store.close()


def test_a_stale_promote_cannot_leave_traffic_on_a_rolled_back_candidate(lab):
    # Defect 1: an incident rolls back while a promote that read the rollout before is between
    # its read and its write; the promote's next traffic call fails once (a 503).
    incident = once(lambda: lab.ctrl.handle_incident(INCIDENT))
    lab.faults({"store.save": [incident], "traffic.set_split": [incident, OK, FAIL]})
    with pytest.raises(ServiceError):
        lab.ctrl.promote(S, "ship it", "op:bob")
    lab.no_faults()
    lab.ctrl.advance(S)
    rollout = lab.store.get(S)
    assert rollout.phase == Phase.ROLLED_BACK and not rollout.needs_attention
    assert lab.live() == {OLD: 100}


@pytest.mark.parametrize(
    "fault", ["store.save", "store.get"], ids=["rollback-save-fails", "read-fails"]
)
def test_an_incident_whose_handler_failed_still_rolls_back_on_redelivery(lab, fault):
    # Defect 2: the claim must not outlive a rollback that was not stored.
    lab.faults({fault: [FAIL]})
    try:
        lab.ctrl.handle_incident(INCIDENT)
    except ServiceError:  # not acknowledged: Pub/Sub redelivers
        lab.no_faults()
        assert lab.ctrl.handle_incident(INCIDENT)["action"] == "rolled_back"
    assert lab.store.get(S).phase == Phase.ROLLED_BACK
    assert lab.live() == {OLD: 100}


def test_a_pause_during_a_traffic_change_leaves_no_drift(lab):
    # Defect 3a: a pause lands while `enable 50%` is between its read and its write.
    pause = once(lambda: lab.ctrl.pause(S, "looking", "op:carol"))
    lab.faults({"store.save": [pause], "traffic.set_split": [pause]})
    with pytest.raises(ServiceError):
        lab.ctrl.enable(S, 50, None, "op:alice")
    lab.no_faults()
    lab.ctrl.advance(S)
    rollout = lab.store.get(S)
    assert rollout.phase == Phase.PAUSED
    assert lab.live() == wanted(rollout) == {OLD: 95, NEW: 5}


def test_a_paused_rollout_is_still_rolled_back_by_the_rules(lab):
    # Defect 3b: a pause stops progress, not protection.
    lab.ctrl.pause(S, "weekend", "op:carol")
    lab.metrics.set_bad(lab.clock.now, True)
    lab.clock.now += 300
    out = lab.ctrl.advance(S)
    assert out["decision"]["action"] == "rollback"
    assert lab.store.get(S).phase == Phase.ROLLED_BACK
    assert lab.live() == {OLD: 100}
    assert lab.store.audit(S)[0]["from_phase"] == "paused"


def test_the_rollback_webhook_follows_the_traffic_change_and_does_not_hold_it(lab):
    # Defect 8a / I5: the message goes out after traffic moved, and a slow webhook does not
    # keep the handler: it answers while the webhook is still busy.
    at_arrival: list[dict[str, int]] = []
    arrived, release, answered = threading.Event(), threading.Event(), threading.Event()

    class Hook(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            at_arrival.append(lab.live())  # what users were getting when the message arrived
            arrived.set()
            release.wait(5)
            self.send_response(204)
            self.end_headers()
            answered.set()

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    serving = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    try:
        lab.ctrl.notifier = Notifier(f"http://127.0.0.1:{hook.server_address[1]}/", timeout_s=2)
        lab.ctrl.notifier.wait_s = 0.1
        result = lab.ctrl.handle_incident(INCIDENT)
        still_busy = not answered.is_set()  # the handler did not wait for the answer
        assert arrived.wait(10)
    finally:
        release.set()
        hook.shutdown()
        hook.server_close()
        serving.join()
    assert result["action"] == "rolled_back" and still_busy
    assert at_arrival == [{OLD: 100}]
