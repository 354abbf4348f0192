"""The canary API fuzzed as an operator reaches it in the cloud: through Cloud Run's IAM check
with a Google ID token, to the function in ``CANARY_AUTH=iam`` mode, its rollouts in Firestore
and traffic on the Cloud Run Admin API (the fake). The black-box suite (tests/reliability) runs
the rest of the document against this stack too; there the canary answers only its 401."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from recoengine.web.openapi import document
from tests.reliability.test_fuzz_api import CHECKS
from tests.support.cloudstack import operator_headers
from tools.cloudstack import CloudStack

schema = schemathesis.openapi.from_dict(document())


@schema.include(path_regex="^/api/v2/canary/").parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_canary_api_as_an_operator(case, stack: CloudStack) -> None:
    headers = operator_headers(stack)
    case.call_and_validate(base_url=stack.url, headers=headers, checks=CHECKS, timeout=15)
