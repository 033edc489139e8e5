"""The one clock: naive UTC, matching the ``timestamp`` columns of the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC without a time zone, as the audit tables store it."""
    return datetime.now(UTC).replace(tzinfo=None)
