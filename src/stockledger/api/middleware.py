"""ASGI middleware: request ids bound to logs, and bounded work per request body.

Before any route sees a body, it must be at most 256 KiB (413, counted while it streams in, so
a lying or absent Content-Length does not help), arrive completely within the body timeout
(408: a client trickling bytes cannot hold a connection and its buffer), and, for POST, PUT and
PATCH with a JSON (or no) media type, be strict JSON (RFC 8259: no NaN, valid UTF-8, no lone
surrogates) nested at most 32 levels (422): parsing costs a bounded amount and never recurses
deeply. The route then parses the same bytes again, which is cheap at this size.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_SECONDS
from .problems import problem_response

MAX_BODY = 256 * 1024
MAX_DEPTH = 32
_JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def is_json(content_type: str | None) -> bool:
    """FastAPI parses a body as JSON when it has no media type or application/(*+)json."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def json_problem(body: bytes) -> str | None:
    """Why these bytes are refused as a JSON body, or None."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return f"The body is not valid JSON: {error}"
    if isinstance(value, dict | list) and _deeper_than(value, MAX_DEPTH):
        return f"The body is nested deeper than {MAX_DEPTH} levels"
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class RequestContext:
    """Gives every request an id (or keeps X-Request-Id), binds it for logs, echoes it back,
    and bounds the body (size, arrival time, JSON shape) before anything parses it."""

    def __init__(self, app: ASGIApp, body_timeout: float = 10.0) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._handle(scope, receive, send, headers, request_id)
        finally:
            structlog.contextvars.clear_contextvars()

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        request_id: str,
    ) -> None:
        path = scope.get("path", "")
        refuse = {"X-Request-Id": request_id, "Connection": "close"}
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            too_large = f"Request bodies are limited to {MAX_BODY} bytes"
            await problem_response(413, "payload-too-large", too_large, path, refuse)(
                scope, receive, send
            )
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read_body(receive)
        except _Disconnected:
            return
        except _TooLarge:
            too_large = f"Request bodies are limited to {MAX_BODY} bytes"
            await problem_response(413, "payload-too-large", too_large, path, refuse)(
                scope, receive, send
            )
            return
        except TimeoutError:
            slow = f"The request body did not arrive within {self.body_timeout:g} s"
            await problem_response(408, "request-timeout", slow, path, refuse)(scope, receive, send)
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        if body and scope.get("method") in _JSON_METHODS and is_json(content_type):
            why = json_problem(body)
            if why is not None:
                errors = [{"location": "body", "message": why}]
                problem = problem_response(
                    422, "validation-error", why, path, {"X-Request-Id": request_id}, errors=errors
                )
                await problem(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, replay, send_with_id)


class HttpMetrics:
    """RED metrics per route template (never the raw path: no label per SKU): requests by
    method, route and status, latency by method and route, and requests in flight.

    Hand-written on prometheus-client rather than an instrumentation package: it is one more
    ASGI layer either way, and this one costs a dict lookup and three metric updates."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[Any, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            HTTP_IN_FLIGHT.dec()
            route = self._template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is None:  # refused before routing (413, 408, bad JSON) or no route at all
            return self._match(scope)
        template = self._templates.get(endpoint)
        if template is None and isinstance(path := getattr(scope.get("route"), "path", None), str):
            template = self._templates[endpoint] = path  # routers that say which route matched
        if template is None:
            app = scope.get("app")
            for route in getattr(app, "routes", ()):
                if getattr(route, "endpoint", None) is endpoint:
                    template = self._templates[endpoint] = route.path
                    break
        return template or "unmatched"

    @staticmethod
    def _match(scope: Scope) -> str:
        for route in getattr(scope.get("app"), "routes", ()):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"
