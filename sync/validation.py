"""Checks every change row against Iterable's rules before anything is sent.

A row that would fail in Iterable (or worse, fail the whole bulk request it travels in) is
caught here and becomes a rejection with a reason code and a detail naming the field.
Field types are checked against what Iterable has already locked (`users/getFields`,
fetched once per run) and against the types earlier rows of the same run establish, per
category (user fields, each event name, purchases, the catalog), because Iterable fixes a
field's type with the first value it sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ctsync.core.config import DELETION_METHODS, IterableSettings
from ctsync.core.names import ChangeRow, IterableObject, Operation, ProjectType

# The email grammar Iterable accepts in practice: dot-atom local part, a dotted domain
# whose labels are alphanumerics and inner hyphens, and a TLD of letters.
_EMAIL = re.compile(
    r"^(?=.{3,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_ITEM_ID = re.compile(r"^[A-Za-z0-9-]{1,255}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9-]+$")
_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:"
    r"| \d{2}:\d{2}:\d{2}(?: [+-]\d{2}:?\d{2})?"
    r"|T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))$"
)
SUBSCRIPTION_GROUPS = ("emailList", "messageChannel", "messageType")
SUBSCRIPTION_ARRAYS = (
    "emailListIds",
    "unsubscribedChannelIds",
    "unsubscribedMessageTypeIds",
    "subscribedMessageTypeIds",
)
# Profile fields Iterable manages itself, or that belong to the subscriptions object:
# writing them through bulkUpdate would bypass consent handling (no subscribe events).
MANAGED_USER_FIELDS = frozenset(
    {
        "emailListIds",
        "userListIds",
        "unsubscribedChannelIds",
        "unsubscribedMessageTypeIds",
        "subscribedMessageTypeIds",
        "shoppingCartItems",
        "itblInternal",
        "profileUpdatedAt",
        "signupSource",
        "itblUserId",
    }
)
CATALOG_ITEM_MAX_BYTES = 30_000


@dataclass(frozen=True)
class Rejection:
    reason_code: str
    detail: str


class Invalid(Exception):
    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(reason_code, detail)


def is_valid_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value))


def user_id_problem(value: Any, max_length: int) -> str | None:
    """Why Iterable would refuse `value` as a userId, or None."""
    if not isinstance(value, str):
        return "userId must be a string"
    if value == "" or value.strip() == "":
        return "userId is empty"
    if value != value.rstrip():
        return "userId has trailing whitespace"
    if not value.isascii() or not value.isprintable():
        return "userId contains non-ASCII or non-printable characters"
    if len(value) > max_length:
        return f"userId is longer than {max_length} characters"
    return None


def is_date_string(value: str) -> bool:
    """The date formats Iterable recognises (Catalog Items / Field Data Types docs)."""
    return _DATE.match(value) is not None


def incoming_types(value: Any) -> set[str]:
    """The Iterable field types a JSON value can be stored as (arrays: their elements')."""
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"long", "double"}
    if isinstance(value, float):
        return {"double"}
    if isinstance(value, str):
        return {"string", "date"} if is_date_string(value) else {"string"}
    if isinstance(value, dict):
        if set(value) == {"lat", "lon"}:
            return {"object", "geo_location"}
        return {"object", "nested"}
    return set()


def canonical_type(value: Any) -> str | None:
    """The type Iterable fixes for a field when `value` is the first one it sees."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "date" if is_date_string(value) else "string"
    if isinstance(value, dict):
        return "object"
    return None


# Exact Python types each Iterable field type accepts (bool is not a number in JSON).
_ACCEPTS: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "date": frozenset({str}),
    "long": frozenset({int}),
    "double": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "nested": frozenset({dict}),
    "geo_location": frozenset({dict}),
}


def compatible(expected: str, value: Any) -> bool:
    """Whether Iterable accepts `value` into a field of type `expected` (arrays: elements)."""
    kind = expected.lower()
    accepts = _ACCEPTS.get(kind)
    if accepts is None:
        return True  # a type we do not model: let Iterable decide
    if type(value) not in accepts:
        return False
    if kind == "date":
        return is_date_string(value)
    if kind == "geo_location":
        return set(value) == {"lat", "lon"}
    return True


@dataclass
class TypeRegistry:
    """Field types per category: locked in Iterable (getFields) and first-seen this run.

    `check` runs for every field of every row, so the common case (a scalar whose type
    matches the known one) is a couple of dict lookups; messages are built only on failure.
    """

    locked: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(self, category: str, data_fields: dict[str, Any], where: str) -> None:
        locked = self.locked.get(category, {})
        seen = self.seen.setdefault(category, {})
        fresh: dict[str, str] = {}
        self._walk(category, data_fields, "", locked, seen, fresh, where)
        if fresh:
            seen.update(fresh)

    def _walk(
        self,
        category: str,
        fields: dict[str, Any],
        prefix: str,
        locked: dict[str, str],
        seen: dict[str, str],
        fresh: dict[str, str],
        where: str,
    ) -> None:
        for key, value in fields.items():
            if value is None:
                continue
            name = prefix + key
            kind = type(value)
            if kind is list:
                for element in value:
                    if element is not None and type(element) is not list:
                        self._one(category, name, element, locked, seen, fresh, where)
                    if type(element) is dict:
                        self._walk(category, element, name + ".", locked, seen, fresh, where)
                continue
            expected = locked.get(name)
            known = expected or seen.get(name)
            if (
                known is not None
                and kind in _ACCEPTS.get(known, ())
                and known not in ("date", "geo_location")
            ):
                pass  # fast path: the value has the type already established
            else:
                self._one(category, name, value, locked, seen, fresh, where)
            if kind is dict:
                self._walk(category, value, name + ".", locked, seen, fresh, where)

    @staticmethod
    def _one(
        category: str,
        name: str,
        value: Any,
        locked: dict[str, str],
        seen: dict[str, str],
        fresh: dict[str, str],
        where: str,
    ) -> None:
        expected = locked.get(name)
        if expected is not None:
            if not compatible(expected, value):
                raise Invalid(
                    "field_type_mismatch",
                    f"{where}.{name}: Iterable has this {category} field as "
                    f"'{expected}', the value {_preview(value)} is "
                    f"{'/'.join(sorted(incoming_types(value)))}",
                )
            return
        first = seen.get(name) or fresh.get(name)
        if first is None:
            kind = canonical_type(value)
            if kind is not None:
                fresh[name] = kind
        elif not compatible(first, value):
            raise Invalid(
                "field_type_conflict",
                f"{where}.{name}: earlier rows in this run sent it as '{first}', this "
                f"value {_preview(value)} is {'/'.join(sorted(incoming_types(value)))}",
            )


def _preview(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


class Validator:
    """Validates change rows of every object for one run."""

    def __init__(
        self, settings: IterableSettings, user_field_types: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        locked = {name: kind.lower() for name, kind in (user_field_types or {}).items()}
        self.types = TypeRegistry(locked={"user": locked})
        # object -> its payload check; an object missing here is a programming error
        self.checks: dict[str, Callable[[dict[str, Any], str], None]] = {
            "users": self._check_users,
            "subscriptions": self._check_subscriptions,
            "purchases": self._check_purchases,
            "carts": self._check_carts,
            "events": self._check_events,
            "catalog_items": self._check_catalog_items,
            "user_deletions": self._check_user_deletions,
        }

    def validate(self, row: ChangeRow) -> tuple[dict[str, Any] | None, Rejection | None]:
        """The parsed payload, or the reason the row must not be sent."""
        try:
            # UTF-8 needs at most 4 bytes a character: only long payloads need encoding.
            if len(row.payload) * 4 > self.settings.max_body_bytes:
                size = len(row.payload.encode())
                if size > self.settings.max_body_bytes:
                    raise Invalid(
                        "payload_too_large",
                        f"payload is {size} bytes; Iterable accepts at most "
                        f"{self.settings.max_body_bytes} bytes per request",
                    )
            try:
                payload = orjson.loads(row.payload)
            except orjson.JSONDecodeError as exc:
                raise Invalid("invalid_payload", f"payload is not valid JSON: {exc}") from None
            if not isinstance(payload, dict):
                raise Invalid("invalid_payload", "payload must be a JSON object")
            if row.operation not in (Operation.UPSERT, Operation.DELETE) and not (
                row.object == IterableObject.USERS
                and row.operation in (Operation.MOVE, Operation.UPDATE)
            ):
                raise Invalid("invalid_operation", f"unknown operation {row.operation!r}")
            self.checks[row.object](payload, row.operation)
            return payload, None
        except Invalid as exc:
            return None, exc.rejection

    def _identity(self, body: dict[str, Any], where: str, prefer_ok: bool = False) -> None:
        email, user_id = body.get("email"), body.get("userId")
        if email in (None, "") and user_id in (None, ""):
            raise Invalid("missing_identifier", f"{where} has neither email nor userId")
        if email not in (None, "") and not is_valid_email(email):
            raise Invalid("invalid_email", f"{where}.email {_preview(email)} is not a valid email")
        if user_id not in (None, ""):
            problem = user_id_problem(user_id, self.settings.max_user_id_length)
            if problem:
                raise Invalid("invalid_user_id", f"{where}.userId {_preview(user_id)}: {problem}")
        project = self.settings.project_type
        if project == "userId" and user_id in (None, ""):
            raise Invalid("missing_identifier", f"{where} needs a userId in a userId-based project")
        if (
            project == "email"
            and email in (None, "")
            and not (prefer_ok and body.get("preferUserId") is True)
        ):
            raise Invalid(
                "missing_identifier",
                f"{where} has no email; an email-based project needs one "
                "(or userId with preferUserId=true)",
            )

    def _data_fields(self, body: dict[str, Any], where: str) -> dict[str, Any]:
        data = body.get("dataFields")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise Invalid("invalid_field_type", f"{where}.dataFields must be an object")
        return data

    def _user_fields(self, body: dict[str, Any], where: str) -> None:
        data = self._data_fields(body, where)
        managed = sorted(MANAGED_USER_FIELDS & set(data))
        if managed:
            raise Invalid(
                "managed_field",
                f"{where}.dataFields sets {', '.join(managed)}, which Iterable manages "
                "(subscriptions go through the subscriptions object)",
            )
        for key in ("preferUserId", "mergeNestedObjects"):
            if key in body and not isinstance(body[key], bool):
                raise Invalid("invalid_field_type", f"{where}.{key} must be a boolean")
        self.types.check("user", data, f"{where}.dataFields")

    def _check_users(self, payload: dict[str, Any], operation: str) -> None:
        if operation == Operation.MOVE:
            for key in ("currentEmail", "newEmail"):
                if not is_valid_email(payload.get(key)):
                    raise Invalid(
                        "invalid_email", f"move.{key} {_preview(payload.get(key))} is not valid"
                    )
            return
        self._identity(payload, "user", prefer_ok=True)
        if operation == Operation.UPDATE and payload.get("userId") in (None, ""):
            raise Invalid("missing_identifier", "an email change by users/update needs a userId")
        if operation in (Operation.UPSERT, Operation.UPDATE):
            self._user_fields(payload, "user")

    def _check_subscriptions(self, payload: dict[str, Any], operation: str) -> None:
        """A subscription write: one group, one action; `create` rows also carry the
        complete initial arrays of a person Iterable does not hold yet."""
        self._identity(payload, "subscription")
        group = payload.get("subscriptionGroup")
        if group not in SUBSCRIPTION_GROUPS:
            raise Invalid(
                "invalid_field_type",
                f"subscription.subscriptionGroup must be one of {', '.join(SUBSCRIPTION_GROUPS)}",
            )
        group_id = payload.get("subscriptionGroupId")
        if not isinstance(group_id, int) or isinstance(group_id, bool):
            raise Invalid(
                "invalid_field_type", "subscription.subscriptionGroupId must be an integer"
            )
        if payload.get("action") not in ("subscribe", "unsubscribe"):
            raise Invalid(
                "invalid_field_type", "subscription.action must be subscribe or unsubscribe"
            )
        arrays = payload.get("arrays")
        if payload.get("create") is True and not isinstance(arrays, dict):
            raise Invalid("missing_field", "subscription.arrays is required with create")
        for key, value in (arrays or {}).items():
            if key not in SUBSCRIPTION_ARRAYS:
                raise Invalid(
                    "invalid_field_type",
                    f"subscription.arrays.{key} is not an array Iterable knows",
                )
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise Invalid(
                    "invalid_field_type", f"subscription.arrays.{key} must be a list of integers"
                )

    def _commerce_user(self, payload: dict[str, Any], where: str) -> None:
        user = payload.get("user")
        if not isinstance(user, dict):
            raise Invalid("missing_field", f"{where}.user is required")
        self._identity(user, f"{where}.user", prefer_ok=True)
        self._user_fields(user, f"{where}.user")

    def _items(self, payload: dict[str, Any], where: str, allow_empty: bool) -> None:
        items = payload.get("items")
        if not isinstance(items, list) or (not items and not allow_empty):
            raise Invalid("missing_field", f"{where}.items must be a non-empty list")
        for index, item in enumerate(items):
            at = f"{where}.items[{index}]"
            if not isinstance(item, dict):
                raise Invalid("invalid_field_type", f"{at} must be an object")
            for key in ("id", "name", "price", "quantity"):
                if item.get(key) is None:
                    raise Invalid("missing_field", f"{at}.{key} is required")
            if not isinstance(item["id"], str) or not isinstance(item["name"], str):
                raise Invalid("invalid_field_type", f"{at}.id and .name must be strings")
            if not _is_number(item["price"]):
                raise Invalid("invalid_field_type", f"{at}.price must be a number")
            if not isinstance(item["quantity"], int) or isinstance(item["quantity"], bool):
                raise Invalid("invalid_field_type", f"{at}.quantity must be an integer")
            categories = item.get("categories")
            if categories is not None and not (
                isinstance(categories, list) and all(isinstance(c, str) for c in categories)
            ):
                raise Invalid("invalid_field_type", f"{at}.categories must be a list of strings")

    def _created_at(self, payload: dict[str, Any], where: str) -> None:
        created = payload.get("createdAt")
        if created is None:
            return
        if not isinstance(created, int) or isinstance(created, bool):
            raise Invalid("invalid_field_type", f"{where}.createdAt must be integer epoch seconds")
        if created > 100_000_000_000:
            raise Invalid(
                "invalid_field_type",
                f"{where}.createdAt {created} looks like milliseconds; Iterable expects seconds",
            )

    def _check_purchases(self, payload: dict[str, Any], operation: str) -> None:
        self._commerce_user(payload, "purchase")
        self._items(payload, "purchase", allow_empty=False)
        if not _is_number(payload.get("total")):
            raise Invalid("missing_field", "purchase.total is required and must be a number")
        purchase_id = payload.get("id")
        if purchase_id is not None and (
            not isinstance(purchase_id, str) or len(purchase_id.encode()) > 512
        ):
            raise Invalid("invalid_field_type", "purchase.id must be a string of at most 512 bytes")
        self._created_at(payload, "purchase")
        self.types.check("purchase", self._data_fields(payload, "purchase"), "purchase.dataFields")

    def _check_carts(self, payload: dict[str, Any], operation: str) -> None:
        self._commerce_user(payload, "cart")
        self._items(payload, "cart", allow_empty=True)

    def _check_events(self, payload: dict[str, Any], operation: str) -> None:
        self._identity(payload, "event", prefer_ok=True)
        name = payload.get("eventName")
        if not isinstance(name, str) or not name:
            raise Invalid("missing_field", "event.eventName is required")
        event_id = payload.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise Invalid("invalid_event_id", "event.id is required (the idempotency key)")
        if not _EVENT_ID.match(event_id) or len(event_id.encode()) > 512:
            raise Invalid(
                "invalid_event_id",
                f"event.id {_preview(event_id)} must be alphanumerics and hyphens, <= 512 bytes",
            )
        self._created_at(payload, "event")
        self.types.check(f"event:{name}", self._data_fields(payload, "event"), "event.dataFields")

    def _check_catalog_items(self, payload: dict[str, Any], operation: str) -> None:
        item_id = payload.get("itemId")
        if not isinstance(item_id, str) or not _ITEM_ID.match(item_id):
            raise Invalid(
                "invalid_item_id",
                f"catalog itemId {_preview(item_id)} must be 1-255 letters, digits or dashes",
            )
        if operation == Operation.DELETE:
            return
        value = payload.get("value")
        if not isinstance(value, dict):
            raise Invalid("missing_field", "catalog item.value must be an object")
        for key in _raw_keys(value):
            if "." in key:
                raise Invalid(
                    "invalid_field_name",
                    f"catalog item.value has a field name with a period ({key!r}); "
                    "Iterable catalogs do not allow periods in field names",
                )
        size = len(orjson.dumps(value))
        if size > CATALOG_ITEM_MAX_BYTES:
            raise Invalid(
                "payload_too_large",
                f"catalog item value is {size} bytes; Iterable allows {CATALOG_ITEM_MAX_BYTES}",
            )
        self.types.check("catalog", value, "catalog item.value")

    def _check_user_deletions(self, payload: dict[str, Any], operation: str) -> None:
        self._identity(payload, "user deletion")
        method = payload.get("method", self.settings.user_deletion_method)
        if method not in DELETION_METHODS:
            raise Invalid(
                "invalid_field_type",
                f"user deletion.method must be one of {', '.join(DELETION_METHODS)}",
            )
        project = self.settings.project_type
        if method == "forget" and project == ProjectType.EMAIL and not payload.get("email"):
            raise Invalid("missing_identifier", "forget needs an email in an email-based project")
        if method == "delete" and project == ProjectType.USER_ID and not payload.get("userId"):
            raise Invalid("missing_identifier", "delete needs a userId in a userId-based project")


def _raw_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _raw_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _raw_keys(inner)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
