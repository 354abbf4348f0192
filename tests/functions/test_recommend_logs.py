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
