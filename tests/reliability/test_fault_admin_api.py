"""The Cloud Run Admin API fails during a rollback.

The canary function over HTTP (functions-framework's ASGI app + the shared HTTP layer), the real
controller on SQLite, the real ``google-cloud-run`` client (REST) against the canary suite's
fake Admin API, which answers 503 to traffic updates. Required: the update is retried with
growing backoff, the caller gets 503 + Retry-After, the rollout is stored as rolled back *and*
needing attention (the intent is on record before traffic moves), the failure is in the audit
trail and the error log, the split is never half-moved, and the scheduler's next step finishes
the rollback once the API is back.
"""

from __future__ import annotations

import itertools
import json
import logging
import time

import pytest

from recoengine import wiring
from recoengine.canary.controller import CanaryController
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.state import Phase
from recoengine.canary.store import SqliteCanaryStore
from recoengine.canary.traffic import CloudRunTraffic
from recoengine.wiring import canary as canary_wiring
from testkit.asgi_client import AsgiClient
from testkit.fake_cloud_run import FakeRunAdmin, run_client
from tools.localstack import load_function

P, R = "test-project", "europe-west1"
TOKEN = "admin-api-fault-token"
ATTEMPTS = 4
BACKOFF = 0.05
OLD, NEW = "recommend-00001-old", "recommend-00002-new"


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_TOKEN", TOKEN)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    wiring.reset_all()
    fake = FakeRunAdmin().start()
    store = SqliteCanaryStore(tmp_path / "canary.sqlite3")
    full = fake.add_service(P, R, "recommend", OLD, NEW)
    traffic = CloudRunTraffic(
        P, R, client=run_client(fake.endpoint), attempts=ATTEMPTS, backoff_s=BACKOFF, timeout_s=5
    )
    metrics = SyntheticMetrics("healthy")
    ctrl = CanaryController(
        CanaryPolicy(plan=SHORT_PLAN), store, traffic, metrics, metrics_lag_s=0.0
    )
    with canary_wiring.controller.override(ctrl), AsgiClient(load_function("canary")) as client:
        call = caller(client)
        assert call("enable", traffic_percentage=5).status_code == 200
        assert fake.split(full) == {OLD: 95, NEW: 5}
        yield ctrl, fake, full, call
    fake.stop()
    wiring.reset_all()


def caller(client):
    """POST an action for ``recommend`` as the on-call operator."""

    def call(action: str, **body):
        return client.post(
            f"/api/v2/canary/{action}",
            data=json.dumps({"service": "recommend", **body}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Canary-Actor": "oncall"},
        )

    return call


def test_rollback_with_the_admin_api_down(setup, caplog):
    ctrl, fake, full, call = setup
    fake.fail_updates = 1000
    with caplog.at_level(logging.INFO):
        started = time.perf_counter()
        r = call("rollback", reason="error rate 3%")
        elapsed = time.perf_counter() - started

    # the caller learns it did not complete, and may retry
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    assert "needing attention" in r.get_json()["error"]["message"]

    # retried, with a growing backoff between attempts
    assert 1000 - fake.fail_updates == ATTEMPTS
    retries = [rec for rec in caplog.records if "retrying" in rec.getMessage()]
    assert len(retries) == ATTEMPTS - 1
    gaps = [b.created - a.created for a, b in itertools.pairwise(retries)]
    assert all(g2 > g1 for g1, g2 in itertools.pairwise(gaps)), gaps
    assert elapsed >= BACKOFF * (2 ** (ATTEMPTS - 1) - 1)

    # nothing half-shifted: the split is exactly what it was, and the intent is on record
    assert fake.split(full) == {OLD: 95, NEW: 5}
    rollout = ctrl.store.get("recommend")
    assert rollout.phase == Phase.ROLLED_BACK and rollout.needs_attention
    assert "traffic change failed" in rollout.attention_reason
    audit = ctrl.store.audit("recommend")
    assert [a["action"] for a in audit[:2]] == ["rollback_failed", "rollback"]
    assert audit[1]["actor"] == "token:oncall" and audit[1]["reason"] == "error rate 3%"
    # the ERROR entry the log-based metric canary_needs_attention counts (and alerts on)
    assert any(
        rec.levelno >= logging.ERROR
        and getattr(rec, "json_fields", {}).get("canary_event") == "needs_attention"
        and getattr(rec, "json_fields", {}).get("service") == "recommend"
        for rec in caplog.records
    )

    # the status endpoint shows it to operators
    status = call("status").get_json()
    assert status["rollout"]["needs_attention"] is True
    assert status["traffic"] == {OLD: 95, NEW: 5}

    # a promote cannot sneak in while the rollback is pending
    assert call("promote").status_code == 409

    # the API comes back: the scheduler's next step completes the rollback
    fake.fail_updates = 0
    assert call("advance").status_code == 200
    assert fake.split(full) == {OLD: 100, NEW: 0}
    done = ctrl.store.get("recommend")
    assert done.phase == Phase.ROLLED_BACK and not done.needs_attention


def test_a_transient_failure_is_absorbed_by_the_retries(setup):
    ctrl, fake, full, call = setup
    fake.fail_updates = ATTEMPTS - 1
    r = call("rollback", reason="latency p95 600 ms")
    assert r.status_code == 200, r.get_json()
    assert fake.split(full) == {OLD: 100, NEW: 0}
    rollout = ctrl.store.get("recommend")
    assert rollout.phase == Phase.ROLLED_BACK and not rollout.needs_attention
    assert next(a["action"] for a in ctrl.store.audit("recommend")) == "rollback"
