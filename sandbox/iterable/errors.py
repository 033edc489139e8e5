"""How the emulated project fails: whole-request errors (``ApiError`` and the catalogs'
other shape), per-record identity failures, and the bulk answers that report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctsync.sandbox.iterable.fields import FieldLimitError, FieldTypeError, SchemaCheck

# The names under a bulk answer's ``failedUpdates``, per kind of bulk endpoint.
USER_FAILED = (
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
EVENT_FAILED = (
    "invalidEmails",
    "invalidUserIds",
    "notFoundEmails",
    "notFoundUserIds",
    "forgottenEmails",
    "forgottenUserIds",
)
SUCCESS: dict[str, Any] = {"msg": "", "code": "Success", "params": None}


def success() -> dict[str, Any]:
    """The plain ``IterableApiResponse`` of a write that worked (a fresh dict each time)."""
    return dict(SUCCESS)


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


@dataclass
class BulkOutcome:
    """The per-record result arrays of a bulk response."""

    success: int = 0
    fail: int = 0
    arrays: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.arrays.setdefault(name, []).append(value)

    def failed(self, names: tuple[str, ...]) -> dict[str, list[str]]:
        """The ``failedUpdates`` object: every name in ``names``, empty when none failed."""
        return {name: self.arrays.get("failed." + name, []) for name in names}

    def counts(self) -> dict[str, Any]:
        """The counters and top-level invalid arrays every bulk answer starts with."""
        return {
            "successCount": self.success,
            "failCount": self.fail,
            "invalidEmails": self.arrays.get("invalidEmails", []),
            "invalidUserIds": self.arrays.get("invalidUserIds", []),
        }


def single_failure(failure: IdentityFailure) -> ApiError:
    """A single-record call's answer to an identity failure."""
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


def missing_identity(path: str) -> ApiError:
    """A bulk record with neither identifier fails the whole request, naming the record."""
    return ApiError(
        400,
        "BadParams",
        "Either email or userId must be provided",
        {path: "email or userId required"},
    )


def record_failure(outcome: BulkOutcome, failure: IdentityFailure, record: dict[str, Any]) -> None:
    """File a bulk record's identity failure under the array Iterable reports it in."""
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


def user_bulk_body(outcome: BulkOutcome, check: SchemaCheck) -> dict[str, Any]:
    """The answer of ``users/bulkUpdate`` and the list routes."""
    return {
        **outcome.counts(),
        "filteredOutFields": check.filtered,
        "createdFields": check.created,
        "noOpEmails": [],
        "noOpUserIds": [],
        "failedUpdates": outcome.failed(USER_FAILED),
    }


def check_or_fail(check: SchemaCheck, category: str, data: Any) -> Any:
    """Type-check ``data`` for ``category``; a mismatch fails the whole request."""
    try:
        return check.check(category, data)
    except FieldTypeError as error:
        raise ApiError(
            400, "RequestFieldsTypesMismatched", str(error), {"validationErrors": error.errors}
        ) from None


def commit(check: SchemaCheck) -> None:
    """Lock the types ``check`` saw; over the project's field limit fails the request."""
    try:
        check.commit()
    except FieldLimitError as error:
        raise ApiError(400, "UniqueFieldsLimitExceeded", str(error)) from None
