"""The canary use cases: enable, analyse, advance, promote, rollback, pause, resume, status,
and the incident-driven rollback. Ports in, decisions from the pure ``decision`` module, the
state machine for every transition, audit for every action.

The controller runs on many instances at once (the scheduler's tick, incidents, operators)
against APIs that fail. Its invariants (docs/canary.md, "Invariants") and how this module keeps
them:

- I1 live traffic converges to the stored rollout. Every ``advance`` (the scheduler's tick)
  first compares live traffic with the stored rollout in every phase, paused and terminal
  included, and repairs drift. A repair that fails flags the rollout (``needs_attention``,
  stored), logs an ERROR with ``canary_event: "needs_attention"`` (a log-based metric and an
  alert policy count them) and is retried at the next tick.
- I2 a rolled-back candidate reaches 0% and stays there. Every transition is stored first, with
  compare-and-set on the rollout's ``version``, and moves traffic second: an operation that read
  the rollout before someone else's change (a promote racing an incident's rollback) loses the
  compare-and-set and moves nothing. After moving traffic it re-reads the rollout; if it
  changed meanwhile (the other instance may have moved traffic before this call landed),
  traffic follows the newest state. What is left (a re-read or a repair that failed) is the
  tick's job (I1).
- I3 no incident is lost: its id is claimed in the same transaction as the rollback, so a
  rollback that could not be stored leaves it unclaimed and Pub/Sub's redelivery rolls back; a
  redelivery after the rollback was stored re-checks the traffic.
- I4 a paused rollout is still judged: ``advance`` reads its windows and evaluates it as in its
  unpaused phase, and acts on a rollback only (a pause stops progress, not protection).
- I5 notifications go out after traffic has moved, and wait a bounded time (``notify``).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from recoengine.canary import state
from recoengine.canary.decision import Action, Decision, decide, observe
from recoengine.canary.incidents import Incident
from recoengine.canary.notify import Notifier
from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.state import AuditEntry, Cause, Phase, Rollout
from recoengine.canary.store import CanaryStore, DuplicateIncident, IncidentClaim
from recoengine.canary.traffic import ServiceTraffic, TrafficPort, check_service_name
from recoengine.canary.windows import MetricsPort, MetricsQuery, zero_total
from recoengine.errors import Conflict, NotFound, ServiceError, ServiceUnavailable

log = logging.getLogger("recoengine.canary")


class CanaryController:
    def __init__(
        self,
        policy: CanaryPolicy,
        store: CanaryStore,
        traffic: TrafficPort,
        metrics: MetricsPort,
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], float] = time.time,
        metrics_lag_s: float = 180.0,
        max_lookback_s: float = 86400.0,
        incident_ttl_s: float = 30 * 86400.0,
    ) -> None:
        self.policy = policy
        self.store = store
        self.traffic = traffic
        self.metrics = metrics
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.metrics_lag_s = metrics_lag_s
        self.max_lookback_s = max_lookback_s
        self.incident_ttl_s = incident_ttl_s

    # -- helpers ------------------------------------------------------------------------
    def _get(self, service: str) -> Rollout:
        check_service_name(service)
        rollout = self.store.get(service)
        if rollout is None:
            self.traffic.describe(service)  # 404 for a service the platform does not know
            raise NotFound(f"no rollout for service {service!r}; enable one first")
        return rollout

    def _view(self, rollout: Rollout) -> dict[str, Any]:
        return {"rollout": rollout.public()}

    def _commit(
        self,
        new: Rollout,
        audit: AuditEntry,
        actor: str,
        claim: IncidentClaim | None = None,
        failed: str = "traffic_failed",
    ) -> Rollout:
        """Intent first (compare-and-set: a stale caller gets ``Conflict`` and moves nothing),
        traffic second (I2). ``failed`` names the audit entry of a traffic change that fails."""
        saved = self._save(new, audit, claim)
        return self._apply(saved, actor, failed)

    def _save(
        self,
        rollout: Rollout,
        audit: AuditEntry | None = None,
        claim: IncidentClaim | None = None,
    ) -> Rollout:
        """Store (compare-and-set) and log the action with ``canary_event``/``service`` fields,
        which the log-based metric ``canary_events`` counts for the dashboard."""
        saved = self.store.save(rollout, audit, claim=claim)
        if audit is not None:
            log.info(
                "canary %s: %s %s -> %s (%s)",
                audit.service,
                audit.action,
                audit.from_phase,
                audit.to_phase,
                audit.reason,
                extra={"json_fields": {"canary_event": audit.action, **_brief(audit)}},
            )
        return saved

    def _apply(self, rollout: Rollout, actor: str, failed: str = "traffic_failed") -> Rollout:
        """Move live traffic to the stored ``rollout``, then follow any newer stored state: if
        someone committed meanwhile, their traffic call may have landed before ours, so the
        last one to move traffic re-reads and converges (I2). Returns the state applied."""
        for _ in range(3):
            try:
                self.traffic.set_split(
                    rollout.service,
                    rollout.stable_revision,
                    rollout.candidate_revision,
                    rollout.traffic_percent,
                )
            except ServiceError as exc:
                self._needs_attention(
                    rollout, actor, f"traffic change failed: {exc.message}", failed
                )
                raise ServiceUnavailable(
                    f"{rollout.service}: {rollout.phase.value} at {rollout.traffic_percent}% is "
                    "recorded but traffic could not be moved; the rollout is flagged as needing "
                    "attention and the scheduler retries"
                ) from None
            try:
                current = self.store.get(rollout.service)
            except ServiceError as exc:
                log.warning(
                    "could not re-read %s after moving its traffic (%s); the next tick checks it",
                    rollout.service,
                    exc.message,
                )
                return rollout
            if current is None or current.version == rollout.version:
                return rollout
            rollout = current  # changed meanwhile: traffic follows the newest state
        log.warning(
            "%s kept changing while its traffic moved; the next tick checks it", rollout.service
        )
        return rollout

    def _needs_attention(self, rollout: Rollout, actor: str, why: str, action: str) -> None:
        """Surface a traffic change that failed: an ERROR log (``canary_event:
        "needs_attention"``, the source of the log-based metric and its alert) and, if the
        store takes it, the stored flag and an audit entry. The next tick retries (I1)."""
        log.error(
            "canary %s needs attention: %s",
            rollout.service,
            why,
            extra={
                "json_fields": {
                    "canary_event": "needs_attention",
                    "service": rollout.service,
                    "rollout_id": rollout.rollout_id,
                    "phase": rollout.phase.value,
                    "traffic_percent": rollout.traffic_percent,
                    "reason": why,
                }
            },
        )
        flagged = copy.deepcopy(rollout)
        flagged.needs_attention = True
        flagged.attention_reason = why
        entry = state.audit_entry(
            flagged, action, Cause(self.clock(), actor, f"{why}; needs attention")
        )
        try:
            self._save(flagged, entry)
        except ServiceError as exc:  # changed meanwhile or store down: the log still tells
            log.warning(
                "could not store the attention flag of %s: %s", rollout.service, exc.message
            )

    def _converge(self, rollout: Rollout, actor: str) -> Rollout:
        """I1: compare live traffic with the stored rollout (any phase) and repair drift; clear
        the attention flag once they agree. Returns the stored state afterwards."""
        live = _serving(self.traffic.describe(rollout.service))
        want = rollout.serving()
        if live == want and not rollout.needs_attention:
            return rollout
        if live != want:
            why = (
                f"live traffic {live} differed from the stored {rollout.phase.value} rollout {want}"
            )
            log.warning("canary %s: %s; repairing", rollout.service, why)
            rollout = self._apply(rollout, actor)
        else:
            why = "live traffic matches the stored rollout"
        fixed = copy.deepcopy(rollout)
        fixed.needs_attention = False
        fixed.attention_reason = ""
        entry = state.audit_entry(fixed, "traffic_repaired", Cause(self.clock(), actor, why))
        try:
            return self._save(fixed, entry)
        except Conflict:
            return self._get(rollout.service)  # someone moved on meanwhile; they apply theirs

    def _ingest(self, rollout: Rollout, now: float) -> int:
        """Fold the complete windows since the last one seen into ``rollout``."""
        start = rollout.last_window_end or rollout.step_started_at
        start = max(start, now - self.max_lookback_s)
        end = now - self.metrics_lag_s
        query = MetricsQuery(
            rollout.service,
            rollout.stable_revision,
            rollout.candidate_revision,
            start,
            end,
            share=rollout.traffic_percent / 100.0,
            origin=rollout.started_at,
        )
        windows = self.metrics.windows(query)
        for window in windows:
            observe(rollout, window, self.policy)
        return len(windows)

    # -- use cases ----------------------------------------------------------------------
    def enable(
        self, service: str, percent: int, candidate: str | None, actor: str
    ) -> dict[str, Any]:
        check_service_name(service)
        now = self.clock()
        current = self.store.get(service)
        live = self.traffic.describe(service)  # 404 for unknown services
        if current is not None and current.active:
            if candidate and candidate != current.candidate_revision:
                raise Conflict(
                    f"a rollout of {service} with candidate {current.candidate_revision} "
                    "is in progress; roll it back or promote it first"
                )
            if current.phase == Phase.PAUSED:
                raise Conflict(f"the rollout of {service} is paused; resume it first")
            if current.traffic_percent == percent:
                return self._view(current)  # idempotent
            cause = Cause(now, actor, "traffic set by operator")
            new, audit = state.set_traffic(current, percent, cause)
            return self._view(self._commit(new, audit, actor))
        stable = live.stable
        chosen = candidate or live.candidate
        if stable is None:
            raise Conflict(f"{service} has no revision serving traffic")
        if chosen is None:
            raise Conflict(
                f"{service} has no candidate revision: deploy one with "
                "--no-traffic --tag candidate, or pass candidate_revision"
            )
        new, audit = state.start(
            current,
            self.policy.plan,
            Cause(now, actor, "rollout started"),
            service=service,
            stable=stable,
            candidate=chosen,
            percent=percent,
        )
        if current is not None:
            new.version = current.version
        return self._view(self._commit(new, audit, actor))

    def analysis(self, service: str) -> dict[str, Any]:
        """The current analysis without acting on it (the scheduler's advance acts)."""
        rollout = copy.deepcopy(self._get(service))
        now = self.clock()
        if rollout.active:
            self._ingest(rollout, now)
        decision = decide(rollout, now, self.policy, explain=True) if rollout.active else None
        service_rules = self.policy.rules_for(service)
        rules = [
            {
                "trigger": r.trigger,
                "threshold": r.threshold,
                "windows": r.windows,
                "consecutive": rollout.breaches.get(r.trigger, 0),
            }
            for r in service_rules.rules
        ]
        return {
            "service": service,
            "rollout": rollout.public(),
            "revisions": {
                "stable": {
                    "revision": rollout.stable_revision,
                    **rollout.totals.get("stable", zero_total()).summary(),
                },
                "candidate": {
                    "revision": rollout.candidate_revision,
                    **rollout.totals.get("candidate", zero_total()).summary(),
                },
            },
            "rules": rules,
            "decision": decision.to_dict() if decision else None,
            "chart": {
                "window_seconds": service_rules.window_seconds,
                "windows": rollout.history,
            },
        }

    def advance(self, service: str, actor: str = "scheduler") -> dict[str, Any]:
        """The scheduler's tick: converge traffic (I1), then judge and act (I4 while paused)."""
        rollout = self._converge(self._get(service), actor)
        if not rollout.active:
            seen = {"action": Action.CONTINUE.value, "reason": f"rollout is {rollout.phase.value}"}
            return {**self._view(rollout), "decision": seen}
        now = self.clock()
        self._ingest(rollout, now)
        if rollout.phase == Phase.PAUSED:
            return self._judge_paused(rollout, now, actor)
        decision = decide(rollout, now, self.policy)
        seen = decision.to_dict()
        cause = Cause(now, actor, decision.reason, seen)
        if decision.action == Action.ROLLBACK:
            result = self._rollback(rollout, decision.reason, actor, seen)
        elif decision.action == Action.ADVANCE:
            new, audit = state.advance(rollout, self.policy.plan, cause)
            result = self._view(self._commit(new, audit, actor))
        elif decision.action == Action.PROMOTE:
            new, audit = state.promote(rollout, cause)
            result = self._view(self._commit(new, audit, actor))
        elif decision.action == Action.PAUSE:
            new, audit = state.pause(rollout, Cause(now, actor, decision.reason))
            result = self._view(self._save(new, audit))
            self.notifier.paused(_event(new, decision.reason))
        else:
            changed = rollout.last_decision.get("reason") != decision.reason
            rollout.last_decision = {"action": decision.action.value, "reason": decision.reason}
            check = None
            if changed and decision.judgement is not None:
                check = state.audit_entry(rollout, "check", cause)
            result = self._view(self._save(rollout, check))
        return {**result, "decision": seen}

    def _judge_paused(self, rollout: Rollout, now: float, actor: str) -> dict[str, Any]:
        """I4: judge a paused rollout as in the phase it was paused from; act on a rollback
        only. What the judgement records (the gate's check time, an A/B look) is kept, so a
        paused rollout is not looked at more often than a running one."""
        judged = copy.deepcopy(rollout)
        judged.phase = Phase(rollout.paused_from or Phase.CANARY.value)
        decision = decide(judged, now, self.policy)
        rollout.last_check_at = judged.last_check_at
        rollout.ab_looks = judged.ab_looks
        seen = decision.to_dict()
        if decision.action == Action.ROLLBACK:
            return {**self._rollback(rollout, decision.reason, actor, seen), "decision": seen}
        why = f"paused for a human (judged: {decision.action.value}, {decision.reason})"
        seen = {**seen, "action": Action.CONTINUE.value, "reason": why}
        return {**self._view(self._save(rollout)), "decision": seen}

    def promote(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        if rollout.phase == Phase.PROMOTED:
            return self._view(rollout)
        new, audit = state.promote(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._commit(new, audit, actor))

    def pause(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        if rollout.phase == Phase.PAUSED:
            return self._view(rollout)
        new, audit = state.pause(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._save(new, audit))

    def resume(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        new, audit = state.resume(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._commit(new, audit, actor))

    def rollback(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        return self._rollback(self._get(service), reason, actor, None)

    def status(self, service: str, audit_limit: int = 20) -> dict[str, Any]:
        check_service_name(service)
        live = self.traffic.describe(service)
        rollout = self.store.get(service)
        return {
            "service": service,
            "phase": rollout.phase.value if rollout else Phase.IDLE.value,
            "rollout": rollout.public() if rollout else None,
            "traffic": live.split(),
            "audit": self.store.audit(service, audit_limit) if rollout else [],
        }

    # -- rollback -----------------------------------------------------------------------
    def _rollback(
        self,
        rollout: Rollout,
        reason: str,
        actor: str,
        metrics: dict[str, Any] | None,
        claim: IncidentClaim | None = None,
    ) -> dict[str, Any]:
        """Store the rollback (with the incident's claim, in one transaction), move traffic,
        then notify (I5). Rolling back a rolled-back rollout re-checks its traffic."""
        if rollout.phase == Phase.ROLLED_BACK:
            return self._view(self._converge(rollout, actor))
        new, audit = state.rollback(rollout, Cause(self.clock(), actor, reason, metrics))
        saved = self._commit(new, audit, actor, claim=claim, failed="rollback_failed")
        self.notifier.rollback(_event(new, reason))
        return self._view(saved)

    def handle_incident(self, incident: Incident) -> dict[str, Any]:
        """Roll back on an ``open`` incident about the candidate of a rollout in progress.

        Raises (so Pub/Sub redelivers) when the store or the Admin API failed; nothing is
        claimed unless the rollback was stored with it (I3)."""

        def ignored(why: str) -> dict[str, Any]:
            return {"action": "ignored", "reason": why, "incident_id": incident.incident_id}

        if incident.state != "open":
            return ignored("incident is closed")
        if not incident.service or not incident.revision:
            return ignored("incident names no Cloud Run service and revision")
        try:
            service = check_service_name(incident.service)
        except ServiceError as exc:
            return ignored(exc.message)
        rollout = self.store.get(service)  # a store failure raises: the redelivery retries
        actor = f"incident:{incident.policy_name or 'cloud-monitoring'}"
        rolled = {"action": "rolled_back", "incident_id": incident.incident_id}
        for _ in range(3):
            if rollout is None:
                return ignored(f"no rollout of {service}")
            if incident.revision != rollout.candidate_revision:
                return ignored(
                    f"incident is about {incident.revision}, "
                    f"not candidate {rollout.candidate_revision}"
                )
            if rollout.phase == Phase.ROLLED_BACK:
                self._converge(rollout, actor)  # a redelivery: make sure traffic did move
                return {**rolled, "reason": "already rolled back; traffic checked"}
            if not rollout.active:
                return ignored(f"no rollout of {service} in progress")
            info = {
                "service": service,
                "revision": incident.revision,
                "policy": incident.policy_name,
            }
            claim = IncidentClaim(incident.incident_id, info, self.incident_ttl_s)
            reason = f"incident {incident.incident_id} ({incident.policy_name}): {incident.summary}"
            try:
                self._rollback(rollout, reason.strip(), actor, {"incident": info}, claim)
                return rolled
            except DuplicateIncident:
                return ignored("duplicate delivery of an incident already handled")
            except Conflict:
                rollout = self.store.get(service)  # lost a race: re-read and decide again
        raise ServiceUnavailable("could not store the rollback after 3 attempts")


def _serving(live: ServiceTraffic) -> dict[str, int]:
    """Who serves how much right now, by revision (a tag with 0% serves nothing)."""
    return {revision: share for revision, share in live.split().items() if share > 0}


def _event(rollout: Rollout, reason: str) -> dict[str, Any]:
    return {
        "service": rollout.service,
        "rollout_id": rollout.rollout_id,
        "stable_revision": rollout.stable_revision,
        "candidate_revision": rollout.candidate_revision,
        "reason": reason,
    }


def _brief(audit: AuditEntry) -> dict[str, Any]:
    return {
        "service": audit.service,
        "rollout_id": audit.rollout_id,
        "actor": audit.actor,
        "traffic_percent": audit.traffic_percent,
    }


__all__ = ["CanaryController", "Decision"]
