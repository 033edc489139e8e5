"""The API's route table: method and path to endpoint name (faults, limits, counters),
Swagger operation and handler. One explicit row per route, grouped by section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ctsync.sandbox.iterable import (
    catalogs,
    commerce,
    consent,
    events,
    exports,
    spec,
    subscriptions,
    users,
)
from ctsync.sandbox.iterable.project import Project
from ctsync.sandbox.iterable.query import Query, integer, required, value

Handler = Callable[[Project, Any, dict[str, str], Query], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    swagger_path: str
    handler: Handler
    write: bool = False
    bulk: bool = False


def _body(op: Callable[[Project, Any], tuple[int, Any]]) -> Handler:
    """A handler of an operation that reads the request body only."""
    return lambda project, body, args, query: op(project, body)


def _plain(op: Callable[[Project], tuple[int, Any]]) -> Handler:
    """A handler of an operation that reads nothing from the request."""
    return lambda project, body, args, query: op(project)


def _arg(op: Callable[[Project, str], tuple[int, Any]], name: str) -> Handler:
    """A handler of an operation that reads one path parameter."""
    return lambda project, body, args, query: op(project, args[name])


def _catalog(op: Callable[[Project, str, Any], tuple[int, Any]]) -> Handler:
    """A handler of a catalog operation on the request body."""
    return lambda project, body, args, query: op(project, args["catalogName"], body)


def _item(op: Callable[..., tuple[int, Any]], *, with_body: bool) -> Handler:
    """A handler of an operation on one catalog item."""
    if with_body:
        return lambda project, body, args, query: op(
            project, args["catalogName"], args["itemId"], body
        )
    return lambda project, body, args, query: op(project, args["catalogName"], args["itemId"])


def _get_user_by_email(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return users.op_get_user_by_email(project, required(query, "email"))


def _get_user_by_user_id(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return users.op_get_user_by_user_id(project, required(query, "userId"))


def _events_by_email(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return events.op_get_events_by_email(project, args["email"], query)


def _events_by_user_id(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return events.op_get_events(project, project.find_user(user_id=args["userId"]), query)


def _list_items(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return catalogs.op_list_items(
        project,
        args["catalogName"],
        integer(query, "page", 1),
        integer(query, "pageSize", 10),
        value(query, "orderBy"),
        (value(query, "sortAscending", "true") or "true").lower() != "false",
    )


def _export(project: Project, body: Any, args: dict[str, str], query: Query) -> Any:
    return exports.op_export(project, query)


def _list_change(subscribe: bool) -> Handler:
    return lambda project, body, args, query: consent.op_list(project, body, subscribe=subscribe)


def _group_user(subscribe: bool) -> Handler:
    return lambda project, body, args, query: consent.op_single(project, args, subscribe=subscribe)


_USERS = (
    Route("users/update", "POST", "/api/users/update", _body(users.op_update), write=True),
    Route(
        "users/bulkUpdate",
        "POST",
        "/api/users/bulkUpdate",
        _body(users.op_bulk_update),
        write=True,
        bulk=True,
    ),
    Route(
        "users/updateSubscriptions",
        "POST",
        "/api/users/updateSubscriptions",
        _body(subscriptions.op_update_subscriptions),
        write=True,
    ),
    Route(
        "users/bulkUpdateSubscriptions",
        "POST",
        "/api/users/bulkUpdateSubscriptions",
        _body(subscriptions.op_bulk_update_subscriptions),
        write=True,
        bulk=True,
    ),
    Route("users/forget", "POST", "/api/users/forget", _body(users.op_forget), write=True),
    Route(
        "users/updateEmail",
        "POST",
        "/api/users/updateEmail",
        _body(users.op_update_email),
        write=True,
    ),
    Route("users/getFields", "GET", "/api/users/getFields", _plain(users.op_get_fields)),
    Route("users/get", "GET", "/api/users/getByEmail", _get_user_by_email),
    Route("users/getByUserId", "GET", "/api/users/byUserId", _get_user_by_user_id),
    Route(
        "users/getByUserId",
        "GET",
        "/api/users/byUserId/{userId}",
        _arg(users.op_get_user_by_user_id, "userId"),
    ),
    Route(
        "users/deleteByUserId",
        "DELETE",
        "/api/users/byUserId/{userId}",
        _arg(users.op_delete_user_by_user_id, "userId"),
        write=True,
    ),
    Route("users/get", "GET", "/api/users/{email}", _arg(users.op_get_user_by_email, "email")),
    Route(
        "users/delete",
        "DELETE",
        "/api/users/{email}",
        _arg(users.op_delete_user_by_email, "email"),
        write=True,
    ),
)

_EVENTS = (
    Route("events/track", "POST", "/api/events/track", _body(events.op_track), write=True),
    Route(
        "events/trackBulk",
        "POST",
        "/api/events/trackBulk",
        _body(events.op_track_bulk),
        write=True,
        bulk=True,
    ),
    Route("events/getByUserId", "GET", "/api/events/byUserId/{userId}", _events_by_user_id),
    Route("events/get", "GET", "/api/events/{email}", _events_by_email),
)

_COMMERCE = (
    Route(
        "commerce/trackPurchase",
        "POST",
        "/api/commerce/trackPurchase",
        _body(commerce.op_track_purchase),
        write=True,
    ),
    Route(
        "commerce/updateCart",
        "POST",
        "/api/commerce/updateCart",
        _body(commerce.op_update_cart),
        write=True,
    ),
)

_GROUP_PATH = "/api/subscriptions/{subscriptionGroup}/{subscriptionGroupId}"
_SUBSCRIPTIONS = (
    Route("lists/get", "GET", "/api/lists", _plain(subscriptions.op_get_lists)),
    Route("lists/create", "POST", "/api/lists", _body(subscriptions.op_create_list), write=True),
    Route(
        "lists/subscribe",
        "POST",
        "/api/lists/subscribe",
        _list_change(True),
        write=True,
        bulk=True,
    ),
    Route(
        "lists/unsubscribe",
        "POST",
        "/api/lists/unsubscribe",
        _list_change(False),
        write=True,
        bulk=True,
    ),
    Route("channels", "GET", "/api/channels", _plain(subscriptions.op_channels)),
    Route(
        "subscriptions/bulkAction",
        "PUT",
        _GROUP_PATH,
        consent.op_bulk_action,
        write=True,
        bulk=True,
    ),
    Route(
        "subscriptions/subscribeUser",
        "PATCH",
        _GROUP_PATH + "/user/{userEmail}",
        _group_user(True),
        write=True,
    ),
    Route(
        "subscriptions/unsubscribeUser",
        "DELETE",
        _GROUP_PATH + "/user/{userEmail}",
        _group_user(False),
        write=True,
    ),
    Route(
        "subscriptions/subscribeUser",
        "PATCH",
        _GROUP_PATH + "/byUserId/{userId}",
        _group_user(True),
        write=True,
    ),
    Route(
        "subscriptions/unsubscribeUser",
        "DELETE",
        _GROUP_PATH + "/byUserId/{userId}",
        _group_user(False),
        write=True,
    ),
    Route("export/data.json", "GET", "/api/export/data.json", _export),
    Route("messageTypes", "GET", "/api/messageTypes", _plain(subscriptions.op_message_types)),
)

_CATALOG_PATH = "/api/catalogs/{catalogName}"
_ITEM_PATH = _CATALOG_PATH + "/items/{itemId}"
_CATALOGS = (
    Route(
        "catalogs/create",
        "POST",
        _CATALOG_PATH,
        _arg(catalogs.op_create_catalog, "catalogName"),
        write=True,
    ),
    Route(
        "catalogs/delete",
        "DELETE",
        _CATALOG_PATH,
        _arg(catalogs.op_delete_catalog, "catalogName"),
        write=True,
    ),
    Route(
        "catalogs/items/bulk",
        "POST",
        _CATALOG_PATH + "/items",
        _catalog(catalogs.op_bulk_items),
        write=True,
        bulk=True,
    ),
    Route(
        "catalogs/items/bulkDelete",
        "DELETE",
        _CATALOG_PATH + "/items",
        _catalog(catalogs.op_bulk_delete_items),
        write=True,
        bulk=True,
    ),
    Route("catalogs/items/list", "GET", _CATALOG_PATH + "/items", _list_items),
    Route(
        "catalogs/items/put",
        "PUT",
        _ITEM_PATH,
        _item(catalogs.op_put_item, with_body=True),
        write=True,
    ),
    Route(
        "catalogs/items/patch",
        "PATCH",
        _ITEM_PATH,
        _item(catalogs.op_patch_item, with_body=True),
        write=True,
    ),
    Route("catalogs/items/get", "GET", _ITEM_PATH, _item(catalogs.op_get_item, with_body=False)),
    Route(
        "catalogs/items/delete",
        "DELETE",
        _ITEM_PATH,
        _item(catalogs.op_delete_item, with_body=False),
        write=True,
    ),
)

ROUTES = (*_USERS, *_EVENTS, *_COMMERCE, *_SUBSCRIPTIONS, *_CATALOGS)

_FIXED: dict[tuple[str, str], Route] = {
    (r.method, r.swagger_path): r for r in ROUTES if "{" not in r.swagger_path
}
_PARAMETRIZED: list[tuple[str, tuple[str, ...], Route]] = [
    (r.method, tuple(r.swagger_path.strip("/").split("/")), r)
    for r in ROUTES
    if "{" in r.swagger_path
]
ENDPOINTS = sorted({r.endpoint for r in ROUTES})


def _bind(pattern: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    """The path parameters when ``parts`` fits ``pattern``, else None."""
    args: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            args[want[1:-1]] = got
        elif want != got:
            return None
    return args


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """``(route, path params, path_known)``; path_known tells 405 from 404."""
    route = _FIXED.get((method, path))
    if route is not None:
        return route, {}, True
    parts = path.strip("/").split("/")
    known = any(p == path for _, p in _FIXED)
    for route_method, pattern, candidate in _PARAMETRIZED:
        if len(pattern) != len(parts):
            continue
        args = _bind(pattern, parts)
        if args is None:
            continue
        known = True
        if route_method == method:
            return candidate, args, True
    return None, {}, known


def body_definition(route: Route) -> str | None:
    """The Swagger definition the route's request body must satisfy, if it takes one."""
    op = spec.operations().get((route.method, route.swagger_path))
    return op.body_definition if op else None
