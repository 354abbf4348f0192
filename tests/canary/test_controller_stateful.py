"""The canary controller under random interleavings and faults (issue 18, invariants I1-I4).

A hypothesis state machine drives one controller over the real ``SqliteCanaryStore`` and the
real ``LocalTraffic`` through enable, advance (the scheduler's tick, with time passing),
promote, pause, resume, rollback, incident deliveries (new ones, duplicates, and redeliveries of
deliveries whose handler raised, as Pub/Sub does) and metrics turning bad or good. Every
external call can fail, take effect and then fail, or let another whole operation run first (a
second instance acting between this call's read and its write): see ``stateful_ports``.

After every step:
- on the live state: I3 (an incident whose handler returned without raising left its rollout
  rolled back, or finished) and I2's "stays at 0" (a rolled-back candidate seen at 0% is never
  above 0% after a later step);
- on a snapshot of the database, after ONE fault-free ``advance``: I1 (live traffic equals the
  stored rollout in every phase, and nothing needs attention), I2 (rolled back => 0%) and I4 (a
  rollout whose candidate breached a rule over the last windows of its step is not active).
The snapshot keeps the check from steering the run: the sequence is the one hypothesis chose.

``make test`` runs the quick profile (200 examples of up to 40 steps: some 6,700 steps in
about 20 s; a failure is reported unshrunk, since shrinking this machine can take minutes);
``make canary-stateful`` runs the long one (``CANARY_STATEFUL=long``) and shrinks what it finds.
Neither writes a hypothesis database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import Phase as Stage
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from recoengine.canary.controller import CanaryController
from recoengine.canary.incidents import Incident
from recoengine.canary.policy import CanaryPolicy, RolloutPlan, Step
from recoengine.canary.state import Phase, Rollout
from recoengine.canary.store import SqliteCanaryStore
from recoengine.canary.traffic import LocalTraffic
from recoengine.errors import ServiceError
from tests.canary.stateful_ports import (
    CONFLICT,
    FAIL,
    FAIL_AFTER,
    OK,
    Fault,
    FaultyMetrics,
    FaultyStore,
    FaultyTraffic,
    NoFaults,
    Switch,
    SwitchableMetrics,
    bad_run,
    rule_windows,
    served,
    wanted,
)

SERVICE = "recommend"
T0 = 1_767_225_600.0  # a multiple of the 60 s window
PLAN = RolloutPlan("stateful", (Step(5, 300.0, 500), Step(50, 300.0, 500)))
PROFILES = {
    # Shrinking a failure of this machine can take minutes: `make test` reports it unshrunk
    # (still reproducible from the printed steps); `make canary-stateful` shrinks it.
    "quick": settings(
        max_examples=200,
        stateful_step_count=40,
        deadline=None,
        database=None,
        phases=(Stage.explicit, Stage.reuse, Stage.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    "long": settings(
        max_examples=int(os.environ.get("CANARY_STATEFUL_EXAMPLES", "3000")),
        stateful_step_count=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
}
OPS = ("enable", "advance", "promote", "pause", "resume", "rollback", "incident")
STEPS = {"run": 0, "first_failure": 0}  # across examples: when the first failure showed
POLICY = CanaryPolicy(plan=PLAN)  # reading the rules file once, not once per example
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: no fsync per commit


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Delivery:
    """One incident as Pub/Sub holds it: about which rollout, acknowledged yet or not."""

    incident: Incident
    rollout_id: str | None  # the rollout whose candidate it named while that was active
    acked: bool = False


class Faults:
    """Hypothesis chooses what happens at each external call of the current step: mostly
    nothing, sometimes a failure (before or after the effect), sometimes another operation
    first (only one level deep: the nested operation's calls can fail but not nest)."""

    def __init__(self, machine: ControllerMachine, data: st.DataObject) -> None:
        self.machine = machine
        self.data = data

    def at(self, call: str) -> Fault:
        roll = self.data.draw(st.integers(0, 15), label=call)
        if roll < 10:
            return OK
        effectful = call in ("store.save", "store.claim_incident", "traffic.set_split")
        if roll == 10:
            return FAIL
        if roll == 11:
            return FAIL_AFTER if effectful else FAIL
        if roll == 12:
            return CONFLICT if call == "store.save" else FAIL
        if self.machine.depth > 0:
            return OK
        op = self.data.draw(st.sampled_from(OPS), label=f"{call}: other instance")
        return lambda: self.machine.nested(op, self.data)


class ControllerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="canary-stateful-", dir=SCRATCH))
        self.path = self.dir / "canary.sqlite3"
        self.store = SqliteCanaryStore(self.path)
        self.traffic = LocalTraffic(self.store, (SERVICE,))
        self.metrics = SwitchableMetrics()
        self.clock = Clock()
        self.policy = POLICY
        self.switch = Switch()
        self.ctrl = CanaryController(
            self.policy,
            FaultyStore(self.store, self.switch),
            FaultyTraffic(self.traffic, self.switch),
            FaultyMetrics(self.metrics, self.switch),
            clock=self.clock,
            metrics_lag_s=0.0,
        )
        self.depth = 0
        self.deliveries: dict[str, Delivery] = {}
        self.zeroed: set[str] = set()  # rolled-back rollouts whose candidate was seen at 0%

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- running operations -------------------------------------------------------------
    def step(self, data: st.DataObject, action: Callable[[], object]) -> None:
        STEPS["run"] += 1
        if data.draw(st.booleans(), label="faults"):
            self.switch.source = Faults(self, data)
        try:
            action()
        except ServiceError:
            pass  # refused (409/404) or failed (503): what a caller sees; the state must cope
        finally:
            self.switch.source = NoFaults()

    def nested(self, op: str, data: st.DataObject) -> None:
        """Another instance runs ``op`` to completion (its own calls may fail)."""
        self.depth += 1
        try:
            self.operation(op, data)()
        except ServiceError:
            pass
        finally:
            self.depth -= 1

    def operation(self, op: str, data: st.DataObject) -> Callable[[], object]:
        ctrl = self.ctrl
        if op == "enable":
            percent = data.draw(st.sampled_from([5, 20, 50]), label="percent")
            return lambda: self.enable_op(percent)
        if op == "advance":
            return lambda: ctrl.advance(SERVICE)
        if op == "incident":
            return self.incident_delivery(data)
        reason = f"{op} by hand"
        return lambda: getattr(ctrl, op)(SERVICE, reason, "op:bob")

    def incident_delivery(self, data: st.DataObject) -> Callable[[], object]:
        ids = sorted(self.deliveries)
        if ids and data.draw(st.booleans(), label="redeliver"):
            incident_id = data.draw(st.sampled_from(ids), label="which")
        else:
            incident_id = self.new_incident()
        return lambda: self.deliver(incident_id)

    def new_incident(self) -> str:
        stored = self.store.get(SERVICE)
        incident_id = f"0.inc{len(self.deliveries)}"
        revision = stored.candidate_revision if stored else f"{SERVICE}-00002-new"
        self.deliveries[incident_id] = Delivery(
            Incident(
                incident_id=incident_id,
                state="open",
                service=SERVICE,
                revision=revision,
                policy_name="CanaryErrorRateHigh",
                summary="error rate over 1% for 3 windows",
                trigger="error_rate",
                started_at=self.clock.now,
            ),
            stored.rollout_id if stored is not None and stored.active else None,
        )
        return incident_id

    def deliver(self, incident_id: str) -> None:
        delivery = self.deliveries[incident_id]
        self.ctrl.handle_incident(delivery.incident)  # raises: Pub/Sub will redeliver
        delivery.acked = True

    # -- rules ----------------------------------------------------------------------------
    def enable_op(self, percent: int) -> object:
        """Enable: the tagged candidate, or after a promotion the other revision (the only two
        LocalTraffic has), so a run goes on after a rollout finished either way."""
        stored = self.store.get(SERVICE)
        promoted = stored is not None and stored.phase == Phase.PROMOTED
        candidate = stored.stable_revision if stored is not None and promoted else None
        return self.ctrl.enable(SERVICE, percent, candidate, "op:alice")

    @rule(data=st.data(), percent=st.sampled_from([5, 20, 50]))
    def enable(self, data: st.DataObject, percent: int) -> None:
        self.step(data, lambda: self.enable_op(percent))

    @rule(data=st.data(), seconds=st.sampled_from([60, 180, 300, 900]))
    def advance(self, data: st.DataObject, seconds: int) -> None:
        self.clock.now += seconds
        self.step(data, lambda: self.ctrl.advance(SERVICE))

    @rule(data=st.data())
    def promote(self, data: st.DataObject) -> None:
        self.step(data, self.operation("promote", data))

    @rule(data=st.data(), op=st.sampled_from(["pause", "resume", "rollback"]))
    def by_hand(self, data: st.DataObject, op: str) -> None:
        self.step(data, self.operation(op, data))

    @rule(data=st.data())
    def incident(self, data: st.DataObject) -> None:
        incident_id = self.new_incident()
        self.step(data, lambda: self.deliver(incident_id))

    @precondition(lambda self: bool(self.deliveries))
    @rule(data=st.data())
    def redelivery(self, data: st.DataObject) -> None:
        pending = sorted(i for i, d in self.deliveries.items() if not d.acked)
        pool = pending or sorted(self.deliveries)  # Pub/Sub redelivers unacked; dups happen
        incident_id = data.draw(st.sampled_from(pool), label="redelivered")
        self.step(data, lambda: self.deliver(incident_id))

    @rule(bad=st.booleans())
    def metrics_turn(self, bad: bool) -> None:
        STEPS["run"] += 1
        self.metrics.set_bad(self.clock.now, bad)

    # -- invariants -----------------------------------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        try:
            self.check_live()
            self.check_after_one_advance()
        except AssertionError:
            if not STEPS["first_failure"]:
                STEPS["first_failure"] = STEPS["run"]
                print(f"first invariant failure after {STEPS['run']} steps", file=sys.stderr)
            raise

    def check_live(self) -> None:
        stored = self.store.get(SERVICE)
        if stored is None:
            return
        for d in self.deliveries.values():
            if d.acked and d.rollout_id == stored.rollout_id:
                assert not stored.active, (
                    f"I3: incident {d.incident.incident_id} was acknowledged but rollout "
                    f"{stored.rollout_id} is still {stored.phase.value} at "
                    f"{stored.traffic_percent}%"
                )
        share = served(self.traffic.describe(SERVICE)).get(stored.candidate_revision, 0)
        if stored.phase == Phase.ROLLED_BACK:
            if stored.rollout_id in self.zeroed:
                assert share == 0, f"I2: rolled-back candidate is back at {share}%"
            if share == 0:
                self.zeroed.add(stored.rollout_id)

    def check_after_one_advance(self) -> None:
        snap_path = self.dir / "snapshot.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{snap_path}{suffix}").unlink(missing_ok=True)
        src, dst = sqlite3.connect(self.path), sqlite3.connect(snap_path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        snap = SqliteCanaryStore(snap_path)
        try:
            traffic = LocalTraffic(snap, (SERVICE,))
            ctrl = CanaryController(
                self.policy, snap, traffic, self.metrics, clock=self.clock, metrics_lag_s=0.0
            )
            if snap.get(SERVICE) is None:
                return
            try:
                ctrl.advance(SERVICE)
            except ServiceError as exc:
                raise AssertionError(f"I1: the fault-free advance failed: {exc.message}") from exc
            rollout = snap.get(SERVICE)
            assert rollout is not None
            self.converged(rollout, served(traffic.describe(SERVICE)))
        finally:
            snap.close()

    def converged(self, rollout: Rollout, live: dict[str, int]) -> None:
        if rollout.phase == Phase.ROLLED_BACK:
            share = live.get(rollout.candidate_revision, 0)
            assert share == 0, f"I2: rolled back, yet the candidate serves {share}% after advance"
        needed = rule_windows(self.policy, SERVICE)
        since = rollout.step_started_at
        if rollout.active and bad_run(self.metrics, self.clock.now, since, needed):
            raise AssertionError(
                f"I4: the candidate breached the rules for {needed} windows, yet the rollout is "
                f"{rollout.phase.value} after advance"
            )
        assert live == wanted(rollout), (
            f"I1: live {live} differs from the stored {rollout.phase.value} rollout at "
            f"{rollout.traffic_percent}% after advance"
        )
        assert not rollout.needs_attention, (
            f"I1: still needs attention after a fault-free advance: {rollout.attention_reason}"
        )


TestControllerStateful = ControllerMachine.TestCase
TestControllerStateful.settings = PROFILES[os.environ.get("CANARY_STATEFUL", "quick")]
