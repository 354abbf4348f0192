"""The Terraform configuration is formatted, loads, and is typed, described and pinned.

``terraform validate`` needs the provider from the registry (unreachable here), so the load is
``terraform providers`` on a copy without the remote backend (it parses every file and checks
the language: block types, arguments, duplicates, type constraints), plus a reference check
that every ``var.``, ``local.`` and resource reference names something declared.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.infra import tfconfig as tf


@pytest.fixture(scope="module")
def local_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configuration without its GCS backend block, so it loads without `init`."""
    dest = tmp_path_factory.mktemp("tf")
    for path in tf.TF_DIR.glob("*.tf"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r'\n  backend "gcs" \{[^}]*\}\n', "\n", text)
        (dest / path.name).write_text(text, encoding="utf-8")
    return dest


def test_terraform_fmt_check() -> None:
    result = tf.terraform(["fmt", "-check", "-diff", "-recursive"], tf.TF_DIR)
    assert result.returncode == 0, f"terraform fmt -check failed:\n{result.stdout}{result.stderr}"


def test_configuration_loads(local_copy: Path) -> None:
    result = tf.terraform(["providers"], local_copy)
    assert result.returncode == 0, f"configuration does not load:\n{result.stderr}"
    assert "hashicorp/google" in result.stdout


def test_configuration_load_catches_errors(local_copy: Path, tmp_path: Path) -> None:
    """The load check is not vacuous: a broken file makes it fail."""
    broken = tmp_path / "broken"
    shutil.copytree(local_copy, broken)
    (broken / "zz_broken.tf").write_text('variable "x" {\n  type = strin\n}\n', encoding="utf-8")
    assert tf.terraform(["providers"], broken).returncode != 0


def test_every_reference_is_declared() -> None:
    text = re.sub(r"(?m)^\s*#.*$", "", tf.source_text())
    variables = set(tf.named("variable"))
    locals_ = set(tf.locals_())
    declared = {
        f"{rtype}.{name}"
        for block in tf.parse()["resource"]
        for rtype, by_name in block.items()
        for name in by_name
    }
    data = {
        f"data.{dtype}.{name}"
        for block in tf.parse().get("data", [])
        for dtype, by_name in block.items()
        for name in by_name
    }
    for name in set(re.findall(r"\bvar\.([a-z0-9_]+)", text)):
        assert name in variables, f"var.{name} is not declared"
    for name in set(re.findall(r"\blocal\.([a-z0-9_]+)", text)):
        assert name in locals_, f"local.{name} is not defined"
    for ref in set(re.findall(r"(?<![\w.\"/])(google_[a-z0-9_]+\.[a-z0-9_]+)", text)):
        assert ref in declared, f"{ref} is referenced but not declared"
    for ref in set(re.findall(r"\b(data\.google_[a-z0-9_]+\.[a-z0-9_]+)", text)):
        assert ref in data, f"{ref} is referenced but not declared"


def test_terraform_and_provider_are_pinned() -> None:
    """One major version of both google providers, with a floor that has every argument used:
    7.4.0 added ``mount_options`` to Cloud Run v2 GCS volumes (the trainer job needs it).
    Terraform 1.11 and random 3.7 bring the ephemeral value and the write-only argument that
    keep the feedback signing key out of the plan and the state (feedback_key.tf)."""
    block = tf.parse()["terraform"][0]
    assert block["required_version"] == ">= 1.11.0"
    providers = block["required_providers"][0]
    assert providers["random"]["source"] == "hashicorp/random"
    assert re.search(r">=\s*3\.([7-9]|\d\d)\.", providers["random"]["version"])
    for name in ("google", "google-beta"):
        assert providers[name]["source"] == f"hashicorp/{name}"
        version = providers[name]["version"]
        assert re.search(r">=\s*7\.([4-9]|\d\d)\.", version), version
        assert re.search(r"<\s*8", version), version
    assert providers["google"]["version"] == providers["google-beta"]["version"]


def test_every_variable_is_typed_described_and_validated() -> None:
    variables = tf.named("variable")
    assert variables
    for name, var in variables.items():
        assert var.get("type"), f"variable {name} has no type"
        assert len(var.get("description", "")) >= 20, f"variable {name} needs a description"
        if var["type"] not in ("bool", "${bool}"):
            assert var.get("validation"), f"variable {name} has no validation block"
            for rule in var["validation"]:
                assert rule.get("error_message"), f"variable {name}: validation without message"


def test_outputs_give_the_urls() -> None:
    outputs = tf.named("output")
    for name, out in outputs.items():
        assert len(out.get("description", "")) >= 20, f"output {name} needs a description"
    assert outputs["api_url"]["value"].startswith("https://${var.domain}/api/v2")
    assert "google_cloud_run_v2_service.function" in outputs["service_urls"]["value"]
    assert outputs["canary_advance_url"]["value"].endswith("/api/v2/canary/advance")
    for name in ("canary_url", "model_bucket_url", "dashboard_url", "artifact_registry_url"):
        assert name in outputs
    assert "load_balancer_ip" in outputs


def test_readme_documents_every_input_and_output() -> None:
    readme = (tf.TF_DIR / "README.md").read_text(encoding="utf-8")
    for name in [*tf.named("variable"), *tf.named("output")]:
        assert f"`{name}`" in readme, f"README.md does not document {name}"
