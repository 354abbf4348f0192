"""The OpenAPI document matches the code: the same routes, the same request rules.

- every route an ``HttpApp`` registers is in the document, and every documented operation is
  served by some function (so neither can drift silently);
- the document's request schemas accept and reject exactly what the functions' pydantic models
  accept and reject (a differential test over generated bodies, valid and invalid);
- ``/openapi.json`` serves the document (fuzzing then checks real answers against it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from recoengine.web.openapi import document, operations

ROOT = Path(__file__).resolve().parents[2]


def load_main(name: str) -> ModuleType:
    module_name = f"_openapi_contract_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "functions" / name / "main.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mains(tmp_path_factory) -> dict[str, ModuleType]:
    from recoengine import wiring

    mp = pytest.MonkeyPatch()
    mp.setenv("VAR_DIR", str(tmp_path_factory.mktemp("var")))
    mp.setenv("CANARY_TOKEN", "contract-token")
    wiring.reset_all()
    try:
        yield {name: load_main(name) for name in ("recommend", "chat", "canary")}
    finally:
        mp.undo()
        wiring.reset_all()


def test_document_is_openapi_3_1_and_served_shape():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert operations() and all(path.startswith("/") for _, path in operations())


def test_every_registered_route_is_documented_and_vice_versa(mains):
    served: set[tuple[str, str]] = set()
    for name, module in mains.items():
        routes = set(module.app.routes)
        missing = routes - operations()
        assert not missing, f"{name} serves undocumented routes: {sorted(missing)}"
        served |= routes
        for common in ("/health", "/health/detailed", "/metrics", "/openapi.json"):
            assert ("GET", common) in routes, f"{name} lacks {common}"
    assert operations() - served == set(), "documented operations nobody serves"


def _validator(ref: str) -> Any:
    doc = document()
    return jsonschema_rs.validator_for({"$ref": ref, "components": doc["components"]})


def _accepts_model(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


# Values that probe each rule: valid ones, boundary ones and invalid ones.
IDS = st.sampled_from(
    ["u", "user-0001", "a.b:c@d_e-f", "", " ", "x" * 128, "x" * 129, "bad id", "ü", "a/b", 7, None]
)
TOKENS = st.sampled_from(["comedy", "x" * 64, "x" * 65, "", "tab\there", "ünï", "a b", 3])
SERVICE = st.sampled_from(["recommend", "chat", "a", "a" * 63, "a" * 64, "Bad", "-x", "x-", "", 1])
REASON = st.sampled_from(["why", "x" * 500, "x" * 501, "", None, 5])
INTS = st.sampled_from([0, 1, 5, 10, 99, 100, 101, -1, 2.5, True, "5", None])


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with any subset of ``fields`` plus, sometimes, an unknown field."""
    optional = st.fixed_dictionaries({}, optional=fields)
    extra = st.sampled_from([{}, {}, {"unknown": 1}])
    return st.tuples(optional, extra).map(lambda t: {**t[0], **t[1]})


CASES: dict[str, tuple[str, str, st.SearchStrategy[dict[str, Any]]]] = {
    "recommend": (
        "recommend",
        "RecommendRequest",
        bodies(
            {
                "user_id": IDS,
                "k": INTS,
                "context": bodies(
                    {
                        "features": st.lists(TOKENS, max_size=3),
                        "exclude": st.lists(TOKENS, max_size=3),
                        "recent_items": st.lists(TOKENS, max_size=3),
                        "persona": st.dictionaries(
                            st.sampled_from(["segment", "", "x" * 65]), TOKENS, max_size=2
                        ),
                    }
                ),
            }
        ),
    ),
    "feedback": (
        "recommend",
        "FeedbackRequest",
        bodies(
            {
                "request_id": st.sampled_from(
                    ["abcdefgh", "abc", "x" * 64, "x" * 65, "a b c d e f"]
                ),
                "user_id": IDS,
                "item_id": IDS,
                "event": st.sampled_from(["impression", "click", "accept", "buy", "", 1]),
            }
        ),
    ),
    "chat": (
        "chat",
        "ChatRequest",
        bodies(
            {
                "user_id": IDS,
                "message": st.sampled_from(["hi", "recommend a comedy", "", 5, None]),
                "session_id": st.sampled_from([None, "abc", "", "x" * 64, "x" * 65, 3]),
            }
        ),
    ),
    "canary-enable": (
        "canary",
        "CanaryEnable",
        bodies(
            {
                "service": SERVICE,
                "traffic_percentage": INTS,
                "candidate_revision": st.sampled_from([None, "recommend-00002-new", "BAD", ""]),
            }
        ),
    ),
    "canary-reason": ("canary", "CanaryReason", bodies({"service": SERVICE, "reason": REASON})),
    "canary-rollback": ("canary", "CanaryRollback", bodies({"service": SERVICE, "reason": REASON})),
    "canary-service": ("canary", "CanaryService", bodies({"service": SERVICE})),
}

MODELS = {
    "recommend": ("recommend", "RecommendRequest"),
    "feedback": ("recommend", "FeedbackRequest"),
    "chat": ("chat", "ChatRequest"),
    "canary-enable": ("canary", "EnableBody"),
    "canary-reason": ("canary", "ReasonBody"),
    "canary-rollback": ("canary", "RollbackBody"),
    "canary-service": ("canary", "ServiceBody"),
}


@pytest.mark.parametrize(
    "case",
    sorted(CASES),
)
def test_request_schemas_agree_with_the_pydantic_models(case, mains):
    _function, schema_name, strategy = CASES[case]
    module, model_name = MODELS[case]
    model = getattr(mains[module], model_name)
    validator = _validator(f"#/components/schemas/{schema_name}")
    seen = {True: 0, False: 0}

    @settings(
        max_examples=150,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def agree(body: dict[str, Any]) -> None:
        by_model = _accepts_model(model, body)
        by_schema = validator.is_valid(body)
        seen[by_model] += 1
        assert by_model == by_schema, (
            f"{model_name} says {by_model}, the document {by_schema}: {body}"
        )

    agree()
    assert seen[True] > 0 and seen[False] > 0  # both sides of every rule were exercised


def test_query_rules_of_the_session_endpoints_agree(mains):
    model = mains["chat"].SessionQuery
    doc = document()
    item = doc["paths"]["/api/v2/session/{session_id}"]
    params = {p.get("name") or "": p for p in item["get"].get("parameters", [])}
    limit = params["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    for good in ({"user_id": "alice"}, {"user_id": "alice", "limit": "500"}):
        assert _accepts_model(model, good)
    for bad in (
        {},
        {"user_id": "alice", "limit": "0"},
        {"user_id": "a b"},
        {"user_id": "a", "x": "1"},
    ):
        assert not _accepts_model(model, bad)
