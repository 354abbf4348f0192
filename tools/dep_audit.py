"""Dependency audit (``make security-lint``): ``pip-audit`` over our full pins.

``pip-audit`` runs from ``.venv-tools`` (its own pins would fight ours) against
``requirements/constraints.txt`` (every package the dev venv installs, pinned), asking PyPI's
advisory data and, if PyPI cannot answer, OSV. Outcomes:

- a known vulnerability in a pinned version: exit 1, listing package, version, advisory, fix;
- the advisory service unreachable (offline machines, mirrors without PyPI's JSON API): exit 1,
  saying the audit did NOT run. An audit that could not run is not a pass;
- skipped on purpose: ``DEP_AUDIT=skip DEP_AUDIT_REASON="..."`` prints ``dependency audit
  SKIPPED: <reason>`` and exits 0 (a skip without a reason is refused). CI on a machine with no
  route to the advisory databases sets both, visibly, in ``.ci/run``;
- otherwise: how many packages were audited, exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_audit(pip_audit: str, requirements: Path, service: str) -> tuple[int, Any, str]:
    proc = subprocess.run(
        [
            pip_audit,
            "--disable-pip",
            "--no-deps",
            "--progress-spinner",
            "off",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    return proc.returncode, report, proc.stderr


def summarise(report: dict[str, Any]) -> tuple[list[str], int, int]:
    """(vulnerability lines, audited count, skipped count)."""
    vulns: list[str] = []
    audited = skipped = 0
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            skipped += 1
            continue
        audited += 1
        for v in dep.get("vulns", []):
            fixes = ", ".join(v.get("fix_versions", [])) or "no fix yet"
            vulns.append(
                f"{dep['name']} {dep.get('version', '?')}: {v.get('id')} (fixed in {fixes})"
            )
    return vulns, audited, skipped


def skip_requested(env: Mapping[str, str]) -> int | None:
    """The exit status when the audit is skipped on purpose (``DEP_AUDIT=skip``), else None."""
    if env.get("DEP_AUDIT", "").strip().lower() != "skip":
        return None
    reason = env.get("DEP_AUDIT_REASON", "").strip()
    if not reason:
        print("dependency audit: DEP_AUDIT=skip needs DEP_AUDIT_REASON (why)", file=sys.stderr)
        return 2
    print(f"dependency audit SKIPPED: {reason}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pip-audit", default=str(ROOT / ".venv-tools" / "bin" / "pip-audit"))
    parser.add_argument("--requirements", default=str(ROOT / "requirements" / "constraints.txt"))
    args = parser.parse_args(argv)
    if (status := skip_requested(env)) is not None:
        return status
    if not Path(args.pip_audit).exists():
        print(f"dependency audit: {args.pip_audit} missing (make tools-venv)", file=sys.stderr)
        return 1
    last_error = ""
    for service in ("pypi", "osv"):
        _code, report, stderr = run_audit(args.pip_audit, Path(args.requirements), service)
        if report is None:
            last_error = (stderr.strip().splitlines() or ["no output"])[-1]
            continue
        vulns, audited, skipped = summarise(report)
        if vulns:
            print(f"dependency audit ({service}): {len(vulns)} known vulnerabilit(y/ies):")
            for line in vulns:
                print(f"  {line}")
            return 1
        if audited:
            note = f", {skipped} not found on the advisory service" if skipped else ""
            print(
                f"dependency audit ({service}): {audited} packages, no known vulnerabilities{note}"
            )
            return 0
        last_error = f"{service} answered for none of the {skipped} packages"
    print(
        "dependency audit FAILED - NOT RUN: the advisory database is unreachable from this "
        f"machine ({last_error}). Re-run `make dep-audit` with network access to pypi.org or "
        'osv.dev, or skip it visibly: DEP_AUDIT=skip DEP_AUDIT_REASON="why".',
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
