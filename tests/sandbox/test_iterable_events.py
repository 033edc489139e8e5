"""Events and commerce endpoints of the Iterable emulator."""

from __future__ import annotations

import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient


def test_track_with_id_upserts_and_without_id_generates_one(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    first = iterable_api.post(
        "/api/events/track",
        {
            "email": "e@example.com",
            "eventName": "orderShipped",
            "id": "order-1-shipped",
            "createdAt": 1_712_345_678,
            "dataFields": {"carrier": "DHL"},
        },
    )
    assert first.json() == {
        "msg": "Event with id: order-1-shipped tracked.",
        "code": "Success",
        "params": {"id": "order-1-shipped"},
    }
    iterable_api.post(
        "/api/events/track",
        {
            "email": "e@example.com",
            "eventName": "orderShipped",
            "id": "order-1-shipped",
            "createdAt": 1_712_345_678,
            "dataFields": {"carrier": "UPS"},
        },
    )
    generated = iterable_api.post(
        "/api/events/track", {"email": "e@example.com", "eventName": "orderShipped"}
    )
    new_id = generated.json()["params"]["id"]
    assert new_id and new_id != "order-1-shipped"
    events = {e["id"]: e for e in fresh_iterable.events()}
    assert len(events) == 2
    assert events["order-1-shipped"]["dataFields"] == {"carrier": "UPS"}
    assert events["order-1-shipped"]["createdAt"] == 1_712_345_678


def test_event_id_rules(iterable_api: CheckedClient) -> None:
    bad = iterable_api.post(
        "/api/events/track", {"email": "e@example.com", "eventName": "x", "id": "has space"}
    )
    assert bad.status_code == 400
    assert bad.json()["params"] == {"obj.id": "Invalid id"}
    too_long = iterable_api.post(
        "/api/events/trackBulk",
        {"events": [{"email": "e@example.com", "eventName": "x", "id": "a" * 513}]},
    )
    assert too_long.status_code == 400
    assert too_long.json()["params"] == {"obj.events[0].id": "Invalid id"}


def test_track_bulk_response_shape_and_per_row_failures(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    body = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {"email": "ok@example.com", "eventName": "viewed", "id": "v-1"},
                {"email": "sayan", "eventName": "viewed"},
                {"userId": "nobody", "eventName": "viewed"},
            ]
        },
    ).json()
    assert body == {
        "successCount": 1,
        "failCount": 2,
        "invalidEmails": ["sayan"],
        "invalidUserIds": [],
        "disallowedEventNames": [],
        "filteredOutFields": [],
        "createdFields": [],
        "failedUpdates": {
            "invalidEmails": ["sayan"],
            "invalidUserIds": [],
            "notFoundEmails": [],
            "notFoundUserIds": ["nobody"],
            "forgottenEmails": [],
            "forgottenUserIds": [],
        },
    }
    assert [e["id"] for e in fresh_iterable.events()] == ["v-1"]


def test_track_bulk_json_type_error_fails_whole_request(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    response = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {"email": "a@example.com", "eventName": "x"},
                {"email": "a@example.com", "eventName": "x", "createdAt": "yesterday"},
            ]
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "msg": "[/api/events/trackBulk] Invalid JSON body",
        "code": "BadJsonBody",
        "params": {"obj.events[1].createdAt": "Number value expected"},
    }
    assert fresh_iterable.events() == []


def test_event_field_types_lock_per_event_name(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    ok = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {"email": "a@example.com", "eventName": "viewed", "dataFields": {"price": 9.5}},
                {
                    "email": "a@example.com",
                    "eventName": "reviewed",
                    "dataFields": {"price": "cheap"},
                },
            ]
        },
    )
    assert ok.json()["successCount"] == 2
    assert ok.json()["createdFields"] == ["price"]
    mismatch = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {
                    "email": "a@example.com",
                    "eventName": "reviewed",
                    "dataFields": {"price": "fine"},
                },
                {"email": "a@example.com", "eventName": "viewed", "dataFields": {"price": "dear"}},
            ]
        },
    )
    assert mismatch.status_code == 400
    error = mismatch.json()["params"]["validationErrors"]["price"]
    assert error["expectedType"] == "double" and error["category"] == "customEvent"
    assert len(fresh_iterable.events()) == 2


def test_disallowed_event_names(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(disallowed_event_names=["spam"])
    body = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {"email": "a@example.com", "eventName": "spam"},
                {"email": "a@example.com", "eventName": "fine"},
            ]
        },
    ).json()
    assert body["disallowedEventNames"] == ["spam"]
    assert (body["successCount"], body["failCount"]) == (1, 1)
    single = iterable_api.post("/api/events/track", {"email": "a@example.com", "eventName": "spam"})
    assert "is disallowed from tracking" in single.json()["msg"]
    assert [e["eventName"] for e in fresh_iterable.events()] == ["fine"]


@pytest.mark.slow
def test_created_at_in_milliseconds_is_flagged(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/events/track",
        {"email": "a@example.com", "eventName": "x", "id": "ms", "createdAt": 1_712_345_678_000},
    )
    iterable_api.post(
        "/api/events/track",
        {"email": "a@example.com", "eventName": "x", "id": "s", "createdAt": 1_712_345_678},
    )
    events = {e["id"]: e for e in fresh_iterable.events()}
    assert events["ms"].get("createdAtLooksLikeMilliseconds") is True
    assert "createdAtLooksLikeMilliseconds" not in events["s"]


def test_get_events_by_email_and_user_id(iterable_api: CheckedClient) -> None:
    iterable_api.post("/api/users/update", {"email": "g@example.com", "userId": "g-1"})
    for index in range(3):
        iterable_api.post(
            "/api/events/track",
            {"userId": "g-1", "eventName": "tick", "createdAt": 1_700_000_000 + index},
        )
    by_email = iterable_api.get("/api/events/g@example.com").json()["events"]
    by_id = iterable_api.get("/api/events/byUserId/g-1", params={"limit": 2}).json()["events"]
    assert [e["createdAt"] for e in by_email] == [1_700_000_002, 1_700_000_001, 1_700_000_000]
    assert [e["createdAt"] for e in by_id] == [1_700_000_002, 1_700_000_001]
    assert iterable_api.get("/api/events/nobody@example.com").json() == {"events": []}


def test_track_purchase_clears_cart_and_upserts_by_id(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    item = {
        "id": "sku-1",
        "name": "Shoe",
        "price": 59.99,
        "quantity": 1,
        "categories": ["Shoes", "Running"],
    }
    cart = iterable_api.post(
        "/api/commerce/updateCart",
        {"user": {"email": "p@example.com", "dataFields": {"tier": "gold"}}, "items": [item]},
    )
    assert cart.status_code == 200
    user = fresh_iterable.user(email="p@example.com")
    assert user["dataFields"]["shoppingCartItems"] == [item]
    assert user["dataFields"]["tier"] == "gold"
    bought = iterable_api.post(
        "/api/commerce/trackPurchase",
        {
            "id": "order-1",
            "user": {"email": "p@example.com"},
            "items": [item],
            "total": 59.99,
            "createdAt": 1_712_345_678,
            "dataFields": {"channel": "web"},
        },
    )
    assert bought.json()["params"] == {"id": "order-1"}
    assert fresh_iterable.user(email="p@example.com")["dataFields"]["shoppingCartItems"] == []
    iterable_api.post(
        "/api/commerce/trackPurchase",
        {"id": "order-1", "user": {"email": "p@example.com"}, "items": [item], "total": 49.99},
    )
    purchases = fresh_iterable.purchases()
    assert len(purchases) == 1 and purchases[0]["total"] == 49.99
    assert len(fresh_iterable.cart_updates()) == 1
    history = iterable_api.get("/api/events/p@example.com").json()["events"]
    assert {e["eventType"] for e in history} == {"purchase", "updateCart"}


def test_update_cart_replaces_items(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    first = {"id": "a", "name": "A", "price": 1.0, "quantity": 1}
    second = {"id": "b", "name": "B", "price": 2.0, "quantity": 3}
    iterable_api.post(
        "/api/commerce/updateCart", {"user": {"userId": "c-1"}, "items": [first, second]}
    )
    iterable_api.post("/api/commerce/updateCart", {"user": {"userId": "c-1"}, "items": [second]})
    assert fresh_iterable.user(user_id="c-1")["dataFields"]["shoppingCartItems"] == [second]


@pytest.mark.slow
def test_commerce_validation(iterable_api: CheckedClient, fresh_iterable: IterableEmulator) -> None:
    missing_total = iterable_api.post(
        "/api/commerce/trackPurchase", {"user": {"email": "p@example.com"}, "items": []}
    )
    assert missing_total.json()["params"] == {"obj.total": "Missing required field"}
    bad_item = iterable_api.post(
        "/api/commerce/updateCart",
        {
            "user": {"email": "p@example.com"},
            "items": [{"id": "x", "name": "X", "price": "1", "quantity": 1}],
        },
    )
    assert bad_item.status_code == 400
    assert bad_item.json()["params"] == {"obj.items[0].price": "Number value expected"}
    iterable_api.post(
        "/api/commerce/trackPurchase",
        {
            "user": {"email": "p@example.com"},
            "items": [],
            "total": 1.0,
            "dataFields": {"coupon": "SPRING"},
        },
    )
    typed = iterable_api.post(
        "/api/commerce/trackPurchase",
        {
            "user": {"email": "p@example.com"},
            "items": [],
            "total": 1.0,
            "dataFields": {"coupon": 5},
        },
    )
    assert typed.status_code == 400
    assert typed.json()["params"]["validationErrors"]["coupon"]["category"] == "purchase"
    iterable_api.post("/api/users/forget", {"email": "gone@example.com"})
    forgotten = iterable_api.post(
        "/api/commerce/trackPurchase",
        {"user": {"email": "gone@example.com"}, "items": [], "total": 1.0},
    )
    assert forgotten.status_code == 409
    assert len(fresh_iterable.purchases()) == 1


def test_create_new_fields_is_per_event(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(allow_new_fields=False)
    body = iterable_api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {
                    "email": "a@example.com",
                    "eventName": "x",
                    "id": "one",
                    "createNewFields": True,
                    "dataFields": {"kept": 1},
                },
                {
                    "email": "a@example.com",
                    "eventName": "x",
                    "id": "two",
                    "dataFields": {"dropped": 1},
                },
            ]
        },
    ).json()
    assert body["createdFields"] == ["kept"] and body["filteredOutFields"] == ["dropped"]
    events = {e["id"]: e["dataFields"] for e in fresh_iterable.events()}
    assert events == {"one": {"kept": 1}, "two": {}}


@pytest.mark.slow
def test_event_id_moved_to_another_user_leaves_the_first_history(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/events/track", {"email": "a@example.com", "eventName": "x", "id": "shared"}
    )
    iterable_api.post(
        "/api/events/track", {"email": "b@example.com", "eventName": "x", "id": "shared"}
    )
    assert iterable_api.get("/api/events/a@example.com").json() == {"events": []}
    assert [e["id"] for e in iterable_api.get("/api/events/b@example.com").json()["events"]] == [
        "shared"
    ]
    iterable_api.delete("/api/users/a@example.com")
    assert [e["email"] for e in fresh_iterable.events()] == ["b@example.com"]
