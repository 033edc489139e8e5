"""Lists, channels, message types and catalogs of the Iterable emulator."""

from __future__ import annotations

import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient


@pytest.mark.slow
def test_default_channels_message_types_and_lists(iterable_api: CheckedClient) -> None:
    channels = iterable_api.get("/api/channels").json()["channels"]
    assert {c["id"]: (c["name"], c["channelType"], c["messageMedium"]) for c in channels} == {
        11: ("Marketing Email", "Marketing", "Email"),
        12: ("Transactional Email", "Transactional", "Email"),
        13: ("Marketing SMS", "Marketing", "SMS"),
    }
    types = iterable_api.get("/api/messageTypes").json()["messageTypes"]
    assert {t["id"]: (t["name"], t["channelId"]) for t in types} == {
        21: ("Newsletter", 11),
        22: ("Promotions", 11),
        23: ("SMS Offers", 13),
        24: ("Order Updates", 12),
    }
    lists = iterable_api.get("/api/lists").json()["lists"]
    assert [(x["id"], x["name"], x["listType"]) for x in lists] == [(31, "Newsletter", "Standard")]


@pytest.mark.slow
def test_create_list_then_subscribe_and_unsubscribe(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    list_id = iterable_api.post(
        "/api/lists", {"name": "VIP", "description": "big spenders"}
    ).json()["listId"]
    assert list_id != 31
    assert "VIP" in [x["name"] for x in iterable_api.get("/api/lists").json()["lists"]]
    sub = iterable_api.post(
        "/api/lists/subscribe",
        {
            "listId": list_id,
            "subscribers": [
                {"email": "a@example.com", "dataFields": {"vipSince": "2024-01-01"}},
                {"email": "b@example.com"},
                {"email": "nope"},
            ],
        },
    ).json()
    assert (sub["successCount"], sub["failCount"]) == (2, 1)
    assert sub["failedUpdates"]["invalidEmails"] == ["nope"]
    user = fresh_iterable.user(email="a@example.com")
    assert user["dataFields"]["userListIds"] == [list_id]
    assert user["dataFields"]["vipSince"] == "2024-01-01"
    unsub = iterable_api.post(
        "/api/lists/unsubscribe",
        {
            "listId": list_id,
            "subscribers": [{"email": "a@example.com"}, {"email": "ghost@example.com"}],
            "channelUnsubscribe": True,
        },
    ).json()
    assert (unsub["successCount"], unsub["failCount"]) == (1, 1)
    assert unsub["failedUpdates"]["notFoundEmails"] == ["ghost@example.com"]
    fields = fresh_iterable.user(email="a@example.com")["dataFields"]
    assert fields["userListIds"] == [] and fields["unsubscribedChannelIds"] == [11]
    assert fresh_iterable.user(email="b@example.com")["dataFields"]["userListIds"] == [list_id]


def test_subscribe_to_unknown_list_and_update_existing_only(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    unknown = iterable_api.post(
        "/api/lists/subscribe", {"listId": 999, "subscribers": [{"email": "a@example.com"}]}
    )
    assert unknown.status_code == 400
    assert "error.lists.invalidListId" in unknown.json()["msg"]
    only = iterable_api.post(
        "/api/lists/subscribe",
        {"listId": 31, "updateExistingUsersOnly": True, "subscribers": [{"userId": "nobody"}]},
    ).json()
    assert only["failedUpdates"]["notFoundUserIds"] == ["nobody"]
    assert fresh_iterable.users() == []


@pytest.mark.slow
def test_catalog_lifecycle(iterable_api: CheckedClient, fresh_iterable: IterableEmulator) -> None:
    created = iterable_api.post("/api/catalogs/products")
    assert created.status_code == 201
    again = iterable_api.post("/api/catalogs/Products")
    assert again.status_code == 400  # names are case-insensitive unique
    put = iterable_api.put(
        "/api/catalogs/products/items/sku-1",
        {"value": {"name": "Shoe", "price": 59.99, "tags": ["run"]}},
    )
    assert put.status_code == 202
    patch = iterable_api.patch(
        "/api/catalogs/products/items/sku-1", {"update": {"price": 49.99, "stock": 3}}
    )
    assert patch.status_code == 202
    item = iterable_api.get("/api/catalogs/products/items/sku-1").json()
    assert item["itemId"] == "sku-1" and item["catalogName"] == "products"
    assert item["value"] == {"name": "Shoe", "price": 49.99, "tags": ["run"], "stock": 3}
    assert item["params"]["value"] == item["value"]
    assert fresh_iterable.catalog_items("products") == {"sku-1": item["value"]}
    assert iterable_api.delete("/api/catalogs/products/items/sku-1").status_code == 202
    assert iterable_api.get("/api/catalogs/products/items/sku-1").status_code == 404


def test_catalog_not_found_has_error_http_response_shape(iterable_api: CheckedClient) -> None:
    response = iterable_api.post(
        "/api/catalogs/missing/items",
        {"documents": {"a": {"x": 1}}, "replaceUploadedFieldsOnly": False},
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "message": "Catalog not found: missing",
        "code": "error.catalogs.notFound",
        "data": {"args": ["missing"]},
    }


@pytest.mark.slow
def test_catalog_bulk_upload_replace_modes(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/catalogs/products")
    first = iterable_api.post(
        "/api/catalogs/products/items",
        {
            "documents": {"a": {"name": "A", "price": 1.0}, "b": {"name": "B", "price": 2.0}},
            "replaceUploadedFieldsOnly": False,
        },
    )
    assert first.status_code == 200
    assert first.json()["msg"] == (
        "Request to bulk-upload documents into products processed successfully"
    )
    iterable_api.post(
        "/api/catalogs/products/items",
        {"documents": {"a": {"price": 1.5}}, "replaceUploadedFieldsOnly": True},
    )
    iterable_api.post(
        "/api/catalogs/products/items",
        {"documents": {"b": {"price": 2.5}}, "replaceUploadedFieldsOnly": False},
    )
    items = fresh_iterable.catalog_items("products")
    assert items == {"a": {"name": "A", "price": 1.5}, "b": {"price": 2.5}}
    iterable_api.delete("/api/catalogs/products/items", {"itemIds": ["a"]})
    assert set(fresh_iterable.catalog_items("products")) == {"b"}


@pytest.mark.slow
def test_catalog_limits_and_rules(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/catalogs/products")
    too_many = iterable_api.post(
        "/api/catalogs/products/items",
        {"documents": {f"i{n}": {"n": n} for n in range(1001)}, "replaceUploadedFieldsOnly": False},
    )
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "BatchTooLarge"
    big = iterable_api.post(
        "/api/catalogs/products/items",
        {
            "documents": {"ok": {"n": 1}, "big": {"blob": "x" * 30_001}},
            "replaceUploadedFieldsOnly": False,
        },
    )
    assert big.status_code == 400
    assert big.json()["params"] == {"obj.documents.big": "Item too large"}
    dotted = iterable_api.put("/api/catalogs/products/items/d", {"value": {"a.b": 1}})
    assert dotted.status_code == 400 and "period" in dotted.json()["msg"]
    bad_id = iterable_api.put("/api/catalogs/products/items/bad_id", {"value": {"n": 1}})
    assert bad_id.status_code == 400
    assert iterable_api.post("/api/catalogs/bad.name").status_code == 400
    thousand = iterable_api.post(
        "/api/catalogs/products/items",
        {"documents": {f"i{n}": {"n": n} for n in range(1000)}, "replaceUploadedFieldsOnly": False},
    )
    assert thousand.status_code == 200
    assert len(fresh_iterable.catalog_items("products")) == 1000


def test_catalog_field_types_lock(iterable_api: CheckedClient) -> None:
    iterable_api.post("/api/catalogs/products")
    iterable_api.put("/api/catalogs/products/items/a", {"value": {"price": 1.5}})
    response = iterable_api.put("/api/catalogs/products/items/b", {"value": {"price": "free"}})
    assert response.status_code == 400
    assert response.json()["params"]["validationErrors"]["price"]["category"] == "catalog"


def test_list_catalog_items_pages(iterable_api: CheckedClient) -> None:
    iterable_api.post("/api/catalogs/products")
    iterable_api.post(
        "/api/catalogs/products/items",
        {
            "documents": {f"i{n:02d}": {"n": n} for n in range(25)},
            "replaceUploadedFieldsOnly": False,
        },
    )
    page = iterable_api.get(
        "/api/catalogs/products/items", params={"page": 2, "pageSize": 10, "orderBy": "itemId"}
    ).json()
    assert page["totalItemsCount"] == 25
    assert [i["itemId"] for i in page["catalogItemsWithProperties"]] == [
        f"i{n:02d}" for n in range(10, 20)
    ]
    assert "nextPageUrl" in page and "previousPageUrl" in page
    assert page["params"]["totalItemsCount"] == 25
    iterable_api.delete("/api/catalogs/products")
    assert iterable_api.get("/api/catalogs/products/items").status_code == 404
