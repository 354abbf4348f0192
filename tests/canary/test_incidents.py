"""Automatic rollback: Cloud Monitoring incidents via Pub/Sub CloudEvents -> the fake Admin API.

The real path: functions-framework's (ASGI) CloudEvent entry ``canary_incident`` -> incident
parsing -> controller -> SQLite store -> google-cloud-run client (REST) -> fake Admin API.
"""

from __future__ import annotations

import base64
import json
import threading

import pytest

from recoengine.canary.controller import CanaryController
from recoengine.canary.incidents import MalformedIncident, parse_incident, parse_pubsub
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.state import Phase
from recoengine.canary.traffic import CloudRunTraffic
from recoengine.wiring import canary as canary_wiring
from testkit.asgi_client import AsgiClient
from testkit.fake_cloud_run import run_client
from tools.localstack import load_function

P, R = "test-project", "europe-west1"


def incident(incident_id="0.inc1", state="open", revision="recommend-00002-new", **extra):
    body = {
        "incident": {
            "incident_id": incident_id,
            "scoping_project_id": P,
            "state": state,
            "started_at": 1767225600,
            "ended_at": None,
            "summary": "Error rate above 1% for 3 windows in a row",
            "policy_name": "CanaryErrorRateHigh",
            "resource": {
                "type": "cloud_run_revision",
                "labels": {"service_name": "recommend", "revision_name": revision},
            },
            "metric": {"type": "run.googleapis.com/request_count", "labels": {}},
            "policy_user_labels": {"trigger": "error_rate"},
            **extra,
        },
        "version": "1.2",
    }
    return body


def pubsub_event(payload, raw: str | None = None) -> dict:
    data = raw if raw is not None else base64.b64encode(json.dumps(payload).encode()).decode()
    return {
        "message": {"data": data, "messageId": "m1", "publishTime": "2026-01-01T00:00:00Z"},
        "subscription": "projects/test-project/subscriptions/canary-incidents",
    }


@pytest.fixture()
def setup(run_admin, sqlite_store):
    full = run_admin.add_service(P, R, "recommend", "recommend-00001-old", "recommend-00002-new")
    client = run_client(run_admin.endpoint)
    traffic = CloudRunTraffic(P, R, client=client, backoff_s=0.01, attempts=2, timeout_s=5)
    metrics = SyntheticMetrics("healthy")
    policy = CanaryPolicy(plan=SHORT_PLAN)
    ctrl = CanaryController(policy, sqlite_store, traffic, metrics, metrics_lag_s=0.0)
    ctrl.enable("recommend", 5, None, "token:test")
    assert run_admin.split(full) == {"recommend-00001-old": 95, "recommend-00002-new": 5}
    with canary_wiring.controller.override(ctrl):
        app = load_function("canary", target="canary_incident", signature_type="cloudevent")
        yield ctrl, run_admin, full, deliver_to(AsgiClient(app))


def deliver_to(client):
    """Deliver a Pub/Sub CloudEvent carrying ``data`` to the incident entry point."""

    def deliver(data) -> int:
        headers = {
            "ce-id": "evt-1",
            "ce-source": "//pubsub.googleapis.com/projects/test-project/topics/canary-incidents",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-specversion": "1.0",
            "Content-Type": "application/json",
        }
        return client.post("/", data=json.dumps(data), headers=headers).status_code

    return deliver


def test_open_incident_on_the_candidate_rolls_back(setup):
    # How fast (the issue's < 1 s target) is measured by `make bench` (section canary).
    ctrl, fake, full, deliver = setup
    assert deliver(pubsub_event(incident())) == 200
    assert fake.split(full) == {"recommend-00001-old": 100, "recommend-00002-new": 0}
    rollout = ctrl.store.get("recommend")
    assert rollout.phase == Phase.ROLLED_BACK and not rollout.needs_attention
    trail = ctrl.store.audit("recommend")
    assert trail[0]["action"] == "rollback"
    assert trail[0]["actor"] == "incident:CanaryErrorRateHigh"
    assert "0.inc1" in trail[0]["reason"]


def test_the_same_incident_delivered_five_times_causes_one_rollback(setup):
    ctrl, fake, _full, deliver = setup
    before = len(fake.updates)
    threads = [threading.Thread(target=deliver, args=(pubsub_event(incident()),)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.updates) == before + 1
    assert [e["action"] for e in ctrl.store.audit("recommend")].count("rollback") == 1


def test_closed_incidents_and_other_revisions_are_no_ops(setup):
    ctrl, fake, _full, deliver = setup
    before = len(fake.updates)
    assert deliver(pubsub_event(incident(state="closed"))) == 200
    assert deliver(pubsub_event(incident("0.x", revision="recommend-00001-old"))) == 200
    other = incident("0.y")
    other["incident"]["resource"]["labels"]["service_name"] = "chat"
    assert deliver(pubsub_event(other)) == 200
    assert len(fake.updates) == before
    assert ctrl.store.get("recommend").phase == Phase.CANARY
    # The closed one did not burn the id: its open delivery still acts.
    assert deliver(pubsub_event(incident())) == 200
    assert ctrl.store.get("recommend").phase == Phase.ROLLED_BACK


@pytest.mark.parametrize(
    "event",
    [
        pubsub_event(None, raw="!!not base64!!"),
        pubsub_event(None, raw=base64.b64encode(b"not json").decode()),
        pubsub_event({"no": "incident"}),
        pubsub_event(incident(state="weird")),
        pubsub_event({"incident": {"state": "open"}, "version": "1.2"}),
        pubsub_event({**incident(), "version": "2.0"}),
        {"message": {}},
        {"unexpected": True},
    ],
)
def test_malformed_payloads_are_acknowledged_and_change_nothing(setup, event):
    ctrl, fake, _full, deliver = setup
    before = len(fake.updates)
    assert deliver(event) == 200  # acknowledged: Pub/Sub must not redeliver it forever
    assert len(fake.updates) == before
    assert ctrl.store.get("recommend").phase == Phase.CANARY


def test_revision_can_come_from_promql_metric_labels():
    body = incident()
    body["incident"]["resource"] = {"type": "prometheus_target", "labels": {}}
    body["incident"]["metric"]["labels"] = {"service_name": "svc", "revision_name": "svc-2"}
    parsed = parse_incident(body)
    assert (parsed.service, parsed.revision, parsed.trigger) == ("svc", "svc-2", "error_rate")
    with pytest.raises(MalformedIncident):
        parse_pubsub({"message": {"data": 5}})


def test_a_failed_traffic_change_marks_the_rollout_and_the_scheduler_retries(setup):
    ctrl, fake, full, deliver = setup
    fake.fail_updates = 100
    deliver(pubsub_event(incident()))
    rollout = ctrl.store.get("recommend")
    assert rollout.phase == Phase.ROLLED_BACK and rollout.needs_attention
    assert "traffic change failed" in rollout.attention_reason
    assert fake.split(full)["recommend-00002-new"] == 5
    assert ctrl.store.audit("recommend")[0]["action"] == "rollback_failed"
    with pytest.raises(Exception) as exc:
        ctrl.promote("recommend", "ship it", "bob")  # promote during a rollback: 409
    assert getattr(exc.value, "status", None) == 409
    fake.fail_updates = 0
    ctrl.advance("recommend", "scheduler")
    assert fake.split(full) == {"recommend-00001-old": 100, "recommend-00002-new": 0}
    assert not ctrl.store.get("recommend").needs_attention


def test_rollback_is_notified_by_error_log_and_webhook(setup, caplog):
    import http.server

    ctrl, _fake, _full, deliver = setup
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        ctrl.notifier = type(ctrl.notifier)(f"http://127.0.0.1:{hook.server_address[1]}/hook")
        with caplog.at_level("ERROR", logger="recoengine.canary.notify"):
            assert deliver(pubsub_event(incident("0.notify"))) == 200
    finally:
        hook.shutdown()
        hook.server_close()
        thread.join()
    assert len(received) == 1
    assert received[0]["service"] == "recommend"
    assert received[0]["candidate_revision"] == "recommend-00002-new"
    assert "Canary rollback of recommend" in received[0]["text"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("Canary rollback of recommend" in r.getMessage() for r in errors)


def test_an_unreachable_webhook_does_not_undo_or_fail_the_rollback(setup):
    from testkit.firestore_emulator import free_port

    ctrl, fake, full, deliver = setup
    ctrl.notifier = type(ctrl.notifier)(f"http://127.0.0.1:{free_port()}/hook", timeout_s=1)
    assert deliver(pubsub_event(incident("0.deadhook"))) == 200
    assert fake.split(full)["recommend-00002-new"] == 0
