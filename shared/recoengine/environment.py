"""The environment each function is deployed with, read from ``environment.yml``: one source.

Terraform renders the same file (``infra/terraform/services.tf``: ``templatefile`` then
``yamldecode``) into each Cloud Run service's environment; the cloud-parity stack
(``tools/cloudstack.py``) renders it here, with the same variable values, and starts each
function with exactly that. A setting that exists only in Terraform would be untested code, so
there is no other place to put one. ``tests/cloudparity`` proves the two renderings are equal.

The file holds ``groups`` of variables shared by several functions and, per function, the
groups it uses, its own ``env`` and the names of its ``secrets`` (values from Secret Manager,
never written here). Placeholders are Terraform's ``${name}``; ``$$`` is a literal ``$``;
templatefile's ``%{...}`` directives are refused, as this reader does not implement them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from recoengine.errors import ConfigError

FUNCTIONS = ("recommend", "chat", "canary")
# The Terraform variables the file may name, i.e. what services.tf passes to templatefile.
TEMPLATE_VARIABLES = (
    "project_id",
    "region",
    "firestore_database",
    "end_user_auth",
    "model_uri",
    "gemini_model",
    "gemini_location",
)
_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|%\{")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class FunctionEnv:
    """One function's deployed environment: plain values, and the names set from secrets."""

    env: dict[str, str]
    secrets: tuple[str, ...]


def render_template(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with its placeholders replaced, as Terraform's ``templatefile`` does."""

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if found == "$$":
            return "$"
        if found == "%{":
            raise ConfigError("environment.yml: template directives (%{...}) are not supported")
        name = match.group(1).strip()
        if name not in variables:
            raise ConfigError(f"environment.yml: no value for the variable {name!r}")
        return str(variables[name])

    return _TOKEN.sub(replace, text)


def parse(document: Mapping[str, Any]) -> dict[str, FunctionEnv]:
    """Each function's environment from the rendered document: its groups merged in order,
    then its own ``env``; values that are empty are dropped (the code treats them as unset)."""
    groups = document.get("groups")
    functions = document.get("functions")
    if not isinstance(groups, Mapping) or not isinstance(functions, Mapping):
        raise ConfigError("environment.yml: expected 'groups' and 'functions'")
    if set(functions) != set(FUNCTIONS):
        raise ConfigError(f"environment.yml: functions must be exactly {', '.join(FUNCTIONS)}")
    found: dict[str, FunctionEnv] = {}
    for function in FUNCTIONS:
        spec = functions[function]
        if not isinstance(spec, Mapping) or set(spec) != {"groups", "env", "secrets"}:
            raise ConfigError(f"environment.yml: {function}: expected groups, env and secrets")
        env: dict[str, str] = {}
        for group in spec["groups"]:
            if group not in groups:
                raise ConfigError(f"environment.yml: {function}: unknown group {group!r}")
            env.update(_variables(groups[group], f"groups.{group}"))
        env.update(_variables(spec["env"], f"{function}.env"))
        secrets = tuple(spec["secrets"])
        for name in secrets:
            if not isinstance(name, str) or not _NAME.fullmatch(name) or name in env:
                raise ConfigError(f"environment.yml: {function}: bad secret name {name!r}")
        found[function] = FunctionEnv({k: v for k, v in env.items() if v != ""}, secrets)
    return found


def _variables(block: Any, where: str) -> dict[str, str]:
    if not isinstance(block, Mapping):
        raise ConfigError(f"environment.yml: {where}: expected a mapping of names to strings")
    for name, value in block.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(value, str):
            raise ConfigError(f'environment.yml: {where}.{name}: expected NAME: "string"')
    return dict(block)


@cache
def source() -> str:
    """The file's text, as Terraform reads it."""
    return resources.files("recoengine").joinpath("environment.yml").read_text(encoding="utf-8")


def deployed(variables: Mapping[str, str]) -> dict[str, FunctionEnv]:
    """What Terraform deploys with these variable values (all of ``TEMPLATE_VARIABLES``)."""
    missing = set(TEMPLATE_VARIABLES) - set(variables)
    if missing:
        raise ConfigError(f"environment.yml: values needed for {', '.join(sorted(missing))}")
    return parse(yaml.safe_load(render_template(source(), variables)) or {})
