"""``make run`` installs only the runtime dependencies and the train extra (SERVE_VENV in the
Makefile). Everything the local stack imports, training its demo model included, must come
from that install: an import of a development package would break a fresh ``make run``."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.firsthour.support import ROOT, python

# What make run does before it serves: train the demo model, load the three functions, warm up.
SERVE = """
import json, sys, tempfile
from recoengine.pipeline import train_demo_model
from tools import localstack
train_demo_model(tempfile.mkdtemp() + "/model")
localstack.build_app()
localstack.warm_up()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def installed_by_make_run() -> set[str]:
    """The distributions pip installs for ``-e '.[train]'``: the closure of the runtime
    dependencies and the train extra, read from the installed packages' metadata."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    todo += [Requirement(r) for r in project["optional-dependencies"]["train"]]
    # The project itself, and what ``python3.11 -m venv`` puts in every venv.
    seen: set[str] = {"recoengine", "pip", "setuptools"}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(req.name).requires or []
        except PackageNotFoundError:
            continue  # a dependency for another platform or Python
        todo += [r for r in map(Requirement, requires) if _applies(r, req.extras)]
    return seen


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in [*extras, ""])


def test_serving_imports_only_what_make_run_installs(tmp_path: Path) -> None:
    run = python("-c", SERVE, LOG_LEVEL="WARNING", VAR_DIR=str(tmp_path), timeout=180)
    assert run.returncode == 0, run.stderr
    modules = json.loads(run.stdout.strip().splitlines()[-1])
    owners = packages_distributions()
    imported = {canonicalize_name(d) for m in modules for d in owners.get(m, [])}
    missing = imported - installed_by_make_run()
    assert not missing, f"make run imports packages it does not install: {sorted(missing)}"
