"""Evaluate pieces of the Terraform configuration with Terraform itself, offline.

A module made only of locals and outputs needs no provider, so ``init`` and ``apply`` run here
without the registry. The tests use it to run the variables' ``validation`` conditions on real
values, and to compute what a resource would receive from a file the configuration reads
(``yamldecode(file(...))``), instead of re-implementing Terraform's functions in Python.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infra import tfconfig as tf


def _block(text: str, start: int) -> str:
    """The text of the brace-balanced block whose ``{`` is at or after ``start``."""
    open_at = text.index("{", start)
    depth, i, in_string = 0, open_at, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at : i + 1]
        i += 1
    raise ValueError("unbalanced block")


def variable_conditions(name: str) -> list[str]:
    """The raw HCL of every ``validation { condition = ... }`` of variable ``name``."""
    text = tf.source_text()
    m = re.search(rf'(?m)^variable "{re.escape(name)}" \{{', text)
    assert m, f"variable {name} is not declared"
    body = _block(text, m.start())
    conditions = re.findall(r"(?ms)^\s*condition\s*=\s*(.*?)\n\s*error_message\s*=", body)
    assert conditions, f"variable {name} has no validation condition"
    return [c.strip() for c in conditions]


def run_module(files: dict[str, str], tmp: Path) -> dict[str, Any]:
    """Write ``files`` as a module under ``tmp/infra/terraform`` (``shared/`` linked beside it,
    so ``${path.module}/../../shared/...`` resolves), apply it and return its outputs.
    A ``terraform.tfvars`` among ``files`` sets the variables."""
    module = tmp / "infra" / "terraform"
    module.mkdir(parents=True)
    (tmp / "shared").symlink_to(tf.ROOT / "shared")
    for name, content in files.items():
        (module / name).write_text(content, encoding="utf-8")
    for args in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        step = tf.terraform(args, module)
        assert step.returncode == 0, f"terraform {args[0]} failed:\n{step.stderr}{step.stdout}"
    out = tf.terraform(["output", "-json"], module)
    assert out.returncode == 0, out.stderr
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def validation_output(name: str, output: str, values: list[Any]) -> str:
    """An output mapping each value's index to whether ``name``'s validations all accept it."""
    conditions = [
        re.sub(rf"\bvar\.{re.escape(name)}\b", "c", cond) for cond in variable_conditions(name)
    ]
    cases = json.dumps(json.dumps(values))  # a JSON string literal holding the JSON list
    return (
        f'output "{output}" {{\n'
        f"  value = [for c in jsondecode({cases}) : alltrue([\n    "
        + ",\n    ".join(conditions)
        + "\n  ])]\n}\n"
    )
