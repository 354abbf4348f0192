"""The canary use cases: enable, analyse, advance, promote, rollback, pause, resume, status,
and the incident-driven rollback. Ports in, decisions from the pure ``decision`` module, the
state machine for every transition, audit for every action.

Ordering rules that keep traffic and state in agreement:
- A rollback first stores its intent (``rolled_back`` + ``needs_attention``), then moves the
  traffic, then clears the flag. If the traffic change fails, the rollout stays flagged, the
  failure is audited, and the next scheduler call retries; a promote can no longer slip in.
- Other transitions move traffic, then save with compare-and-set. If the save loses a race,
  traffic is reconciled to whatever the winning state says.
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
from recoengine.canary.store import CanaryStore
from recoengine.canary.traffic import TrafficPort, check_service_name
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

    def _commit(self, new: Rollout, audit: AuditEntry) -> Rollout:
        """Traffic first, then compare-and-set; on a lost race, traffic follows the winner."""
        self.traffic.set_split(
            new.service, new.stable_revision, new.candidate_revision, new.traffic_percent
        )
        try:
            return self._save(new, audit)
        except Conflict:
            self._reconcile(new.service)
            raise

    def _save(self, rollout: Rollout, audit: AuditEntry | None = None) -> Rollout:
        """Store (compare-and-set) and log the action with ``canary_event``/``service`` fields,
        which the log-based metric ``canary_events`` counts for the dashboard."""
        saved = self.store.save(rollout, audit)
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

    def _reconcile(self, service: str) -> None:
        current = self.store.get(service)
        if current is not None and current.phase != Phase.PAUSED:
            self.traffic.set_split(
                service,
                current.stable_revision,
                current.candidate_revision,
                current.traffic_percent,
            )

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
            return self._view(self._commit(new, audit))
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
        return self._view(self._commit(new, audit))

    def analysis(self, service: str) -> dict[str, Any]:
        """The current analysis without acting on it (the scheduler's advance acts)."""
        rollout = copy.deepcopy(self._get(service))
        now = self.clock()
        if rollout.active:
            self._ingest(rollout, now)
        decision = decide(rollout, now, self.policy, explain=True) if rollout.active else None
        rules = [
            {
                "trigger": r.trigger,
                "threshold": r.threshold,
                "windows": r.windows,
                "consecutive": rollout.breaches.get(r.trigger, 0),
            }
            for r in self.policy.rules.rules
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
                "window_seconds": self.policy.rules.window_seconds,
                "windows": rollout.history,
            },
        }

    def advance(self, service: str, actor: str = "scheduler") -> dict[str, Any]:
        rollout = self._get(service)
        now = self.clock()
        if rollout.phase == Phase.ROLLED_BACK and rollout.needs_attention:
            return self._finish_rollback(rollout, actor, "retry of a failed rollback")
        if rollout.phase not in (Phase.CANARY, Phase.AB_TEST):
            return {**self._view(rollout), "decision": {"action": Action.CONTINUE.value}}
        self._ingest(rollout, now)
        decision = decide(rollout, now, self.policy)
        seen = decision.to_dict()
        cause = Cause(now, actor, decision.reason, seen)
        if decision.action == Action.ROLLBACK:
            result = self._rollback(rollout, decision.reason, actor, seen)
        elif decision.action == Action.ADVANCE:
            new, audit = state.advance(rollout, self.policy.plan, cause)
            result = self._view(self._commit(new, audit))
        elif decision.action == Action.PROMOTE:
            new, audit = state.promote(rollout, cause)
            result = self._view(self._commit(new, audit))
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

    def promote(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        if rollout.phase == Phase.PROMOTED:
            return self._view(rollout)
        new, audit = state.promote(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._commit(new, audit))

    def pause(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        if rollout.phase == Phase.PAUSED:
            return self._view(rollout)
        new, audit = state.pause(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._save(new, audit))

    def resume(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        new, audit = state.resume(rollout, Cause(self.clock(), actor, reason))
        return self._view(self._commit(new, audit))

    def rollback(self, service: str, reason: str, actor: str) -> dict[str, Any]:
        rollout = self._get(service)
        if rollout.phase == Phase.ROLLED_BACK and not rollout.needs_attention:
            return self._view(rollout)
        return self._rollback(rollout, reason, actor, None)

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
        self, rollout: Rollout, reason: str, actor: str, metrics: dict[str, Any] | None
    ) -> dict[str, Any]:
        if rollout.phase == Phase.ROLLED_BACK:
            return self._finish_rollback(rollout, actor, reason)
        new, audit = state.rollback(rollout, Cause(self.clock(), actor, reason, metrics))
        new.needs_attention = True
        new.attention_reason = "rollback stored; traffic not yet confirmed back on stable"
        saved = self._save(new, audit)  # the intent fences off a concurrent promote
        self.notifier.rollback(_event(saved, reason))
        return self._finish_rollback(saved, actor, reason)

    def _finish_rollback(self, rollout: Rollout, actor: str, reason: str) -> dict[str, Any]:
        try:
            self.traffic.set_split(
                rollout.service, rollout.stable_revision, rollout.candidate_revision, 0
            )
        except ServiceError as exc:
            rollout.attention_reason = f"traffic change failed: {exc.message}"
            why = f"{reason}: traffic change failed ({exc.message}); needs attention"
            failed = state.audit_entry(rollout, "rollback_failed", Cause(self.clock(), actor, why))
            self._save(rollout, failed)
            log.error(
                "canary rollback of %s could not move traffic: %s", rollout.service, exc.message
            )
            raise ServiceUnavailable(
                f"rollback of {rollout.service} recorded but traffic could not be moved; "
                "it will be retried and the rollout is flagged as needing attention"
            ) from None
        rollout.needs_attention = False
        rollout.attention_reason = ""
        return self._view(self.store.save(rollout))

    def handle_incident(self, incident: Incident) -> dict[str, Any]:
        """Roll back on an ``open`` incident about the candidate of a rollout in progress."""

        def ignored(why: str) -> dict[str, Any]:
            return {"action": "ignored", "reason": why, "incident_id": incident.incident_id}

        if incident.state != "open":
            return ignored("incident is closed")
        if not incident.service or not incident.revision:
            return ignored("incident names no Cloud Run service and revision")
        try:
            rollout = self.store.get(check_service_name(incident.service))
        except ServiceError as exc:
            return ignored(exc.message)
        if rollout is None or not rollout.active:
            return ignored(f"no rollout of {incident.service} in progress")
        if incident.revision != rollout.candidate_revision:
            return ignored(
                f"incident is about {incident.revision}, not candidate {rollout.candidate_revision}"
            )
        info = {
            "service": incident.service,
            "revision": incident.revision,
            "policy": incident.policy_name,
        }
        if not self.store.claim_incident(incident.incident_id, info, self.incident_ttl_s):
            return ignored("duplicate delivery of an incident already handled")
        reason = f"incident {incident.incident_id} ({incident.policy_name}): {incident.summary}"
        actor = f"incident:{incident.policy_name or 'cloud-monitoring'}"
        for _ in range(3):
            try:
                self._rollback(rollout, reason.strip(), actor, {"incident": info})
                return {"action": "rolled_back", "incident_id": incident.incident_id}
            except Conflict:
                rollout = self.store.get(incident.service) or rollout  # lost a race: re-read
                if not rollout.active:
                    return ignored("rollout finished meanwhile")
        raise ServiceUnavailable("could not store the rollback after 3 attempts")


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
