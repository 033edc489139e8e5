"""The fixture starts a working emulator: auth, a bulk write, inspection."""

from __future__ import annotations

import httpx

from ctsync.sandbox.iterable import IterableEmulator


def test_fixture_serves_bulk_update_and_inspection(fresh_iterable: IterableEmulator) -> None:
    env = fresh_iterable.env()
    assert env["SYNC__ITERABLE__API_URL"] == fresh_iterable.api_url
    assert env["SYNC__ITERABLE__PROJECT_TYPE"] == "hybrid"
    with httpx.Client(
        base_url=fresh_iterable.api_url, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        response = client.post(
            "/api/users/bulkUpdate",
            json={
                "users": [
                    {"email": "ada@example.com", "userId": "c-1", "dataFields": {"ltv": 12.5}},
                ]
            },
        )
    assert response.status_code == 200
    assert response.json()["successCount"] == 1
    user = fresh_iterable.user(email="ada@example.com")
    assert user is not None and user["dataFields"]["ltv"] == 12.5
    assert fresh_iterable.counters() == {"users/bulkUpdate": {200: 1}}
