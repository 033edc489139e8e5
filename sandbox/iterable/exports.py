"""``GET /api/export/data.json``: users (filtered on ``profileUpdatedAt``) and the consent
events (filtered on ``createdAt``), one JSON object per line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ctsync.sandbox.iterable import consent
from ctsync.sandbox.iterable.errors import ApiError
from ctsync.sandbox.iterable.project import Project, User
from ctsync.sandbox.iterable.query import Query, value

EXPORT_TYPES = ("user", *consent.CONSENT_EVENT_TYPES)
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S")
_EITHER = "Use either range or both startDateTime and endDateTime"


class RawBody:
    """An answer that is not one JSON document (the export's JSON lines)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def _parse_date(name: str, raw: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ApiError(400, "BadParams", f"{name} must look like yyyy-MM-dd HH:mm:ss [ZZ], got {raw!r}")


def _window(query: Query) -> tuple[datetime, datetime]:
    start = value(query, "startDateTime")
    end = value(query, "endDateTime")
    date_range = value(query, "range")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    far_past, far_future = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    if start is not None or end is not None:
        if start is None or end is None:
            raise ApiError(400, "BadParams", _EITHER)
        return _parse_date("startDateTime", start), _parse_date("endDateTime", end)
    if date_range is None:
        raise ApiError(400, "BadParams", _EITHER)
    windows = {
        "Today": (today, far_future),
        "Yesterday": (today - timedelta(days=1), today),
        "BeforeToday": (far_past, today),
        "All": (far_past, far_future),
    }
    if date_range not in windows:
        raise ApiError(400, "BadParams", f"range must be one of {', '.join(windows)}")
    return windows[date_range]


def _user_line(project: Project, user: User) -> dict[str, Any]:
    line: dict[str, Any] = {}
    if user.email is not None:
        line["email"] = user.email
    if user.user_id is not None:
        line["userId"] = user.user_id
    for name, field_value in user.data.items():
        if name in ("email", "userId", project.list_field):
            continue
        line[name] = field_value
    # One name for static lists in every project type (emulator choice, see README).
    line["emailListIds"] = list(user.data.get(project.list_field) or [])
    return line


def _lines(
    project: Project, data_type: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    if data_type == "user":
        return [
            _user_line(project, user)
            for user in project.users.values()
            if start <= _parse_date("profileUpdatedAt", user.data["profileUpdatedAt"]) < end
        ]
    return [
        {k: v for k, v in event.items() if k != "eventType"}
        for event in consent.events(project)
        if event["eventType"] == data_type
        and start <= _parse_date("createdAt", event["createdAt"]) < end
    ]


def op_export(project: Project, query: Query) -> tuple[int, Any]:
    data_type = value(query, "dataTypeName")
    if data_type is None:
        raise ApiError(400, "BadParams", "dataTypeName is required")
    if data_type not in EXPORT_TYPES:
        raise ApiError(
            400,
            "BadParams",
            f"dataTypeName {data_type!r} is not exported by the emulator "
            f"(it serves {', '.join(EXPORT_TYPES)})",
        )
    start, end = _window(query)
    data = b"".join(orjson.dumps(line) + b"\n" for line in _lines(project, data_type, start, end))
    return 200, RawBody(data, "application/x-json-stream")
