"""The project's subscription state as the plain routes change it: lists
(``lists/*``), channels, message types, and ``users/updateSubscriptions`` /
``bulkUpdateSubscriptions``, which overwrite the profile arrays they are sent.

The subscription-group routes and the consent events they log are in ``consent.py``.
"""

from __future__ import annotations

import time
from typing import Any

from ctsync.sandbox.iterable.errors import (
    ApiError,
    BulkOutcome,
    IdentityFailure,
    missing_identity,
    record_failure,
    single_failure,
    success,
    user_bulk_body,
)
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.identity import resolve
from ctsync.sandbox.iterable.project import SUBSCRIPTION_FIELDS, Project, User, now_text
from ctsync.sandbox.iterable.users import bulk_users

# ---------------------------------------------------------------------- profile arrays


def _apply_subscriptions(project: Project, user: User, request: dict[str, Any]) -> None:
    if request.get("emailListIds") is not None:
        user.data[project.list_field] = list(dict.fromkeys(request["emailListIds"]))
    for name in SUBSCRIPTION_FIELDS:
        if request.get(name) is not None:
            user.data[name] = list(dict.fromkeys(request[name]))
    user.data["profileUpdatedAt"] = now_text()


def op_update_subscriptions(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        user = resolve(project, body.get("email"), body.get("userId"))
    except IdentityFailure as failure:
        raise single_failure(failure) from None
    _apply_subscriptions(project, user, body)
    return 200, success()


def op_bulk_update_subscriptions(
    project: Project, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    requests = body["updateSubscriptionsRequests"]
    for index, request in enumerate(requests):
        if request.get("email") is None and request.get("userId") is None:
            raise missing_identity(f"obj.updateSubscriptionsRequests[{index}]")
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
            user = resolve(project, request.get("email"), request.get("userId"))
            _apply_subscriptions(project, user, request)
            out["successCount"] += 1
        except IdentityFailure as failure:
            out["failCount"] += 1
            suffix = "Emails" if failure.key == "email" else "UserIds"
            if failure.kind == "invalid":
                out["invalid" + suffix].append(failure.value)
            else:
                out["valid" + suffix[:-1] + "Failures"].append(failure.value)
    return 200, out


# ---------------------------------------------------------------------- lists


def op_get_lists(project: Project) -> tuple[int, dict[str, Any]]:
    return 200, {
        "lists": [
            {k: v for k, v in lst.items() if k != "channelId"} for lst in project.lists.values()
        ]
    }


def op_create_list(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not body["name"].strip():
        raise ApiError(
            400, "BadParams", "List name must not be empty", {"obj.name": "must not be empty"}
        )
    list_id = next(project.list_ids)
    project.lists[list_id] = {
        "id": list_id,
        "name": body["name"],
        "createdAt": int(time.time() * 1000),
        "listType": "Standard",
        "description": body.get("description") or "",
        "channelId": 11,
    }
    return 200, {"listId": list_id}


def _list(project: Project, list_id: int) -> dict[str, Any]:
    found = project.lists.get(list_id)
    if found is None:
        raise ApiError(
            400,
            "BadParams",
            f"error.lists.invalidListId: list {list_id} does not exist",
            {"obj.listId": f"Invalid list id {list_id}"},
        )
    return found


def op_subscribe(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    list_id = _list(project, body["listId"])["id"]
    create = not (body.get("updateExistingUsersOnly") and project.project_type != "email")
    field_name = project.list_field

    def add(user: User) -> None:
        current = user.data.setdefault(field_name, [])
        if list_id not in current:
            current.append(list_id)

    check = SchemaCheck(project.schema)
    outcome = bulk_users(project, body["subscribers"], "subscribers", check, create, add)
    return 200, user_bulk_body(outcome, check)


def _leave_list(
    project: Project, user: User, lst: dict[str, Any], channel_unsubscribe: bool
) -> None:
    current = user.data.setdefault(project.list_field, [])
    if lst["id"] in current:
        current.remove(lst["id"])
    if channel_unsubscribe:
        channels = user.data.setdefault("unsubscribedChannelIds", [])
        if lst["channelId"] not in channels:
            channels.append(lst["channelId"])
    user.data["profileUpdatedAt"] = now_text()


def op_unsubscribe(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    lst = _list(project, body["listId"])
    outcome = BulkOutcome()
    for index, sub in enumerate(body["subscribers"]):
        if sub.get("email") is None and sub.get("userId") is None:
            raise missing_identity(f"obj.subscribers[{index}]")
    for sub in body["subscribers"]:
        try:
            user = resolve(project, sub.get("email"), sub.get("userId"), create=False)
        except IdentityFailure as failure:
            outcome.fail += 1
            record_failure(outcome, failure, sub)
            continue
        _leave_list(project, user, lst, bool(body.get("channelUnsubscribe")))
        outcome.success += 1
    return 200, user_bulk_body(outcome, SchemaCheck(project.schema))


# ---------------------------------------------------------------------- channels, types


def op_channels(project: Project) -> tuple[int, dict[str, Any]]:
    return 200, {"channels": [dict(c) for c in project.channels]}


def op_message_types(project: Project) -> tuple[int, dict[str, Any]]:
    return 200, {"messageTypes": [dict(m) for m in project.message_types]}
