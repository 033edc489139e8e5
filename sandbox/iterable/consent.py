"""Subscription groups and the consent events of the emulated project.

Everything here operates on a ``Project`` and follows the same conventions as the other
sections: ``op_*`` functions return ``(status, body)`` or raise ``ApiError``.

* ``PUT /api/subscriptions/{group}/{id}?action=subscribe|unsubscribe`` (bulk action) and
  the single-user ``PATCH``/``DELETE`` routes change one group and nothing else.
* Consent events (``emailSubscribe``, ``emailUnSubscribe``, ``hostedUnsubscribeClick``,
  ``emailComplaint``, ``emailBounce``, ``smsBounce``, ``smsReceived``) are logged when a
  subscription changes through a group route or a list route, and when a recipient acts
  (the inspection route ``POST /_emulator/recipient``). ``bulkUpdateSubscriptions`` logs
  none, as Iterable documents.
* ``GET /api/export/data.json`` serves them (``exports.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ctsync.sandbox.iterable import subscriptions
from ctsync.sandbox.iterable.errors import ApiError, IdentityFailure
from ctsync.sandbox.iterable.identity import resolve
from ctsync.sandbox.iterable.project import Project, User, now_text
from ctsync.sandbox.iterable.query import Query

GROUPS = {
    "emaillist": "emailList",
    "messagetype": "messageType",
    "messagechannel": "messageChannel",
}
CONSENT_EVENT_TYPES = (
    "emailSubscribe",
    "emailUnSubscribe",
    "hostedUnsubscribeClick",
    "emailComplaint",
    "emailBounce",
    "smsBounce",
    "smsReceived",
)


def _state(project: Project) -> dict[str, Any]:
    """Per-project consent state, created on first use (kept off ``Project.__init__``)."""
    state = project.__dict__.get("_consent")
    if state is None:
        state = project.__dict__["_consent"] = {"events": [], "bulk_action_enabled": True}
    return state


def events(project: Project) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = _state(project)["events"]
    return log


def set_bulk_action_enabled(project: Project, enabled: bool) -> None:
    _state(project)["bulk_action_enabled"] = enabled


def _log(project: Project, user: User, data_type: str, **fields: Any) -> None:
    record: dict[str, Any] = {"createdAt": now_text(), "eventType": data_type}
    if user.email is not None:
        record["email"] = user.email
    if user.user_id is not None:
        record["userId"] = user.user_id
    record.update(fields)
    events(project).append(record)


def _group(name: str) -> str:
    group = GROUPS.get(name.lower())
    if group is None:
        raise ApiError(
            400,
            "BadParams",
            f"Invalid subscription group {name!r}: use emailList, messageType or messageChannel",
            {"subscriptionGroup": name},
        )
    return group


def _group_id(project: Project, group: str, raw: str) -> int:
    try:
        group_id = int(raw)
    except ValueError:
        raise ApiError(
            400, "BadParams", f"subscriptionGroupId must be numeric, got {raw!r}"
        ) from None
    known: set[int] = {
        "emailList": set(project.lists),
        "messageType": {int(str(m["id"])) for m in project.message_types},
        "messageChannel": _channel_ids(project),
    }[group]
    if group_id not in known:
        raise ApiError(
            400,
            "BadParams",
            f"{group} {group_id} does not exist in this project",
            {"subscriptionGroupId": group_id},
        )
    return group_id


def _message_type(project: Project, type_id: int) -> dict[str, Any]:
    return next(m for m in project.message_types if m["id"] == type_id)


def _set(user: User, name: str, value: int, present: bool) -> bool:
    """Add or remove ``value`` in the profile array ``name``; True when it changed."""
    current = user.data.setdefault(name, [])
    if present and value not in current:
        current.append(value)
        return True
    if not present and value in current:
        current.remove(value)
        return True
    return False


def apply_group(
    project: Project, user: User, group: str, group_id: int, subscribe: bool, source: str
) -> None:
    """Subscribe or unsubscribe ``user`` for one group, logging the consent event."""
    if group == "emailList":
        changed = _set(user, project.list_field, group_id, subscribe)
        ids = {"emailListIds": [group_id]}
    elif group == "messageChannel":
        changed = _set(user, "unsubscribedChannelIds", group_id, not subscribe)
        ids = {"channelIds": [group_id]}
    else:
        if _message_type(project, group_id)["subscriptionPolicy"] == "OptIn":
            changed = _set(user, "subscribedMessageTypeIds", group_id, subscribe)
        else:
            changed = _set(user, "unsubscribedMessageTypeIds", group_id, not subscribe)
        ids = {"messageTypeIds": [group_id]}
    if not changed:
        return
    user.data["profileUpdatedAt"] = now_text()
    if subscribe:
        _log(project, user, "emailSubscribe", signupSource=source, **ids)
    else:
        _log(project, user, "emailUnSubscribe", unsubSource=source, **ids)


def _channel_ids(project: Project) -> set[int]:
    return {int(str(c["id"])) for c in project.channels}


def _action(query: Query) -> bool:
    values = query.get("action") or ["subscribe"]
    if values[0] not in ("subscribe", "unsubscribe"):
        raise ApiError(
            400, "BadParams", f"action must be subscribe or unsubscribe, got {values[0]!r}"
        )
    return values[0] == "subscribe"


def op_bulk_action(
    project: Project, body: dict[str, Any], args: dict[str, str], query: Query
) -> tuple[int, Any]:
    if not _state(project)["bulk_action_enabled"]:
        raise ApiError(
            404,
            "NotFound",
            "Bulk subscription action is not enabled for this project; "
            "contact your customer success manager",
        )
    group = _group(args["subscriptionGroup"])
    group_id = _group_id(project, group, args["subscriptionGroupId"])
    subscribe = _action(query)
    for key, values in (
        ("email", body.get("users") or []),
        ("userId", body.get("usersByUserId") or []),
    ):
        for value in values:
            try:
                user = resolve(
                    project,
                    value if key == "email" else None,
                    value if key == "userId" else None,
                    create=False,
                )
            except IdentityFailure:
                # Iterable accepts the request (202) and processes it later; unknown and
                # invalid identifiers are skipped without a report (emulator choice).
                continue
            apply_group(project, user, group, group_id, subscribe, "API")
    return 202, {
        "msg": "Accepted a request for bulk subscription actions",
        "code": "Success",
        "params": None,
    }


def op_single(project: Project, args: dict[str, str], subscribe: bool) -> tuple[int, Any]:
    group = _group(args["subscriptionGroup"])
    group_id = _group_id(project, group, args["subscriptionGroupId"])
    email = args.get("userEmail")
    user_id = args.get("userId")
    try:
        user = resolve(project, email, user_id, create=False)
    except IdentityFailure as failure:
        raise (
            ApiError(
                400,
                "BadParams",
                f"User does not exist. Email: {email or ''} UserId: {user_id or ''}",
            )
            if failure.kind == "notFound"
            else ApiError(
                400,
                "InvalidEmailAddressError" if failure.key == "email" else "BadParams",
                str(failure),
            )
        ) from None
    apply_group(project, user, group, group_id, subscribe, "API")
    return 200, {"msg": "", "code": "Success", "params": None}


def op_list(project: Project, body: dict[str, Any], subscribe: bool) -> tuple[int, Any]:
    """``lists/subscribe`` and ``lists/unsubscribe``, logging a consent event for each
    user whose membership (or, with ``channelUnsubscribe``, channel) changed."""

    def snapshot() -> dict[int, tuple[bool, bool]]:
        seen = {}
        lst = project.lists.get(body["listId"])
        for sub in body["subscribers"]:
            user = project.find_user(sub.get("email"), sub.get("userId"))
            if user is not None and lst is not None:
                seen[user.uid] = (
                    lst["id"] in (user.data.get(project.list_field) or []),
                    lst["channelId"] in (user.data.get("unsubscribedChannelIds") or []),
                )
        return seen

    before = snapshot()
    change = subscriptions.op_subscribe if subscribe else subscriptions.op_unsubscribe
    status, answer = change(project, body)
    after = snapshot()
    for uid, (member, channel_off) in after.items():
        was_member, was_channel_off = before.get(uid, (False, False))
        user = project.users[uid]
        if member != was_member:
            kind = "emailSubscribe" if member else "emailUnSubscribe"
            source = {"signupSource": "API"} if member else {"unsubSource": "API"}
            _log(project, user, kind, emailListIds=[body["listId"]], **source)
        if channel_off and not was_channel_off:
            channel = project.lists[body["listId"]]["channelId"]
            _log(project, user, "emailUnSubscribe", channelIds=[channel], unsubSource="API")
    return status, answer


# ---------------------------------------------------------------------- recipient actions


def recipient(project: Project, options: dict[str, Any]) -> dict[str, Any]:
    """What a recipient does outside the API: an unsubscribe link, the preference centre,
    SMS STOP, a spam complaint, a hard bounce. Raises ``ValueError`` for bad options."""
    action = options.get("action")
    if action not in RECIPIENT_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(RECIPIENT_ACTIONS)}")
    user = project.find_user(options.get("email"), options.get("userId"))
    if user is None:
        raise ValueError("no such user")
    _RECIPIENT_ACTIONS[action](project, user, options)
    return {"user": user.view()}


def _link_group(project: Project, options: dict[str, Any]) -> tuple[str, int]:
    """The group a link or the preference centre names: ``(group, id)``."""
    for key, group in (
        ("listId", "emailList"),
        ("channelId", "messageChannel"),
        ("messageTypeId", "messageType"),
    ):
        if options.get(key) is not None:
            return group, _group_id(project, group, str(options[key]))
    raise ValueError("name one of listId, channelId, messageTypeId")


def _unsubscribe_link(project: Project, user: User, options: dict[str, Any]) -> None:
    group, group_id = _link_group(project, options)
    _log(project, user, "hostedUnsubscribeClick", url="https://links.iterable.com/u")
    apply_group(project, user, group, group_id, False, "EmailLink")


def _preference_centre(project: Project, user: User, options: dict[str, Any]) -> None:
    group, group_id = _link_group(project, options)
    apply_group(project, user, group, group_id, True, "PreferenceCenter")


def _sms_stop(project: Project, user: User, options: dict[str, Any]) -> None:
    channel = options.get("channelId") or next(
        int(str(c["id"]))
        for c in project.channels
        if c["messageMedium"] == "SMS" and c["channelType"] == "Marketing"
    )
    _log(project, user, "smsReceived", smsMessage="STOP")
    apply_group(project, user, "messageChannel", int(channel), False, "SMS")


def _complaint(project: Project, user: User, options: dict[str, Any]) -> None:
    _log(project, user, "emailComplaint")
    # A spam complaint unsubscribes from every marketing email channel.
    for channel in project.channels:
        if channel["messageMedium"] == "Email" and channel["channelType"] == "Marketing":
            apply_group(
                project, user, "messageChannel", int(str(channel["id"])), False, "Complaint"
            )


def _hard_bounce(project: Project, user: User, options: dict[str, Any]) -> None:
    _log(project, user, "emailBounce", recipientState="HardBounce")


_RECIPIENT_ACTIONS: dict[str, Callable[[Project, User, dict[str, Any]], None]] = {
    "unsubscribe": _unsubscribe_link,
    "subscribe": _preference_centre,
    "complaint": _complaint,
    "hard_bounce": _hard_bounce,
    "sms_stop": _sms_stop,
}
RECIPIENT_ACTIONS = tuple(_RECIPIENT_ACTIONS)


def add_message_type(project: Project, options: dict[str, Any]) -> dict[str, Any]:
    """Create a message type (e.g. an ``OptIn`` one); Iterable does this in its UI."""
    channel_id = int(options["channelId"])
    if channel_id not in _channel_ids(project):
        raise ValueError(f"channel {channel_id} does not exist")
    policy = options.get("subscriptionPolicy", "OptOut")
    if policy not in ("OptIn", "OptOut"):
        raise ValueError("subscriptionPolicy must be OptIn or OptOut")
    type_id = int(options.get("id") or max(int(str(m["id"])) for m in project.message_types) + 1)
    if any(m["id"] == type_id for m in project.message_types):
        raise ValueError(f"message type {type_id} exists")
    created = int(datetime.now(UTC).timestamp() * 1000)
    record = {
        "id": type_id,
        "name": str(options.get("name") or f"Message type {type_id}"),
        "channelId": channel_id,
        "subscriptionPolicy": policy,
        "createdAt": created,
        "updatedAt": created,
        "rateLimitPerMinute": 0,
        "frequencyCap": {"days": 0, "messages": 0},
    }
    project.message_types.append(record)
    return record
