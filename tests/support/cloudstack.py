"""The cloud-parity stack (``make run-cloud``'s) for tests: on the session's Firestore emulator,
with the session's demo model, and the sign-in headers its environment asks for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from testkit.firestore_emulator import FirestoreEmulator
from tools.cloudstack import CloudStack, running

__all__ = ["cloud_stack", "operator_headers", "user_headers"]

OPERATOR = "oncall@example.com"


@contextmanager
def cloud_stack(
    emulator: FirestoreEmulator,
    model: Path,
    workdir: Path,
    variables: Mapping[str, str] | None = None,
) -> Iterator[CloudStack]:
    """The stack on an emptied emulator; stopped (every process, every fake) on exit. The
    functions' logs stay in ``workdir`` (``<function>-<port>.log``)."""
    emulator.reset()
    with running(
        str(model), emulator_host=emulator.host, variables=variables, workdir=workdir
    ) as stack:
        yield stack


def user_headers(stack: CloudStack, user: str) -> dict[str, str]:
    """What a signed-in end user sends: their Firebase ID token (AUTH_MODE=firebase)."""
    return {"Authorization": f"Bearer {stack.fakes.auth.firebase_token(user)}"}


def operator_headers(stack: CloudStack) -> dict[str, str]:
    """What an operator sends to the canary API (CANARY_AUTH=iam): a Google ID token, as
    ``gcloud auth print-identity-token`` gives, for the service's URL."""
    return {"Authorization": f"Bearer {stack.fakes.auth.google_id_token(OPERATOR, stack.url)}"}
