"""The secret scan and the dependency audit that ``make security-lint`` runs.

Planted secrets are assembled at run time (so this file itself holds none) in a throwaway git
repository; the dependency audit is driven with a stand-in ``pip-audit`` that prints the real
tool's JSON report shapes.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tools import dep_audit, secret_scan

ROOT = Path(__file__).resolve().parents[2]


def planted() -> dict[str, str]:
    rnd = base64.b64encode(os.urandom(30)).decode().replace("+", "a").replace("/", "b")
    key_header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    return {
        "private key": f"{key_header}\nMIIEow...\n",
        "google api key": "key = '" + "AI" + "za" + "Sy" + "A" * 33 + "'",
        "aws access key": "AK" + "IA" + "Q" * 16,
        "github token": "gh" + "p_" + "a1B2" * 9,
        "slack token": "xo" + "xb-" + "1234567890-abcdef",
        "jwt": "ey" + "J" + "hbGciOiJSUzI1NiJ9." + "ey" + "J" + "zdWIiOiJhbGljZSJ9." + "s" * 30,
        "credentials in url": "postgres://admin:" + "hunter2hunter2" + "@db.internal/app",
        "hard-coded secret": f'client_secret = "{rnd}"',
    }


def git_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_repository_is_clean():
    findings = secret_scan.scan(ROOT, secret_scan.tracked_files(ROOT))
    assert findings == [], "\n".join(map(str, findings))


def test_planted_secrets_are_found_without_printing_them(tmp_path, capsys):
    secrets_by_kind = planted()
    repo = git_repo(tmp_path, {f"f{i}.txt": v for i, v in enumerate(secrets_by_kind.values())})
    assert secret_scan.main(["--root", str(repo)]) == 1
    err = capsys.readouterr().err
    for i, kind in enumerate(secrets_by_kind):
        assert f"f{i}.txt:1: {kind}" in err or (kind == "private key" and f"f{i}.txt:1:" in err)
    assert "hunter2" not in err and "a1B2a1B2" not in err  # never echo the secret itself


def test_placeholders_and_allowed_lines_pass(tmp_path):
    repo = git_repo(
        tmp_path,
        {
            "ok.py": 'password = "${DB_PASSWORD}"\napi_key = "<your-api-key-here>"\n'
            'client_secret = "xxxxxxxxxxxxxxxxxxxxxxxx"\nCANARY_TOKEN = os.environ["X"]\n',
            "doc.md": "AK" + "IA" + "Q" * 16 + "  <!-- secret-scan: allow (AWS docs example) -->\n",
        },
    )
    assert secret_scan.main(["--root", str(repo)]) == 0


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
    assert dep_audit.main(["--pip-audit", tool]) == 1
    assert "jinja2 2.10: GHSA-xxxx (fixed in 2.11.3)" in capsys.readouterr().out


def test_a_clean_audit_passes(tmp_path, capsys):
    report = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}
    assert dep_audit.main(["--pip-audit", fake_pip_audit(tmp_path, report, 0)]) == 0
    assert "1 packages, no known vulnerabilities" in capsys.readouterr().out


@pytest.mark.parametrize(
    "report",
    [
        None,  # pip-audit crashed on the network
        {"dependencies": [{"name": "flask", "skip_reason": "Dependency not found on PyPI"}]},
    ],
)
def test_an_unreachable_advisory_service_warns_but_does_not_fail(tmp_path, capsys, report):
    tool = fake_pip_audit(tmp_path, report, 1, "ConnectionError: no route to host")
    assert dep_audit.main(["--pip-audit", tool]) == 0
    assert "NOT RUN" in capsys.readouterr().err
