"""The recommend function's access log carries the fields Terraform's log-based metrics read."""

from __future__ import annotations

import json
from pathlib import Path

import functions_framework
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_access_log_has_engine_latency_and_cache_result(
    engine_env: None, capfd: pytest.CaptureFixture[str]
) -> None:
    app = functions_framework.create_app(
        target="recommend", source=str(ROOT / "functions/recommend/main.py")
    )
    client = app.test_client()
    body = {"user_id": "user-0002", "k": 3}
    assert client.post("/api/v2/recommendations", json=body).status_code == 200
    assert client.post("/api/v2/recommendations", json=body).status_code == 200
    entries = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [e for e in entries if e.get("route") == "/api/v2/recommendations"]
    assert [e["cache"] for e in access[-2:]] == ["miss", "hit"]
    assert 0 < access[-2]["recommendation_engine_latency"] < 1
    assert "recommendation_engine_latency" not in access[-1]
    assert access[-1]["httpRequest"]["status"] == 200


def test_store_outage_degrades_to_model_history(
    engine_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import recoengine.sessions as sessions
    from recoengine.config import settings
    from recoengine.serving import user_events

    monkeypatch.setattr(user_events, "_breaker", user_events.Breaker(30.0))  # this test's own

    (tmp_path / "not-a-db").mkdir()
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "not-a-db"))  # a directory: cannot open
    settings.cache_clear()
    monkeypatch.setattr(sessions, "_store", None)
    app = functions_framework.create_app(
        target="recommend", source=str(ROOT / "functions/recommend/main.py")
    )
    client = app.test_client()
    r = client.post("/api/v2/recommendations", json={"user_id": "user-0002", "k": 3})
    assert r.status_code == 200 and len(r.get_json()["items"]) == 3
    fb = client.post(
        "/api/v2/recommendations/feedback",
        json={
            "request_id": "abcdefgh12",
            "user_id": "user-0002",
            "item_id": "item-0001",
            "event": "accept",
        },
    )
    assert fb.status_code == 202 and fb.get_json()["stored"] is False
    monkeypatch.setattr(sessions, "_store", None)
