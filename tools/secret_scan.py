"""Secret scan (``make secret-scan``, part of ``make lint``): detect-secrets over every file git
tracks or would add, against the committed baseline ``.secrets.baseline``.

detect-secrets (Yelp's maintained scanner: private keys, cloud and SaaS tokens, JWTs,
credentials in URLs, high-entropy strings, ``password = "..."`` keywords, plus our Google
detector in ``tools/secret_patterns.py``) finds; the baseline names its plugins and filters and
the reviewed false positives. This wrapper only picks the files (untracked ones too, so a secret
is caught before it is committed) and compares with the baseline by secret, not by line: unlike
``detect-secrets-hook`` it never rewrites the baseline when lines move. It prints
``path:line: type``, never the value; exit status 1 on anything the baseline does not hold as a
false positive (a baseline entry audited as a real secret still fails).

A finding that is not a secret: end its line with ``# pragma: allowlist secret``, or run
``detect-secrets scan --baseline .secrets.baseline``, then ``detect-secrets audit
.secrets.baseline`` (answer that it is not a secret), and commit the baseline.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from detect_secrets.core import baseline
from detect_secrets.core.secrets_collection import SecretsCollection

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ".secrets.baseline"


def tracked_files(root: Path) -> list[str]:
    """Files git tracks plus untracked files it would add, that exist (deletions are not)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    names = {p for p in out.decode().split("\0") if p and p != BASELINE}
    return sorted(p for p in names if (root / p).is_file())


def new_secrets(root: Path, files: list[str]) -> list[str]:
    """``path:line: type`` of each secret in ``files`` that ``root``'s baseline does not hold."""
    cwd = Path.cwd()
    os.chdir(root)  # the baseline names the custom plugin by a path relative to the root
    try:
        known = baseline.load(baseline.load_from_file(BASELINE), BASELINE)
        for secrets in known.data.values():  # reviewed as real: still a finding
            secrets.difference_update({s for s in secrets if s.is_secret})
        found = SecretsCollection()
        found.scan_files(*files)
        fresh = found - known
    finally:
        os.chdir(cwd)
    return sorted(f"{name}:{secret.line_number}: {secret.type}" for name, secret in fresh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not (root / BASELINE).is_file():
        print(f"secret scan: {root / BASELINE} missing (detect-secrets scan > {BASELINE})")
        return 1
    files = tracked_files(root)
    findings = new_secrets(root, files)
    for line in findings:
        print(line, file=sys.stderr)
    if findings:
        print(f"secret scan: {len(findings)} new finding(s) in {len(files)} files", file=sys.stderr)
        return 1
    print(f"secret scan (detect-secrets): {len(files)} files, nothing new against {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
