"""Helpers for the sync tests that run against the Iterable emulator: settings at a known
rate scale, the emulator's public API, and desired users."""

from __future__ import annotations

from typing import Any

import httpx

from ctsync.core.config import IterableSettings
from ctsync.sandbox.iterable.emulator import IterableEmulator

SCALE = 40.0  # emulator and client both run at 40x Iterable's published rates
ITEM = {"id": "sku-1", "name": "Mug", "price": 9.5, "quantity": 1}


def settings_for(emu: IterableEmulator, **overrides: Any) -> IterableSettings:
    values: dict[str, Any] = dict(
        api_key=emu.api_key,
        api_url=emu.api_url,
        project_type=emu.project_type,
        rate_scale=SCALE,
        timeout_seconds=5.0,
        backoff_base_seconds=0.02,
        backoff_max_seconds=0.3,
        concurrency=4,
    )
    values.update(overrides)
    return IterableSettings(**values)


def api(emu: IterableEmulator, method: str, path: str, body: Any = None) -> httpx.Response:
    """Talk to the emulator's public API directly, as another Iterable client would."""
    return httpx.request(
        method, f"{emu.api_url}{path}", json=body, headers={"Api-Key": emu.api_key}, timeout=10
    )


def seed_event(emu: IterableEmulator, name: str, **data_fields: Any) -> None:
    """One event Iterable already holds (for x@example.com), so its field types are known."""
    event = {"email": "x@example.com", "eventName": name, "id": "seed-1", "dataFields": data_fields}
    api(emu, "POST", "/api/events/trackBulk", {"events": [event]})


def user_payload(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "email": f"user{i}@example.com",
        "userId": f"cust-{i}",
        "dataFields": {"firstName": f"F{i}", "orders": i % 5, **fields},
    }


def users(n: int, **fields: Any) -> dict[str, dict[str, Any]]:
    return {f"cust-{i:04d}": user_payload(i, **fields) for i in range(n)}


def sent_user_emails(emu: IterableEmulator) -> list[str]:
    emails = []
    for request in emu.captured():
        if request["endpoint"] == "users/bulkUpdate":
            emails += [u["email"] for u in request["request"]["users"]]
    return emails
