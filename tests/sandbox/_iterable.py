"""Helpers for the Iterable emulator tests."""

from __future__ import annotations

from ctsync.sandbox.iterable.conformance import CheckedClient


def bulk_update(api: CheckedClient, users: list[dict], **extra: object) -> dict:
    """POST users/bulkUpdate (checked against the Swagger file); the request must succeed."""
    response = api.post("/api/users/bulkUpdate", {"users": users, **extra})
    assert response.status_code == 200, response.text
    return response.json()
