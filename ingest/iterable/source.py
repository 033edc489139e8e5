"""The dlt source for Iterable: what Iterable holds about consent, into ``raw_iterable``.

- ``users`` (merge on ``user_key``): the ``user`` export, profiles whose
  ``profileUpdatedAt`` falls in the window; only identifiers and subscription arrays.
- ``consent_events`` (merge on ``event_key``): the ``emailSubscribe``,
  ``emailUnSubscribe``, ``emailComplaint`` and ``emailBounce`` exports (``createdAt``).
- ``message_types``, ``channels``, ``lists`` (replace): ``GET /api/messageTypes``,
  ``/api/channels``, ``/api/lists``.

The export endpoints allow 4 requests a minute. The first ``user`` export (the full
snapshot the sync diffs against) waits for the budget; any other export is deferred to the
next run when this minute's budget is spent (its window simply grows), so back-to-back runs
never stall on the limit: they diff against a read-back at most a few minutes old, and the
sync only writes groups whose decision changed, so a stale read-back never rewrites a group.

Incremental: each export type keeps the end of its last window in dlt state; the next
window starts ``lookback_seconds`` before it (export times have one-second resolution and
the end is exclusive). The first load (no state) starts at 1970: a full snapshot. Only the
subscription fields of a profile are kept (no other personal data is copied).

Settings: the sync's ``[sync.iterable]`` (key, URL, project type, ``rate_scale``) plus
``sources.iterable.lookback_seconds`` (default 300) and ``sources.iterable.event_types``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import orjson
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.source import DltSource

from ctsync.ingest.iterable.client import ExportDeferred, IterableReadClient

DATASET_NAME = "raw_iterable"
EVENT_TYPES = ("emailSubscribe", "emailUnSubscribe", "emailComplaint", "emailBounce")
EXPORT_FORMAT = "%Y-%m-%d %H:%M:%S +00:00"
FIRST_START = datetime(1970, 1, 1, tzinfo=UTC)
_SUBSCRIPTION_ARRAYS = (
    ("emailListIds", "email_list_ids"),
    ("unsubscribedChannelIds", "unsubscribed_channel_ids"),
    ("unsubscribedMessageTypeIds", "unsubscribed_message_type_ids"),
    ("subscribedMessageTypeIds", "subscribed_message_type_ids"),
)
_EVENT_ARRAYS = (
    ("emailListIds", "email_list_ids"),
    ("channelIds", "channel_ids"),
    ("messageTypeIds", "message_type_ids"),
)


def _text() -> TColumnSchema:
    # a fresh dict per column: dlt writes the column's name into the hint it is given
    return {"data_type": "text", "nullable": True}


def _time() -> TColumnSchema:
    return {"data_type": "timestamp", "nullable": True}


def parse_time(value: Any) -> datetime | None:
    """Iterable's ``yyyy-MM-dd HH:mm:ss +00:00`` (or ISO) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value)
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(text, fmt)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ids(value: Any) -> str:
    """A JSON array text of sorted integer ids (absent → ``[]``)."""
    if not isinstance(value, list):
        return "[]"
    return orjson.dumps(sorted({int(v) for v in value if v is not None})).decode()


def user_key(line: dict[str, Any], project_type: str) -> str | None:
    """The identifier Iterable keys the user on: email (email projects), else userId."""
    email, user_id = line.get("email"), line.get("userId")
    if project_type == "email" or not user_id:
        return f"email:{str(email).lower()}" if email else None
    return f"userId:{user_id}"


def _window(state: dict[str, Any], name: str, lookback: float, now: datetime) -> tuple[str, str]:
    last = state.get(name)
    start = FIRST_START if last is None else parse_time(last) or FIRST_START
    if last is not None:
        start = start - timedelta(seconds=lookback)
    return start.strftime(EXPORT_FORMAT), now.strftime(EXPORT_FORMAT)


def iterable_source(
    client: IterableReadClient,
    project_type: str,
    lookback_seconds: float = 300.0,
    event_types: Sequence[str] = EVENT_TYPES,
    now: datetime | None = None,
    deferred: list[str] | None = None,
) -> DltSource:
    """The source; ``now`` (UTC) pins the end of every export window (tests); event types
    left for the next run are appended to ``deferred``."""
    # The end is exclusive and export times have whole seconds: end one second after now
    # so this second's changes come too (the next window's look-back re-reads them anyway).
    end = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=1)
    loaded_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    if deferred is None:
        deferred = []

    @dlt.resource(
        name="users",
        primary_key="user_key",
        write_disposition="merge",
        columns={
            "email": _text(),
            "user_id": _text(),
            **{column: _text() for _, column in _SUBSCRIPTION_ARRAYS},
            "profile_updated_at": _time(),
            "loaded_at": _time(),
        },
    )
    def users() -> Iterator[dict[str, Any]]:
        state = dlt.current.resource_state()
        start, stop = _window(state, "user", lookback_seconds, end)
        try:
            lines = list(client.export("user", start, stop, defer="user" in state))
        except ExportDeferred:
            deferred.append("user")
            return
        for line in lines:
            key = user_key(line, project_type)
            if key is None:
                continue
            row: dict[str, Any] = {
                "user_key": key,
                "email": line.get("email"),
                "user_id": line.get("userId"),
                "profile_updated_at": parse_time(line.get("profileUpdatedAt")),
                "loaded_at": loaded_at,
            }
            for field, column in _SUBSCRIPTION_ARRAYS:
                row[column] = _ids(line.get(field))
            yield row
        state["user"] = stop

    @dlt.resource(
        name="consent_events",
        primary_key="event_key",
        write_disposition="merge",
        columns={
            "email": _text(),
            "user_id": _text(),
            **{column: _text() for _, column in _EVENT_ARRAYS},
            "source": _text(),
            "recipient_state": _text(),
            "created_at": _time(),
            "loaded_at": _time(),
        },
    )
    def consent_events() -> Iterator[dict[str, Any]]:
        state = dlt.current.resource_state()
        for data_type in event_types:
            start, stop = _window(state, data_type, lookback_seconds, end)
            # Event types take what this minute's budget allows and leave the rest (window
            # and all) to the next run.
            try:
                lines = list(client.export(data_type, start, stop, defer=True))
            except ExportDeferred:
                deferred.append(data_type)
                continue
            for line in lines:
                row: dict[str, Any] = {
                    # the same event read twice (look-back) has the same key
                    "event_key": hashlib.md5(
                        data_type.encode() + orjson.dumps(line, option=orjson.OPT_SORT_KEYS),
                        usedforsecurity=False,
                    ).hexdigest(),
                    "event_type": data_type,
                    "created_at": parse_time(line.get("createdAt")),
                    "email": line.get("email"),
                    "user_id": line.get("userId"),
                    "source": line.get("unsubSource") or line.get("signupSource"),
                    "recipient_state": line.get("recipientState"),
                    "loaded_at": loaded_at,
                }
                for field, column in _EVENT_ARRAYS:
                    row[column] = _ids(line.get(field))
                yield row
            state[data_type] = stop

    @dlt.resource(name="message_types", primary_key="id", write_disposition="replace")
    def message_types() -> Iterator[dict[str, Any]]:
        for item in client.get_json("/api/messageTypes").get("messageTypes") or []:
            yield {
                "id": int(item["id"]),
                "name": item.get("name"),
                "channel_id": item.get("channelId"),
                "subscription_policy": item.get("subscriptionPolicy"),
            }

    @dlt.resource(name="channels", primary_key="id", write_disposition="replace")
    def channels() -> Iterator[dict[str, Any]]:
        for item in client.get_json("/api/channels").get("channels") or []:
            yield {
                "id": int(item["id"]),
                "name": item.get("name"),
                "channel_type": item.get("channelType"),
                "message_medium": item.get("messageMedium"),
            }

    @dlt.resource(name="lists", primary_key="id", write_disposition="replace")
    def lists() -> Iterator[dict[str, Any]]:
        for item in client.get_json("/api/lists").get("lists") or []:
            yield {
                "id": int(item["id"]),
                "name": item.get("name"),
                "list_type": item.get("listType"),
            }

    @dlt.source(name="iterable", max_table_nesting=0)
    def source() -> Any:
        return [users, consent_events, message_types, channels, lists]

    return source()
