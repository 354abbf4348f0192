"""The secret scan and the dependency audit that ``make security-lint`` runs.

Planted secrets are assembled at run time (so this file itself holds none) in a throwaway git
repository that carries the project's detect-secrets settings (its baseline, with no reviewed
findings, and the Google plugin); the dependency audit is driven with a stand-in ``pip-audit``
that prints the real tool's JSON report shapes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools import dep_audit, secret_scan

ROOT = Path(__file__).resolve().parents[2]


def planted() -> dict[str, str]:
    rnd = base64.b64encode(os.urandom(30)).decode().replace("+", "a").replace("/", "b")
    key_header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    return {
        "Private Key": f"{key_header}\nMIIEow...\n",
        "Google Credential": "key = '" + "AI" + "za" + "Sy" + rnd[:33] + "'",
        "AWS Access Key": "AK" + "IA" + "Q" * 16,
        "GitHub Token": "gh" + "p_" + "a1B2" * 9,
        "Slack Token": "xo" + "xb-" + "1234567890-abcdef",
        "JSON Web Token": "ey"
        + "J"
        + "hbGciOiJSUzI1NiJ9."
        + "ey"
        + "J"
        + "zdWIiOiJhbGljZSJ9."
        + "s" * 30,
        "Basic Auth Credentials": "postgres://admin:" + "hunter2hunter2" + "@db.internal/app",
        "Secret Keyword": f'client_secret = "{rnd}"',
    }


def scan_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    """A git repository with the project's scan settings and ``files``."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    settings = json.loads((ROOT / secret_scan.BASELINE).read_text())
    (tmp_path / secret_scan.BASELINE).write_text(json.dumps({**settings, "results": {}}))
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "secret_patterns.py", tmp_path / "tools")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_repository_is_clean(capsys):
    assert secret_scan.main([]) == 0, capsys.readouterr().err


def test_planted_secrets_are_found_without_printing_them(tmp_path, capsys):
    secrets_by_kind = planted()
    files = {f"f{i}.txt": v for i, v in enumerate(secrets_by_kind.values())}
    assert secret_scan.main(["--root", str(scan_repo(tmp_path, files))]) == 1
    err = capsys.readouterr().err
    for i, kind in enumerate(secrets_by_kind):
        assert f"f{i}.txt:1: {kind}" in err
    assert "hunter2" not in err and "a1B2a1B2" not in err  # never echo the secret itself


def test_placeholders_allowlisted_lines_and_reviewed_findings_pass(tmp_path):
    fingerprint = hashlib.sha256(b"the demo data").hexdigest()  # random-looking, not secret
    repo = scan_repo(
        tmp_path,
        {
            "ok.py": 'password = "${DB_PASSWORD}"\napi_key = "<your-api-key-here>"\n'
            'CANARY_TOKEN = os.environ["X"]\n',
            "fixture.py": "KEY = '" + "AK" + "IA" + "Q" * 16 + "'  # pragma: allowlist secret\n",
            "data.py": f'FINGERPRINT = "{fingerprint}"\n',
        },
    )
    assert secret_scan.main(["--root", str(repo)]) == 1  # the fingerprint looks random
    # Recorded in the baseline as reviewed, then moved down a line: it stays known.
    detect_secrets = Path(sys.executable).with_name("detect-secrets")
    command = [detect_secrets, "scan", "--all-files", "--baseline", secret_scan.BASELINE]
    subprocess.run(command, cwd=repo, check=True)
    (repo / "data.py").write_text(f'# the demo data\nFINGERPRINT = "{fingerprint}"\n')
    assert secret_scan.main(["--root", str(repo)]) == 0


def test_a_finding_reviewed_as_a_real_secret_still_fails(tmp_path):
    repo = scan_repo(tmp_path, {"f.txt": "AK" + "IA" + "R" * 16 + "\n"})
    detect_secrets = Path(sys.executable).with_name("detect-secrets")
    command = [detect_secrets, "scan", "--all-files", "--baseline", secret_scan.BASELINE]
    subprocess.run(command, cwd=repo, check=True)
    recorded = json.loads((repo / secret_scan.BASELINE).read_text())
    recorded["results"]["f.txt"][0]["is_secret"] = True
    (repo / secret_scan.BASELINE).write_text(json.dumps(recorded))
    assert secret_scan.main(["--root", str(repo)]) == 1


def fake_pip_audit(tmp_path: Path, report: dict | None, code: int, stderr: str = "") -> str:
    script = tmp_path / "pip-audit"
    payload = json.dumps(report) if report is not None else ""
    script.write_text(
        f"#!/bin/sh\ncat <<'JSON'\n{payload}\nJSON\necho '{stderr}' >&2\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_known_vulnerability_fails_the_audit(tmp_path, capsys):
    report = {
        "dependencies": [
            {"name": "flask", "version": "3.1.3", "vulns": []},
            {
                "name": "jinja2",
                "version": "2.10",
                "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["2.11.3"], "aliases": []}],
            },
        ]
    }
    tool = fake_pip_audit(tmp_path, report, 1)
    assert dep_audit.main(["--pip-audit", tool], env={}) == 1
    assert "jinja2 2.10: GHSA-xxxx (fixed in 2.11.3)" in capsys.readouterr().out


def test_a_clean_audit_passes(tmp_path, capsys):
    report = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}
    assert dep_audit.main(["--pip-audit", fake_pip_audit(tmp_path, report, 0)], env={}) == 0
    assert "1 packages, no known vulnerabilities" in capsys.readouterr().out


@pytest.mark.parametrize(
    "report",
    [
        None,  # pip-audit crashed on the network
        {"dependencies": [{"name": "flask", "skip_reason": "Dependency not found on PyPI"}]},
    ],
)
def test_an_audit_that_could_not_run_fails_loudly(tmp_path, capsys, report):
    tool = fake_pip_audit(tmp_path, report, 1, "ConnectionError: no route to host")
    assert dep_audit.main(["--pip-audit", tool], env={}) == 1
    assert "NOT RUN" in capsys.readouterr().err


def test_a_skip_is_visible_and_needs_a_reason(tmp_path, capsys):
    missing = str(tmp_path / "no-pip-audit")  # a skipped audit needs no tool
    skip = {"DEP_AUDIT": "skip", "DEP_AUDIT_REASON": "no route to the advisory databases"}
    assert dep_audit.main(["--pip-audit", missing], env=skip) == 0
    assert "dependency audit SKIPPED: no route to the advisory databases" in (
        capsys.readouterr().err
    )
    assert dep_audit.main(["--pip-audit", missing], env={"DEP_AUDIT": "skip"}) == 2
