"""Helpers for the commercetools sandbox tests: the writes several test modules make, each
asserting the sandbox accepted it."""

from __future__ import annotations

from typing import Any

import httpx

Json = dict[str, Any]


def create_customer(client: httpx.Client, email: str, at: str | None = None, **fields: Any) -> Json:
    """A new customer; `at`: the time the sandbox records for the write (X-Sandbox-Timestamp)."""
    headers = {"X-Sandbox-Timestamp": at} if at else {}
    response = client.post("/customers", json={"email": email, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    customer: Json = response.json()["customer"]
    return customer


def update(
    client: httpx.Client, path: str, version: int, *actions: Json, at: str | None = None
) -> Json:
    headers = {"X-Sandbox-Timestamp": at} if at else {}
    body = {"version": version, "actions": list(actions)}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def messages(client: httpx.Client, **params: Any) -> list[Json]:
    params.setdefault("limit", 500)
    response = client.get("/messages", params=params)
    assert response.status_code == 200, response.text
    results: list[Json] = response.json()["results"]
    return results


def make_product(client: httpx.Client, sku: str, prices: list[Json]) -> Json:
    product_type = client.post("/product-types", json={"name": f"type-{sku}", "description": "t"})
    assert product_type.status_code == 201, product_type.text
    product = client.post(
        "/products",
        json={
            "productType": {"typeId": "product-type", "id": product_type.json()["id"]},
            "name": {"en": sku},
            "slug": {"en": sku.lower()},
            "masterVariant": {"sku": sku, "prices": prices},
            "publish": True,
        },
    )
    assert product.status_code == 201, product.text
    body: Json = product.json()
    return body


def make_customer_type(client: httpx.Client) -> Json:
    response = client.post(
        "/types",
        json={
            "key": "customer-consent",
            "name": {"en": "Consent"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {
                    "name": "emailOptIn",
                    "label": {"en": "Email opt-in"},
                    "required": False,
                    "type": {"name": "Boolean"},
                },
                {
                    "name": "source",
                    "label": {"en": "Source"},
                    "required": False,
                    "type": {"name": "String"},
                },
            ],
        },
    )
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


def order_from_new_cart(client: httpx.Client, order_number: str, **cart_fields: Any) -> Json:
    cart = client.post("/carts", json={"currency": "EUR", **cart_fields})
    assert cart.status_code == 201, cart.text
    order = client.post(
        "/orders",
        json={
            "cart": {"typeId": "cart", "id": cart.json()["id"]},
            "version": cart.json()["version"],
            "orderNumber": order_number,
        },
    )
    assert order.status_code == 201, order.text
    body: Json = order.json()
    return body
