"""The HTTP layer uses third-party packages (starlette, functions-framework, prometheus) through
their public API only: no ``obj._private`` attribute, no private module or name. And the code
that serves requests is on ASGI throughout: nothing imports Flask or Werkzeug any more."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "shared" / "recoengine" / "web"
MODULES = sorted(WEB.glob("*.py"))
SERVING = sorted(
    [
        *(ROOT / "shared" / "recoengine").rglob("*.py"),
        *(ROOT / "functions").rglob("*.py"),
        *(ROOT / "testkit").glob("*.py"),
        ROOT / "tools" / "localstack.py",
        ROOT / "tools" / "cloudstack.py",
    ]
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Private names reached from outside their own object: ``x._a`` for any ``x`` but
    ``self``/``cls``, ``getattr(x, "_a")`` and the like, and imports of ``_``-prefixed
    modules or names from other packages."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and _private(str(name.value)):
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "recoengine" or node.module == "__future__":
                continue
            parts = node.module.split(".") + [a.name for a in node.names]
            if any(_private(p) for p in parts):
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(p) for p in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
    return found


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_no_private_attribute_of_a_third_party_package(module: Path) -> None:
    assert private_uses(module.read_text(encoding="utf-8")) == []


def test_the_check_finds_what_the_layer_used_to_do() -> None:
    earlier = (
        "from werkzeug.datastructures import Headers\n"
        "from functions_framework._http import create_server\n"
        "import werkzeug._internal\n"
        "def f(raw, data):\n"
        "    headers = Headers()\n"
        "    headers._list = []\n"
        "    raw._cached_data = data\n"
        "    getattr(raw, '_cached_data')\n"
        "    self._own = 1\n"
    )
    assert len(private_uses(earlier)) == 5


def imported_packages(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


def test_nothing_that_serves_requests_imports_flask_or_werkzeug() -> None:
    wsgi = {
        str(path.relative_to(ROOT)): sorted(used)
        for path in SERVING
        if (used := imported_packages(path.read_text(encoding="utf-8")) & {"flask", "werkzeug"})
    }
    assert wsgi == {}
    assert imported_packages("import flask\nfrom werkzeug.serving import x") == {
        "flask",
        "werkzeug",
    }
