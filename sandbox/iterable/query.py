"""Query-string parameters as the API reads them (``parse_qs`` output)."""

from __future__ import annotations

from ctsync.sandbox.iterable.errors import ApiError

Query = dict[str, list[str]]


def value(query: Query, name: str, default: str | None = None) -> str | None:
    """The first value of ``name``, or ``default``."""
    values = query.get(name)
    return values[0] if values else default


def integer(query: Query, name: str, default: int) -> int:
    raw = value(query, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400,
            "BadParams",
            f"Query parameter {name} must be an integer, got {raw!r}",
            {name: "Number value expected"},
        ) from None


def required(query: Query, name: str) -> str:
    found = value(query, name)
    if found is None:
        raise ApiError(
            400,
            "BadParams",
            f"Query parameter {name} is required",
            {name: "Missing required field"},
        )
    return found
