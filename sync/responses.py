"""What Iterable's answers mean: reason codes for refusals, when to split a batch, and
the per-row failures inside a bulk response."""

from __future__ import annotations

from typing import Any

import orjson

from ctsync.core.names import Outcome, RecordOutcome
from ctsync.core.redact import redact
from ctsync.sync.iterable_client import ApiResponse

# Bulk responses: (array name, reason code) per identifier kind.
_USER_FAILURE_KEYS = (
    ("invalidEmails", "iterable_invalid_email"),
    ("invalidDataEmails", "iterable_invalid_data"),
    ("conflictEmails", "iterable_conflict"),
    ("forgottenEmails", "iterable_forgotten"),
    ("notFoundEmails", "iterable_not_found"),
)


_USER_ID_FAILURE_KEYS = (
    ("invalidUserIds", "iterable_invalid_user_id"),
    ("invalidDataUserIds", "iterable_invalid_data"),
    ("conflictUserIds", "iterable_conflict"),
    ("forgottenUserIds", "iterable_forgotten"),
    ("notFoundUserIds", "iterable_not_found"),
)


_CODE_REASONS = {
    "BadJsonBody": "iterable_bad_json",
    "RequestFieldsTypesMismatched": "iterable_type_mismatch",
    "InvalidEmailAddressError": "iterable_invalid_email",
    "InvalidUserIdError": "iterable_invalid_user_id",
    "ForgottenUserError": "iterable_forgotten",
    "BatchTooLarge": "payload_too_large",
    "UniqueFieldsLimitExceeded": "iterable_field_limit",
    "EmailAlreadyExists": "iterable_conflict",
    "UserIdAlreadyExists": "iterable_conflict",
    "ExternalKeyConflict": "iterable_conflict",
    "UnknownEmailError": "iterable_not_found",
    "UnknownUserIdError": "iterable_not_found",
}


# Answers that refuse a whole bulk request because of some of its rows: halve and retry
# to find them. Other errors (bad catalog name, bad parameters) would fail every half the
# same way, so splitting them would only multiply requests.
_SPLIT_CODES = frozenset({"BadJsonBody", "RequestFieldsTypesMismatched", "BatchTooLarge"})


_SPLIT_STATUSES = frozenset({409, 413})


def should_split(response: ApiResponse) -> bool:
    return response.status in _SPLIT_STATUSES or (
        response.status == 400 and (response.code or "") in _SPLIT_CODES
    )


def reason_for(response: ApiResponse) -> str:
    """The rejection reason code for an error answer."""
    code = response.code or ""
    if code in _CODE_REASONS:
        return _CODE_REASONS[code]
    if response.status == 409:
        return (
            "iterable_forgotten" if "forgotten" in response.message.lower() else "iterable_conflict"
        )
    if response.status == 413:
        return "payload_too_large"
    if response.status == 404:
        return "iterable_not_found"
    return "iterable_rejected"


def describe(response: ApiResponse) -> str:
    """A detail line for the audit tables: status, Iterable's code, message and params."""
    parts = [f"HTTP {response.status}"]
    if response.code:
        parts.append(response.code)
    if response.message:
        parts.append(response.message)
    if isinstance(response.body, dict):
        params = response.body.get("params") or response.body.get("data")
        if params:
            parts.append(orjson.dumps(params).decode())
    return redact(": ".join(parts))[:2000]


def is_absent(response: ApiResponse) -> bool:
    if response.status == 404:
        return True
    text = response.message.lower()
    return response.status == 400 and ("does not exist" in text or "not found" in text)


def identity_failures(body: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Per-row failure reasons of a bulk answer, keyed by email and by userId."""
    failed = body.get("failedUpdates") or {}
    by_email: dict[str, str] = {}
    by_user_id: dict[str, str] = {}
    for key, reason in _USER_FAILURE_KEYS:
        for value in failed.get(key) or []:
            by_email.setdefault(str(value).lower(), reason)
    for key, reason in _USER_ID_FAILURE_KEYS:
        for value in failed.get(key) or []:
            by_user_id.setdefault(str(value), reason)
    for value in body.get("invalidEmails") or []:
        by_email.setdefault(str(value).lower(), "iterable_invalid_email")
    for value in body.get("invalidUserIds") or []:
        by_user_id.setdefault(str(value), "iterable_invalid_user_id")
    return by_email, by_user_id


def email_change_conflict(outcome: Outcome) -> Outcome:
    """An email change (updateEmail, users/update) refused because the new email already
    has a profile: its own reason, and what to do about it."""
    if outcome.outcome != RecordOutcome.REJECTED or outcome.reason_code != "iterable_conflict":
        return outcome
    return outcome._replace(
        reason_code="email_change_target_exists",
        detail=redact(
            "the new email already has another Iterable profile; merge or delete one of them "
            f"in Iterable, then `ctsync replay --reason email_change_target_exists` "
            f"({outcome.detail})"
        ),
    )
