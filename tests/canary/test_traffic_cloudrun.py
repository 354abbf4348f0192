"""Traffic through the real google-cloud-run client (REST) against a fake Admin API."""

from __future__ import annotations

import pytest

from recoengine.canary.traffic import CloudRunTraffic, desired_targets
from recoengine.errors import InvalidArgument, NotFound, ServiceUnavailable
from testkit.fake_cloud_run import run_client

P, R = "test-project", "europe-west1"


def traffic(fake, attempts: int = 4) -> CloudRunTraffic:
    client = run_client(fake.endpoint)
    return CloudRunTraffic(P, R, client=client, attempts=attempts, backoff_s=0.01, timeout_s=5)


def test_finds_stable_and_candidate_from_tags(run_admin):
    run_admin.add_service(P, R, "recommend", "recommend-00001-aaa", "recommend-00002-bbb")
    d = traffic(run_admin).describe("recommend")
    assert (d.stable, d.candidate) == ("recommend-00001-aaa", "recommend-00002-bbb")
    assert d.split() == {"recommend-00001-aaa": 100, "recommend-00002-bbb": 0}
    assert d.etag == '"1"'


def test_candidate_falls_back_to_the_latest_ready_revision(run_admin):
    full = run_admin.add_service(P, R, "chat", "chat-00001-aaa", None)
    run_admin.services[full]["latestReadyRevision"] = f"{full}/revisions/chat-00002-ccc"
    d = traffic(run_admin).describe("chat")
    assert (d.stable, d.candidate) == ("chat-00001-aaa", "chat-00002-ccc")


def test_split_is_set_with_tags_and_setting_it_again_is_a_no_op(run_admin):
    full = run_admin.add_service(P, R, "recommend", "r-1", "r-2")
    t = traffic(run_admin)
    assert t.set_split("recommend", "r-1", "r-2", 5) is True
    assert run_admin.split(full) == {"r-1": 95, "r-2": 5}
    sent = run_admin.updates[-1]["traffic"]
    assert {(x["revision"], x["tag"]) for x in sent} == {("r-1", "stable"), ("r-2", "candidate")}
    assert sent[0]["type"] in (2, "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION")
    assert run_admin.updates[-1]["template"]["containers"][0]["image"]  # read-modify-write
    assert t.set_split("recommend", "r-1", "r-2", 5) is False
    assert len(run_admin.updates) == 1


def test_promote_moves_everything_and_the_stable_tag_to_the_candidate(run_admin):
    full = run_admin.add_service(P, R, "recommend", "r-1", "r-2")
    t = traffic(run_admin)
    t.set_split("recommend", "r-1", "r-2", 100)
    assert run_admin.split(full) == {"r-2": 100}
    assert t.describe("recommend").stable == "r-2"


def test_a_concurrent_write_is_detected_by_etag_and_retried(run_admin):
    full = run_admin.add_service(P, R, "recommend", "r-1", "r-2")
    run_admin.race_updates = 2  # someone else writes just before our first two attempts
    assert traffic(run_admin).set_split("recommend", "r-1", "r-2", 10) is True
    assert run_admin.split(full) == {"r-1": 90, "r-2": 10}
    assert len(run_admin.updates) == 1


def test_transient_errors_are_retried_and_persistent_ones_surface_as_503(run_admin):
    full = run_admin.add_service(P, R, "recommend", "r-1", "r-2")
    run_admin.fail_updates = 2
    assert traffic(run_admin).set_split("recommend", "r-1", "r-2", 10) is True
    assert run_admin.split(full)["r-2"] == 10
    run_admin.fail_updates = 10
    with pytest.raises(ServiceUnavailable):
        traffic(run_admin, attempts=3).set_split("recommend", "r-1", "r-2", 50)
    assert run_admin.split(full)["r-2"] == 10


def test_unknown_service_is_404_and_bad_names_are_422(run_admin):
    with pytest.raises(NotFound):
        traffic(run_admin).describe("nope")
    with pytest.raises(InvalidArgument):
        traffic(run_admin).describe("Bad/Name")
    with pytest.raises(InvalidArgument):
        desired_targets("a", "b", 101)


def test_an_unreachable_api_is_503_not_a_crash():
    from testkit.firestore_emulator import free_port

    client = run_client(f"http://127.0.0.1:{free_port()}")
    dead = CloudRunTraffic(P, R, client=client, timeout_s=2)
    with pytest.raises(ServiceUnavailable):
        dead.describe("recommend")
