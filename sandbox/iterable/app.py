"""The emulator's HTTP face: a raw ASGI app (no framework, to keep per-request overhead
small enough for thousands of requests per second on one core).

``/api/...`` behaves like Iterable (routes in ``routes.py``); ``/_emulator/...``
inspects and configures the emulator (``admin.py``; no API key: it is bound to loopback).
This module holds what surrounds a handler: authentication, rate limits, faults, body
validation, deferred writes, the request log.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from ctsync.core.names import PROJECT_TYPES
from ctsync.sandbox.iterable import admin, spec
from ctsync.sandbox.iterable.deferred import precheck, provisional
from ctsync.sandbox.iterable.errors import ApiError
from ctsync.sandbox.iterable.exports import RawBody
from ctsync.sandbox.iterable.faults import (
    FORGET_DAILY_CAP,
    Decision,
    FaultPlan,
    RateLimiter,
    parse_faults,
)
from ctsync.sandbox.iterable.project import Project
from ctsync.sandbox.iterable.query import Query, value
from ctsync.sandbox.iterable.routes import ENDPOINTS, Route, body_definition, match
from ctsync.sandbox.iterable.wire import drop, read_all, respond

# The emulator subprocess reads its API key from here (argv would show it in `ps`).
API_KEY_ENV = "ITERABLE_EMULATOR_API_KEY"
BODY_CAP_BYTES = 4_000_000
REQUEST_LOG_MAX = 200_000
CAPTURE_MAX = 20_000

log = logging.getLogger("ctsync.sandbox.iterable")


class _Unanswered(Exception):
    """The request was dropped or hung on purpose; nothing more is sent."""


class EmulatorApp:
    """ASGI callable holding one project plus limits, faults, the request log."""

    def __init__(
        self,
        api_key: str,
        project_type: str = "hybrid",
        rate_scale: float = 1.0,
        faults: str = "",
        capture: bool = False,
    ) -> None:
        self.api_key = api_key
        self.api_key_bytes = api_key.encode()
        self.project = Project(project_type)
        self.limiter = RateLimiter(rate_scale)
        self.held = 0
        self._release = asyncio.Event()
        self.set_faults(faults)
        self.capture = capture
        self.captured: collections.deque[dict[str, Any]] = collections.deque(maxlen=CAPTURE_MAX)
        self.log: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=REQUEST_LOG_MAX)
        self.counters: dict[str, dict[int, int]] = {}
        self.pending: dict[int, tuple[asyncio.TimerHandle, Callable[[], None]]] = {}
        self.deferred_errors: list[dict[str, Any]] = []
        self._pending_ids = 0
        self.started = time.time()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_emulator/"):
            body = await read_all(receive)
            status, payload = admin.handle(
                self,
                scope["method"],
                path[len("/_emulator/") :],
                parse_qs(scope["query_string"].decode()),
                body,
            )
            await respond(send, status, orjson.dumps(payload))
            return
        await self._api(scope, receive, send)

    async def _api(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        route, args, known = match(method, path)
        endpoint = route.endpoint if route else "unknown"
        exchange = _Exchange(method, path, endpoint, started)
        # Read the body before any answer, refusals included, so the request log records
        # the size of every request (a refused oversized batch is worth seeing).
        raw = await read_all(receive, BODY_CAP_BYTES)
        exchange.req_bytes = len(raw) if raw is not None else BODY_CAP_BYTES + 1
        try:
            status, payload = await self._answer(scope, send, route, known, args, raw, exchange)
        except _Unanswered:
            return
        except ApiError as error:
            status, payload = error.status, error.body()
        except Exception as error:  # a bug in the emulator must still answer like Iterable
            log.exception("emulator error on %s %s", method, path)
            status = 500
            payload = {
                "msg": f"Internal emulator error: {type(error).__name__}",
                "code": "GenericError",
                "params": None,
            }
        if isinstance(payload, RawBody):
            out = payload.data
            await respond(send, status, out, payload.content_type.encode())
            payload = out.decode("utf-8", "replace")  # captured as text: /captured is JSON
        else:
            out = orjson.dumps(payload)
            await respond(send, status, out)
        self._record(exchange, status, len(out), payload)

    async def _answer(
        self,
        scope: dict[str, Any],
        send: Any,
        route: Route | None,
        known: bool,
        args: dict[str, str],
        raw: bytes | None,
        exchange: _Exchange,
    ) -> tuple[int, Any]:
        """Admit the request, play its faults, run its handler: ``(status, payload)``."""
        if route is None:
            status = 405 if known else 404
            raise ApiError(
                status,
                "NotFound" if status == 404 else "BadParams",
                f"No route for {exchange.method} {exchange.path}",
            )
        query = parse_qs(scope["query_string"].decode()) if scope["query_string"] else {}
        self._admit(scope, query, exchange)
        decision = self.faults.decide(exchange.endpoint, route.write)
        await self._before_handler(decision, send, exchange)
        if raw is None:
            raise ApiError(
                413,
                "BatchTooLarge",
                f"Request body exceeds {BODY_CAP_BYTES} bytes; split the batch",
            )
        exchange.request_body = self._parse_body(route, raw, exchange.path)
        if decision.async_s:
            answer = self._defer(route, exchange.request_body, args, query, decision.async_s)
        else:
            answer = route.handler(self.project, exchange.request_body, args, query)
        if decision.hang_s:
            self._record(exchange, 0, 0, None)
            await asyncio.sleep(decision.hang_s)
            await drop(send)
            raise _Unanswered
        return answer

    def _admit(self, scope: dict[str, Any], query: Query, exchange: _Exchange) -> None:
        """The API key and the endpoint's rate limit."""
        if not self._authorized(scope["headers"], query):
            raise ApiError(401, "BadApiKey", "Invalid API key", {"endpoint": exchange.path})
        admitted, reason = self.limiter.admit(exchange.endpoint)
        if not admitted:
            raise ApiError(
                429, "RateLimitExceeded", f"Rate limit exceeded for {exchange.path}: {reason}"
            )

    async def _before_handler(self, decision: Decision, send: Any, exchange: _Exchange) -> None:
        """The faults that act before anything is applied: hold, latency, drop, status."""
        if decision.hold:
            release = self._release
            self.held += 1
            try:
                await release.wait()
            finally:
                self.held -= 1
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.drop:
            self._record(exchange, 0, 0, None)
            await drop(send)
            raise _Unanswered
        if decision.status is not None:
            code = "RateLimitExceeded" if decision.status == 429 else "GenericError"
            raise ApiError(
                decision.status, code, f"Injected fault: {decision.status} for {exchange.endpoint}"
            )

    def _authorized(self, headers: list[tuple[bytes, bytes]], query: Query) -> bool:
        for name, header_value in headers:
            if name in (b"api-key", b"api_key"):
                return header_value == self.api_key_bytes
        return value(query, "api_key") == self.api_key

    def _parse_body(self, route: Route, raw: bytes, path: str) -> Any:
        definition = body_definition(route)
        if definition is None:
            return None
        if not raw:
            raise ApiError(
                400,
                "BadJsonBody",
                f"[{path}] Invalid JSON body",
                {"obj": "A JSON body is required"},
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise ApiError(
                400, "BadJsonBody", f"[{path}] Invalid JSON body", {"obj": f"Invalid JSON: {error}"}
            ) from None
        problems = spec.validate(definition, body)
        if problems:
            raise ApiError(400, "BadJsonBody", f"[{path}] Invalid JSON body", problems)
        return body

    def _record(self, exchange: _Exchange, status: int, resp_bytes: int, response: Any) -> None:
        """Log one exchange (status 0: no answer), count it, capture it when asked."""
        elapsed = (time.perf_counter() - exchange.started) * 1000
        self.log.append(
            (
                time.time(),
                exchange.method,
                exchange.path,
                exchange.endpoint,
                status,
                exchange.req_bytes,
                resp_bytes,
                elapsed,
            )
        )
        per = self.counters.get(exchange.endpoint)
        if per is None:
            per = self.counters[exchange.endpoint] = {}
        per[status] = per.get(status, 0) + 1
        if self.capture:
            self.captured.append(
                {
                    "method": exchange.method,
                    "path": exchange.path,
                    "endpoint": exchange.endpoint,
                    "status": status,
                    "request": exchange.request_body,
                    "response": response,
                }
            )

    # ------------------------------------------------------------------ async apply

    def _defer(
        self,
        route: Route,
        body: Any,
        args: dict[str, str],
        query: Query,
        delay: float,
    ) -> tuple[int, Any]:
        outcome = precheck(self.project, route.endpoint, body)
        if route.endpoint in ("events/track", "commerce/trackPurchase") and body.get("id") is None:
            body = {**body, "id": uuid.uuid4().hex}
        self._pending_ids += 1
        ticket = self._pending_ids
        project = self.project

        def apply() -> None:
            self.pending.pop(ticket, None)
            if project is not self.project:  # reset since: the write belongs to old state
                return
            try:
                route.handler(project, body, args, query)
            except ApiError as error:
                self.deferred_errors.append(
                    {"endpoint": route.endpoint, "status": error.status, "body": error.body()}
                )

        handle = asyncio.get_running_loop().call_later(delay, apply)
        self.pending[ticket] = (handle, apply)
        return provisional(route.endpoint, body, outcome)

    def flush(self) -> int:
        """Apply every write still waiting, in arrival order."""
        waiting = sorted(self.pending.items())
        for _, (handle, apply) in waiting:
            handle.cancel()
            apply()
        return len(waiting)

    # ------------------------------------------------------------------ configuration

    def set_faults(self, spec_text: str) -> None:
        """Install a fault SPEC; every request held by the previous one proceeds."""
        self.faults = FaultPlan.build(parse_faults(spec_text, ENDPOINTS))
        self.fault_spec = spec_text
        self._release.set()
        self._release = asyncio.Event()

    def reset(self, options: dict[str, Any]) -> None:
        for _, (handle, _apply) in list(self.pending.items()):
            handle.cancel()
        self.pending.clear()
        project_type = options.get("project_type", self.project.project_type)
        if project_type not in PROJECT_TYPES:
            raise ApiError(400, "BadParams", f"project_type must be one of {PROJECT_TYPES}")
        self.project = Project(project_type, bool(options.get("allow_new_fields", True)))
        self.project.disallowed_event_names = set(options.get("disallowed_event_names", []))
        self.limiter.set_scale(admin.scale(options.get("rate_scale", 1.0)))
        self.limiter.set_forget_daily_cap(int(options.get("forget_daily_cap", FORGET_DAILY_CAP)))
        self.set_faults(options.get("faults", ""))
        self.capture = bool(options.get("capture", self.capture))
        self.captured.clear()
        self.log.clear()
        self.counters = {}
        self.deferred_errors = []

    def config(self) -> dict[str, Any]:
        return {
            "project_type": self.project.project_type,
            "rate_scale": None if math.isinf(self.limiter.scale) else self.limiter.scale,
            "limits": self.limiter.describe(),
            "forget_daily_cap": self.limiter.forget_daily_cap,
            "faults": self.fault_spec,
            "held": self.held,
            "pending": len(self.pending),
            "capture": self.capture,
            "endpoints": ENDPOINTS,
        }


class _Exchange:
    """One API request as the log records it."""

    __slots__ = ("endpoint", "method", "path", "req_bytes", "request_body", "started")

    def __init__(self, method: str, path: str, endpoint: str, started: float) -> None:
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.started = started
        self.req_bytes = 0
        self.request_body: Any = None


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
