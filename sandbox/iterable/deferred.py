"""Writes Iterable accepts now and applies later (the ``async_ms`` fault): what it checks
when it accepts one, and the answer it gives before applying it."""

from __future__ import annotations

from typing import Any

from ctsync.sandbox.iterable.errors import (
    EVENT_FAILED,
    USER_FAILED,
    ApiError,
    BulkOutcome,
    IdentityFailure,
    check_or_fail,
    missing_identity,
    record_failure,
    single_failure,
)
from ctsync.sandbox.iterable.events import event_id
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.identity import check_identifiers
from ctsync.sandbox.iterable.project import Project

# endpoint -> (the body's array of records, or None for a single record; field category)
_PRECHECK = {
    "users/update": (None, "user"),
    "users/bulkUpdate": ("users", "user"),
    "lists/subscribe": ("subscribers", "user"),
    "events/track": (None, "customEvent"),
    "events/trackBulk": ("events", "customEvent"),
}


def precheck(project: Project, endpoint: str, body: Any) -> BulkOutcome:
    """What Iterable decides when it accepts a write it applies later.

    Field types and identifier syntax / GDPR status are checked at once (a type
    mismatch is a synchronous 400, bad identifiers appear in the bulk answer); what
    depends on stored users (conflicts, unknown userIds) only shows when applied.
    Nothing is stored. Raises ``ApiError`` for a whole-request failure.
    """
    outcome = BulkOutcome()
    plan = _PRECHECK.get(endpoint)
    if plan is None or not isinstance(body, dict):
        return outcome
    key, kind = plan
    records = body[key] if key is not None else [body]
    check = SchemaCheck(project.schema, body.get("createNewFields") if key else None)
    for index, record in enumerate(records):
        if record.get("email") is None and record.get("userId") is None:
            if key is None:
                raise ApiError(400, "BadParams", "Either email or userId must be provided")
            raise missing_identity(f"obj.{key}[{index}]")
        category = kind
        if kind == "customEvent":
            category = f"customEvent:{record['eventName']}"
            event_id(record.get("id"), f"obj.{key}[{index}].id" if key else "obj.id")
        check_or_fail(check, category, record.get("dataFields"))
        try:
            check_identifiers(project, record.get("email"), record.get("userId"))
            outcome.success += 1
        except IdentityFailure as failure:
            if key is None:
                raise single_failure(failure) from None
            outcome.fail += 1
            record_failure(outcome, failure, record)
    return outcome


def _bulk_users_answer(name: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    counts = outcome.counts()
    if name == "lists/unsubscribe":
        counts["successCount"] = len(body["subscribers"])
    return 200, {
        **counts,
        "filteredOutFields": [],
        "createdFields": [],
        "noOpEmails": [],
        "noOpUserIds": [],
        "failedUpdates": outcome.failed(USER_FAILED),
    }


def _track_bulk_answer(name: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    return 200, {
        **outcome.counts(),
        "disallowedEventNames": [],
        "filteredOutFields": [],
        "createdFields": [],
        "failedUpdates": outcome.failed(EVENT_FAILED),
    }


def _bulk_subscriptions_answer(name: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    return 200, {
        "successCount": len(body["updateSubscriptionsRequests"]),
        "failCount": 0,
        "invalidEmails": [],
        "invalidUserIds": [],
        "validEmailFailures": [],
        "validUserIdFailures": [],
    }


def _tracked_answer(name: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    label = "Event" if name == "events/track" else "Purchase"
    return 200, {
        "msg": f"{label} with id: {body['id']} tracked.",
        "code": "Success",
        "params": {"id": body["id"]},
    }


def _item_answer(name: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    return 202, {"msg": "Request received.", "code": "Success", "params": None}


_PROVISIONAL = {
    "users/bulkUpdate": _bulk_users_answer,
    "lists/subscribe": _bulk_users_answer,
    "lists/unsubscribe": _bulk_users_answer,
    "events/trackBulk": _track_bulk_answer,
    "users/bulkUpdateSubscriptions": _bulk_subscriptions_answer,
    "events/track": _tracked_answer,
    "commerce/trackPurchase": _tracked_answer,
}


def provisional(endpoint: str, body: Any, outcome: BulkOutcome) -> tuple[int, Any]:
    """The answer Iterable gives when it accepts a write it will apply later."""
    answer = _PROVISIONAL.get(endpoint)
    if answer is None and endpoint.startswith("catalogs/items/"):
        answer = None if endpoint == "catalogs/items/bulk" else _item_answer
    if answer is None:
        return 200, {"msg": "", "code": "Success", "params": None}
    return answer(endpoint, body, outcome)
