"""``events/*``: track and trackBulk (upsert by id), and a user's events read back."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from ctsync.sandbox.iterable.errors import (
    EVENT_FAILED,
    ApiError,
    BulkOutcome,
    IdentityFailure,
    check_or_fail,
    commit,
    missing_identity,
    record_failure,
    single_failure,
)
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.identity import check_identifiers, resolve, valid_email
from ctsync.sandbox.iterable.project import Project, User
from ctsync.sandbox.iterable.query import Query, integer

EVENT_ID_MAX_BYTES = 512
_EVENT_ID_RE = re.compile(r"^[A-Za-z0-9-]+$")
# Epoch seconds are expected; a createdAt above this is almost surely milliseconds.
_MILLISECONDS_ABOVE = 100_000_000_000


def _valid_record_id(value: str) -> bool:
    return bool(_EVENT_ID_RE.match(value)) and len(value.encode()) <= EVENT_ID_MAX_BYTES


def event_id(value: str | None, where: str) -> str:
    """The record's own id when it is valid, a generated one when it has none."""
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
    project: Project,
    event: dict[str, Any],
    record_id: str,
    user: User,
    data: dict[str, Any] | None,
) -> None:
    created_at = event.get("createdAt")
    record = {
        "id": record_id,
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
    if created_at is not None and created_at > _MILLISECONDS_ABOVE:
        record["createdAtLooksLikeMilliseconds"] = True
    project.own(project.events, record_id, record)


def op_track(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    record_id = event_id(body.get("id"), "obj.id")
    check = SchemaCheck(project.schema, body.get("createNewFields"))
    data = check_or_fail(check, f"customEvent:{body['eventName']}", body.get("dataFields"))
    if body.get("email") is None and body.get("userId") is None:
        raise ApiError(400, "BadParams", "Either email or userId must be provided")
    if body["eventName"] in project.disallowed_event_names:
        return 200, {
            "msg": f"Event name {body['eventName']} is disallowed from tracking",
            "code": "Success",
            "params": None,
        }
    try:
        check_identifiers(project, body.get("email"), body.get("userId"))
        commit(check)
        user = resolve(
            project, body.get("email"), body.get("userId"), create=body.get("userId") is None
        )
    except IdentityFailure as failure:
        raise single_failure(failure) from None
    _store_event(project, body, record_id, user, data)
    return 200, {
        "msg": f"Event with id: {record_id} tracked.",
        "code": "Success",
        "params": {"id": record_id},
    }


def _prepare_bulk(
    project: Project, events: list[dict[str, Any]], check: SchemaCheck
) -> list[tuple[dict[str, Any], str, Any]]:
    """Ids and field types of every event, before any is applied (one bad fails all)."""
    prepared = []
    for index, event in enumerate(events):
        if event.get("email") is None and event.get("userId") is None:
            raise missing_identity(f"obj.events[{index}]")
        record_id = event_id(event.get("id"), f"obj.events[{index}].id")
        per_event = event.get("createNewFields")
        check.allow = project.schema.allow_new_fields if per_event is None else per_event
        data = check_or_fail(check, f"customEvent:{event['eventName']}", event.get("dataFields"))
        prepared.append((event, record_id, data))
    commit(check)
    return prepared


def op_track_bulk(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    check = SchemaCheck(project.schema)
    prepared = _prepare_bulk(project, body["events"], check)
    outcome = BulkOutcome()
    disallowed: list[str] = []
    for event, record_id, data in prepared:
        if event["eventName"] in project.disallowed_event_names:
            outcome.fail += 1
            if event["eventName"] not in disallowed:
                disallowed.append(event["eventName"])
            continue
        try:
            user = resolve(
                project, event.get("email"), event.get("userId"), create=event.get("userId") is None
            )
        except IdentityFailure as failure:
            outcome.fail += 1
            if failure.kind == "conflict":
                failure = IdentityFailure("notFound", failure.key, failure.value)
            record_failure(outcome, failure, event)
            continue
        _store_event(project, event, record_id, user, data)
        outcome.success += 1
    return 200, {
        **outcome.counts(),
        "disallowedEventNames": disallowed,
        "filteredOutFields": check.filtered,
        "createdFields": check.created,
        "failedUpdates": outcome.failed(EVENT_FAILED),
    }


def op_get_events(project: Project, user: User | None, query: Query) -> tuple[int, dict[str, Any]]:
    """``GET /api/events/...``: the newest ``?limit=`` (1..200, default 30) of one user."""
    limit = integer(query, "limit", 30)
    if not 1 <= limit <= 200:
        raise ApiError(400, "BadParams", "limit must be within 1..200")
    return 200, {"events": project.user_events(user, limit)}


def op_get_events_by_email(
    project: Project, email: str, query: Query
) -> tuple[int, dict[str, Any]]:
    if not valid_email(email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
    return op_get_events(project, project.find_user(email=email), query)
