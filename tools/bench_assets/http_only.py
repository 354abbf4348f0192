"""The recommend endpoint's HTTP layer with a fixed answer in place of the engine.

Same request model, guard, access-log fields and answer shape as ``functions/recommend``; the
answer is ten fixed items. Measured next to the real function and a bare functions-framework
function (``tools/bench_capacity.py``), it tells the HTTP layer's cost from the engine's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from recoengine.web import ApiRequest, HttpApp
from recoengine.wiring import recommend as wiring

_spec = importlib.util.spec_from_file_location(
    "recommend_main", Path(__file__).resolve().parents[2] / "functions/recommend/main.py"
)
assert _spec is not None and _spec.loader is not None
_recommend = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _recommend  # its pydantic models resolve their annotations there
_spec.loader.exec_module(_recommend)

app = HttpApp("recommend")
ITEMS = [
    {
        "item_id": f"item-{i:04d}",
        "title": f"Fixed item {i}",
        "score": 1.0 - i / 20,
        "components": {"cf": 0.5, "cb": 0.25, "pa": 0.125},
    }
    for i in range(10)
]


@app.route("POST", "/api/v2/recommendations", guard=wiring.authenticate)
def fixed_items(req: ApiRequest) -> dict[str, Any]:
    body = req.body(_recommend.RecommendRequest)
    wiring.check_user(req, body.user_id)
    req.log_fields["cache"] = "miss"
    return {"items": ITEMS[: body.k], "model_version": "fixed", "request_id": req.request_id}


@functions_framework.aio.http
async def http_only(request: Request) -> Response:
    return await app(request)
