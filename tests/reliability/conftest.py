"""The stacks the black-box suite runs against: the local one (``make run``: one process,
SQLite, the offline responder, a bearer token for the canary) and the cloud-parity one
(``make run-cloud``: each function in its own process with Terraform's environment, Firestore
on the emulator, Gemini, Cloud Run Admin and Cloud Monitoring on the fakes, the canary behind
IAM). Each test that takes ``stack`` runs once per stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cloudstack import cloud_stack
from tests.support.localstack import CANARY_TOKEN, local_env, local_stack

__all__ = ["CANARY_TOKEN", "stack"]


@pytest.fixture(scope="module", params=["local", "cloud"])
def stack(
    request: pytest.FixtureRequest,
    demo_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The stack's base URL. The canary API takes ``Bearer CANARY_TOKEN`` on both: the local
    stack's token, and on the cloud one (CANARY_AUTH=iam) any bearer token, since there Cloud
    Run's IAM check, which this stack does not emulate, is what admits the caller
    (tests/cloudparity calls it with a real ID token and checks the audit trail's actor)."""
    if request.param == "local":
        with local_stack(local_env(demo_model_dir, tmp_path_factory.mktemp("var"))) as base:
            yield base
        return
    # Terraform's end_user_auth = "none" (a value the variable accepts): generated requests
    # name arbitrary users, which a Firebase sign-in would refuse before any handler ran
    # (tests/cloudparity drives the stack with sign-in).
    emulator = request.getfixturevalue("firestore_emulator")
    workdir = tmp_path_factory.mktemp("cloudstack")
    with cloud_stack(emulator, demo_model_dir, workdir, {"end_user_auth": "none"}) as running:
        yield running.url
