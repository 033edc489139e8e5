"""One emulated Iterable project: users, events, purchases, lists, catalogs, and the rules
Iterable applies to them (identity per project type, field-type locking, GDPR forget).

Every ``op_*`` method takes a request body that already passed Swagger validation and
returns ``(status, response body)``, or raises ``ApiError`` for a whole-request failure.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.iterable.fields import (
    FieldLimitError,
    FieldTypeError,
    SchemaCheck,
    SchemaRegistry,
)

PROJECT_TYPES = ("email", "userId", "hybrid")
PROJECT_ID = 10216

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_EVENT_ID_RE = re.compile(r"^[A-Za-z0-9-]+$")
_CATALOG_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,255}$")
USER_ID_MAX_LEN = 52
EVENT_ID_MAX_BYTES = 512
CATALOG_ITEM_MAX_BYTES = 30_000
CATALOG_BULK_MAX_ITEMS = 1000

_SUBSCRIPTION_FIELDS = (
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


class ApiError(Exception):
    """A whole-request failure, rendered as Iterable's ``{"msg","code","params"}`` body."""

    def __init__(
        self, status: int, code: str, msg: str, params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.params = params

    def body(self) -> dict[str, Any]:
        return {"msg": self.msg, "code": self.code, "params": self.params}


class CatalogNotFound(ApiError):
    """Iterable answers a missing catalog with its other error shape (``ErrorHttpResponse``)."""

    def __init__(self, name: str, item_id: str | None = None) -> None:
        if item_id is None:
            msg, code, args = f"Catalog not found: {name}", "error.catalogs.notFound", [name]
        else:
            msg = f"Catalog item not found: {name}/{item_id}"
            code, args = "error.catalogs.itemNotFound", [name, item_id]
        super().__init__(404, code, msg)
        self.args_ = args

    def body(self) -> dict[str, Any]:
        return {
            "error": "NotFound",
            "message": self.msg,
            "code": self.code,
            "data": {"args": self.args_},
        }


class IdentityFailure(Exception):
    """A record's identity cannot be used; ``kind`` picks the bulk-response array."""

    def __init__(self, kind: str, key: str, value: str, detail: str = "") -> None:
        super().__init__(detail or f"{kind} {key} {value}")
        self.kind = kind  # invalid | notFound | conflict | forgotten | invalidData
        self.key = key  # "email" | "userId"
        self.value = value
        self.detail = detail


_now_cache: list[Any] = [0, ""]


def now_text() -> str:
    """Iterable's date rendering: ``yyyy-MM-dd HH:mm:ss +00:00`` (cached per second)."""
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache[0] = second
        _now_cache[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S +00:00")
    return str(_now_cache[1])


def valid_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))


def valid_user_id(value: str) -> bool:
    """Non-empty, ≤52 chars, printable ASCII, no trailing space (FailedUserUpdates rules)."""
    if not value or len(value) > USER_ID_MAX_LEN or value[-1].isspace():
        return False
    return value.isascii() and value.isprintable()


def _valid_record_id(value: str) -> bool:
    return bool(_EVENT_ID_RE.match(value)) and len(value.encode()) <= EVENT_ID_MAX_BYTES


def _merge(target: dict[str, Any], update: dict[str, Any], nested: bool) -> None:
    """Iterable's dataFields merge: top-level replace (or deep merge), ``null`` deletes.

    Request bodies are parsed afresh per request and stored objects are only ever
    replaced, never mutated, so values are stored without copying (lists excepted: the
    emulator appends to list memberships in place).
    """
    for key, value in update.items():
        cls = type(value)
        if value is None:
            target.pop(key, None)
        elif cls is dict and nested:
            current = target.get(key)
            child = dict(current) if type(current) is dict else {}
            _merge(child, value, nested=True)
            target[key] = child
        elif cls is list:
            target[key] = list(value)
        else:
            target[key] = value


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


@dataclass
class BulkOutcome:
    """The per-record result arrays of a bulk response."""

    success: int = 0
    fail: int = 0
    arrays: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.arrays.setdefault(name, []).append(value)


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
        self.message_types = [
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
        self.lists: dict[int, dict[str, Any]] = {
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
        self._list_ids = itertools.count(100001)
        self.catalogs: dict[str, dict[str, Any]] = {}
        self._catalog_ids = itertools.count(1)
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
        user_fields.update({name: "long" for name in _SUBSCRIPTION_FIELDS})
        user_fields.update(_CART_ITEM_TYPES)

    # ------------------------------------------------------------------ identity

    @property
    def list_field(self) -> str:
        """Profiles keep static lists in ``emailListIds`` (email) or ``userListIds``."""
        return "emailListIds" if self.project_type == "email" else "userListIds"

    def _first_by_email(self, email: str) -> User | None:
        found = self.by_email.get(email.lower())
        return found[0] if found else None

    def _first_by_user_id(self, user_id: str) -> User | None:
        found = self.by_user_id.get(user_id)
        return found[0] if found else None

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

    def _set_identity(self, user: User, email: str | None, user_id: str | None) -> None:
        self._unindex(user)
        user.email = email
        user.user_id = user_id
        self._index(user)
        for key, value in (("email", email), ("userId", user_id)):
            if value is None:
                user.data.pop(key, None)
            else:
                user.data[key] = value

    def _create(self, email: str | None, user_id: str | None) -> User:
        stamp = now_text()
        user = User(next(self._uids), None, None, {})
        user.data.update(
            {
                "signupDate": stamp,
                "signupSource": "API",
                "profileUpdatedAt": stamp,
                self.list_field: [],
                **{name: [] for name in _SUBSCRIPTION_FIELDS},
            }
        )
        self._set_identity(user, email, user_id)
        self.users[user.uid] = user
        return user

    def _remove(self, user: User) -> None:
        self._unindex(user)
        del self.users[user.uid]
        for store, key in self._history.pop(user.uid, []):
            record = store.get(key)
            if record is not None and record["_uid"] == user.uid:
                del store[key]

    def _own(self, store: dict[str, dict[str, Any]], key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` (moving an upserted id to the end) for its user."""
        store.pop(key, None)
        store[key] = record
        self._history.setdefault(record["_uid"], []).append((store, key))

    def _check_identifiers(self, email: Any, user_id: Any) -> None:
        if email is not None and not valid_email(email):
            raise IdentityFailure("invalid", "email", email, f"Invalid email: {email}")
        if user_id is not None and not valid_user_id(user_id):
            raise IdentityFailure("invalid", "userId", user_id, f"Invalid userId: {user_id}")
        if email is not None and email.lower() in self.forgotten_emails:
            raise IdentityFailure("forgotten", "email", email, "Contact is GDPR forgotten")
        if user_id is not None and user_id in self.forgotten_user_ids:
            raise IdentityFailure("forgotten", "userId", user_id, "Contact is GDPR forgotten")

    def resolve(
        self,
        email: str | None,
        user_id: str | None,
        prefer_user_id: bool = False,
        create: bool = True,
    ) -> User:
        """The user a record addresses, created when the project type allows it.

        Raises ``IdentityFailure`` for bad, forgotten, unknown or conflicting identities.
        """
        if email is None and user_id is None:
            raise IdentityFailure("missing", "email", "", "Either email or userId is required")
        self._check_identifiers(email, user_id)
        kind = self.project_type
        if kind == "email":
            if email is not None:
                user = self._first_by_email(email)
                if user is None:
                    if not create:
                        raise IdentityFailure(
                            "notFound", "email", email, f"No user exists with email {email}"
                        )
                    return self._create(email, user_id)
                if user_id is not None and user.user_id != user_id:
                    # Email-based projects: email wins, the userId is overwritten.
                    self._set_identity(user, user.email, user_id)
                return user
            assert user_id is not None
            user = self._first_by_user_id(user_id)
            if user is not None:
                return user
            if prefer_user_id and create:
                return self._create(f"{uuid.uuid4().hex}@placeholder.email", user_id)
            raise IdentityFailure(
                "notFound", "userId", user_id, f"No user exists with userId {user_id}"
            )
        if kind == "userId":
            if user_id is not None:
                user = self._first_by_user_id(user_id)
                if user is None:
                    if not create:
                        raise IdentityFailure(
                            "notFound", "userId", user_id, f"No user exists with userId {user_id}"
                        )
                    return self._create(email, user_id)
                if email is not None and user.email != email:
                    self._set_identity(user, email, user.user_id)
                return user
            assert email is not None
            user = self._first_by_email(email)
            if user is None:
                raise IdentityFailure(
                    "notFound",
                    "email",
                    email,
                    f"No user exists with email {email} (userID-based "
                    "projects create users by userId only)",
                )
            return user
        by_email = self._first_by_email(email) if email is not None else None
        by_id = self._first_by_user_id(user_id) if user_id is not None else None
        if by_email is not None and by_id is not None and by_email is not by_id:
            raise IdentityFailure(
                "conflict",
                "email",
                email or "",
                "Email/userId conflict: email and userId belong to different users",
            )
        user = by_email or by_id
        if user is None:
            if not create:
                key, value = ("userId", user_id) if user_id is not None else ("email", email)
                raise IdentityFailure(
                    "notFound", key, value or "", f"No user exists with {key} {value}"
                )
            return self._create(email, user_id)
        if user_id is not None and user.user_id is not None and user.user_id != user_id:
            raise IdentityFailure(
                "conflict",
                "userId",
                user_id,
                f"Email/userId conflict: {email} already has another userId",
            )
        if email is not None and user.email is not None and user.email.lower() != email.lower():
            self._set_identity(user, email, user.user_id)
        elif email is not None and user.email is None:
            self._set_identity(user, email, user.user_id)
        if user_id is not None and user.user_id is None:
            self._set_identity(user, user.email, user_id)
        return user

    def _identity_updates(self, user: User, data: dict[str, Any]) -> None:
        """Identity changes carried in ``dataFields.email`` / ``dataFields.userId``."""
        new_email = data.get("email")
        new_id = data.get("userId")
        if isinstance(new_id, str) and new_id != user.user_id:
            if not valid_user_id(new_id):
                raise IdentityFailure(
                    "invalidData", "userId", new_id, f"Invalid userId in dataFields: {new_id}"
                )
            if new_id in self.forgotten_user_ids:
                raise IdentityFailure("forgotten", "userId", new_id, "Contact is GDPR forgotten")
            if self.project_type != "email" and self._first_by_user_id(new_id) is not None:
                raise IdentityFailure(
                    "conflict",
                    "userId",
                    new_id,
                    f"Email/userId conflict: userId {new_id} already exists",
                )
        if (
            isinstance(new_email, str)
            and self.project_type != "email"
            and (user.email is None or new_email.lower() != user.email.lower())
        ):
            if not valid_email(new_email):
                raise IdentityFailure(
                    "invalidData", "email", new_email, f"Invalid email in dataFields: {new_email}"
                )
            if new_email.lower() in self.forgotten_emails:
                raise IdentityFailure("forgotten", "email", new_email, "Contact is GDPR forgotten")
            if self.project_type == "hybrid" and self._first_by_email(new_email) is not None:
                raise IdentityFailure(
                    "conflict",
                    "email",
                    new_email,
                    f"Email/userId conflict: email {new_email} already exists",
                )
        if isinstance(new_id, str) and new_id != user.user_id:
            self._set_identity(user, user.email, new_id)
        if isinstance(new_email, str) and self.project_type != "email" and new_email != user.email:
            self._set_identity(user, new_email, user.user_id)

    def _apply_user_fields(self, user: User, data: dict[str, Any] | None, nested: bool) -> None:
        if data:
            touches_identity = "email" in data or "userId" in data
            if touches_identity:
                self._identity_updates(user, data)
            _merge(user.data, data, nested)
            if touches_identity:
                # Identity fields mirror the real identifiers (email wins in email projects).
                for key, value in (("email", user.email), ("userId", user.user_id)):
                    if value is None:
                        user.data.pop(key, None)
                    else:
                        user.data[key] = value
        user.data["profileUpdatedAt"] = now_text()

    # ------------------------------------------------------------------ failures

    @staticmethod
    def _single_failure(failure: IdentityFailure) -> ApiError:
        if failure.kind == "missing":
            return ApiError(400, "BadParams", "Either email or userId must be provided")
        if failure.kind in ("invalid", "invalidData"):
            code = "InvalidEmailAddressError" if failure.key == "email" else "InvalidUserIdError"
            return ApiError(400, code, failure.detail)
        if failure.kind == "forgotten":
            return ApiError(409, "ForgottenUserError", "Contact is GDPR forgotten")
        if failure.kind == "conflict":
            code = "EmailAlreadyExists" if failure.key == "email" else "UserIdAlreadyExists"
            return ApiError(409, code, failure.detail)
        code = "UnknownEmailError" if failure.key == "email" else "UnknownUserIdError"
        return ApiError(400, code, failure.detail)

    @staticmethod
    def _missing(path: str) -> ApiError:
        return ApiError(
            400,
            "BadParams",
            "Either email or userId must be provided",
            {path: "email or userId required"},
        )

    @staticmethod
    def _check_or_fail(check: SchemaCheck, category: str, data: Any) -> Any:
        try:
            return check.check(category, data)
        except FieldTypeError as error:
            raise ApiError(
                400, "RequestFieldsTypesMismatched", str(error), {"validationErrors": error.errors}
            ) from None

    @staticmethod
    def _commit(check: SchemaCheck) -> None:
        try:
            check.commit()
        except FieldLimitError as error:
            raise ApiError(400, "UniqueFieldsLimitExceeded", str(error)) from None

    # ------------------------------------------------------------------ accept-time checks

    _PRECHECK = {
        "users/update": (None, "user"),
        "users/bulkUpdate": ("users", "user"),
        "lists/subscribe": ("subscribers", "user"),
        "events/track": (None, "customEvent"),
        "events/trackBulk": ("events", "customEvent"),
    }

    def precheck(self, endpoint: str, body: Any) -> BulkOutcome:
        """What Iterable decides when it accepts a write it applies later.

        Field types and identifier syntax / GDPR status are checked at once (a type
        mismatch is a synchronous 400, bad identifiers appear in the bulk answer); what
        depends on stored users (conflicts, unknown userIds) only shows when applied.
        Nothing is stored. Raises ``ApiError`` for a whole-request failure.
        """
        outcome = BulkOutcome()
        plan = self._PRECHECK.get(endpoint)
        if plan is None or not isinstance(body, dict):
            return outcome
        key, kind = plan
        records = body[key] if key is not None else [body]
        check = SchemaCheck(self.schema, body.get("createNewFields") if key else None)
        for index, record in enumerate(records):
            if record.get("email") is None and record.get("userId") is None:
                if key is None:
                    raise ApiError(400, "BadParams", "Either email or userId must be provided")
                raise self._missing(f"obj.{key}[{index}]")
            category = kind
            if kind == "customEvent":
                category = f"customEvent:{record['eventName']}"
                where = f"obj.{key}[{index}].id" if key else "obj.id"
                self._event_id(record.get("id"), where)
            self._check_or_fail(check, category, record.get("dataFields"))
            try:
                self._check_identifiers(record.get("email"), record.get("userId"))
                outcome.success += 1
            except IdentityFailure as failure:
                if key is None:
                    raise self._single_failure(failure) from None
                outcome.fail += 1
                self._record_failure(outcome, failure, record)
        return outcome

    # ------------------------------------------------------------------ users

    def op_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        check = SchemaCheck(self.schema, body.get("createNewFields"))
        data = self._check_or_fail(check, "user", body.get("dataFields"))
        email, user_id = body.get("email"), body.get("userId")
        if email is None and user_id is None:
            raise ApiError(400, "BadParams", "Either email or userId must be provided")
        try:
            self._check_identifiers(email, user_id)
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        try:
            user = self.resolve(email, user_id, bool(body.get("preferUserId")))
            self._commit(check)
            self._apply_user_fields(user, data, bool(body.get("mergeNestedObjects")))
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        return 200, {"msg": "", "code": "Success", "params": None}

    def _bulk_users(
        self,
        records: list[dict[str, Any]],
        path: str,
        check: SchemaCheck,
        create: bool,
        after: Any = None,
    ) -> BulkOutcome:
        """Shared loop of bulkUpdate and lists/subscribe: type-check all, then apply each."""
        checked = []
        for index, record in enumerate(records):
            if record.get("email") is None and record.get("userId") is None:
                raise self._missing(f"obj.{path}[{index}]")
            checked.append(self._check_or_fail(check, "user", record.get("dataFields")))
        self._commit(check)
        outcome = BulkOutcome()
        for record, data in zip(records, checked, strict=True):
            try:
                user = self.resolve(
                    record.get("email"),
                    record.get("userId"),
                    bool(record.get("preferUserId")),
                    create=create,
                )
                self._apply_user_fields(user, data, bool(record.get("mergeNestedObjects")))
                if after is not None:
                    after(user)
                outcome.success += 1
            except IdentityFailure as failure:
                outcome.fail += 1
                self._record_failure(outcome, failure, record)
        return outcome

    @staticmethod
    def _record_failure(
        outcome: BulkOutcome, failure: IdentityFailure, record: dict[str, Any]
    ) -> None:
        suffix = "Emails" if failure.key == "email" else "UserIds"
        value = failure.value
        if failure.kind == "invalid":
            outcome.add("invalid" + suffix, value)
            outcome.add("failed.invalid" + suffix, value)
            return
        if failure.kind == "conflict" and record.get("email") and record.get("userId"):
            outcome.add("failed.conflictEmails", record["email"])
            outcome.add("failed.conflictUserIds", record["userId"])
            return
        if failure.kind == "invalidData":
            # The row's own identifier tells the caller which record carried bad data.
            ident_key = "email" if record.get("email") is not None else "userId"
            suffix = "Emails" if ident_key == "email" else "UserIds"
            value = record[ident_key]
        outcome.add(f"failed.{failure.kind}{suffix}", value)

    @staticmethod
    def _user_bulk_body(outcome: BulkOutcome, check: SchemaCheck) -> dict[str, Any]:
        arrays = outcome.arrays
        failed = {
            name: arrays.get("failed." + name, [])
            for name in (
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
            )
        }
        return {
            "successCount": outcome.success,
            "failCount": outcome.fail,
            "invalidEmails": arrays.get("invalidEmails", []),
            "invalidUserIds": arrays.get("invalidUserIds", []),
            "filteredOutFields": check.filtered,
            "createdFields": check.created,
            "noOpEmails": [],
            "noOpUserIds": [],
            "failedUpdates": failed,
        }

    def op_bulk_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        check = SchemaCheck(self.schema, body.get("createNewFields"))
        outcome = self._bulk_users(body["users"], "users", check, create=True)
        return 200, self._user_bulk_body(outcome, check)

    def _apply_subscriptions(self, user: User, request: dict[str, Any]) -> None:
        if request.get("emailListIds") is not None:
            user.data[self.list_field] = list(dict.fromkeys(request["emailListIds"]))
        for name in _SUBSCRIPTION_FIELDS:
            if request.get(name) is not None:
                user.data[name] = list(dict.fromkeys(request[name]))
        user.data["profileUpdatedAt"] = now_text()

    def op_update_subscriptions(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            user = self.resolve(body.get("email"), body.get("userId"))
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        self._apply_subscriptions(user, body)
        return 200, {"msg": "", "code": "Success", "params": None}

    def op_bulk_update_subscriptions(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        requests = body["updateSubscriptionsRequests"]
        for index, request in enumerate(requests):
            if request.get("email") is None and request.get("userId") is None:
                raise self._missing(f"obj.updateSubscriptionsRequests[{index}]")
        out: dict[str, Any] = {
            "successCount": 0,
            "failCount": 0,
            "invalidEmails": [],
            "invalidUserIds": [],
            "validEmailFailures": [],
            "validUserIdFailures": [],
        }
        for request in requests:
            try:
                user = self.resolve(request.get("email"), request.get("userId"))
                self._apply_subscriptions(user, request)
                out["successCount"] += 1
            except IdentityFailure as failure:
                out["failCount"] += 1
                suffix = "Emails" if failure.key == "email" else "UserIds"
                if failure.kind == "invalid":
                    out["invalid" + suffix].append(failure.value)
                else:
                    out["valid" + suffix[:-1] + "Failures"].append(failure.value)
        return 200, out

    def find_user(self, email: str | None = None, user_id: str | None = None) -> User | None:
        if email is not None:
            return self._first_by_email(email)
        if user_id is not None:
            return self._first_by_user_id(user_id)
        return None

    def op_get_user_by_email(self, email: str) -> tuple[int, dict[str, Any]]:
        if not valid_email(email):
            raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
        user = self._first_by_email(email)
        return 200, ({"user": user.view()} if user else {})

    def op_get_user_by_user_id(self, user_id: str) -> tuple[int, dict[str, Any]]:
        user = self._first_by_user_id(user_id)
        return 200, ({"user": user.view()} if user else {})

    def op_delete_user_by_email(self, email: str) -> tuple[int, dict[str, Any]]:
        if self.project_type == "userId":
            raise ApiError(
                400,
                "BadParams",
                "Deleting by email is not supported in userID-based projects; "
                "use DELETE /api/users/byUserId/{userId}",
            )
        if not valid_email(email):
            raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
        user = self._first_by_email(email)
        if user is None:
            raise ApiError(400, "BadParams", f"User does not exist. Email: {email} UserId: ")
        self._remove(user)
        return 200, {"msg": "", "code": "Success", "params": None}

    def op_delete_user_by_user_id(self, user_id: str) -> tuple[int, dict[str, Any]]:
        users = list(self.by_user_id.get(user_id, []))
        if not users:
            raise ApiError(400, "BadParams", f"User does not exist. Email:  UserId: {user_id}")
        for user in users:
            self._remove(user)
        return 200, {
            "msg": f"All users associated with {user_id} were successfully deleted",
            "code": "Success",
            "params": None,
        }

    def op_forget(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        email, user_id = body.get("email"), body.get("userId")
        if email is None and user_id is None:
            raise ApiError(400, "BadParams", "Either email or userId must be provided")
        if self.project_type == "email" and email is None:
            raise ApiError(400, "BadParams", "Email-based projects forget users by email")
        if self.project_type == "userId" and user_id is None:
            raise ApiError(400, "BadParams", "UserID-based projects forget users by userId")
        if email is not None and not valid_email(email):
            raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
        if user_id is not None and not valid_user_id(user_id):
            raise ApiError(400, "InvalidUserIdError", f"Invalid userId: {user_id}")
        targets: list[User] = []
        if email is not None:
            targets += self.by_email.get(email.lower(), [])
            self.forgotten_emails.add(email.lower())
        if user_id is not None:
            targets += self.by_user_id.get(user_id, [])
            self.forgotten_user_ids.add(user_id)
        for user in dict.fromkeys(targets):
            if user.email is not None and self.project_type != "userId":
                self.forgotten_emails.add(user.email.lower())
            if user.user_id is not None and self.project_type != "email":
                self.forgotten_user_ids.add(user.user_id)
            self._remove(user)
        return 200, {"msg": "", "code": "Success", "params": None}

    def op_update_email(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        current_email, current_id = body.get("currentEmail"), body.get("currentUserId")
        new_email = body["newEmail"]
        if current_email is None and current_id is None:
            raise ApiError(400, "BadParams", "Either currentEmail or currentUserId is required")
        if current_email is not None and not valid_email(current_email):
            raise ApiError(400, "InvalidEmailAddressError", f"Invalid currentEmail {current_email}")
        if not valid_email(new_email):
            raise ApiError(400, "InvalidEmailAddressError", f"Invalid newEmail {new_email}")
        if new_email.lower() in self.forgotten_emails:
            raise ApiError(409, "ForgottenUserError", "Contact is GDPR forgotten")
        user = self.find_user(current_email, current_id)
        if user is None:
            if current_email is not None:
                raise ApiError(
                    400, "UnknownEmailError", f"No user exists with email {current_email}"
                )
            raise ApiError(400, "UnknownUserIdError", f"No user exists with userId {current_id}")
        other = self._first_by_email(new_email)
        if self.project_type != "userId" and other is not None and other is not user:
            raise ApiError(
                409, "EmailAlreadyExists", f"Email/userId conflict: {new_email} already exists"
            )
        self._set_identity(user, new_email, user.user_id)
        user.data["profileUpdatedAt"] = now_text()
        return 200, {"msg": "", "code": "Success", "params": None}

    def op_get_fields(self) -> tuple[int, dict[str, Any]]:
        return 200, {"fields": dict(self.schema.fields("user"))}

    # ------------------------------------------------------------------ events

    def _event_id(self, value: str | None, where: str) -> str:
        if value is None:
            return uuid.uuid4().hex
        if not _valid_record_id(value):
            raise ApiError(
                400,
                "BadParams",
                f"Invalid id {value!r}: ids are alphanumerics and hyphens, "
                f"at most {EVENT_ID_MAX_BYTES} bytes",
                {where: "Invalid id"},
            )
        return value

    def _store_event(
        self, event: dict[str, Any], event_id: str, user: User, data: dict[str, Any] | None
    ) -> None:
        created_at = event.get("createdAt")
        record = {
            "id": event_id,
            "eventName": event["eventName"],
            "eventType": "customEvent",
            "email": user.email,
            "userId": user.user_id,
            "createdAt": created_at if created_at is not None else int(time.time()),
            "dataFields": data or {},
            "campaignId": event.get("campaignId"),
            "templateId": event.get("templateId"),
            "_uid": user.uid,
        }
        if created_at is not None and created_at > 100_000_000_000:
            # Epoch seconds are expected; a value this large is almost surely milliseconds.
            record["createdAtLooksLikeMilliseconds"] = True
        self._own(self.events, event_id, record)

    def op_track(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        event_id = self._event_id(body.get("id"), "obj.id")
        check = SchemaCheck(self.schema, body.get("createNewFields"))
        data = self._check_or_fail(
            check, f"customEvent:{body['eventName']}", body.get("dataFields")
        )
        if body.get("email") is None and body.get("userId") is None:
            raise ApiError(400, "BadParams", "Either email or userId must be provided")
        if body["eventName"] in self.disallowed_event_names:
            return 200, {
                "msg": f"Event name {body['eventName']} is disallowed from tracking",
                "code": "Success",
                "params": None,
            }
        try:
            self._check_identifiers(body.get("email"), body.get("userId"))
            self._commit(check)
            user = self.resolve(
                body.get("email"), body.get("userId"), create=body.get("userId") is None
            )
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        self._store_event(body, event_id, user, data)
        return 200, {
            "msg": f"Event with id: {event_id} tracked.",
            "code": "Success",
            "params": {"id": event_id},
        }

    def op_track_bulk(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        events = body["events"]
        check = SchemaCheck(self.schema)
        prepared = []
        for index, event in enumerate(events):
            if event.get("email") is None and event.get("userId") is None:
                raise self._missing(f"obj.events[{index}]")
            event_id = self._event_id(event.get("id"), f"obj.events[{index}].id")
            per_event = event.get("createNewFields")
            check.allow = self.schema.allow_new_fields if per_event is None else per_event
            data = self._check_or_fail(
                check, f"customEvent:{event['eventName']}", event.get("dataFields")
            )
            prepared.append((event, event_id, data))
        self._commit(check)
        outcome = BulkOutcome()
        disallowed: list[str] = []
        for event, event_id, data in prepared:
            if event["eventName"] in self.disallowed_event_names:
                outcome.fail += 1
                if event["eventName"] not in disallowed:
                    disallowed.append(event["eventName"])
                continue
            try:
                user = self.resolve(
                    event.get("email"), event.get("userId"), create=event.get("userId") is None
                )
            except IdentityFailure as failure:
                outcome.fail += 1
                if failure.kind == "conflict":
                    failure = IdentityFailure("notFound", failure.key, failure.value)
                self._record_failure(outcome, failure, event)
                continue
            self._store_event(event, event_id, user, data)
            outcome.success += 1
        arrays = outcome.arrays
        return 200, {
            "successCount": outcome.success,
            "failCount": outcome.fail,
            "invalidEmails": arrays.get("invalidEmails", []),
            "invalidUserIds": arrays.get("invalidUserIds", []),
            "disallowedEventNames": disallowed,
            "filteredOutFields": check.filtered,
            "createdFields": check.created,
            "failedUpdates": {
                name: arrays.get("failed." + name, [])
                for name in (
                    "invalidEmails",
                    "invalidUserIds",
                    "notFoundEmails",
                    "notFoundUserIds",
                    "forgottenEmails",
                    "forgottenUserIds",
                )
            },
        }

    def user_events(self, user: User | None, limit: int) -> list[dict[str, Any]]:
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

    # ------------------------------------------------------------------ commerce

    def _commerce_user(self, body: dict[str, Any], check: SchemaCheck) -> tuple[User, Any]:
        user_req = body["user"]
        data = self._check_or_fail(check, "user", user_req.get("dataFields"))
        email, user_id = user_req.get("email"), user_req.get("userId")
        if email is None and user_id is None:
            raise ApiError(
                400,
                "BadParams",
                "Either user.email or user.userId must be provided",
                {"obj.user": "email or userId required"},
            )
        return self._resolve_single(user_req, check), data

    def _resolve_single(self, user_req: dict[str, Any], check: SchemaCheck) -> User:
        try:
            self._check_identifiers(user_req.get("email"), user_req.get("userId"))
            self._commit(check)
            return self.resolve(
                user_req.get("email"), user_req.get("userId"), bool(user_req.get("preferUserId"))
            )
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None

    def _check_items(self, check: SchemaCheck, items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("dataFields"):
                self._check_or_fail(check, "purchase", {"shoppingCartItems": item["dataFields"]})

    def op_track_purchase(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        purchase_id = self._event_id(body.get("id"), "obj.id")
        check = SchemaCheck(self.schema)
        purchase_data = self._check_or_fail(check, "purchase", body.get("dataFields"))
        self._check_items(check, body["items"])
        user, data = self._commerce_user(body, check)
        try:
            self._apply_user_fields(user, data, bool(body["user"].get("mergeNestedObjects")))
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        user.data["shoppingCartItems"] = []
        self._own(
            self.purchases,
            purchase_id,
            {
                "id": purchase_id,
                "eventName": "purchase",
                "eventType": "purchase",
                "email": user.email,
                "userId": user.user_id,
                "items": copy.deepcopy(body["items"]),
                "total": body["total"],
                "createdAt": body.get("createdAt") or int(time.time()),
                "dataFields": purchase_data or {},
                "campaignId": body.get("campaignId"),
                "templateId": body.get("templateId"),
                "_uid": user.uid,
            },
        )
        return 200, {
            "msg": f"Purchase with id: {purchase_id} tracked.",
            "code": "Success",
            "params": {"id": purchase_id},
        }

    def op_update_cart(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        check = SchemaCheck(self.schema)
        self._check_items(check, body["items"])
        user, data = self._commerce_user(body, check)
        try:
            self._apply_user_fields(user, data, bool(body["user"].get("mergeNestedObjects")))
        except IdentityFailure as failure:
            raise self._single_failure(failure) from None
        user.data["shoppingCartItems"] = copy.deepcopy(body["items"])
        cart_id = uuid.uuid4().hex
        self._own(
            self.cart_updates,
            cart_id,
            {
                "id": cart_id,
                "eventName": "updateCart",
                "eventType": "updateCart",
                "email": user.email,
                "userId": user.user_id,
                "items": copy.deepcopy(body["items"]),
                "createdAt": int(time.time()),
                "_uid": user.uid,
            },
        )
        return 200, {"msg": "", "code": "Success", "params": None}

    # ------------------------------------------------------------------ lists, channels

    def op_get_lists(self) -> tuple[int, dict[str, Any]]:
        return 200, {
            "lists": [
                {k: v for k, v in lst.items() if k != "channelId"} for lst in self.lists.values()
            ]
        }

    def op_create_list(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not body["name"].strip():
            raise ApiError(
                400, "BadParams", "List name must not be empty", {"obj.name": "must not be empty"}
            )
        list_id = next(self._list_ids)
        self.lists[list_id] = {
            "id": list_id,
            "name": body["name"],
            "createdAt": int(time.time() * 1000),
            "listType": "Standard",
            "description": body.get("description") or "",
            "channelId": 11,
        }
        return 200, {"listId": list_id}

    def _list(self, list_id: int) -> dict[str, Any]:
        found = self.lists.get(list_id)
        if found is None:
            raise ApiError(
                400,
                "BadParams",
                f"error.lists.invalidListId: list {list_id} does not exist",
                {"obj.listId": f"Invalid list id {list_id}"},
            )
        return found

    def op_subscribe(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        list_id = self._list(body["listId"])["id"]
        create = not (body.get("updateExistingUsersOnly") and self.project_type != "email")
        field_name = self.list_field

        def add(user: User) -> None:
            current = user.data.setdefault(field_name, [])
            if list_id not in current:
                current.append(list_id)

        check = SchemaCheck(self.schema)
        outcome = self._bulk_users(body["subscribers"], "subscribers", check, create, add)
        return 200, self._user_bulk_body(outcome, check)

    def op_unsubscribe(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        lst = self._list(body["listId"])
        outcome = BulkOutcome()
        for index, sub in enumerate(body["subscribers"]):
            if sub.get("email") is None and sub.get("userId") is None:
                raise self._missing(f"obj.subscribers[{index}]")
        for sub in body["subscribers"]:
            try:
                user = self.resolve(sub.get("email"), sub.get("userId"), create=False)
            except IdentityFailure as failure:
                outcome.fail += 1
                self._record_failure(outcome, failure, sub)
                continue
            current = user.data.setdefault(self.list_field, [])
            if lst["id"] in current:
                current.remove(lst["id"])
            if body.get("channelUnsubscribe"):
                channels = user.data.setdefault("unsubscribedChannelIds", [])
                if lst["channelId"] not in channels:
                    channels.append(lst["channelId"])
            user.data["profileUpdatedAt"] = now_text()
            outcome.success += 1
        return 200, self._user_bulk_body(outcome, SchemaCheck(self.schema))

    def op_channels(self) -> tuple[int, dict[str, Any]]:
        return 200, {"channels": [dict(c) for c in self.channels]}

    def op_message_types(self) -> tuple[int, dict[str, Any]]:
        return 200, {"messageTypes": [dict(m) for m in self.message_types]}

    # ------------------------------------------------------------------ catalogs

    def _catalog(self, name: str) -> dict[str, Any]:
        found = self.catalogs.get(name.lower())
        if found is None:
            raise CatalogNotFound(name)
        return found

    def op_create_catalog(self, name: str) -> tuple[int, dict[str, Any]]:
        if not _CATALOG_NAME_RE.match(name):
            raise ApiError(
                400,
                "BadParams",
                f"Invalid catalog name {name!r}: letters, digits and dashes only, "
                "at most 255 characters",
            )
        if name.lower() in self.catalogs:
            raise ApiError(400, "BadParams", f"Catalog {name} already exists")
        catalog_id = next(self._catalog_ids)
        self.catalogs[name.lower()] = {"id": catalog_id, "name": name, "items": {}}
        return 201, {
            "msg": f"Catalog {name} created",
            "code": "Success",
            "params": {"id": catalog_id, "name": name, "url": f"/api/catalogs/{name}"},
        }

    def op_delete_catalog(self, name: str) -> tuple[int, dict[str, Any]]:
        catalog = self._catalog(name)
        del self.catalogs[catalog["name"].lower()]
        return 200, {"msg": f"Catalog {catalog['name']} deleted", "code": "Success", "params": None}

    def _check_item(
        self, catalog: dict[str, Any], item_id: str, value: Any, check: SchemaCheck, where: str
    ) -> None:
        if not _CATALOG_NAME_RE.match(item_id):
            raise ApiError(
                400,
                "BadParams",
                f"Invalid item id {item_id!r}: letters, digits and dashes only, "
                "at most 255 characters",
                {where: "Invalid item id"},
            )
        if not isinstance(value, dict):
            raise ApiError(
                400,
                "BadJsonBody",
                f"Item {item_id}: value must be an object",
                {where: "Object value expected"},
            )
        size = len(_compact(value))
        if size > CATALOG_ITEM_MAX_BYTES:
            raise ApiError(
                400,
                "BadParams",
                f"Item {item_id} is {size} bytes; catalog items are limited to "
                f"{CATALOG_ITEM_MAX_BYTES} bytes",
                {where: "Item too large"},
            )
        bad = _dotted_key(value)
        if bad is not None:
            raise ApiError(
                400,
                "BadParams",
                f"Item {item_id}: field name {bad!r} contains a period, which "
                "catalog field names may not",
                {where: f"Invalid field name {bad}"},
            )
        self._check_or_fail(check, f"catalog:{catalog['name'].lower()}", value)

    @staticmethod
    def _store_item(
        catalog: dict[str, Any], item_id: str, value: dict[str, Any], replace: bool
    ) -> None:
        items = catalog["items"]
        current = items.get(item_id)
        if replace or current is None:
            new_value = copy.deepcopy(value)
        else:
            new_value = dict(current["value"])
            new_value.update(copy.deepcopy(value))
        items[item_id] = {
            "value": new_value,
            "lastModified": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }

    def op_put_item(self, name: str, item_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        catalog = self._catalog(name)
        check = SchemaCheck(self.schema, True)
        self._check_item(catalog, item_id, body["value"], check, "obj.value")
        self._commit(check)
        self._store_item(catalog, item_id, body["value"], replace=True)
        return 202, {
            "msg": "Catalog item update request received.",
            "code": "Success",
            "params": None,
        }

    def op_patch_item(self, name: str, item_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        catalog = self._catalog(name)
        check = SchemaCheck(self.schema, True)
        self._check_item(catalog, item_id, body["update"], check, "obj.update")
        self._commit(check)
        self._store_item(catalog, item_id, body["update"], replace=False)
        return 202, {
            "msg": "Catalog item update request received.",
            "code": "Success",
            "params": None,
        }

    def _item_view(self, catalog: dict[str, Any], item_id: str) -> dict[str, Any]:
        item = catalog["items"][item_id]
        return {
            "catalogName": catalog["name"],
            "itemId": item_id,
            "lastModified": item["lastModified"],
            "size": len(_compact(item["value"])),
            "value": item["value"],
        }

    def op_get_item(self, name: str, item_id: str) -> tuple[int, Any]:
        catalog = self._catalog(name)
        if item_id not in catalog["items"]:
            raise CatalogNotFound(catalog["name"], item_id)
        view = self._item_view(catalog, item_id)
        # api-client reads the item from `params`; the Swagger file puts it top level.
        return 200, {**view, "msg": "", "code": "Success", "params": view}

    def op_delete_item(self, name: str, item_id: str) -> tuple[int, Any]:
        catalog = self._catalog(name)
        if item_id not in catalog["items"]:
            raise CatalogNotFound(catalog["name"], item_id)
        del catalog["items"][item_id]
        return 202, {"msg": "Received request to delete item.", "code": "Success", "params": None}

    def op_list_items(
        self, name: str, page: int, page_size: int, order_by: str | None, ascending: bool
    ) -> tuple[int, Any]:
        catalog = self._catalog(name)
        if page < 1 or not 1 <= page_size <= 1000:
            raise ApiError(400, "BadParams", "page must be ≥ 1 and pageSize within 1..1000")
        ids = list(catalog["items"])
        if order_by == "itemId":
            ids.sort(reverse=not ascending)
        elif order_by:
            ids.sort(
                key=lambda i: str(catalog["items"][i]["value"].get(order_by, "")),
                reverse=not ascending,
            )
        chosen = ids[(page - 1) * page_size : page * page_size]
        payload: dict[str, Any] = {
            "catalogItemsWithProperties": [self._item_view(catalog, i) for i in chosen],
            "totalItemsCount": len(ids),
        }
        if page * page_size < len(ids):
            payload["nextPageUrl"] = (
                f"/api/catalogs/{catalog['name']}/items?page={page + 1}&pageSize={page_size}"
            )
        if page > 1:
            payload["previousPageUrl"] = (
                f"/api/catalogs/{catalog['name']}/items?page={page - 1}&pageSize={page_size}"
            )
        return 200, {**payload, "msg": "", "code": "Success", "params": payload}

    def op_bulk_items(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        catalog = self._catalog(name)
        documents = body["documents"]
        if len(documents) > CATALOG_BULK_MAX_ITEMS:
            raise ApiError(
                400,
                "BatchTooLarge",
                f"{len(documents)} documents in one request; at most "
                f"{CATALOG_BULK_MAX_ITEMS} are accepted",
            )
        check = SchemaCheck(self.schema, True)
        for item_id, value in documents.items():
            self._check_item(catalog, item_id, value, check, f"obj.documents.{item_id}")
        self._commit(check)
        replace = not body["replaceUploadedFieldsOnly"]
        for item_id, value in documents.items():
            self._store_item(catalog, item_id, value, replace=replace)
        return 200, {
            "msg": f"Request to bulk-upload documents into {catalog['name']} "
            "processed successfully",
            "code": "Success",
            "params": None,
        }

    def op_bulk_delete_items(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        catalog = self._catalog(name)
        for item_id in body["itemIds"]:
            catalog["items"].pop(item_id, None)
        return 202, {
            "msg": "Bulk delete catalog items request received.",
            "code": "Success",
            "params": None,
        }


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record without the emulator's private bookkeeping keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _compact(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def _dotted_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, child in value.items():
            if "." in key:
                return key
            found = _dotted_key(child)
            if found is not None:
                return found
    elif isinstance(value, list):
        for child in value:
            found = _dotted_key(child)
            if found is not None:
                return found
    return None
