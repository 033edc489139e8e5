"""Conformance: every endpoint the issue lists, success and failure answers, validated
against Iterable's Swagger file — request and response — exchange by exchange."""

from __future__ import annotations

import pytest

from ctsync.sandbox.iterable import IterableEmulator, spec
from ctsync.sandbox.iterable.conformance import CheckedClient, check_exchange, find_operation

pytestmark = pytest.mark.slow

EXPECTED_OPERATIONS = {
    ("POST", "/api/users/update"),
    ("POST", "/api/users/bulkUpdate"),
    ("POST", "/api/users/updateSubscriptions"),
    ("POST", "/api/users/bulkUpdateSubscriptions"),
    ("GET", "/api/users/{email}"),
    ("DELETE", "/api/users/{email}"),
    ("GET", "/api/users/getByEmail"),
    ("GET", "/api/users/byUserId/{userId}"),
    ("DELETE", "/api/users/byUserId/{userId}"),
    ("GET", "/api/users/byUserId"),
    ("POST", "/api/users/forget"),
    ("POST", "/api/users/updateEmail"),
    ("GET", "/api/users/getFields"),
    ("POST", "/api/events/track"),
    ("POST", "/api/events/trackBulk"),
    ("GET", "/api/events/{email}"),
    ("GET", "/api/events/byUserId/{userId}"),
    ("POST", "/api/commerce/trackPurchase"),
    ("POST", "/api/commerce/updateCart"),
    ("GET", "/api/lists"),
    ("POST", "/api/lists"),
    ("POST", "/api/lists/subscribe"),
    ("POST", "/api/lists/unsubscribe"),
    ("GET", "/api/channels"),
    ("GET", "/api/messageTypes"),
    ("POST", "/api/catalogs/{catalogName}"),
    ("DELETE", "/api/catalogs/{catalogName}"),
    ("POST", "/api/catalogs/{catalogName}/items"),
    ("GET", "/api/catalogs/{catalogName}/items"),
    ("DELETE", "/api/catalogs/{catalogName}/items"),
    ("PUT", "/api/catalogs/{catalogName}/items/{itemId}"),
    ("PATCH", "/api/catalogs/{catalogName}/items/{itemId}"),
    ("GET", "/api/catalogs/{catalogName}/items/{itemId}"),
    ("DELETE", "/api/catalogs/{catalogName}/items/{itemId}"),
}


def _tour(api: CheckedClient) -> None:
    """Touch every operation with good and bad input; CheckedClient validates each."""
    item = {
        "id": "sku-1",
        "name": "Shoe",
        "price": 59.99,
        "quantity": 2,
        "categories": ["Shoes"],
        "dataFields": {"size": "42"},
    }
    api.post(
        "/api/users/update",
        {
            "email": "a@example.com",
            "userId": "ua",
            "dataFields": {"ltv": 1.5, "birthday": "1990-01-02"},
        },
    )
    api.post("/api/users/update", {"email": "broken"})
    api.post("/api/users/update", {"email": "a@example.com", "dataFields": {"ltv": "x"}})
    api.post("/api/users/update", {"email": "a@example.com", "preferUserId": 1})
    api.post(
        "/api/users/bulkUpdate",
        {
            "users": [
                {"email": "b@example.com", "userId": "ub"},
                {"email": "bad"},
                {"userId": "bad "},
                {"email": "a@example.com", "userId": "ub"},
            ],
            "createNewFields": False,
        },
    )
    api.post("/api/users/bulkUpdate", {"users": "nope"})
    api.post(
        "/api/users/updateSubscriptions",
        {"email": "a@example.com", "emailListIds": [31], "unsubscribedMessageTypeIds": [22]},
    )
    api.post("/api/users/updateSubscriptions", {"email": "a@example.com", "userId": "ub"})
    api.post(
        "/api/users/bulkUpdateSubscriptions",
        {
            "updateSubscriptionsRequests": [
                {"email": "a@example.com", "unsubscribedChannelIds": [13]},
                {"email": "bad"},
            ]
        },
    )
    api.get("/api/users/a@example.com")
    api.get("/api/users/000")
    api.get("/api/users/getByEmail", params={"email": "a@example.com"})
    api.get("/api/users/byUserId/ua")
    api.get("/api/users/byUserId", params={"userId": "nobody"})
    api.get("/api/users/getFields")
    api.post(
        "/api/users/updateEmail", {"currentEmail": "b@example.com", "newEmail": "b2@example.com"}
    )
    api.post(
        "/api/users/updateEmail", {"currentEmail": "b2@example.com", "newEmail": "a@example.com"}
    )
    api.post(
        "/api/events/track",
        {
            "email": "a@example.com",
            "eventName": "viewed",
            "id": "ev-1",
            "createdAt": 1_700_000_000,
            "dataFields": {"sku": "sku-1"},
        },
    )
    api.post("/api/events/track", {"email": "a@example.com"})
    api.post(
        "/api/events/trackBulk",
        {
            "events": [
                {"userId": "ua", "eventName": "viewed", "id": "ev-2"},
                {"userId": "ghost", "eventName": "viewed"},
                {"email": "bad", "eventName": "viewed"},
            ]
        },
    )
    api.post(
        "/api/events/trackBulk",
        {"events": [{"eventName": "x", "createdAt": "now", "email": "a@example.com"}]},
    )
    api.get("/api/events/a@example.com", params={"limit": 5})
    api.get("/api/events/byUserId/ua")
    api.post("/api/commerce/updateCart", {"user": {"email": "a@example.com"}, "items": [item]})
    api.post("/api/commerce/updateCart", {"user": {"email": "a@example.com"}})
    api.post(
        "/api/commerce/trackPurchase",
        {
            "id": "o-1",
            "user": {"email": "a@example.com"},
            "items": [item],
            "total": 119.98,
            "createdAt": 1_700_000_000,
        },
    )
    api.post(
        "/api/commerce/trackPurchase",
        {"user": {"email": "a@example.com"}, "items": [item], "total": "lots"},
    )
    api.get("/api/lists")
    list_id = api.post("/api/lists", {"name": "VIP"}).json()["listId"]
    api.post("/api/lists", {"description": "no name"})
    api.post(
        "/api/lists/subscribe",
        {"listId": list_id, "subscribers": [{"email": "a@example.com"}, {"email": "bad"}]},
    )
    api.post("/api/lists/subscribe", {"listId": 424242, "subscribers": [{"email": "a@x.com"}]})
    api.post(
        "/api/lists/unsubscribe",
        {
            "listId": list_id,
            "subscribers": [{"email": "a@example.com"}, {"email": "ghost@example.com"}],
        },
    )
    api.get("/api/channels")
    api.get("/api/messageTypes")
    api.post("/api/catalogs/products")
    api.post("/api/catalogs/products")
    api.put("/api/catalogs/products/items/sku-1", {"value": {"name": "Shoe", "price": 1.0}})
    api.put("/api/catalogs/products/items/sku-1", {"value": {"price": "free"}})
    api.patch("/api/catalogs/products/items/sku-1", {"update": {"stock": 4}})
    api.get("/api/catalogs/products/items/sku-1")
    api.get("/api/catalogs/products/items/nope")
    api.post(
        "/api/catalogs/products/items",
        {"documents": {"sku-2": {"name": "Sock"}}, "replaceUploadedFieldsOnly": True},
    )
    api.post("/api/catalogs/products/items", {"documents": {"sku-2": {"name": "Sock"}}})
    api.post("/api/catalogs/ghost/items", {"documents": {}, "replaceUploadedFieldsOnly": True})
    api.get("/api/catalogs/products/items", params={"pageSize": 1})
    api.delete("/api/catalogs/products/items/sku-1")
    api.delete("/api/catalogs/products/items", {"itemIds": ["sku-2"]})
    api.delete("/api/catalogs/products")
    api.delete("/api/catalogs/products")
    api.post("/api/users/forget", {"email": "a@example.com"})
    api.post("/api/users/update", {"email": "a@example.com"})
    api.post("/api/users/forget", {})
    api.delete("/api/users/byUserId/ub")
    api.delete("/api/users/byUserId/ub")
    api.post("/api/users/update", {"email": "c@example.com"})
    api.delete("/api/users/c@example.com")
    api.delete("/api/users/c@example.com")


def test_every_listed_endpoint_conforms_in_every_project_type(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    for project_type in ("hybrid", "email", "userId"):
        fresh_iterable.reset(project_type=project_type, capture=True)
        sent_before = len(iterable_api.exchanges)
        _tour(iterable_api)
        captured = fresh_iterable.captured()
        # The server saw exactly what the client sent; check its own record as well.
        assert len(captured) == len(iterable_api.exchanges) - sent_before
        for exchange in captured:
            assert (
                check_exchange(
                    exchange["method"],
                    exchange["path"],
                    exchange["request"],
                    exchange["status"],
                    exchange["response"],
                )
                == []
            )
    fresh_iterable.reset(capture=False)
    assert iterable_api.covered == EXPECTED_OPERATIONS
    statuses = {e.status for e in iterable_api.exchanges}
    assert {200, 201, 202, 400, 404, 409} <= statuses


def test_expected_operations_exist_in_the_swagger_file() -> None:
    assert EXPECTED_OPERATIONS <= set(spec.operations())


def test_checker_catches_departures_from_the_spec() -> None:
    ok = {"successCount": 1, "failCount": 0}
    assert check_exchange("POST", "/api/users/bulkUpdate", {"users": []}, 200, ok) == []
    missing = check_exchange(
        "POST", "/api/users/bulkUpdate", {"users": []}, 200, {"successCount": 1}
    )
    assert missing and "UserBulkUpdateListResponse" in missing[0]
    wrong_type = check_exchange(
        "POST", "/api/users/bulkUpdate", {"users": []}, 200, {"successCount": "1", "failCount": 0}
    )
    assert wrong_type
    accepted_invalid = check_exchange("POST", "/api/users/bulkUpdate", {"users": 5}, 200, ok)
    assert accepted_invalid and "accepted" in accepted_invalid[0]
    undeclared = check_exchange("GET", "/api/channels", None, 418, {"msg": "", "code": "Success"})
    assert undeclared and "not declared" in undeclared[0]
    bad_code = check_exchange(
        "POST", "/api/users/update", {}, 400, {"msg": "x", "code": "NoSuchCode"}
    )
    assert bad_code
    assert check_exchange("GET", "/api/nowhere", None, 200, {})


def test_operation_lookup_prefers_literal_segments() -> None:
    fields = find_operation("GET", "/api/users/getFields")
    by_email = find_operation("GET", "/api/users/someone@example.com")
    assert fields is not None and fields.path == "/api/users/getFields"
    assert by_email is not None and by_email.path == "/api/users/{email}"
