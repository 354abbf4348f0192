"""``make load`` stays runnable: one short SQLite cell per mix, no errors, sane numbers.
(The full run - 15 s per cell, both stores - is ``make load``, not part of the test suite.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (make system-deps)")
def test_load_smoke(tmp_path, demo_model_dir):
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.load",
            "--seconds",
            "1",
            "--connections",
            "4",
            "--sessions",
            "4",
            "--stores",
            "sqlite",
            "--model",
            str(demo_model_dir),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cells = json.loads(out.read_text())["cells"]["sqlite"]
    for mix in ("recommend", "chat"):
        r = cells[mix]
        assert r["requests"] > 10 and r["errors"] == 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert "req/s" in proc.stdout
