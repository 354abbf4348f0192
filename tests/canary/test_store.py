"""One contract for the canary store, run on SQLite and on Google's Firestore emulator."""

from __future__ import annotations

import pytest

from recoengine.canary import state
from recoengine.canary.policy import SHORT_PLAN
from recoengine.canary.state import Cause, Phase
from recoengine.canary.store import DuplicateIncident, IncidentClaim
from recoengine.errors import Conflict
from recoengine.storage_schema import CANARY_INCIDENTS, EXPIRY_FIELD
from tests.canary.helpers import rev


def started(service: str = "recommend"):
    revisions = {"service": service, "stable": f"{service}-1", "candidate": f"{service}-2"}
    return state.start(None, SHORT_PLAN, Cause(100.0, "t", "rollout started"), **revisions)


def test_save_and_get_round_trip_with_versions(any_store):
    assert any_store.get("recommend") is None
    rollout, audit = started()
    rollout.totals["candidate"].merge(rev(300, 2))
    saved = any_store.save(rollout, audit)
    assert saved.version == 1
    back = any_store.get("recommend")
    assert back is not None and back.version == 1
    assert back.to_dict() == saved.to_dict()
    assert back.totals["candidate"].requests == 300
    assert back.totals["candidate"].latency.sum() == 300


def test_a_stale_write_loses_with_conflict(any_store):
    rollout, audit = started()
    v1 = any_store.save(rollout, audit)
    paused, a2 = state.pause(v1, Cause(200.0, "alice", "look"))
    any_store.save(paused, a2)
    rolled, a3 = state.rollback(v1, Cause(201.0, "incident", "errors"))  # based on version 1
    with pytest.raises(Conflict):
        any_store.save(rolled, a3)
    assert any_store.get("recommend").phase == Phase.PAUSED


def test_audit_trail_is_per_service_newest_first(any_store):
    rollout, audit = started()
    saved = any_store.save(rollout, audit)
    paused, a2 = state.pause(saved, Cause(150.0, "alice", "why not"))
    paused = any_store.save(paused, a2)
    other, a3 = started("chat")
    any_store.save(other, a3)
    failed = Cause(160.0, "scheduler", "traffic change failed", {"x": 1})
    any_store.save(paused, state.audit_entry(paused, "rollback_failed", failed))
    trail = any_store.audit("recommend")
    assert [e["action"] for e in trail] == ["rollback_failed", "pause", "start"]
    assert trail[1]["actor"] == "alice" and trail[1]["reason"] == "why not"
    assert trail[0]["metrics"] == {"x": 1}
    assert len(any_store.audit("recommend", limit=1)) == 1
    assert [e["service"] for e in any_store.audit("chat")] == ["chat"]


def claim(incident_id: str, ttl_s: float = 3600) -> IncidentClaim:
    return IncidentClaim(incident_id, {"service": "recommend"}, ttl_s)


def test_an_incident_is_claimed_once_in_the_same_write_as_its_save(any_store):
    rollout, audit = started()
    saved = any_store.save(rollout, audit)
    rolled, entry = state.rollback(saved, Cause(150.0, "incident", "errors"))
    rolled = any_store.save(rolled, entry, claim=claim("0.abc"))
    again, entry2 = state.rollback(rolled, Cause(151.0, "incident", "errors again"))
    with pytest.raises(DuplicateIncident):
        any_store.save(again, entry2, claim=claim("0.abc"))
    assert any_store.get("recommend").version == rolled.version  # nothing was written
    assert [e["action"] for e in any_store.audit("recommend")] == ["rollback", "start"]
    assert any_store.save(again, entry2, claim=claim("a/b")).version == rolled.version + 1


def test_a_save_that_loses_its_race_claims_nothing(any_store):
    rollout, audit = started()
    v1 = any_store.save(rollout, audit)
    paused, a2 = state.pause(v1, Cause(200.0, "alice", "look"))
    any_store.save(paused, a2)
    rolled, a3 = state.rollback(v1, Cause(201.0, "incident", "errors"))  # based on version 1
    with pytest.raises(Conflict):
        any_store.save(rolled, a3, claim=claim("0.race"))
    current = any_store.get("recommend")
    rolled, a3 = state.rollback(current, Cause(202.0, "incident", "errors"))
    assert any_store.save(rolled, a3, claim=claim("0.race")).phase == Phase.ROLLED_BACK


def test_an_expired_claim_counts_as_absent(any_store):
    rollout, audit = started()
    saved = any_store.save(rollout, audit, claim=claim("0.old", ttl_s=-1))
    paused, entry = state.pause(saved, Cause(150.0, "alice", "look"))
    assert any_store.save(paused, entry, claim=claim("0.old")).version == saved.version + 1


@pytest.mark.firestore
def test_incident_claims_carry_the_expiry_field_for_the_ttl_policy(firestore_client):
    from recoengine.canary.store import FirestoreCanaryStore

    rollout, audit = started()
    FirestoreCanaryStore(firestore_client).save(rollout, audit, claim=claim("0.ttl"))
    doc = firestore_client.collection(CANARY_INCIDENTS).document("0.ttl").get().to_dict()
    assert EXPIRY_FIELD in doc and doc["incident_id"] == "0.ttl"
