"""The capacity benchmark's verdicts read its rows against the targets (its runs use testkit's fake
Vertex AI, whose wire format and counts tests/test_bench_fake_vertex.py checks)."""

from __future__ import annotations

from tools.bench_capacity import verdicts


def test_verdicts_read_the_capacity_rows() -> None:
    results = {
        "chat": {
            "sqlite": {
                "capacity": {"turns_per_s": 37.0, "p95_s": 1.2, "fallbacks": 0, "errors": 0}
            },
            "firestore": {"capacity": {"turns_per_s": 29.0}},
        },
        "recommend": {"threads_16": {"ratio": 0.71}},
    }
    assert verdicts(results) == {
        "chat sqlite >= 36 turns/s": True,
        "chat sqlite p95 <= 1.3 s": True,
        "chat sqlite no fallbacks": True,
        "chat firestore >= 30 turns/s": False,
        "recommend / bare >= 0.70": True,
    }
