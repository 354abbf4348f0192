"""The container recipe and make targets (docker and the registry cannot run here)."""

from __future__ import annotations

import re
import subprocess

from recoengine.web import routing
from tests.infra import tfconfig as tf

DOCKERFILE = (tf.ROOT / "Dockerfile").read_text(encoding="utf-8")
MAKEFILE = (tf.ROOT / "mk" / "infra.mk").read_text(encoding="utf-8")


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_one_image_per_function_on_python_311_slim() -> None:
    ins = _instructions()
    stages = [v for k, v in ins if k == "FROM"]
    # The kernels are compiled in a build stage, the demo model trained in another; the image
    # that runs has no compiler and no training extras, only the demo model's files.
    assert stages == [
        "python:3.11-slim AS build",
        "python:3.11-slim AS demo-model",
        "python:3.11-slim",
    ]
    final = ins[max(i for i, (k, _) in enumerate(ins) if k == "FROM") :]
    assert not any(k == "RUN" and "gcc" in v for k, v in final)
    assert ("COPY", "--from=build /wheels /wheels") in final
    assert ("COPY", "--from=demo-model /demo-model /app/demo-model") in final
    assert "MODEL_URI=/app/demo-model" in " ".join(v for k, v in final if k == "ENV")
    assert ("ARG", "FUNCTION=recommend") in ins
    case = re.search(r'case "\$FUNCTION" in ([a-z|]+)\)', DOCKERFILE)
    assert case and sorted(case.group(1).split("|")) == sorted(routing.FUNCTIONS)
    assert any(k == "COPY" and v.startswith("functions/${FUNCTION}/") for k, v in ins)
    assert any(k == "RUN" and "pip install -c requirements/constraints.txt" in v for k, v in ins)


def test_runs_functions_framework_as_a_non_root_user() -> None:
    ins = _instructions()
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = [v for k, v in ins if k == "CMD"][-1]
    assert "functions-framework" in cmd
    assert '--target="$FUNCTION_TARGET"' in cmd and '--source="$FUNCTION_SOURCE"' in cmd
    env = " ".join(v for k, v in ins if k == "ENV")
    assert "FUNCTION_TARGET=${FUNCTION}" in env
    assert "FUNCTION_SOURCE=/app/functions/${FUNCTION}/main.py" in env
    assert "FUNCTION_SIGNATURE_TYPE=http" in env


def test_build_context_keeps_only_what_the_image_needs() -> None:
    ignore = (tf.ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignore[ignore.index("**") + 1 :][:4] == [
        "!pyproject.toml",
        "!requirements/constraints.txt",
        "!shared/",
        "!functions/",
    ]
    for path in ("pyproject.toml", "requirements/constraints.txt", "shared", "functions"):
        assert (tf.ROOT / path).exists()


def test_make_targets_exist_and_deploy_builds_pushes_and_applies() -> None:
    for target in ("build", "push", "plan", "deploy", "tf-check", "tools-venv", "dashboards"):
        assert re.search(rf"^{re.escape(target)}:.*## ", MAKEFILE, re.M), target
    assert "CHECKOV_VERSION := 3.3.30" in MAKEFILE
    dry = subprocess.run(
        ["make", "-n", "deploy", "PROJECT=demo-project", "TAG=t1", "TERRAFORM=terraform"],
        cwd=tf.ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": "/tmp"},
    )
    out = dry.stdout
    build = out.index("docker build --build-arg FUNCTION=$fn")
    push = out.index("docker push")
    apply_all = out.index(
        'apply -var="project_id=demo-project" -var="region=europe-west1" -var="image_tag=t1"\n'
    )
    assert build < push < apply_all
    assert "europe-west1-docker.pkg.dev/demo-project/recoengine/trainer:t1" in out


def test_pyspark_stays_out_of_every_serving_image() -> None:
    """pyspark belongs to training on Spark only: not a runtime dependency, not in the `ml`
    extra the Cloud Run trainer image installs, and no image build asks for the `spark` extra."""
    import tomllib

    project = tomllib.loads((tf.ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"] + project["optional-dependencies"]["ml"])
    assert "pyspark" not in runtime
    assert any("pyspark" in d for d in project["optional-dependencies"]["spark"])
    builds = (tf.ROOT / "Dockerfile").read_text() + (tf.ROOT / "mk" / "infra.mk").read_text()
    assert "EXTRAS=spark" not in builds and "[spark]" not in builds
    assert 'ARG EXTRAS=""' in (tf.ROOT / "Dockerfile").read_text()
