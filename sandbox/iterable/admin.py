"""``/_emulator/...``: inspect and configure the emulator (no API key; loopback only).

One row per route in ``_ROUTES``: name -> (the method it needs, or None for any; handler).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ctsync.sandbox.iterable import consent
from ctsync.sandbox.iterable.errors import ApiError
from ctsync.sandbox.iterable.faults import FORGET_DAILY_CAP, FaultSpecError
from ctsync.sandbox.iterable.project import public
from ctsync.sandbox.iterable.query import Query, value

if TYPE_CHECKING:
    from ctsync.sandbox.iterable.app import EmulatorApp

AdminHandler = Callable[["EmulatorApp", Query, dict[str, Any]], tuple[int, Any]]


def handle(app: EmulatorApp, method: str, name: str, query: Query, raw: bytes | None) -> Any:
    """``(status, JSON-able answer)`` of one inspection or configuration call."""
    try:
        options = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return 400, {"error": "request body is not JSON"}
    handler = _handler(method, name)
    if handler is None:
        return 404, {"error": f"unknown emulator endpoint {method} /_emulator/{name}"}
    try:
        return handler(app, query, options)
    except (FaultSpecError, ValueError) as error:
        return 400, {"error": str(error)}
    except ApiError as error:
        return error.status, {"error": error.msg}


def _handler(method: str, name: str) -> AdminHandler | None:
    if name.startswith("catalogs/") and name.endswith("/items"):
        return lambda app, query, options: _catalog_items(app, name)
    found = _ROUTES.get(name)
    if found is None:
        return None
    needs, handler = found
    return handler if needs is None or needs == method else None


# ---------------------------------------------------------------------- configuration


def _health(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"ok": True, "pid": os.getpid()}


def _config(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, app.config()


def _reset(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    app.reset(options)
    return 200, app.config()


def _faults(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    app.set_faults(options.get("spec", ""))
    return 200, app.config()


def _rate_scale(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    app.limiter.set_scale(scale(options.get("scale", 1.0)))
    return 200, app.config()


def _forget_quota(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    app.limiter.set_forget_daily_cap(int(options.get("daily_cap", FORGET_DAILY_CAP)))
    return 200, app.config()


def _flush(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"applied": app.flush()}


def scale(raw: Any) -> float:
    """A rate scale as sent: a number, or ``None``/``"inf"`` for no limits."""
    if raw is None or raw == "inf":
        return float("inf")
    return float(raw)


# ---------------------------------------------------------------------- project state


def _users(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"users": [u.view() for u in app.project.users.values()]}


def _user(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    user = app.project.find_user(value(query, "email"), value(query, "userId"))
    return 200, {"user": user.view() if user else None}


def _events(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    events = [public(e) for e in app.project.events.values()]
    wanted = value(query, "eventName")
    if wanted is not None:
        events = [e for e in events if e["eventName"] == wanted]
    return 200, {"events": events}


def _purchases(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"purchases": [public(p) for p in app.project.purchases.values()]}


def _carts(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"cartUpdates": [public(c) for c in app.project.cart_updates.values()]}


def _catalogs(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"catalogs": [c["name"] for c in app.project.catalogs.values()]}


def _catalog_items(app: EmulatorApp, name: str) -> tuple[int, Any]:
    catalog = app.project.catalogs.get(name[len("catalogs/") : -len("/items")].lower())
    if catalog is None:
        return 404, {"error": "no such catalog"}
    return 200, {"items": {k: v["value"] for k, v in catalog["items"].items()}}


def _fields(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"fields": app.project.schema.types}


def _forgotten(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {
        "emails": sorted(app.project.forgotten_emails),
        "userIds": sorted(app.project.forgotten_user_ids),
    }


# ---------------------------------------------------------------------- traffic


def _requests(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    endpoint = value(query, "endpoint")
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
        for at, m, p, ep, st, rb, sb, ms in app.log
        if endpoint is None or ep == endpoint
    ]
    limit = value(query, "limit")
    return 200, {"requests": rows[-int(limit) :] if limit else rows}


def _counters(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {
        "counters": {ep: {str(s): n for s, n in per.items()} for ep, per in app.counters.items()}
    }


def _captured(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"captured": list(app.captured)}


def _deferred_errors(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"errors": app.deferred_errors}


# ---------------------------------------------------------------------- consent


def _consent_events(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"events": consent.events(app.project)}


def _recipient(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, consent.recipient(app.project, options)


def _message_types(app: EmulatorApp, query: Query, options: dict[str, Any]) -> tuple[int, Any]:
    return 200, consent.add_message_type(app.project, options)


def _subscription_settings(
    app: EmulatorApp, query: Query, options: dict[str, Any]
) -> tuple[int, Any]:
    enabled = bool(options["bulk_action_enabled"])
    consent.set_bulk_action_enabled(app.project, enabled)
    return 200, {"bulk_action_enabled": enabled}


_ROUTES: dict[str, tuple[str | None, AdminHandler]] = {
    "health": (None, _health),
    "config": (None, _config),
    "reset": ("POST", _reset),
    "faults": ("POST", _faults),
    "rate_scale": ("POST", _rate_scale),
    "forget_quota": ("POST", _forget_quota),
    "flush": ("POST", _flush),
    "users": (None, _users),
    "user": (None, _user),
    "events": (None, _events),
    "purchases": (None, _purchases),
    "carts": (None, _carts),
    "catalogs": (None, _catalogs),
    "fields": (None, _fields),
    "forgotten": (None, _forgotten),
    "requests": (None, _requests),
    "counters": (None, _counters),
    "captured": (None, _captured),
    "deferred_errors": (None, _deferred_errors),
    "consent_events": (None, _consent_events),
    "recipient": ("POST", _recipient),
    "message_types": ("POST", _message_types),
    "subscription_settings": ("POST", _subscription_settings),
}
