"""A small HTTP application that each function's ``main.py`` builds and hands its routes to.

It does what every endpoint needs, once: path routing with ``{params}``, body size limits,
JSON parsing (400), validation with pydantic models (422), one JSON error envelope for every
error, request ids, trace-aware access logs, Prometheus metrics, and the ``/health``,
``/health/detailed``, ``/metrics`` and ``/openapi.json`` endpoints. A dependency failing in a
way no handler anticipated (a Firestore outage, a locked database) is a 503 with
``Retry-After``, not a 500 (``faults``). Handlers stay thin: parse, call the engine, shape the
answer.

It runs on functions-framework's ASGI mode: the function is an ``async def`` that hands its
``starlette.requests.Request`` to ``HttpApp`` and returns the ``Response`` it gets back. A
handler is one of three kinds, chosen per route:

- a plain function, run inline on the event loop: for short CPU-only work (recommend's engine
  is ~100 µs; a thread hop costs more than that);
- a plain function marked ``blocking=True``, run in this function's bounded thread pool (its
  size is capacity.yml's ``threads``): anything that waits on I/O through a sync client (SQLite,
  Firestore, the Cloud Run Admin API) must not hold the event loop;
- an ``async def``, awaited on the loop.

The request body is read asynchronously by the layer before any handler runs, so
``ApiRequest.body(model)`` stays a plain call. A handler may return ``EventStream`` to answer
with Server-Sent Events (``recoengine.web.events``).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from recoengine.capacity import server_threads
from recoengine.config import settings
from recoengine.errors import (
    BadRequest,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from recoengine.web import events, faults, health, metrics, openapi
from recoengine.web.events import EventStream, EventStreamResponse
from recoengine.web.logs import configure_logging, current_log_fields, write_request_log
from recoengine.web.tracing import current_request_id, current_trace, parse_trace

log = logging.getLogger("recoengine.http")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{8,64}$")
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


class _RequestIds:
    """Fresh request ids: 12 bytes from the OS CSPRNG, as hex, like ``secrets.token_hex(12)``.

    The bytes are fetched 4 KiB at a time: a system call per request cost more in situ than
    the rest of the id. A forked child starts with an empty pool (no id shared with its parent).
    """

    _SIZE = 12
    _BATCH = 12 * 341

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pool, self._at = b"", 0

    def new(self) -> str:
        with self._lock:
            at = self._at
            if at + self._SIZE > len(self._pool):
                self._pool, at = os.urandom(self._BATCH), 0
            self._at = at + self._SIZE
            return self._pool[at : at + self._SIZE].hex()


_request_ids = _RequestIds()


@dataclass
class Reply:
    """A handler's answer when it needs a status or headers other than 200 + JSON."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input echoed back (it may be huge or hostile)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


class _Body(NamedTuple):
    """The request body as the layer read it before the handler ran (a tuple: built per
    request, and a frozen dataclass costs a ``__setattr__`` per field)."""

    data: bytes = b""
    declared: int | None = None  # a plain Content-Length, if the request sent one
    too_large: bool = False  # declared or found over the limit (not read past it)
    cut_short: bool = False  # the client went away before its Content-Length was read


_EMPTY = _Body()
_NO_HEADERS: dict[str, str] = {}


class ApiRequest:
    """What a handler sees of a request: path params, query, headers and a validated body."""

    def __init__(
        self,
        raw: Request,
        params: dict[str, str],
        request_id: str,
        max_body: int,
        log_fields: dict[str, Any] | None = None,
        body: _Body = _EMPTY,
        content_type: bytes = b"",
    ) -> None:
        self.raw = raw
        self.params = params
        self.request_id = request_id
        self._max_body = max_body
        self._body = body
        self._content_type = content_type
        self._json: Any = None
        self._parsed = False
        # Fields added to this request's access-log entry (log-based metrics read them):
        # the request's entry, passed by HttpApp (or found in the context var it sets).
        if log_fields is None:
            log_fields = current_log_fields.get()
        self.log_fields: dict[str, Any] = log_fields if log_fields is not None else {}
        # The verified end user (``recoengine.web.identity``), None in local mode.
        self.identity: str | None = None

    @property
    def method(self) -> str:
        return str(self.raw.scope["method"])

    @property
    def path(self) -> str:
        return str(self.raw.scope["path"])

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive, like every HTTP header mapping."""
        return self.raw.headers

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters; a repeated one counts with its first value."""
        return dict(reversed(self.raw.query_params.multi_items()))

    def json(self) -> Any:
        """The parsed JSON body: 413 over the size limit, 415 for non-JSON, 400 if malformed."""
        if self._parsed:
            return self._json
        body = self._body
        if body.declared is not None and body.declared > self._max_body:
            raise PayloadTooLarge(f"request body exceeds {self._max_body} bytes")
        ctype = _mimetype(self._content_type)
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise UnsupportedMediaType("request body must be application/json")
        if body.cut_short:
            raise BadRequest("request body is shorter than its Content-Length")
        if body.too_large:
            raise PayloadTooLarge(f"request body exceeds {self._max_body} bytes")
        data = body.data
        if not data.strip():
            raise BadRequest("request body is empty; expected a JSON object")
        try:
            self._json = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"malformed JSON body: {str(exc)[:120]}") from None
        self._parsed = True
        return self._json

    def body(self, model: type[M]) -> M:
        """The body validated against ``model`` (422 with per-field problems when invalid)."""
        data = self.json()
        if not isinstance(data, dict):
            raise InvalidArgument("request body must be a JSON object")
        return validate(model, data)

    def query_as(self, model: type[M]) -> M:
        return validate(model, self.query)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument("request is invalid", details=validation_details(exc)) from None


# The usual Content-Type values, mapped to their media type without parameters.
_JSON_TYPES = {
    b"application/json": "application/json",
    b"application/json; charset=utf-8": "application/json",
    b"application/json; charset=UTF-8": "application/json",
    b"application/json;charset=utf-8": "application/json",
}


def _mimetype(raw: bytes) -> str:
    known = _JSON_TYPES.get(raw)
    if known is not None:
        return known
    return raw.decode("latin-1").split(";", 1)[0].strip().lower()


def _plain_length(value: bytes | None, chunked: bool) -> int | None:
    """``Content-Length`` when it is a plain decimal and the body is not chunked, else None."""
    if value is None or chunked or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


async def _read_body(request: Request, declared: int | None, limit: int) -> _Body:
    """The body, read from the ASGI ``receive`` channel up to ``limit`` + 1 bytes.

    A declared length over the limit is not read at all (413 without taking the bytes in);
    a chunked body is read only until it passes the limit. A client that goes away before
    its ``Content-Length`` arrived leaves a body that is ``cut_short`` (a 400, not a 500).
    """
    if declared is not None and declared > limit:
        return _Body(declared=declared, too_large=True)
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return _Body(b"".join(chunks), declared, cut_short=True)
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return _Body(declared=declared, too_large=True)
        if not message.get("more_body", False):
            break
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return _Body(data, declared, cut_short=declared is not None and len(data) < declared)


Handler = Callable[[ApiRequest], Any]
Guard = Callable[[ApiRequest], None]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    guard: Guard | None
    is_async: bool
    blocking: bool


def _compile(pattern: str) -> re.Pattern[str]:
    """``/a/{id}`` matches one segment; ``/a/{rest:path}`` matches the rest of the path."""
    parts = re.split(r"(\{[a-z_]+(?::path)?\})", pattern)
    rx = ""
    for part in parts:
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            rx += f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            rx += re.escape(part)
    return re.compile(f"^{rx}\\Z", re.DOTALL)


# Headers every answer carries, as ASGI and Starlette hold them: lowercase names, bytes (what a
# client of Cloud Run sees anyway: HTTP/2 lowercases every header name).
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_JSON_TYPE = (b"content-type", b"application/json")
_TEXT_TYPE = (b"content-type", b"text/plain; charset=utf-8")
_EVENT_STREAM_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")
_NO_BUFFERING = (b"x-accel-buffering", b"no")  # nginx-style proxies: pass each event on


class _Answer(Response):
    """A response whose header list is built once, by the layer, in the order it is sent.

    ``Response.__init__`` renders the body and scans the headers again for Content-Length and
    Content-Type; the layer already knows both, so it sets the three attributes that
    ``Response.__call__`` sends (``status_code``, ``raw_headers``, ``body``) directly.
    """

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.raw_headers = raw_headers
        self.background = None


def _merge_headers(
    ours: list[tuple[bytes, bytes]], extra: Mapping[str, str]
) -> list[tuple[bytes, bytes]]:
    """``ours`` with a handler's own headers replacing the ones of the same name."""
    own = {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in extra.items()}
    merged = [h for h in ours if h[0] not in own]
    merged.extend(own.items())
    if b"cache-control" not in own:
        merged.append(_NO_STORE)
    return merged


def _response(
    body: bytes | str,
    status: int,
    request_id: str,
    extra: Mapping[str, str],
    content_type: tuple[bytes, bytes],
) -> _Answer:
    """The response with the headers every answer carries, built in one list.

    A handler's own headers (rare: ``Allow``, ``Retry-After``, ``Content-Type``,
    ``Cache-Control``) replace ours. No body and no Content-Length below 200 and for 204/304.
    """
    data = body.encode() if isinstance(body, str) else body
    if status < 200 or status in (204, 304):
        data = b""
        raw = [(b"x-request-id", request_id.encode()), _NOSNIFF]
    else:
        raw = [
            content_type,
            (b"content-length", str(len(data)).encode()),
            (b"x-request-id", request_id.encode()),
            _NOSNIFF,
        ]
    if not extra:
        raw.append(_NO_STORE)
        return _Answer(data, status, raw)
    return _Answer(data, status, _merge_headers(raw, extra))


# The HttpApp each function built last in this process, by function name (``app_of``).
_latest: dict[str, HttpApp] = {}


def app_of(function: str) -> HttpApp:
    """The ``HttpApp`` of ``function`` as loaded in this process (functions-framework loads
    ``main.py`` itself): how the local stack and the tests reach it to wrap the framework's
    ASGI app (``HttpApp.wrap``). KeyError when that function was not loaded here."""
    return _latest[function]


class HttpApp:
    """One function's HTTP surface: ``await app(request)`` from the function's entry point."""

    def __init__(self, function: str, *, threads: int | None = None) -> None:
        """``threads``: the pool for blocking handlers; by default the function's own from
        capacity.yml (``SERVER_THREADS`` overrides), resolved when first needed."""
        self.function = function
        self._threads = threads
        self._routes: list[_Route] = []
        # Routes without parameters, by (method, path): one dict lookup instead of a regex
        # per registered route (a recommendation is the fifth route; most requests are such).
        self._static: dict[tuple[str, str], _Route] = {}
        # Prometheus children per (route, method, status): ``labels()`` once, not per request.
        self._metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.health = health.HealthRegistry(function)
        _latest[function] = self
        # Health checks and the gauges' refresh ping the stores: they wait on I/O.
        self.route("GET", "/health", blocking=True)(self._health)
        self.route("GET", "/health/detailed", blocking=True)(self._health_detailed)
        self.route("GET", "/metrics", blocking=True)(self._metrics)
        self.route("GET", "/openapi.json")(self._openapi)
        cfg = settings().service
        configure_logging(
            cfg.project, cfg.log_level, {"service": cfg.service, "revision": cfg.revision}
        )

    # -- registration -------------------------------------------------------------------
    def route(
        self, method: str, pattern: str, *, guard: Guard | None = None, blocking: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a handler. ``blocking=True``: a sync handler (and its guard) that waits on
        I/O runs in the thread pool instead of on the event loop."""

        def register(handler: Handler) -> Handler:
            is_async = inspect.iscoroutinefunction(handler)
            if is_async and blocking:
                raise ValueError(f"{pattern}: an async handler cannot be blocking")
            route = _Route(method, pattern, _compile(pattern), handler, guard, is_async, blocking)
            shadowed = any(r.method == method and r.regex.match(pattern) for r in self._routes)
            if "{" not in pattern and not shadowed:  # an earlier route would win the scan
                self._static.setdefault((method, pattern), route)
            self._routes.append(route)
            return handler

        return register

    @property
    def routes(self) -> list[tuple[str, str]]:
        return [(r.method, r.pattern) for r in self._routes]

    @property
    def threads(self) -> int:
        """The size of the pool that runs blocking handlers (capacity.yml, SERVER_THREADS)."""
        return self._threads if self._threads is not None else server_threads(self.function)

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.threads, thread_name_prefix=f"{self.function}-blocking"
                    )
                pool = self._pool
        return pool

    async def run_blocking(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in the thread pool (with the request's context: its log fields,
        request id and trace), for a handler that is async or inline but must wait on a
        sync client for one step."""
        loop = asyncio.get_running_loop()
        run = contextvars.copy_context().run
        return await loop.run_in_executor(self._executor(), run, call, *args)

    # -- dispatch -----------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        static = self._static.get((method, path))
        if static is not None:
            return static, {}
        allowed: list[str] = []
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict()
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(
                f"{method} is not allowed on {path}", headers={"Allow": ", ".join(allowed)}
            )
        raise NotFound(f"no such endpoint: {method} {path}")

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        scope = request.scope
        method: str = scope["method"]
        path: str = scope["path"]
        headers = dict(scope["headers"])  # the raw header list, read once (names are lowercase)
        raw_id = headers.get(b"x-request-id")
        sent = raw_id.decode("latin-1") if raw_id is not None else ""
        request_id = sent if sent and _REQUEST_ID.match(sent) else _request_ids.new()
        id_token = current_request_id.set(request_id)
        cloud = headers.get(b"x-cloud-trace-context")
        parent = headers.get(b"traceparent")
        trace_token = current_trace.set(
            None
            if cloud is None and parent is None
            else parse_trace(
                cloud.decode("latin-1") if cloud is not None else None,
                parent.decode("latin-1") if parent is not None else None,
            )
        )
        route_label = "unmatched"
        fields: dict[str, Any] = {}
        fields_token = current_log_fields.set(fields)
        body = _EMPTY
        try:
            try:
                route, params = self._match(method, path)
                route_label = route.pattern
                length = headers.get(b"content-length")
                chunked = b"transfer-encoding" in headers
                max_body = settings().service.max_body_bytes
                if method not in _NO_BODY or chunked or (length is not None and length != b"0"):
                    body = await _read_body(request, _plain_length(length, chunked), max_body)
                req = ApiRequest(
                    request,
                    params,
                    request_id,
                    max_body,
                    fields,
                    body,
                    headers.get(b"content-type", b""),
                )
                if route.blocking:
                    result = await self.run_blocking(_guarded, route, req)
                elif route.is_async:
                    if route.guard is not None:
                        route.guard(req)
                    result = await route.handler(req)
                else:
                    result = _guarded(route, req)
                if isinstance(result, EventStream):
                    stream = await self._stream(result, request_id, route_label, started, fields)
                    if stream is not None:
                        return stream  # it writes the access log when it ends
                    result = Reply(b"", 204)
                response = self._respond(result, request_id)
            except ServiceError as exc:
                response = self._error(exc, request_id)
            except Exception as exc:
                response = self._unexpected(exc, method, path, request_id)
            elapsed = time.perf_counter() - started
            self._observe(
                scope,
                headers,
                response.status_code,
                len(response.body),
                route_label,
                elapsed,
                fields,
            )
            return response
        finally:
            current_trace.reset(trace_token)
            current_log_fields.reset(fields_token)
            current_request_id.reset(id_token)

    def _unexpected(self, exc: Exception, method: str, path: str, request_id: str) -> _Answer:
        unavailable = faults.as_unavailable(exc)
        if unavailable is not None:
            log.warning("dependency unavailable in %s %s", method, path, exc_info=exc)
            return self._error(unavailable, request_id)
        log.error("unhandled error in %s %s", method, path, exc_info=exc)
        return self._error(ServiceError("internal error"), request_id)

    async def _stream(
        self,
        stream: EventStream,
        request_id: str,
        route: str,
        started: float,
        fields: dict[str, Any],
    ) -> EventStreamResponse | None:
        """The stream's response, after its first event (an error there raises, so it is
        answered as JSON); None for a stream without events."""
        try:
            first = await anext(stream.events)
        except StopAsyncIteration:
            return None
        except BaseException:
            await events.aclose(stream.events)
            raise
        raw = [_EVENT_STREAM_TYPE, (b"x-request-id", request_id.encode()), _NOSNIFF]
        raw = _merge_headers([*raw, _NO_BUFFERING], stream.headers)

        def finished(
            scope: Mapping[str, Any], status: int, size: int, outcome: str, failure: Any
        ) -> None:
            if failure is not None:
                log.error("event stream of %s failed", route, exc_info=failure)
            fields["stream"] = outcome
            elapsed = time.perf_counter() - started
            headers = dict(scope["headers"])
            self._observe(
                scope, headers, status, size, route, elapsed, fields, error=failure is not None
            )

        return EventStreamResponse(
            first,
            stream.events,
            raw,
            error_body=lambda exc: self._error_body(self._service_error(exc), request_id),
            finished=finished,
            context=contextvars.copy_context(),
        )

    @staticmethod
    def _service_error(exc: BaseException) -> ServiceError:
        """The client's view of an exception: its own error, a 503, or a bare 500."""
        if isinstance(exc, ServiceError):
            return exc
        unavailable = faults.as_unavailable(exc)
        return unavailable if unavailable is not None else ServiceError("internal error")

    @staticmethod
    def _error_body(exc: ServiceError, request_id: str) -> dict[str, Any]:
        return {"error": exc.to_dict(), "request_id": request_id}

    def _respond(self, result: Any, request_id: str) -> _Answer:
        if type(result) is dict:  # the usual answer: 200 and JSON
            body = orjson.dumps(result, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
            return _response(body, 200, request_id, _NO_HEADERS, _JSON_TYPE)
        reply = result if isinstance(result, Reply) else Reply(result)
        if isinstance(reply.body, bytes | str):
            return _response(reply.body, reply.status, request_id, reply.headers, _TEXT_TYPE)
        body = orjson.dumps(reply.body, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
        return _response(body, reply.status, request_id, reply.headers, _JSON_TYPE)

    def _error(self, exc: ServiceError, request_id: str) -> _Answer:
        body = orjson.dumps(self._error_body(exc, request_id), default=str)
        return _response(body, exc.status, request_id, exc.headers, _JSON_TYPE)

    def _observe(
        self,
        scope: Mapping[str, Any],
        headers: Mapping[bytes, bytes],
        code: int,
        body_size: int,
        route: str,
        elapsed: float,
        fields: dict[str, Any],
        *,
        error: bool = False,
    ) -> None:
        method: str = scope["method"]
        key = (route, method, code)
        children = self._metric_children.get(key)
        if children is None:
            labels = (self.function, route, method, str(code))
            children = (
                metrics.HTTP_REQUEST_DURATION.labels(*labels),
                metrics.HTTP_REQUEST_TOTAL.labels(*labels),
            )
            self._metric_children[key] = children
        children[0].observe(elapsed)
        children[1].inc()
        metrics.RECENT.record(code, elapsed)
        if code < 500 and route in ("/health", "/metrics"):
            return  # probes and scrapes would drown the request log
        client = scope.get("client")
        path: str = scope["path"]
        write_request_log(
            "ERROR" if code >= 500 or error else "INFO",
            f"{method} {path} {code}",
            {
                "requestMethod": method,
                "requestUrl": path,
                "status": code,
                "latency": f"{elapsed:.6f}s",
                "userAgent": headers.get(b"user-agent", b"").decode("latin-1"),
                "remoteIp": client[0] if client else "",
                "requestSize": headers.get(b"content-length", b"0").decode("latin-1"),
                "responseSize": str(body_size),
            },
            {"function": self.function, "route": route, **fields},
        )

    # -- the paths functions-framework answers itself ------------------------------------
    def wrap(self, inner: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """An ASGI app that is ``inner`` (a functions-framework ASGI app of this function),
        except that the 404s ``inner`` answers without running the function are answered by
        this layer instead, with the JSON envelope: ``/robots.txt`` and ``/favicon.ico``
        (functions-framework's own routes), and paths its route pattern cannot match (an
        encoded newline). A 404 of this layer carries ``X-Request-Id``; theirs do not."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            held: list[dict[str, Any]] = []

            async def hold_framework_404(message: dict[str, Any]) -> None:
                if held:
                    return  # the body of the framework's 404: dropped
                if message["type"] == "http.response.start" and message["status"] == 404:
                    names = {name.lower() for name, _ in message.get("headers", [])}
                    if b"x-request-id" not in names:
                        held.append(message)
                        return
                await send(message)

            await inner(scope, receive, hold_framework_404)
            if held:
                response = await self(Request(scope, receive))
                await response(scope, receive, send)

        return app

    # -- built-in endpoints -------------------------------------------------------------
    def _health(self, req: ApiRequest) -> Reply:
        report = self.health.summary()
        return Reply(report, 503 if report["status"] == "unhealthy" else 200)

    def _health_detailed(self, req: ApiRequest) -> Reply:
        report = self.health.detailed(metrics.RECENT.snapshot())
        return Reply(report, 503 if report["status"] == "unhealthy" else 200)

    def _metrics(self, req: ApiRequest) -> Reply:
        self.health.refresh_gauges()
        body, ctype = metrics.exposition()
        return Reply(body, 200, {"Content-Type": ctype})

    def _openapi(self, req: ApiRequest) -> Reply:
        return Reply(
            openapi.document_json(),
            200,
            {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"},
        )


def _guarded(route: _Route, req: ApiRequest) -> Any:
    if route.guard is not None:
        route.guard(req)
    return route.handler(req)
