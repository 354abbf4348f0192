"""One source for each function's environment: Terraform deploys what the tests start.

Terraform itself renders services.tf's ``environment``/``function_env`` locals (verbatim, on the
real ``environment.yml``) and the result must equal ``recoengine.environment``'s rendering with
the same variable values; the containers get exactly that (plus SERVER_THREADS, extra_env and
the secrets); the secret names are the ones Terraform takes from Secret Manager; the code reads
every name and accepts every value.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from recoengine import environment
from recoengine.config import load_settings
from recoengine.errors import ConfigError
from tests.infra import tfconfig as tf
from tests.infra import tfeval
from tools import cloudstack

CONFIG_SOURCE = (tf.ROOT / "shared" / "recoengine" / "config.py").read_text(encoding="utf-8")
CASES: dict[str, dict[str, str]] = {
    "defaults": dict(cloudstack.VARIABLES),
    "model-and-no-sign-in": {
        **cloudstack.VARIABLES,
        "project_id": "my-shop-prod",
        "region": "us-central1",
        "firestore_database": "shop-prod",
        "end_user_auth": "none",
        "model_uri": "gs://shop-models/models/2026-12-01",
        "gemini_model": "gemini-2.5-pro",
        "gemini_location": "us-central1",
    },
}


def _environment_locals() -> str:
    """services.tf's environment and function_env locals, verbatim."""
    source = (tf.TF_DIR / "services.tf").read_text(encoding="utf-8")
    m = re.search(r"(?ms)^  environment = yamldecode\(.*?^  function_env = \{.*?^  \}\n", source)
    assert m, "services.tf has no environment/function_env locals"
    return "locals {\n" + m.group(0) + "}\n"


def _variables_tf(values: dict[str, str]) -> str:
    return "".join(
        f'variable "{name}" {{\n  type    = string\n  default = "{value}"\n}}\n'
        for name, value in values.items()
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Terraform's function_env for each case (one offline apply per case)."""
    out = {}
    for case, values in CASES.items():
        files = {
            "locals.tf": _environment_locals(),
            "variables.tf": _variables_tf(values),
            "outputs.tf": 'output "function_env" {\n  value = local.function_env\n}\n',
        }
        out[case] = tfeval.run_module(files, tmp_path_factory.mktemp(f"tfenv-{case}"))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_terraform_renders_what_the_python_reader_renders(
    case: str, rendered: dict[str, Any]
) -> None:
    by_terraform = rendered[case]["function_env"]
    by_python = {fn: spec.env for fn, spec in environment.deployed(CASES[case]).items()}
    assert by_terraform == by_python


def test_recommend_keeps_claims_and_events_in_firestore(rendered: dict[str, Any]) -> None:
    """Issue 18, item 4: no per-instance SQLite file for feedback claims and recent events."""
    for case in CASES:
        env = rendered[case]["function_env"]
        assert env["recommend"]["SESSION_BACKEND"] == "firestore"
        assert env["chat"]["SESSION_BACKEND"] == "firestore"  # the same store: chat sees events
        assert env["recommend"]["FIRESTORE_DATABASE"] == env["chat"]["FIRESTORE_DATABASE"]


def test_an_unset_model_uri_is_left_out(rendered: dict[str, Any]) -> None:
    assert "MODEL_URI" not in rendered["defaults"]["function_env"]["recommend"]
    with_model = rendered["model-and-no-sign-in"]["function_env"]["recommend"]
    assert with_model["MODEL_URI"] == "gs://shop-models/models/2026-12-01"


def test_every_service_gets_exactly_the_one_source() -> None:
    """The containers' plain env is function_env + SERVER_THREADS + extra_env, nothing inline;
    the secret env is local.secret_env's, at pinned versions."""
    services = tf.resources("google_cloud_run_v2_service")
    expected = {
        "function": "${merge(local.function_env[each.key], local.server_env[each.key], "
        "lookup(var.extra_env, each.key, {}))}",
        "canary_incident": '${merge(local.function_env["canary"], local.server_env["canary"], '
        'lookup(var.extra_env, "canary", {}), {FUNCTION_TARGET = "canary_incident", '
        'FUNCTION_SIGNATURE_TYPE = "cloudevent"})}',
    }
    for name, for_each in expected.items():
        blocks = services[name]["template"][0]["containers"][0]["dynamic"]
        plain = [b["env"] for b in blocks if "value" in b["env"]["content"][0]]
        assert len(plain) == 1
        assert re.sub(r"\s+", " ", plain[0]["for_each"]) == for_each
        assert "env" not in services[name]["template"][0]["containers"][0]  # no inline env
    blocks = services["function"]["template"][0]["containers"][0]["dynamic"]
    secret = [b["env"] for b in blocks if "value_source" in b["env"]["content"][0]]
    assert len(secret) == 1
    assert secret[0]["for_each"] == "${lookup(local.secret_env, each.key, {})}"
    ref = secret[0]["content"][0]["value_source"][0]["secret_key_ref"][0]
    assert ref == {"secret": "${env.value.secret}", "version": "${env.value.version}"}
    assert not re.search(r'version\s*=\s*"latest"', tf.source_text())


def test_the_secret_names_are_the_ones_terraform_sets_from_secret_manager() -> None:
    """environment.yml names each function's secrets; feedback_key.tf's secret_env sets them
    (the stack gives each a random value)."""
    locals_ = tf.locals_()
    declared = {
        fn: set(spec.secrets) for fn, spec in environment.deployed(cloudstack.VARIABLES).items()
    }
    assert set(locals_["secret_env"]) == {fn for fn, names in declared.items() if names}
    # secret_env.recommend is built from the key roles: one variable per key generation.
    assert "local.feedback_key_roles" in str(locals_["secret_env"]["recommend"])
    assert set(locals_["feedback_key_roles"]) == declared["recommend"]


def test_the_stack_deploys_with_the_defaults_of_variables_tf() -> None:
    variables = tf.named("variable")
    for name, value in cloudstack.VARIABLES.items():
        if name == "project_id":  # no default: the stack uses the emulator's project
            assert "default" not in variables[name]
            continue
        assert variables[name]["default"] == value, name
    assert set(cloudstack.VARIABLES) == set(environment.TEMPLATE_VARIABLES)
    text = (tf.TF_DIR / "services.tf").read_text(encoding="utf-8")
    passed = re.search(r"(?ms)templatefile\(.*?\{(.*?)\}\)\)", text)
    assert passed
    assert set(re.findall(r"(?m)^\s*(\w+)\s*=", passed.group(1))) == set(
        environment.TEMPLATE_VARIABLES
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_code_reads_every_name_and_accepts_every_value(case: str) -> None:
    """A typo in a name would silently fall back to a default; a bad value fails start-up."""
    for fn, spec in environment.deployed(CASES[case]).items():
        for name in [*spec.env, *spec.secrets]:
            assert f'"{name}"' in CONFIG_SOURCE, f"config.py reads no variable named {name}"
        settings = load_settings(
            {**spec.env, **{name: "k" * 48 for name in spec.secrets}, "VAR_DIR": "var"}
        )
        assert settings.service.project == CASES[case]["project_id"]
        if fn in ("recommend", "chat"):
            assert settings.chat.session_backend == "firestore"
            assert settings.identity.mode == CASES[case]["end_user_auth"]
        if fn == "chat":
            assert settings.chat.llm_backend == "gemini"
        if fn == "canary":
            assert (settings.canary.auth, settings.canary.platform) == ("iam", "cloud")


@pytest.mark.parametrize(
    "text",
    ['X: "%{ if true }y%{ endif }"', 'X: "${undeclared}"'],
)
def test_the_reader_refuses_what_it_cannot_render_like_terraform(text: str) -> None:
    with pytest.raises(ConfigError):
        environment.render_template(text, {"project_id": "p"})


def test_the_reader_renders_escapes_as_templatefile_does() -> None:
    assert environment.render_template("a $${x} $$ ${ project_id }", {"project_id": "p"}) == (
        "a ${x} $ p"
    )


def test_the_environment_file_is_in_the_package() -> None:
    """The image installs the wheel: the file must travel with the package, like capacity.yml."""
    assert environment.source().startswith("# The environment of each function")
