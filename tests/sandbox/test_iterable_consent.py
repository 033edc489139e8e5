"""Subscription groups, consent events and exports of the Iterable emulator.

Writes go through ``iterable_api`` (checked against the Swagger file); the export answers
JSON lines, which the checked client cannot parse, so it is read with plain httpx.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient


def _user(api: CheckedClient, email: str, user_id: str) -> None:
    response = api.post(
        "/api/users/bulkUpdate", {"users": [{"email": email, "userId": user_id, "dataFields": {}}]}
    )
    assert response.status_code == 200, response.text


def _export(emu: IterableEmulator, data_type: str, **params: str) -> list[dict]:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Key": emu.api_key}) as client:
        response = client.get("/api/export/data.json", params={"dataTypeName": data_type, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-json-stream"
    return [orjson.loads(line) for line in response.content.splitlines() if line]


def test_bulk_update_subscriptions_overwrites_each_array_it_is_sent(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    _user(iterable_api, "a@example.com", "a")
    iterable_api.post(
        "/api/users/bulkUpdateSubscriptions",
        {
            "updateSubscriptionsRequests": [
                {"email": "a@example.com", "unsubscribedChannelIds": [11, 13], "emailListIds": [31]}
            ]
        },
    )
    iterable_api.post(
        "/api/users/bulkUpdateSubscriptions",
        {
            "updateSubscriptionsRequests": [
                {"email": "a@example.com", "unsubscribedChannelIds": [11]}
            ]
        },
    )
    data = fresh_iterable.user(email="a@example.com")["dataFields"]  # type: ignore[index]
    assert data["unsubscribedChannelIds"] == [11]  # 13 dropped: the array was overwritten
    assert data["userListIds"] == [31]  # not sent: untouched
    # bulkUpdateSubscriptions generates no subscribe/unsubscribe events (Iterable docs)
    assert fresh_iterable.consent_events() == []


def test_group_routes_change_one_group_and_log_events(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    _user(iterable_api, "a@example.com", "a")
    _user(iterable_api, "b@example.com", "b")
    iterable_api.post(
        "/api/users/bulkUpdateSubscriptions",
        {
            "updateSubscriptionsRequests": [
                {"email": "a@example.com", "unsubscribedChannelIds": [12], "emailListIds": [31]}
            ]
        },
    )
    response = iterable_api.put(
        "/api/subscriptions/messageChannel/11",
        {"users": ["a@example.com"], "usersByUserId": ["b"]},
        params={"action": "unsubscribe"},
    )
    assert response.status_code == 202
    a = fresh_iterable.user(email="a@example.com")["dataFields"]  # type: ignore[index]
    b = fresh_iterable.user(user_id="b")["dataFields"]  # type: ignore[index]
    assert sorted(a["unsubscribedChannelIds"]) == [11, 12]  # 12 kept
    assert a["userListIds"] == [31]
    assert b["unsubscribedChannelIds"] == [11]
    # single-user routes, case-insensitive group names
    assert (
        iterable_api.patch("/api/subscriptions/MESSAGECHANNEL/11/user/a@example.com").status_code
        == 200
    )
    assert iterable_api.delete("/api/subscriptions/emailList/31/byUserId/b").status_code == 200
    iterable_api.delete("/api/subscriptions/messageType/22/user/a@example.com")
    a = fresh_iterable.user(email="a@example.com")["dataFields"]  # type: ignore[index]
    assert a["unsubscribedChannelIds"] == [12]
    assert a["unsubscribedMessageTypeIds"] == [22]
    kinds = [(e["eventType"], e.get("email")) for e in fresh_iterable.consent_events()]
    assert kinds == [
        ("emailUnSubscribe", "a@example.com"),
        ("emailUnSubscribe", "b@example.com"),
        ("emailSubscribe", "a@example.com"),
        ("emailUnSubscribe", "a@example.com"),
    ]  # removing b from a list b is not on changes nothing and logs nothing


def test_opt_in_message_types_use_subscribed_message_type_ids(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    created = fresh_iterable.add_message_type(11, "OptIn", name="VIP offers", id=25)
    types = iterable_api.get("/api/messageTypes").json()["messageTypes"]
    assert {"id": 25, "channelId": 11, "subscriptionPolicy": "OptIn"}.items() <= next(
        t for t in types if t["id"] == 25
    ).items()
    assert created["id"] == 25
    _user(iterable_api, "a@example.com", "a")
    iterable_api.put(
        "/api/subscriptions/messageType/25",
        {"users": ["a@example.com"]},
        params={"action": "subscribe"},
    )
    iterable_api.put(
        "/api/subscriptions/messageType/21",
        {"users": ["a@example.com"]},
        params={"action": "unsubscribe"},
    )
    data = fresh_iterable.user(email="a@example.com")["dataFields"]  # type: ignore[index]
    assert data["subscribedMessageTypeIds"] == [25]
    assert data["unsubscribedMessageTypeIds"] == [21]


def test_unknown_group_ids_and_disabled_bulk_action(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    _user(iterable_api, "a@example.com", "a")
    for path in ("/api/subscriptions/messageChannel/999", "/api/subscriptions/emailList/777"):
        response = iterable_api.put(
            path, {"users": ["a@example.com"]}, params={"action": "subscribe"}
        )
        assert response.status_code == 400
        assert "does not exist" in response.json()["msg"]
    bad_group = iterable_api.put(
        "/api/subscriptions/segments/1", {"users": []}, params={"action": "subscribe"}
    )
    assert bad_group.status_code == 400
    fresh_iterable.set_bulk_subscription_action(False)
    disabled = iterable_api.put(
        "/api/subscriptions/messageChannel/11",
        {"users": ["a@example.com"]},
        params={"action": "unsubscribe"},
    )
    assert disabled.status_code == 404
    # the single-user routes stay available
    assert (
        iterable_api.delete("/api/subscriptions/messageChannel/11/user/a@example.com").status_code
        == 200
    )


def test_list_routes_log_subscribe_and_unsubscribe_events(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    iterable_api.post(
        "/api/lists/subscribe", {"listId": 31, "subscribers": [{"email": "a@example.com"}]}
    )
    iterable_api.post(
        "/api/lists/unsubscribe",
        {"listId": 31, "subscribers": [{"email": "a@example.com"}], "channelUnsubscribe": True},
    )
    events = fresh_iterable.consent_events()
    assert [(e["eventType"], e.get("emailListIds"), e.get("channelIds")) for e in events] == [
        ("emailSubscribe", [31], None),
        ("emailUnSubscribe", [31], None),
        ("emailUnSubscribe", None, [11]),
    ]


@pytest.mark.slow
def test_recipient_actions_and_the_export(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    fresh_iterable.set_rate_scale(math.inf)
    _user(iterable_api, "a@example.com", "a")
    _user(iterable_api, "b@example.com", "b")
    fresh_iterable.recipient("unsubscribe", email="a@example.com", channelId=11)
    fresh_iterable.recipient("sms_stop", userId="b")
    fresh_iterable.recipient("complaint", email="b@example.com")
    fresh_iterable.recipient("hard_bounce", email="a@example.com")
    users = {u["email"]: u for u in _export(fresh_iterable, "user", range="All")}
    assert users["a@example.com"]["unsubscribedChannelIds"] == [11]
    assert sorted(users["b@example.com"]["unsubscribedChannelIds"]) == [11, 13]
    assert users["a@example.com"]["emailListIds"] == []
    assert users["a@example.com"]["userId"] == "a"
    assert "profileUpdatedAt" in users["a@example.com"]
    unsubs = _export(fresh_iterable, "emailUnSubscribe", range="Today")
    assert [(u["email"], u["channelIds"], u["unsubSource"]) for u in unsubs] == [
        ("a@example.com", [11], "EmailLink"),
        ("b@example.com", [13], "SMS"),
        ("b@example.com", [11], "Complaint"),
    ]
    assert [c["email"] for c in _export(fresh_iterable, "emailComplaint", range="All")] == [
        "b@example.com"
    ]
    bounces = _export(fresh_iterable, "emailBounce", range="All")
    assert bounces[0]["recipientState"] == "HardBounce"
    assert len(_export(fresh_iterable, "hostedUnsubscribeClick", range="All")) == 1
    assert len(_export(fresh_iterable, "smsReceived", range="All")) == 1
    # date filters: [start, end)
    now = datetime.now(UTC)
    fmt = "%Y-%m-%d %H:%M:%S +00:00"
    future = (now + timedelta(hours=1)).strftime(fmt)
    assert _export(fresh_iterable, "user", startDateTime=future, endDateTime=future) == []
    past = (now - timedelta(hours=1)).strftime(fmt)
    assert len(_export(fresh_iterable, "user", startDateTime=past, endDateTime=future)) == 2
    assert _export(fresh_iterable, "emailUnSubscribe", range="Yesterday") == []


def test_export_parameters_and_rate_limit(fresh_iterable: IterableEmulator) -> None:
    with httpx.Client(
        base_url=fresh_iterable.api_url, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        missing = client.get("/api/export/data.json", params={"dataTypeName": "user"})
        assert missing.status_code == 400
        half = client.get(
            "/api/export/data.json",
            params={"dataTypeName": "user", "startDateTime": "2024-01-01 00:00:00"},
        )
        assert half.status_code == 400
        # the two refusals above counted against the 4 requests/minute: two more pass
        statuses = [
            client.get(
                "/api/export/data.json", params={"dataTypeName": "user", "range": "All"}
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [200, 200, 429]


def test_an_export_is_captured_as_text(
    fresh_iterable: IterableEmulator, iterable_api: CheckedClient
) -> None:
    fresh_iterable.reset(capture=True)
    _user(iterable_api, "a@example.com", "a")
    lines = _export(fresh_iterable, "user", range="All")
    [captured] = [c for c in fresh_iterable.captured() if c["endpoint"] == "export/data.json"]
    assert [orjson.loads(line) for line in captured["response"].splitlines()] == lines
    fresh_iterable.reset(capture=False)
