"""checkov (static security analysis) finds nothing on infra/terraform that is not justified.

checkov pins packages that conflict with the project's, so it lives in its own venv
(``make tools-venv`` -> .venv-tools). It runs once per session (module fixture, ~10 s).
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.infra import tfconfig as tf

CHECKOV = tf.ROOT / ".venv-tools" / "bin" / "checkov"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::(.*))?")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV.relative_to(tf.ROOT)} is missing: run `make tools-venv` "
            "(installs checkov==3.3.30 into its own venv)"
        )
    proc = subprocess.run(
        [str(CHECKOV), "--skip-download", "-d", str(tf.TF_DIR), "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tf.ROOT,
    )
    assert proc.stdout.strip(), f"checkov printed nothing:\n{proc.stderr[-2000:]}"
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov did not scan terraform: {proc.stdout[:500]}"
    return terraform[0]


def test_checkov_parses_every_file(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 50
    assert report["summary"]["passed"] > 0


def test_no_failed_check(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failures (fix, or skip with a comment that says why):\n" + (
        "\n".join(failed)
    )


def test_every_skip_says_why(report: dict[str, Any]) -> None:
    skips = SKIP_COMMENT.findall(tf.source_text())
    for check_id, reason in skips:
        assert len((reason or "").strip()) >= 30, f"skip of {check_id} needs a real reason"
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped == {check_id for check_id, _ in skips}
