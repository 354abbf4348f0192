"""wrk runs for the benchmarks and the load test, and the one reader of their results.

Every wrk script here loads ``tools/load_assets/common.lua``, whose ``report`` prints one
``LOAD_RESULT {...}`` JSON line from wrk's own latency histogram; ``run`` reads that line, so
no caller parses wrk's human-readable output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_RESULT = re.compile(r"^LOAD_RESULT (\{.*\})$", re.M)


def run(
    url: str,
    script: Path,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    timeout_s: int | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run: throughput, latency percentiles (ms) and errors (non-2xx + socket)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    if timeout_s is not None:
        cmd += ["--timeout", f"{timeout_s}s"]
    cmd += ["-s", str(script), url]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 60,
        check=True,
    ).stdout
    return parse(out)


def parse(out: str) -> dict[str, Any]:
    """The result line of ``common.lua``'s ``report`` in wrk's stdout, as a summary."""
    found = _RESULT.search(out)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(found.group(1))
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        **{key: raw[key] for key in ("p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")},
        "errors": raw["non_2xx"] + socket_errors,
        "non_2xx": raw["non_2xx"],
        "socket_errors": socket_errors,
    }
