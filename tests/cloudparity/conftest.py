"""One cloud-parity stack for this folder: Terraform's default environment (Firebase sign-in,
Firestore, Gemini, the canary on the Cloud Run Admin API and Cloud Monitoring), two recommend
instances, on the session's Firestore emulator and the demo model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.firestore_emulator import FirestoreEmulator
from tests.support.cloudstack import cloud_stack
from tools.cloudstack import CloudStack


@pytest.fixture(scope="package")
def stack(
    firestore_emulator: FirestoreEmulator,
    demo_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CloudStack]:
    workdir = tmp_path_factory.mktemp("cloudstack")
    with cloud_stack(firestore_emulator, demo_model_dir, workdir) as running:
        yield running
