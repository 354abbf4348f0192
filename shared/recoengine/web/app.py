"""A small HTTP application that each function's ``main.py`` builds and hands its routes to.

It does what every endpoint needs, once: path routing with ``{params}``, body size limits,
JSON parsing (400), validation with pydantic models (422), one JSON error envelope for every
error, request ids, trace-aware access logs, Prometheus metrics, and the ``/health``,
``/health/detailed``, ``/metrics`` and ``/openapi.json`` endpoints. A dependency failing in a
way no handler anticipated (a Firestore outage, a locked database) is a 503 with
``Retry-After``, not a 500 (``faults``). Handlers stay thin: parse, call the engine, shape the
answer.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import flask
import orjson
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected

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
from recoengine.web import faults, health, metrics, openapi
from recoengine.web.logs import configure_logging, current_log_fields, write_request_log
from recoengine.web.tracing import current_request_id, current_trace, parse_trace

log = logging.getLogger("recoengine.http")

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{8,64}$")


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


class ApiRequest:
    """What a handler sees of a request: path params, query, headers and a validated body."""

    def __init__(
        self,
        raw: flask.Request,
        params: dict[str, str],
        request_id: str,
        max_body: int,
        log_fields: dict[str, Any] | None = None,
    ) -> None:
        self.raw = raw
        self.params = params
        self.request_id = request_id
        self._max_body = max_body
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
        return self.raw.method

    @property
    def path(self) -> str:
        return self.raw.path

    @property
    def headers(self) -> Any:
        return self.raw.headers

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.raw.args.items()}

    def json(self) -> Any:
        """The parsed JSON body: 413 over the size limit, 415 for non-JSON, 400 if malformed."""
        if self._parsed:
            return self._json
        environ = self.raw.environ
        plain = _plain_content_length(environ)
        length = plain if plain is not None else self.raw.content_length  # chunked, absent, odd
        if length is not None and length > self._max_body:
            raise PayloadTooLarge(f"request body exceeds {self._max_body} bytes")
        ctype = _JSON_TYPES.get(environ.get("CONTENT_TYPE", ""))
        if ctype is None:
            ctype = (self.raw.mimetype or "").lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise UnsupportedMediaType("request body must be application/json")
        if plain is not None:
            # A plain Content-Length within the limit: werkzeug reads exactly that and keeps
            # it, so functions-framework's drain after the response (``get_data()``) costs
            # nothing. A client that hangs up early is a 400, not a server error. The limit is
            # set as this request's own (Flask's per-request setting) so that werkzeug need
            # not look the app's config up; never for a chunked body, whose remainder
            # functions-framework's drain reads after the response (it would raise there).
            self.raw.max_content_length = self._max_body
            try:
                data = self.raw.get_data(cache=True)
            except ClientDisconnected:
                data = b""
            if len(data) < plain:
                raise BadRequest("request body is shorter than its Content-Length")
        else:
            data = self.raw.stream.read(self._max_body + 1)
        if len(data) > self._max_body:
            raise PayloadTooLarge(f"request body exceeds {self._max_body} bytes")
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


# The usual Content-Type values, mapped to what ``Request.mimetype`` would answer for them.
_JSON_TYPES = {
    "application/json": "application/json",
    "application/json; charset=utf-8": "application/json",
    "application/json; charset=UTF-8": "application/json",
    "application/json;charset=utf-8": "application/json",
}


def _plain_content_length(environ: dict[str, Any]) -> int | None:
    """``Content-Length`` when it is a plain decimal and the body is not chunked, else None."""
    value = environ.get("CONTENT_LENGTH")
    if not value or "HTTP_TRANSFER_ENCODING" in environ:
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)


Handler = Callable[[ApiRequest], Any]
Guard = Callable[[ApiRequest], None]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    guard: Guard | None


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
    return re.compile(f"^{rx}$")


class _Response(flask.Response):
    """A response whose headers, ``Content-Length`` included, are all given at construction."""

    automatically_set_content_length = False
    body_size = 0  # the body's length in bytes (the access log's responseSize)


def _response(
    body: bytes | str,
    status: int,
    request_id: str,
    extra: dict[str, str],
    content_type: str | None,
) -> flask.Response:
    """The response with the headers every answer carries, built in one step.

    Setting them one by one on a ``flask.Response`` (each a scan and a check of the header
    list) cost more than the rest of the response, so they go in as one list through
    ``Headers``' public constructor, and the response is told not to count its body again.
    A handler's own headers (rare: ``Allow``, ``Retry-After``, ``Content-Type``) replace ours.
    """
    data = body.encode() if isinstance(body, str) else body
    if status < 200 or status in (204, 304):  # no body, no Content-Length: werkzeug's rules
        response = flask.Response(data, status=status, content_type=content_type)
        response.headers.update(extra)
        response.headers["X-Request-Id"] = request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    common = [
        ("Content-Type", content_type or "text/plain; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("X-Request-Id", request_id),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if not extra:
        common.append(("Cache-Control", "no-store"))
        headers = Headers(common)
    else:
        headers = Headers(common)
        headers.update(extra)
        headers.setdefault("Cache-Control", "no-store")
    response = _Response(data, status=status, headers=headers)
    response.body_size = len(data)
    return response


class HttpApp:
    """One function's HTTP surface. Call it with a ``flask.Request`` (functions-framework does)."""

    def __init__(self, function: str) -> None:
        self.function = function
        self._routes: list[_Route] = []
        # Routes without parameters, by (method, path): one dict lookup instead of a regex
        # per registered route (a recommendation is the fifth route; most requests are such).
        self._static: dict[tuple[str, str], _Route] = {}
        # Prometheus children per (route, method, status): ``labels()`` once, not per request.
        self._metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.health = health.HealthRegistry(function)
        self.route("GET", "/health")(self._health)
        self.route("GET", "/health/detailed")(self._health_detailed)
        self.route("GET", "/metrics")(self._metrics)
        self.route("GET", "/openapi.json")(self._openapi)
        if flask.has_app_context():  # functions-framework loads main.py inside its app
            # It answers some paths itself, before the function runs, with an HTML 404
            # (/robots.txt, /favicon.ico, a path its route cannot match, such as one with an
            # encoded newline): send those through the function too, so they get the envelope.
            flask.current_app.register_error_handler(404, lambda _exc: self(flask.request))
        cfg = settings().service
        configure_logging(
            cfg.project, cfg.log_level, {"service": cfg.service, "revision": cfg.revision}
        )

    # -- registration -------------------------------------------------------------------
    def route(
        self, method: str, pattern: str, *, guard: Guard | None = None
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            route = _Route(method, pattern, _compile(pattern), handler, guard)
            shadowed = any(r.method == method and r.regex.match(pattern) for r in self._routes)
            if "{" not in pattern and not shadowed:  # an earlier route would win the scan
                self._static.setdefault((method, pattern), route)
            self._routes.append(route)
            return handler

        return register

    @property
    def routes(self) -> list[tuple[str, str]]:
        return [(r.method, r.pattern) for r in self._routes]

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

    def __call__(self, raw: flask.Request) -> flask.Response:
        started = time.perf_counter()
        environ = raw.environ  # headers read straight from the WSGI environ: the hot path
        header_id = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = header_id if _REQUEST_ID.match(header_id) else _request_ids.new()
        id_token = current_request_id.set(request_id)
        trace_token = current_trace.set(
            parse_trace(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT"), environ.get("HTTP_TRACEPARENT"))
        )
        route_label = "unmatched"
        fields: dict[str, Any] = {}
        fields_token = current_log_fields.set(fields)
        try:
            try:
                route, params = self._match(raw.method, raw.path)
                route_label = route.pattern
                req = ApiRequest(raw, params, request_id, settings().service.max_body_bytes, fields)
                if route.guard is not None:
                    route.guard(req)
                result = route.handler(req)
                response = self._respond(result, request_id)
            except ServiceError as exc:
                response = self._error(exc, request_id)
            except Exception as exc:
                unavailable = faults.as_unavailable(exc)
                if unavailable is not None:
                    log.warning(
                        "dependency unavailable in %s %s", raw.method, raw.path, exc_info=True
                    )
                    response = self._error(unavailable, request_id)
                else:
                    log.exception("unhandled error in %s %s", raw.method, raw.path)
                    response = self._error(ServiceError("internal error"), request_id)
            elapsed = time.perf_counter() - started
            self._observe(raw, response, route_label, elapsed, fields)
            return response
        finally:
            current_trace.reset(trace_token)
            current_log_fields.reset(fields_token)
            current_request_id.reset(id_token)

    def _respond(self, result: Any, request_id: str) -> flask.Response:
        reply = result if isinstance(result, Reply) else Reply(result)
        if isinstance(reply.body, bytes | str):
            return _response(reply.body, reply.status, request_id, reply.headers, None)
        body = orjson.dumps(reply.body, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
        return _response(body, reply.status, request_id, reply.headers, "application/json")

    def _error(self, exc: ServiceError, request_id: str) -> flask.Response:
        body = {"error": exc.to_dict(), "request_id": request_id}
        return _response(
            orjson.dumps(body, default=str), exc.status, request_id, exc.headers, "application/json"
        )

    def _observe(
        self,
        raw: flask.Request,
        response: flask.Response,
        route: str,
        elapsed: float,
        fields: dict[str, Any],
    ) -> None:
        code = response.status_code
        method = raw.method
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
        environ = raw.environ
        size = _plain_content_length(environ)
        if size is None:
            size = raw.content_length or 0
        if isinstance(response, _Response):
            body_size = response.body_size
        else:
            body_size = response.calculate_content_length() or 0
        write_request_log(
            "ERROR" if code >= 500 else "INFO",
            f"{method} {raw.path} {code}",
            {
                "requestMethod": method,
                "requestUrl": raw.path,
                "status": code,
                "latency": f"{elapsed:.6f}s",
                "userAgent": environ.get("HTTP_USER_AGENT", ""),
                "remoteIp": environ.get("REMOTE_ADDR") or "",
                "requestSize": str(size),
                "responseSize": str(body_size),
            },
            {"function": self.function, "route": route, **fields},
        )

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
