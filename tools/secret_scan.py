"""Secret scan of the repository (``make security-lint``): every file git tracks or would add.

Looks for what must never be committed: private keys (PEM/OpenSSH/PGP), service-account key
files, Google API keys and OAuth client secrets, cloud and SaaS tokens (AWS, GitHub, GitLab,
Slack, Stripe, npm, PyPI), JWTs, credentials in URLs, and ``secret = "..."`` style assignments
whose value looks random (high entropy). A line can be exempted with ``secret-scan: allow``
and a reason (for documented fake values); tests generate their keys at run time instead.

Exit status 1 when anything is found, printing ``path:line: kind`` (never the value itself).
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOW = "secret-scan: allow"
MAX_BYTES = 2_000_000
SKIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".npy", ".npz", ".pdf", ".whl", ".gz")

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("service account key", re.compile(r'"private_key_id"\s*:\s*"[0-9a-f]{40}"')),
    ("google api key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("google oauth client secret", re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{28}\b")),
    ("google oauth refresh token", re.compile(r"\b1//0[0-9A-Za-z_\-]{40,}")),
    ("google oauth access token", re.compile(r"\bya29\.[0-9A-Za-z_\-]{30,}")),
    ("aws access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github token", re.compile(r"\b(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{60,})\b")),
    ("gitlab token", re.compile(r"\bglpat-[0-9A-Za-z_\-]{20}\b")),
    ("slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z\-]{10,}")),
    ("stripe key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}\b")),
    ("npm token", re.compile(r"\bnpm_[0-9A-Za-z]{36}\b")),
    ("pypi token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[0-9A-Za-z_\-]{50,}")),
    ("jwt", re.compile(r"\beyJ[0-9A-Za-z_\-]{10,}\.eyJ[0-9A-Za-z_\-]{10,}\.[0-9A-Za-z_\-]{20,}")),
    ("credentials in url", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@'\"]+:[^/\s@'\"$<{]{6,}@")),
)
ASSIGNMENT = re.compile(
    r"(?i)\b[a-z0-9_.\-]*(?:secret|passw(?:or)?d|api[_\-]?key|access[_\-]?key|auth[_\-]?token|"
    r"private[_\-]?key|client[_\-]?secret)[a-z0-9_\-]*\b\s*[:=]\s*['\"]([^'\"\s]{16,})['\"]"
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (random base64 ~6, English words ~3.5-4)."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(value: str) -> bool:
    if re.fullmatch(r"[a-z_]+|[A-Z_]+|\$\{?[A-Za-z_]+\}?|<[^>]+>|x+|\*+", value):
        return False  # identifiers, placeholders, env references
    return entropy(value) >= 3.5 and any(c.isdigit() for c in value)


def scan_text(path: str, text: str) -> Iterator[Finding]:
    for number, line in enumerate(text.splitlines(), 1):
        if ALLOW in line:
            continue
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                yield Finding(path, number, kind)
        for match in ASSIGNMENT.finditer(line):
            if looks_random(match.group(1)):
                yield Finding(path, number, "hard-coded secret")


def tracked_files(root: Path) -> list[str]:
    """Files git tracks plus untracked files it would add (so a secret is caught pre-commit)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({p for p in out.decode().split("\0") if p})


def scan(root: Path, files: Iterable[str]) -> list[Finding]:
    findings: list[Finding] = []
    for rel in files:
        path = root / rel
        if rel.endswith(SKIP_SUFFIXES) or not path.is_file():
            continue
        data = path.read_bytes()[:MAX_BYTES]
        if b"\0" in data[:8192]:
            continue  # binary
        findings.extend(scan_text(rel, data.decode("utf-8", errors="replace")))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args(argv)
    root = Path(args.root)
    files = tracked_files(root)
    findings = scan(root, files)
    for f in findings:
        print(f, file=sys.stderr)
    if findings:
        print(f"secret scan: {len(findings)} finding(s) in {len(files)} files", file=sys.stderr)
        return 1
    print(f"secret scan: {len(files)} files, nothing found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
