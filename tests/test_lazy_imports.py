"""Every import in the code resolves, including the ones inside functions.

Tools and adapters import lazily (cold start, optional extras), so a module that moved breaks
only the code path that runs the import: ``make bench``'s quality section once imported
``recoengine.evaluation.suite`` after it had become ``recoengine.comparison``, and nothing
else noticed. mypy does not either (``ignore_missing_imports``). This walks every
``from recoengine... import name`` and ``from tools/testkit... import name`` in the tree.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("recoengine", "tools", "testkit")
FILES = sorted(
    p
    for folder in ("shared/recoengine", "functions", "tools", "testkit")
    for p in (ROOT / folder).rglob("*.py")
)


def first_party_imports(path: Path) -> list[tuple[int, str, str | None]]:
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FIRST_PARTY:
                found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.split(".")[0] in FIRST_PARTY
            ]
    return found


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_every_first_party_import_resolves(path: Path) -> None:
    broken = []
    for line, module, name in first_party_imports(path):
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            broken.append(f"line {line}: {module}: {exc}")
            continue
        if name is not None and name != "*" and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                broken.append(f"line {line}: {module} has no {name}")
    assert broken == []
