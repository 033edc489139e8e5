"""Rows ready to send (payload parsed, size known) and their batches within Iterable's
per-request record and byte limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from ctsync.core.names import ChangeRow

BULK_OVERHEAD_BYTES = 256


class Prepared(NamedTuple):
    row: ChangeRow
    payload: dict[str, Any]
    size: int


def batches(items: list[Prepared], max_records: int, max_bytes: int) -> Iterator[list[Prepared]]:
    """Split `items` into request batches of at most `max_records` and `max_bytes`."""
    batch: list[Prepared] = []
    size = BULK_OVERHEAD_BYTES
    for item in items:
        if batch and (len(batch) >= max_records or size + item.size + 1 > max_bytes):
            yield batch
            batch, size = [], BULK_OVERHEAD_BYTES
        batch.append(item)
        size += item.size + 1
    if batch:
        yield batch


def person_key(item: Prepared) -> str:
    """Who a single-record request is about: its records go out in order, one at a time."""
    payload = item.payload
    user = payload.get("user")
    who: dict[str, Any] = user if isinstance(user, dict) else payload
    for name in ("userId", "email", "currentEmail"):
        value = who.get(name)
        if value:
            return f"{name}:{str(value).lower() if 'mail' in name else value}"
    return f"record:{item.row.record_key}"
