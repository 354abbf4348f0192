"""Schemathesis against the live local stack, from the repository's OpenAPI document.

Every operation gets schema-valid and schema-violating requests (bounded and derandomised so
the run is fast and reproducible). Each answer must: not be a 5xx, carry a status the document
declares, have the declared content type, match the declared schema (error envelopes too), and
leak no stack trace or internal detail.
"""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from recoengine.web.openapi import document
from testkit.fake_load_balancer import SERVER
from tests.reliability.conftest import CANARY_TOKEN

schema = schemathesis.openapi.from_dict(document())

LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/work/|/home/|/usr/lib|Exception\b|Error: |"
    r"sqlite3|google\.api_core|grpc|werkzeug|gunicorn|pydantic|\bat 0x[0-9a-f]+",
    re.IGNORECASE,
)


def no_internal_detail(ctx, response, case) -> None:
    """No stack trace, file path, library or exception name in any body (but /metrics,
    whose Prometheus help texts legitimately name things, and the API document itself)."""
    if case.path in ("/metrics", "/openapi.json"):
        return
    text = response.text or ""
    found = LEAKS.search(text)
    if found:
        raise AssertionError(f"internal detail {found.group(0)!r} leaked: {text[:300]}")


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    no_internal_detail,
]


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_from_its_document(case, stack):
    headers = {"Authorization": f"Bearer {CANARY_TOKEN}"} if "/canary/" in case.path else None
    case.call_and_validate(base_url=stack, headers=headers, checks=CHECKS, timeout=15)


def unauthenticated(ctx, response, case) -> None:
    """Without the bearer token, every canary call is 401 - whatever the body (a method the
    endpoint does not have is 405 first: the route table is public, its actions are not).
    Behind Cloud Run's front end (the cloud-parity stack) IAM refuses every method first."""
    behind_iam = response.headers.get("server") == [SERVER]
    expected = 401 if case.method.upper() == "POST" or behind_iam else 405
    if response.status_code != expected:
        raise AssertionError(f"{case.path} answered {response.status_code} without a token")


@schema.include(path_regex="^/api/v2/canary/").parametrize()
@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_canary_api_without_a_token(case, stack):
    case.call_and_validate(base_url=stack, checks=[*CHECKS, unauthenticated], timeout=15)


def test_api_workflows_from_the_documents_links(stack):
    """Stateful: chains chat -> read/delete its session (the document's links) and the links
    schemathesis infers, with real ids from real answers. Besides the checks above: a deleted
    session is gone (use after free) and a created one is readable by its owner."""
    document.cache_clear()
    base = schemathesis.openapi.from_dict(document())

    class Workflow(base.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            headers = {"Authorization": f"Bearer {CANARY_TOKEN}"} if "/canary/" in case.path else {}
            return {"base_url": stack, "headers": headers, "timeout": 15}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                checks=[*CHECKS, checks.use_after_free, checks.ensure_resource_availability],
                recorder=self.recorder,
            )

    Workflow.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
