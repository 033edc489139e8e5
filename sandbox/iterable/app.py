"""The emulator's HTTP face: a raw ASGI app (no framework, to keep per-request overhead
small enough for thousands of requests per second on one core).

``/api/...`` behaves like Iterable; ``/_emulator/...`` inspects and configures the
emulator (no API key: it is bound to loopback).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from sandbox.iterable import consent, spec
from sandbox.iterable.faults import FaultPlan, FaultSpecError, RateLimiter, parse_faults
from sandbox.iterable.project import (
    PROJECT_TYPES,
    ApiError,
    BulkOutcome,
    Project,
    public,
    valid_email,
)

# The emulator subprocess reads its API key from here (argv would show it in `ps`).
API_KEY_ENV = "ITERABLE_EMULATOR_API_KEY"
BODY_CAP_BYTES = 4_000_000
REQUEST_LOG_MAX = 200_000
CAPTURE_MAX = 20_000

log = logging.getLogger("sandbox.iterable")

Handler = Callable[[Project, Any, dict[str, str], dict[str, list[str]]], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    swagger_path: str
    handler: Handler
    write: bool
    bulk: bool = False


def _q(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def _int_q(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = _q(query, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400,
            "BadParams",
            f"Query parameter {name} must be an integer, got {raw!r}",
            {name: "Number value expected"},
        ) from None


def _events(project: Project, user: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
    limit = _int_q(query, "limit", 30)
    if not 1 <= limit <= 200:
        raise ApiError(400, "BadParams", "limit must be within 1..200")
    return 200, {"events": project.user_events(user, limit)}


def _events_by_email(p: Project, _b: Any, a: dict[str, str], q: dict[str, list[str]]) -> Any:
    if not valid_email(a["email"]):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {a['email']}")
    return _events(p, p.find_user(email=a["email"]), q)


def _query_required(query: dict[str, list[str]], name: str) -> str:
    value = _q(query, name)
    if value is None:
        raise ApiError(
            400,
            "BadParams",
            f"Query parameter {name} is required",
            {name: "Missing required field"},
        )
    return value


_ROUTES: dict[tuple[str, str], Route] = {}
_PARAM_ROUTES: list[tuple[str, tuple[str, ...], Route]] = []


def _add(
    method: str,
    path: str,
    endpoint: str,
    handler: Handler,
    *,
    write: bool = False,
    bulk: bool = False,
) -> None:
    route = Route(endpoint, method, path, handler, write, bulk)
    if "{" in path:
        _PARAM_ROUTES.append((method, tuple(path.strip("/").split("/")), route))
    else:
        _ROUTES[(method, path)] = route


_add("POST", "/api/users/update", "users/update", lambda p, b, a, q: p.op_update(b), write=True)
_add(
    "POST",
    "/api/users/bulkUpdate",
    "users/bulkUpdate",
    lambda p, b, a, q: p.op_bulk_update(b),
    write=True,
    bulk=True,
)
_add(
    "POST",
    "/api/users/updateSubscriptions",
    "users/updateSubscriptions",
    lambda p, b, a, q: p.op_update_subscriptions(b),
    write=True,
)
_add(
    "POST",
    "/api/users/bulkUpdateSubscriptions",
    "users/bulkUpdateSubscriptions",
    lambda p, b, a, q: p.op_bulk_update_subscriptions(b),
    write=True,
    bulk=True,
)
_add("POST", "/api/users/forget", "users/forget", lambda p, b, a, q: p.op_forget(b), write=True)
_add(
    "POST",
    "/api/users/updateEmail",
    "users/updateEmail",
    lambda p, b, a, q: p.op_update_email(b),
    write=True,
)
_add("GET", "/api/users/getFields", "users/getFields", lambda p, b, a, q: p.op_get_fields())
_add(
    "GET",
    "/api/users/getByEmail",
    "users/get",
    lambda p, b, a, q: p.op_get_user_by_email(_query_required(q, "email")),
)
_add(
    "GET",
    "/api/users/byUserId",
    "users/getByUserId",
    lambda p, b, a, q: p.op_get_user_by_user_id(_query_required(q, "userId")),
)
_add(
    "GET",
    "/api/users/byUserId/{userId}",
    "users/getByUserId",
    lambda p, b, a, q: p.op_get_user_by_user_id(a["userId"]),
)
_add(
    "DELETE",
    "/api/users/byUserId/{userId}",
    "users/deleteByUserId",
    lambda p, b, a, q: p.op_delete_user_by_user_id(a["userId"]),
    write=True,
)
_add(
    "GET", "/api/users/{email}", "users/get", lambda p, b, a, q: p.op_get_user_by_email(a["email"])
)
_add(
    "DELETE",
    "/api/users/{email}",
    "users/delete",
    lambda p, b, a, q: p.op_delete_user_by_email(a["email"]),
    write=True,
)
_add("POST", "/api/events/track", "events/track", lambda p, b, a, q: p.op_track(b), write=True)
_add(
    "POST",
    "/api/events/trackBulk",
    "events/trackBulk",
    lambda p, b, a, q: p.op_track_bulk(b),
    write=True,
    bulk=True,
)
_add(
    "GET",
    "/api/events/byUserId/{userId}",
    "events/getByUserId",
    lambda p, b, a, q: _events(p, p.find_user(user_id=a["userId"]), q),
)
_add("GET", "/api/events/{email}", "events/get", _events_by_email)
_add(
    "POST",
    "/api/commerce/trackPurchase",
    "commerce/trackPurchase",
    lambda p, b, a, q: p.op_track_purchase(b),
    write=True,
)
_add(
    "POST",
    "/api/commerce/updateCart",
    "commerce/updateCart",
    lambda p, b, a, q: p.op_update_cart(b),
    write=True,
)
_add("GET", "/api/lists", "lists/get", lambda p, b, a, q: p.op_get_lists())
_add("POST", "/api/lists", "lists/create", lambda p, b, a, q: p.op_create_list(b), write=True)
_add(
    "POST",
    "/api/lists/subscribe",
    "lists/subscribe",
    lambda p, b, a, q: consent.op_list(p, b, subscribe=True),
    write=True,
    bulk=True,
)
_add(
    "POST",
    "/api/lists/unsubscribe",
    "lists/unsubscribe",
    lambda p, b, a, q: consent.op_list(p, b, subscribe=False),
    write=True,
    bulk=True,
)
_add("GET", "/api/channels", "channels", lambda p, b, a, q: p.op_channels())
_add(
    "PUT",
    "/api/subscriptions/{subscriptionGroup}/{subscriptionGroupId}",
    "subscriptions/bulkAction",
    consent.op_bulk_action,
    write=True,
    bulk=True,
)
for _by, _key in (("user", "userEmail"), ("byUserId", "userId")):
    _path = f"/api/subscriptions/{{subscriptionGroup}}/{{subscriptionGroupId}}/{_by}/{{{_key}}}"
    _add(
        "PATCH",
        _path,
        "subscriptions/subscribeUser",
        lambda p, b, a, q: consent.op_single(p, a, subscribe=True),
        write=True,
    )
    _add(
        "DELETE",
        _path,
        "subscriptions/unsubscribeUser",
        lambda p, b, a, q: consent.op_single(p, a, subscribe=False),
        write=True,
    )
_add("GET", "/api/export/data.json", "export/data.json", consent.op_export)
_add("GET", "/api/messageTypes", "messageTypes", lambda p, b, a, q: p.op_message_types())
_add(
    "POST",
    "/api/catalogs/{catalogName}",
    "catalogs/create",
    lambda p, b, a, q: p.op_create_catalog(a["catalogName"]),
    write=True,
)
_add(
    "DELETE",
    "/api/catalogs/{catalogName}",
    "catalogs/delete",
    lambda p, b, a, q: p.op_delete_catalog(a["catalogName"]),
    write=True,
)
_add(
    "POST",
    "/api/catalogs/{catalogName}/items",
    "catalogs/items/bulk",
    lambda p, b, a, q: p.op_bulk_items(a["catalogName"], b),
    write=True,
    bulk=True,
)
_add(
    "DELETE",
    "/api/catalogs/{catalogName}/items",
    "catalogs/items/bulkDelete",
    lambda p, b, a, q: p.op_bulk_delete_items(a["catalogName"], b),
    write=True,
    bulk=True,
)
_add(
    "GET",
    "/api/catalogs/{catalogName}/items",
    "catalogs/items/list",
    lambda p, b, a, q: p.op_list_items(
        a["catalogName"],
        _int_q(q, "page", 1),
        _int_q(q, "pageSize", 10),
        _q(q, "orderBy"),
        (_q(q, "sortAscending", "true") or "true").lower() != "false",
    ),
)
_add(
    "PUT",
    "/api/catalogs/{catalogName}/items/{itemId}",
    "catalogs/items/put",
    lambda p, b, a, q: p.op_put_item(a["catalogName"], a["itemId"], b),
    write=True,
)
_add(
    "PATCH",
    "/api/catalogs/{catalogName}/items/{itemId}",
    "catalogs/items/patch",
    lambda p, b, a, q: p.op_patch_item(a["catalogName"], a["itemId"], b),
    write=True,
)
_add(
    "GET",
    "/api/catalogs/{catalogName}/items/{itemId}",
    "catalogs/items/get",
    lambda p, b, a, q: p.op_get_item(a["catalogName"], a["itemId"]),
)
_add(
    "DELETE",
    "/api/catalogs/{catalogName}/items/{itemId}",
    "catalogs/items/delete",
    lambda p, b, a, q: p.op_delete_item(a["catalogName"], a["itemId"]),
    write=True,
)

ENDPOINTS = sorted(
    {r.endpoint for r in _ROUTES.values()} | {r.endpoint for _, _, r in _PARAM_ROUTES}
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """``(route, path params, path_known)``; path_known tells 405 from 404."""
    route = _ROUTES.get((method, path))
    if route is not None:
        return route, {}, True
    parts = path.strip("/").split("/")
    known = any(p == path for _, p in _ROUTES)
    for route_method, pattern, candidate in _PARAM_ROUTES:
        if len(pattern) != len(parts):
            continue
        args: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    break
                args[want[1:-1]] = got
            elif want != got:
                break
        else:
            known = True
            if route_method == method:
                return candidate, args, True
    return None, {}, known


def body_definition(route: Route) -> str | None:
    op = spec.operations().get((route.method, route.swagger_path))
    return op.body_definition if op else None


_USER_FAILED = [
    "invalidEmails",
    "invalidUserIds",
    "notFoundEmails",
    "notFoundUserIds",
    "invalidDataEmails",
    "invalidDataUserIds",
    "conflictEmails",
    "conflictUserIds",
    "forgottenEmails",
    "forgottenUserIds",
]
_EVENT_FAILED = [
    "invalidEmails",
    "invalidUserIds",
    "notFoundEmails",
    "notFoundUserIds",
    "forgottenEmails",
    "forgottenUserIds",
]


def _provisional(route: Route, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    """The answer Iterable gives when it accepts a write it will apply later."""
    name = route.endpoint
    arrays = outcome.arrays
    counts = {
        "successCount": outcome.success,
        "failCount": outcome.fail,
        "invalidEmails": arrays.get("invalidEmails", []),
        "invalidUserIds": arrays.get("invalidUserIds", []),
    }
    if name in ("users/bulkUpdate", "lists/subscribe", "lists/unsubscribe"):
        if name == "lists/unsubscribe":
            counts["successCount"] = len(body["subscribers"])
        return 200, {
            **counts,
            "filteredOutFields": [],
            "createdFields": [],
            "noOpEmails": [],
            "noOpUserIds": [],
            "failedUpdates": {k: arrays.get("failed." + k, []) for k in _USER_FAILED},
        }
    if name == "events/trackBulk":
        return 200, {
            **counts,
            "disallowedEventNames": [],
            "filteredOutFields": [],
            "createdFields": [],
            "failedUpdates": {k: arrays.get("failed." + k, []) for k in _EVENT_FAILED},
        }
    if name == "users/bulkUpdateSubscriptions":
        return 200, {
            "successCount": len(body["updateSubscriptionsRequests"]),
            "failCount": 0,
            "invalidEmails": [],
            "invalidUserIds": [],
            "validEmailFailures": [],
            "validUserIdFailures": [],
        }
    if name in ("events/track", "commerce/trackPurchase"):
        label = "Event" if name == "events/track" else "Purchase"
        return 200, {
            "msg": f"{label} with id: {body['id']} tracked.",
            "code": "Success",
            "params": {"id": body["id"]},
        }
    if name.startswith("catalogs/items/") and name != "catalogs/items/bulk":
        return 202, {"msg": "Request received.", "code": "Success", "params": None}
    return 200, {"msg": "", "code": "Success", "params": None}


class DropConnection(Exception):
    """Raised inside the app to make uvicorn close the connection mid-answer."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DropConnection):
            return False
        return "returned without completing response" not in record.getMessage()


def install_log_filter() -> None:
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


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
        self._set_faults(faults)
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
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_emulator/"):
            body = await _read_all(receive)
            status, payload = self._admin(
                scope["method"],
                path[len("/_emulator/") :],
                parse_qs(scope["query_string"].decode()),
                body,
            )
            await _respond(send, status, orjson.dumps(payload))
            return
        await self._api(scope, receive, send)

    async def _api(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        route, args, known = match(method, path)
        endpoint = route.endpoint if route else "unknown"
        request_body: Any = None
        # Read the body before any answer, refusals included, so the request log records
        # the size of every request (a refused oversized batch is worth seeing).
        raw = await _read_all(receive, BODY_CAP_BYTES)
        req_bytes = len(raw) if raw is not None else BODY_CAP_BYTES + 1
        try:
            if route is None:
                status = 405 if known else 404
                raise ApiError(
                    status,
                    "NotFound" if status == 404 else "BadParams",
                    f"No route for {method} {path}",
                )
            query = parse_qs(scope["query_string"].decode()) if scope["query_string"] else {}
            if not self._authorized(scope["headers"], query):
                raise ApiError(401, "BadApiKey", "Invalid API key", {"endpoint": path})
            admitted, reason = self.limiter.admit(endpoint)
            if not admitted:
                raise ApiError(
                    429, "RateLimitExceeded", f"Rate limit exceeded for {path}: {reason}"
                )
            decision = self.faults.decide(endpoint, route.write)
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
                self._record(method, path, endpoint, 0, req_bytes, 0, started, None, None)
                await _drop(send)
                return
            if decision.status is not None:
                code = "RateLimitExceeded" if decision.status == 429 else "GenericError"
                raise ApiError(
                    decision.status, code, f"Injected fault: {decision.status} for {endpoint}"
                )
            if raw is None:
                raise ApiError(
                    413,
                    "BatchTooLarge",
                    f"Request body exceeds {BODY_CAP_BYTES} bytes; split the batch",
                )
            request_body = self._parse_body(route, raw, path)
            if decision.async_s:
                status, payload = self._defer(route, request_body, args, query, decision.async_s)
            else:
                status, payload = route.handler(self.project, request_body, args, query)
            if decision.hang_s:
                self._record(method, path, endpoint, 0, req_bytes, 0, started, request_body, None)
                await asyncio.sleep(decision.hang_s)
                await _drop(send)
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
        if isinstance(payload, consent.RawBody):
            out = payload.data
            await _respond(send, status, out, payload.content_type.encode())
        else:
            out = orjson.dumps(payload)
            await _respond(send, status, out)
        self._record(
            method, path, endpoint, status, req_bytes, len(out), started, request_body, payload
        )

    def _authorized(self, headers: list[tuple[bytes, bytes]], query: dict[str, list[str]]) -> bool:
        for name, value in headers:
            if name in (b"api-key", b"api_key"):
                return value == self.api_key_bytes
        return _q(query, "api_key") == self.api_key

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

    def _record(
        self,
        method: str,
        path: str,
        endpoint: str,
        status: int,
        req_bytes: int,
        resp_bytes: int,
        started: float,
        request_body: Any,
        response: Any,
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.log.append(
            (time.time(), method, path, endpoint, status, req_bytes, resp_bytes, elapsed)
        )
        per = self.counters.get(endpoint)
        if per is None:
            per = self.counters[endpoint] = {}
        per[status] = per.get(status, 0) + 1
        if self.capture:
            self.captured.append(
                {
                    "method": method,
                    "path": path,
                    "endpoint": endpoint,
                    "status": status,
                    "request": request_body,
                    "response": response,
                }
            )

    # ------------------------------------------------------------------ async apply

    def _defer(
        self,
        route: Route,
        body: Any,
        args: dict[str, str],
        query: dict[str, list[str]],
        delay: float,
    ) -> tuple[int, Any]:
        outcome = self.project.precheck(route.endpoint, body)
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
        return _provisional(route, body, outcome)

    def flush(self) -> int:
        """Apply every write still waiting, in arrival order."""
        waiting = sorted(self.pending.items())
        for _, (handle, apply) in waiting:
            handle.cancel()
            apply()
        return len(waiting)

    # ------------------------------------------------------------------ admin

    def _set_faults(self, spec_text: str) -> None:
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
        self.limiter.set_scale(_scale(options.get("rate_scale", 1.0)))
        spec_text = options.get("faults", "")
        self._set_faults(spec_text)
        self.capture = bool(options.get("capture", self.capture))
        self.captured.clear()
        self.log.clear()
        self.counters = {}
        self.deferred_errors = []

    def _admin(
        self, method: str, name: str, query: dict[str, list[str]], raw: bytes | None
    ) -> tuple[int, Any]:
        try:
            options = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return 400, {"error": "request body is not JSON"}
        project = self.project
        try:
            if name == "health":
                return 200, {"ok": True, "pid": os.getpid()}
            if name == "config":
                return 200, self._config()
            if name == "reset" and method == "POST":
                self.reset(options)
                return 200, self._config()
            if name == "faults" and method == "POST":
                spec_text = options.get("spec", "")
                self._set_faults(spec_text)
                return 200, self._config()
            if name == "rate_scale" and method == "POST":
                self.limiter.set_scale(_scale(options.get("scale", 1.0)))
                return 200, self._config()
            if name == "flush" and method == "POST":
                return 200, {"applied": self.flush()}
            if name == "users":
                return 200, {"users": [u.view() for u in project.users.values()]}
            if name == "user":
                user = project.find_user(_q(query, "email"), _q(query, "userId"))
                return 200, {"user": user.view() if user else None}
            if name == "events":
                events = [public(e) for e in project.events.values()]
                wanted = _q(query, "eventName")
                if wanted is not None:
                    events = [e for e in events if e["eventName"] == wanted]
                return 200, {"events": events}
            if name == "purchases":
                return 200, {"purchases": [public(p) for p in project.purchases.values()]}
            if name == "carts":
                return 200, {"cartUpdates": [public(c) for c in project.cart_updates.values()]}
            if name == "catalogs":
                return 200, {"catalogs": [c["name"] for c in project.catalogs.values()]}
            if name.startswith("catalogs/") and name.endswith("/items"):
                catalog = project.catalogs.get(name[len("catalogs/") : -len("/items")].lower())
                if catalog is None:
                    return 404, {"error": "no such catalog"}
                return 200, {"items": {k: v["value"] for k, v in catalog["items"].items()}}
            if name == "fields":
                return 200, {"fields": project.schema.types}
            if name == "forgotten":
                return 200, {
                    "emails": sorted(project.forgotten_emails),
                    "userIds": sorted(project.forgotten_user_ids),
                }
            if name == "requests":
                return 200, {"requests": self._requests(query)}
            if name == "counters":
                return 200, {
                    "counters": {
                        ep: {str(s): n for s, n in per.items()} for ep, per in self.counters.items()
                    }
                }
            if name == "captured":
                return 200, {"captured": list(self.captured)}
            if name == "deferred_errors":
                return 200, {"errors": self.deferred_errors}
            if name == "consent_events":
                return 200, {"events": consent.events(project)}
            if name == "recipient" and method == "POST":
                return 200, consent.recipient(project, options)
            if name == "message_types" and method == "POST":
                return 200, consent.add_message_type(project, options)
            if name == "subscription_settings" and method == "POST":
                consent.set_bulk_action_enabled(project, bool(options["bulk_action_enabled"]))
                return 200, {"bulk_action_enabled": bool(options["bulk_action_enabled"])}
        except (FaultSpecError, ValueError) as error:
            return 400, {"error": str(error)}
        except ApiError as error:
            return error.status, {"error": error.msg}
        return 404, {"error": f"unknown emulator endpoint {method} /_emulator/{name}"}

    def _requests(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        endpoint = _q(query, "endpoint")
        rows = [
            {
                "at": at,
                "method": m,
                "path": p,
                "endpoint": ep,
                "status": st,
                "bytes": rb,
                "responseBytes": sb,
                "ms": round(ms, 3),
            }
            for at, m, p, ep, st, rb, sb, ms in self.log
            if endpoint is None or ep == endpoint
        ]
        limit = _q(query, "limit")
        return rows[-int(limit) :] if limit else rows

    def _config(self) -> dict[str, Any]:
        return {
            "project_type": self.project.project_type,
            "rate_scale": None if math.isinf(self.limiter.scale) else self.limiter.scale,
            "limits": self.limiter.describe(),
            "faults": self.fault_spec,
            "held": self.held,
            "pending": len(self.pending),
            "capture": self.capture,
            "endpoints": ENDPOINTS,
        }


def _scale(value: Any) -> float:
    if value is None or value == "inf":
        return math.inf
    return float(value)


async def _read_all(receive: Any, cap: int | None = None) -> bytes | None:
    """The request body; ``None`` when it exceeds ``cap`` (the rest is drained)."""
    chunks: list[bytes] = []
    size = 0
    too_big = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if cap is not None and size > cap:
            too_big = True
            chunks = []
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body"):
            break
    if too_big:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_HEADERS_JSON = (b"content-type", b"application/json")


async def _respond(
    send: Any, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Any) -> None:
    # Headers promise a body that never comes, then the app returns: uvicorn closes the
    # socket, which the client sees as a broken connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_HEADERS_JSON, (b"content-length", b"1000")],
        }
    )
