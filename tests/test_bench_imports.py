"""The benchmark tools share their pieces through ``tools.benchkit``: no module of ``tools``
imports another in a circle (``bench`` -> ``bench_capacity`` -> ``bench`` was one), counting
the imports inside functions too, which import-linter's contracts on ``recoengine`` miss."""

from __future__ import annotations

import ast
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def imports_of(path: Path) -> set[str]:
    """The ``tools`` modules that a file imports anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tools.")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "tools":
                found |= {f"tools.{a.name}" for a in node.names}
            elif node.module.startswith("tools."):
                found.add(node.module)
    return {name.split(".")[1] for name in found}


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for nxt in graph.get(module, set()):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_cycle_from_finds_a_circle_and_only_one() -> None:
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": set()}, "a") is None


def test_the_tools_import_each_other_without_a_cycle() -> None:
    graph = {p.stem: imports_of(p) for p in TOOLS.glob("*.py")}
    assert "benchkit" in graph["bench_capacity"]  # the shared pieces' home is read
    cycles = {m: c for m in graph if (c := cycle_from(graph, m)) is not None}
    assert cycles == {}
