"""The state of one emulated Iterable project: users and their indexes, events,
purchases, lists, channels, message types, catalogs, forgotten identities.

``Project`` keeps its indexes consistent (a user is found by email and by userId, and
its history is removed with it) and knows nothing of the API. The rules Iterable applies
live beside it, one module per section, each a set of ``op_*`` functions that take the
project and a request body that already passed Swagger validation and return
``(status, response body)`` or raise ``errors.ApiError``:

* ``identity.py``: which user a record addresses, per project type; identity changes
* ``users.py``: ``users/*`` (update, bulkUpdate, get, delete, forget, updateEmail)
* ``events.py``, ``commerce.py``: custom events; purchases and carts
* ``subscriptions.py``: lists, channels, message types, ``users/*Subscriptions``
* ``consent.py``, ``exports.py``: subscription-group routes and consent events; the export
* ``catalogs.py``: catalogs and their items
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ctsync.core.names import PROJECT_TYPES
from ctsync.sandbox.iterable.fields import SchemaRegistry

PROJECT_ID = 10216

SUBSCRIPTION_FIELDS = (
    "unsubscribedChannelIds",
    "unsubscribedMessageTypeIds",
    "subscribedMessageTypeIds",
)

DEFAULT_CHANNELS = [
    {"id": 11, "name": "Marketing Email", "channelType": "Marketing", "messageMedium": "Email"},
    {
        "id": 12,
        "name": "Transactional Email",
        "channelType": "Transactional",
        "messageMedium": "Email",
    },
    {"id": 13, "name": "Marketing SMS", "channelType": "Marketing", "messageMedium": "SMS"},
]
DEFAULT_MESSAGE_TYPES = [
    (21, "Newsletter", 11),
    (22, "Promotions", 11),
    (23, "SMS Offers", 13),
    (24, "Order Updates", 12),
]
DEFAULT_LISTS = [(31, "Newsletter", 11)]

_CART_ITEM_TYPES = {
    "shoppingCartItems": "object",
    "shoppingCartItems.id": "string",
    "shoppingCartItems.sku": "string",
    "shoppingCartItems.name": "string",
    "shoppingCartItems.description": "string",
    "shoppingCartItems.categories": "string",
    "shoppingCartItems.price": "double",
    "shoppingCartItems.quantity": "long",
    "shoppingCartItems.imageUrl": "string",
    "shoppingCartItems.url": "string",
}

_now_cache: list[Any] = [0, ""]


def now_text() -> str:
    """Iterable's date rendering: ``yyyy-MM-dd HH:mm:ss +00:00`` (cached per second)."""
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache[0] = second
        _now_cache[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S +00:00")
    return str(_now_cache[1])


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record without the emulator's private bookkeeping keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


@dataclass(eq=False)
class User:
    uid: int
    email: str | None
    user_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataFields": self.data}
        if self.email is not None:
            out["email"] = self.email
        if self.user_id is not None:
            out["userId"] = self.user_id
        return out


def _message_types(created: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": n,
            "channelId": c,
            "subscriptionPolicy": "OptOut",
            "createdAt": created,
            "updatedAt": created,
            "rateLimitPerMinute": 0,
            "frequencyCap": {"days": 0, "messages": 0},
        }
        for i, n, c in DEFAULT_MESSAGE_TYPES
    ]


def _lists(created: int) -> dict[int, dict[str, Any]]:
    return {
        i: {
            "id": i,
            "name": n,
            "createdAt": created,
            "listType": "Standard",
            "description": "",
            "channelId": c,
        }
        for i, n, c in DEFAULT_LISTS
    }


class Project:
    """All state of one emulated Iterable project."""

    def __init__(self, project_type: str = "hybrid", allow_new_fields: bool = True) -> None:
        if project_type not in PROJECT_TYPES:
            raise ValueError(
                f"project type {project_type!r} is not one of {', '.join(PROJECT_TYPES)}"
            )
        self.project_type = project_type
        self.schema = SchemaRegistry(PROJECT_ID, allow_new_fields)
        self.users: dict[int, User] = {}
        self.by_email: dict[str, list[User]] = {}
        self.by_user_id: dict[str, list[User]] = {}
        self._uids = itertools.count(1)
        self.forgotten_emails: set[str] = set()
        self.forgotten_user_ids: set[str] = set()
        self.events: dict[str, dict[str, Any]] = {}
        self.purchases: dict[str, dict[str, Any]] = {}
        self.cart_updates: dict[str, dict[str, Any]] = {}
        # uid -> (store, key) of everything recorded for a user, so deleting or listing
        # one user's history does not scan every event of the project.
        self._history: dict[int, list[tuple[dict[str, dict[str, Any]], str]]] = {}
        self.disallowed_event_names: set[str] = set()
        created = int(time.time() * 1000)
        self.channels = [dict(c) for c in DEFAULT_CHANNELS]
        self.message_types = _message_types(created)
        self.lists = _lists(created)
        self.list_ids = itertools.count(100001)
        self.catalogs: dict[str, dict[str, Any]] = {}
        self.catalog_ids = itertools.count(1)
        user_fields = self.schema.fields("user")
        user_fields.update(
            {
                "email": "string",
                "userId": "string",
                "signupDate": "date",
                "signupSource": "string",
                "profileUpdatedAt": "date",
                self.list_field: "long",
            }
        )
        user_fields.update({name: "long" for name in SUBSCRIPTION_FIELDS})
        user_fields.update(_CART_ITEM_TYPES)

    @property
    def list_field(self) -> str:
        """Profiles keep static lists in ``emailListIds`` (email) or ``userListIds``."""
        return "emailListIds" if self.project_type == "email" else "userListIds"

    # ------------------------------------------------------------------ lookup

    def first_by_email(self, email: str) -> User | None:
        found = self.by_email.get(email.lower())
        return found[0] if found else None

    def first_by_user_id(self, user_id: str) -> User | None:
        found = self.by_user_id.get(user_id)
        return found[0] if found else None

    def find_user(self, email: str | None = None, user_id: str | None = None) -> User | None:
        if email is not None:
            return self.first_by_email(email)
        if user_id is not None:
            return self.first_by_user_id(user_id)
        return None

    # ------------------------------------------------------------------ storage

    def _index(self, user: User) -> None:
        if user.email is not None:
            self.by_email.setdefault(user.email.lower(), []).append(user)
        if user.user_id is not None:
            self.by_user_id.setdefault(user.user_id, []).append(user)

    def _unindex(self, user: User) -> None:
        if user.email is not None:
            bucket = self.by_email.get(user.email.lower(), [])
            if user in bucket:
                bucket.remove(user)
            if not bucket:
                self.by_email.pop(user.email.lower(), None)
        if user.user_id is not None:
            bucket = self.by_user_id.get(user.user_id, [])
            if user in bucket:
                bucket.remove(user)
            if not bucket:
                self.by_user_id.pop(user.user_id, None)

    def set_identity(self, user: User, email: str | None, user_id: str | None) -> None:
        """Give ``user`` these identifiers (indexes and the mirrored profile fields)."""
        self._unindex(user)
        user.email = email
        user.user_id = user_id
        self._index(user)
        for key, value in (("email", email), ("userId", user_id)):
            if value is None:
                user.data.pop(key, None)
            else:
                user.data[key] = value

    def create(self, email: str | None, user_id: str | None) -> User:
        stamp = now_text()
        user = User(next(self._uids), None, None, {})
        user.data.update(
            {
                "signupDate": stamp,
                "signupSource": "API",
                "profileUpdatedAt": stamp,
                self.list_field: [],
                **{name: [] for name in SUBSCRIPTION_FIELDS},
            }
        )
        self.set_identity(user, email, user_id)
        self.users[user.uid] = user
        return user

    def remove(self, user: User) -> None:
        """Delete ``user`` and everything recorded for it."""
        self._unindex(user)
        del self.users[user.uid]
        for store, key in self._history.pop(user.uid, []):
            record = store.get(key)
            if record is not None and record["_uid"] == user.uid:
                del store[key]

    def own(self, store: dict[str, dict[str, Any]], key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` (moving an upserted id to the end) for its user."""
        store.pop(key, None)
        store[key] = record
        self._history.setdefault(record["_uid"], []).append((store, key))

    def user_events(self, user: User | None, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` records of ``user`` (events, purchases, cart updates)."""
        if user is None:
            return []
        found: list[dict[str, Any]] = []
        seen: set[int] = set()
        for store, key in self._history.get(user.uid, []):
            record = store.get(key)
            if record is not None and record["_uid"] == user.uid and id(record) not in seen:
                seen.add(id(record))
                found.append(public(record))
        found.sort(key=lambda e: e.get("createdAt") or 0, reverse=True)
        return found[:limit]
