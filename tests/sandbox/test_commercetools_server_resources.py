"""Writes to the commercetools sandbox: X-Sandbox-Timestamp, carts, drafts, versions and
unique keys."""

from __future__ import annotations

import time

import httpx
import pytest

from ._commercetools import create_customer, make_product, messages, order_from_new_cart, update

pytestmark = pytest.mark.slow


# -- X-Sandbox-Timestamp -------------------------------------------------------------------


def test_sandbox_timestamp_backdates_resources_and_messages(ct: httpx.Client) -> None:
    created_at = "2023-06-01T08:30:00.000Z"
    updated_at = "2023-07-15T12:00:00.000Z"
    response = ct.post(
        "/customers",
        json={"email": "old@example.com"},
        headers={"X-Sandbox-Timestamp": "2023-06-01T10:30:00+02:00"},
    )
    assert response.status_code == 201
    customer = response.json()["customer"]
    assert customer["createdAt"] == created_at
    assert customer["lastModifiedAt"] == created_at

    changed = update(
        ct,
        f"/customers/{customer['id']}",
        customer["version"],
        {"action": "changeEmail", "email": "older@example.com"},
        at=updated_at,
    )
    assert changed["createdAt"] == created_at
    assert changed["lastModifiedAt"] == updated_at
    stored = ct.get(f"/customers/{customer['id']}").json()
    assert (stored["createdAt"], stored["lastModifiedAt"]) == (created_at, updated_at)

    found = messages(ct, sort="sequenceNumber asc")
    assert [(m["type"], m["createdAt"], m["lastModifiedAt"]) for m in found] == [
        ("CustomerCreated", created_at, created_at),
        ("CustomerEmailChanged", updated_at, updated_at),
    ]
    assert found[0]["customer"]["createdAt"] == created_at

    window = ct.get(
        "/customers", params={"where": 'lastModifiedAt >= "2023-07-01T00:00:00.000Z"'}
    ).json()
    assert [c["id"] for c in window["results"]] == [customer["id"]]
    before = ct.get(
        "/customers", params={"where": 'lastModifiedAt < "2023-07-01T00:00:00.000Z"'}
    ).json()
    assert before["results"] == []


def test_sandbox_timestamp_backdates_nested_return_items_and_order_cart(
    ct: httpx.Client,
) -> None:
    at = "2022-11-11T11:11:11.111Z"
    cart = ct.post("/carts", json={"currency": "EUR"}, headers={"X-Sandbox-Timestamp": at}).json()
    assert cart["createdAt"] == at
    order = ct.post(
        "/orders",
        json={"cart": {"typeId": "cart", "id": cart["id"]}, "version": 1, "orderNumber": "B-1"},
        headers={"X-Sandbox-Timestamp": "2022-11-12T00:00:00.000Z"},
    ).json()
    assert order["createdAt"] == "2022-11-12T00:00:00.000Z"
    ordered_cart = ct.get(f"/carts/{cart['id']}").json()
    assert ordered_cart["lastModifiedAt"] == "2022-11-12T00:00:00.000Z"
    assert ordered_cart["createdAt"] == at


def test_invalid_sandbox_timestamp_is_rejected(ct: httpx.Client) -> None:
    response = ct.post(
        "/customers",
        json={"email": "x@example.com"},
        headers={"X-Sandbox-Timestamp": "last tuesday"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["code"] == "InvalidInput"
    assert "X-Sandbox-Timestamp" in body["message"]
    assert ct.get("/customers").json()["results"] == []


def test_writes_without_header_use_the_clock(ct: httpx.Client) -> None:
    before = time.time()
    customer = create_customer(ct, "now@example.com")
    created = _epoch(customer["createdAt"])
    assert before - 5 <= created <= time.time() + 5
    message = messages(ct)[0]
    assert abs(_epoch(message["createdAt"]) - created) < 5


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- carts ---------------------------------------------------------------------------------


def test_cart_totals_use_the_currency_fraction_digits(ct: httpx.Client) -> None:
    make_product(
        ct,
        "SKU-MULTI",
        [
            {"value": {"currencyCode": "EUR", "centAmount": 1999}},
            {"value": {"currencyCode": "JPY", "centAmount": 2500}},
        ],
    )
    eur = ct.post(
        "/carts", json={"currency": "EUR", "lineItems": [{"sku": "SKU-MULTI", "quantity": 2}]}
    )
    assert eur.status_code == 201, eur.text
    assert eur.json()["totalPrice"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 3998,
        "fractionDigits": 2,
    }
    jpy = ct.post(
        "/carts", json={"currency": "JPY", "lineItems": [{"sku": "SKU-MULTI", "quantity": 1}]}
    )
    assert jpy.status_code == 201, jpy.text
    assert jpy.json()["totalPrice"]["fractionDigits"] == 0
    assert jpy.json()["totalPrice"]["centAmount"] == 2500
    order = ct.post(
        "/orders",
        json={
            "cart": {"typeId": "cart", "id": eur.json()["id"]},
            "version": eur.json()["version"],
            "orderNumber": "FD-1",
        },
    )
    assert order.json()["totalPrice"]["fractionDigits"] == 2


def test_ordering_a_cart_marks_it_ordered(ct: httpx.Client) -> None:
    cart = ct.post("/carts", json={"currency": "EUR"}).json()
    assert cart["cartState"] == "Active"
    draft = {"cart": {"typeId": "cart", "id": cart["id"]}, "orderNumber": "CS-1"}
    no_version = ct.post("/orders", json=draft)
    assert no_version.status_code == 400
    assert no_version.json()["errors"][0]["code"] == "RequiredField"
    stale = ct.post("/orders", json={**draft, "version": cart["version"] + 3})
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["currentVersion"] == cart["version"]
    ct.post("/orders", json={**draft, "version": cart["version"]}).raise_for_status()
    after = ct.get(f"/carts/{cart['id']}").json()
    assert after["cartState"] == "Ordered"
    assert after["version"] == cart["version"] + 1
    again = ct.post("/orders", json={**draft, "orderNumber": "CS-2", "version": after["version"]})
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == "InvalidOperation"
    assert ct.get("/orders").json()["count"] == 1
    active = ct.get("/carts", params={"where": 'cartState = "Active"'}).json()
    assert active["results"] == []


# -- fields the mock used to drop ----------------------------------------------------------


def test_customer_draft_keeps_locale_salutation_vat_id_and_group(ct: httpx.Client) -> None:
    group = ct.post("/customer-groups", json={"key": "vip", "groupName": "VIP"})
    assert group.status_code == 201, group.text
    customer = create_customer(
        ct,
        "kept@example.com",
        locale="nl-NL",
        salutation="Mevrouw",
        vatId="NL123",
        customerGroup={"typeId": "customer-group", "key": "vip"},
    )
    assert customer["locale"] == "nl-NL"
    assert customer["salutation"] == "Mevrouw"
    assert customer["vatId"] == "NL123"
    assert customer["customerGroup"] == {"typeId": "customer-group", "id": group.json()["id"]}
    # The mock's internal lookup field stays out of every response shape.
    assert "lowercaseEmail" not in ct.get(f"/customers/{customer['id']}").json()
    assert "lowercaseEmail" not in ct.get("/customers").json()["results"][0]
    created = messages(ct)[0]
    assert created["customer"]["customerGroup"]["id"] == group.json()["id"]

    unknown = ct.post(
        "/customers",
        json={
            "email": "nogroup@example.com",
            "customerGroup": {"typeId": "customer-group", "key": "x"},
        },
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "ReferencedResourceNotFound"
    assert (
        ct.get("/customers", params={"where": 'email = "nogroup@example.com"'}).json()["results"]
        == []
    )


def test_cart_keeps_key_and_counts_line_item_quantity(ct: httpx.Client) -> None:
    make_product(ct, "SKU-Q", [{"value": {"currencyCode": "GBP", "centAmount": 1000}}])
    cart = ct.post(
        "/carts",
        json={"key": "cart-1", "currency": "GBP", "lineItems": [{"sku": "SKU-Q", "quantity": 3}]},
    )
    assert cart.status_code == 201, cart.text
    body = cart.json()
    assert body["key"] == "cart-1"
    assert body["totalLineItemQuantity"] == 3
    assert body["totalPrice"]["fractionDigits"] == 2
    added = update(
        ct,
        f"/carts/{body['id']}",
        body["version"],
        {"action": "addLineItem", "sku": "SKU-Q", "quantity": 2},
    )
    assert added["totalLineItemQuantity"] == 5
    assert ct.get("/carts/key=cart-1").json()["id"] == body["id"]


def test_delete_requires_the_current_version(ct: httpx.Client) -> None:
    customer = create_customer(ct, "del@example.com", key="del-me")
    missing = ct.delete(f"/customers/{customer['id']}")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["code"] == "InvalidInput"
    stale = ct.delete(f"/customers/{customer['id']}", params={"version": 7})
    assert stale.status_code == 409
    error = stale.json()["errors"][0]
    assert error["code"] == "ConcurrentModification"
    assert error["currentVersion"] == 1
    assert [m["type"] for m in messages(ct)] == ["CustomerCreated"]
    by_key = ct.delete("/customers/key=del-me", params={"version": 1})
    assert by_key.status_code == 200
    assert [m["type"] for m in messages(ct, sort="sequenceNumber asc")] == [
        "CustomerCreated",
        "CustomerDeleted",
    ]


def test_keys_order_numbers_and_customer_numbers_are_unique(ct: httpx.Client) -> None:
    create_customer(ct, "u1@example.com", key="same", customerNumber="C-9")
    for fields in ({"key": "same"}, {"customerNumber": "C-9"}):
        response = ct.post("/customers", json={"email": "u2@example.com", **fields})
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert error["code"] == "DuplicateField"
        assert error["field"] == next(iter(fields))
    order_from_new_cart(ct, "DUP-1")
    cart = ct.post("/carts", json={"currency": "EUR"}).json()
    duplicate = ct.post(
        "/orders",
        json={"cart": {"typeId": "cart", "id": cart["id"]}, "version": 1, "orderNumber": "DUP-1"},
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0]["duplicateValue"] == "DUP-1"
    assert ct.get(f"/carts/{cart['id']}").json()["cartState"] == "Active"
    group = {"key": "g", "groupName": "G"}
    assert ct.post("/customer-groups", json=group).status_code == 201
    assert ct.post("/customer-groups", json=group).status_code == 400
    assert ct.get("/customers").json()["count"] == 1
