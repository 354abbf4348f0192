"""The ASGI reference for HTTP benchmarks: a bare async functions-framework function answering
small JSON, served by ``functions-framework --asgi`` (gunicorn with uvicorn workers)."""

from typing import Any

import functions_framework.aio
from starlette.requests import Request


@functions_framework.aio.http
async def bare(request: Request) -> dict[str, Any]:
    return {"ok": True}
