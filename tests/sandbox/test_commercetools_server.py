"""The commercetools sandbox server, exercised over real HTTP like ctsync's clients do."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox

pytestmark = pytest.mark.slow

Json = dict[str, Any]


@pytest.fixture
def ct(fresh_commercetools: CommercetoolsSandbox) -> Iterator[httpx.Client]:
    with fresh_commercetools.client() as client:
        yield client


def create_customer(client: httpx.Client, email: str, **fields: Any) -> Json:
    response = client.post("/customers", json={"email": email, **fields})
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


# -- OAuth -------------------------------------------------------------------------------


def test_token_with_http_basic_credentials_grants_api_access(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 172800
    assert token["scope"] == f"manage_project:{sandbox.project_key}"
    assert "refresh_token" not in token
    api = httpx.get(
        f"{sandbox.api_url}/{sandbox.project_key}/customers",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert api.status_code == 200
    assert api.json()["results"] == []


def test_token_scope_from_form_body_is_honoured(fresh_commercetools: CommercetoolsSandbox) -> None:
    sandbox = fresh_commercetools
    scope = f"view_customers:{sandbox.project_key} view_orders:{sandbox.project_key}"
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 200
    assert response.json()["scope"] == scope


def test_token_with_secret_in_body_and_no_basic_auth_is_rejected(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    response = httpx.post(
        sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["errors"][0]["code"] == "invalid_client"
    assert body["error"] == "invalid_client"


def test_token_with_wrong_secret_is_rejected_without_echoing_it(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    wrong = "not-the-secret-" + uuid.uuid4().hex
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, wrong),
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_client"
    assert wrong not in response.text
    assert sandbox.client_secret not in response.text


def test_api_without_or_with_unknown_token_is_401_invalid_token(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    url = f"{fresh_commercetools.api_url}/{fresh_commercetools.project_key}/customers"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["code"] == "invalid_token"
    assert missing.json()["error"] == "invalid_token"
    unknown = httpx.get(url, headers={"Authorization": "Bearer bm90LWEtdG9rZW4="})
    assert unknown.status_code == 401
    assert unknown.json() == {
        "statusCode": 401,
        "message": "invalid_token",
        "errors": [{"code": "invalid_token", "message": "invalid_token"}],
        "error": "invalid_token",
    }


# -- sort, paging, caps ----------------------------------------------------------------------


def test_sort_on_customers_ascending_descending_and_multi_field(ct: httpx.Client) -> None:
    emails = ["carol@example.com", "alice@example.com", "dave@example.com", "bob@example.com"]
    for index, email in enumerate(emails):
        create_customer(ct, email, firstName="Other" if index % 2 else "Same")

    def fetch(*sort: str) -> list[str]:
        response = ct.get("/customers", params=[("sort", s) for s in sort])
        assert response.status_code == 200
        return [c["email"] for c in response.json()["results"]]

    assert fetch("email asc") == sorted(emails)
    assert fetch("email desc") == sorted(emails, reverse=True)
    # firstName desc puts "Same" first; email breaks the tie in each group.
    assert fetch("firstName desc", "email asc") == [
        "carol@example.com",
        "dave@example.com",
        "alice@example.com",
        "bob@example.com",
    ]


def test_sort_on_orders_by_order_number_and_created_at(ct: httpx.Client) -> None:
    numbers = ["ORD-3", "ORD-1", "ORD-4", "ORD-2"]
    stamps = [
        "2024-03-01T00:00:00.000Z",
        "2024-01-01T00:00:00.000Z",
        "2024-04-01T00:00:00.000Z",
        "2024-02-01T00:00:00.000Z",
    ]
    for number, stamp in zip(numbers, stamps, strict=True):
        cart = ct.post("/carts", json={"currency": "EUR"}, headers={"X-Sandbox-Timestamp": stamp})
        ct.post(
            "/orders",
            json={
                "cart": {"typeId": "cart", "id": cart.json()["id"]},
                "version": cart.json()["version"],
                "orderNumber": number,
            },
            headers={"X-Sandbox-Timestamp": stamp},
        ).raise_for_status()

    def fetch(sort: str) -> list[str]:
        response = ct.get("/orders", params={"sort": sort})
        assert response.status_code == 200
        return [o["orderNumber"] for o in response.json()["results"]]

    assert fetch("orderNumber asc") == ["ORD-1", "ORD-2", "ORD-3", "ORD-4"]
    assert fetch("orderNumber desc") == ["ORD-4", "ORD-3", "ORD-2", "ORD-1"]
    assert fetch("createdAt desc") == ["ORD-4", "ORD-3", "ORD-2", "ORD-1"]


def test_keyset_paging_returns_every_customer_exactly_once(
    fresh_commercetools: CommercetoolsSandbox, ct: httpx.Client
) -> None:
    count = 1023
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: create_customer(ct, f"user{i:05d}@example.com"), range(count)))

    seen: list[str] = []
    pages = []
    last_id: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "id asc", "limit": 500, "withTotal": "false"}
        if last_id is not None:
            params["where"] = "id > :lastId"
            params["var.lastId"] = last_id
        body = ct.get("/customers", params=params).json()
        assert "total" not in body
        assert body["limit"] == 500 and body["offset"] == 0
        ids = [c["id"] for c in body["results"]]
        assert ids == sorted(ids)
        assert body["count"] == len(ids)
        pages.append(len(ids))
        seen.extend(ids)
        if len(ids) < 500:
            break
        last_id = ids[-1]

    assert pages == [500, 500, 23]
    assert len(seen) == count
    assert len(set(seen)) == count
    stats = fresh_commercetools.stats()
    assert stats["max_limit"] == 500
    assert stats["max_offset"] is None


def test_keyset_with_literal_cursor_and_incremental_window(ct: httpx.Client) -> None:
    stamps = [f"2024-01-{day:02d}T10:00:00.000Z" for day in range(1, 11)]
    for index, stamp in enumerate(stamps):
        ct.post(
            "/customers",
            json={"email": f"c{index}@example.com"},
            headers={"X-Sandbox-Timestamp": stamp},
        ).raise_for_status()
    all_ids = sorted(c["id"] for c in ct.get("/customers", params={"limit": 500}).json()["results"])
    pivot = all_ids[3]
    after = ct.get("/customers", params={"sort": "id asc", "where": f'id > "{pivot}"'}).json()
    assert [c["id"] for c in after["results"]] == all_ids[4:]

    window = ct.get(
        "/customers",
        params=[
            ("where", "lastModifiedAt >= :since"),
            ("where", "lastModifiedAt < :until"),
            ("var.since", "2024-01-04T10:00:00.000Z"),
            ("var.until", "2024-01-07T10:00:00.000Z"),
            ("sort", "lastModifiedAt asc"),
        ],
    ).json()
    assert [c["lastModifiedAt"] for c in window["results"]] == stamps[3:6]
    assert window["total"] == 3


def test_limit_above_500_is_rejected_with_commercetools_error(ct: httpx.Client) -> None:
    response = ct.get("/customers", params={"limit": 501})
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert "limit" in body["message"] and "500" in body["message"]
    assert body["errors"] == [{"code": "InvalidInput", "message": body["message"]}]
    assert ct.get("/customers", params={"limit": 500}).status_code == 200


def test_offset_above_10000_is_rejected_with_commercetools_error(ct: httpx.Client) -> None:
    response = ct.get("/orders", params={"offset": 10001})
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert "offset" in body["message"] and "10000" in body["message"]
    assert body["errors"][0]["code"] == "InvalidInput"
    accepted = ct.get("/orders", params={"offset": 10000})
    assert accepted.status_code == 200
    assert accepted.json()["results"] == []


def test_malformed_paging_parameters_are_rejected(ct: httpx.Client) -> None:
    for params in ({"limit": "-1"}, {"limit": "ten"}, {"offset": "1.5"}, {"withTotal": "maybe"}):
        response = ct.get("/customers", params=params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["code"] == "InvalidInput"
    bad_sort = ct.get("/customers", params={"sort": "email sideways"})
    assert bad_sort.status_code == 400


def test_caps_apply_to_messages_and_in_store_endpoints(
    fresh_commercetools: CommercetoolsSandbox, ct: httpx.Client
) -> None:
    assert ct.get("/messages", params={"limit": 1000}).status_code == 400
    assert ct.get("/in-store/key=eu/customers", params={"offset": 20000}).status_code == 400
    assert fresh_commercetools.stats()["max_offset"] == 20000


def test_with_total_false_omits_total_and_default_includes_it(ct: httpx.Client) -> None:
    for index in range(3):
        create_customer(ct, f"t{index}@example.com")
    default = ct.get("/customers", params={"limit": 2}).json()
    assert default["total"] == 3
    assert default["count"] == 2
    without = ct.get("/customers", params={"limit": 2, "withTotal": "false"}).json()
    assert "total" not in without
    assert without["count"] == 2
    explicit = ct.get("/customers", params={"withTotal": "true"}).json()
    assert explicit["total"] == 3


def test_offset_paging_and_limit_zero(ct: httpx.Client) -> None:
    for index in range(5):
        create_customer(ct, f"o{index}@example.com")
    page = ct.get("/customers", params={"sort": "email asc", "offset": 2, "limit": 2}).json()
    assert [c["email"] for c in page["results"]] == ["o2@example.com", "o3@example.com"]
    assert page["offset"] == 2 and page["total"] == 5
    empty = ct.get("/customers", params={"limit": 0}).json()
    assert empty["count"] == 0 and empty["results"] == [] and empty["total"] == 5


def test_invalid_predicate_is_a_400_invalid_input(ct: httpx.Client) -> None:
    response = ct.get("/customers", params={"where": 'email = "unterminated'})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"
    missing_var = ct.get("/customers", params={"where": "id > :lastId"})
    assert missing_var.status_code == 400


def test_complex_predicates_still_use_the_mock_parser(ct: httpx.Client) -> None:
    make_customer_type(ct)
    opted = create_customer(
        ct,
        "in@example.com",
        custom={
            "type": {"typeId": "type", "key": "customer-consent"},
            "fields": {"emailOptIn": True},
        },
    )
    create_customer(
        ct,
        "out@example.com",
        custom={
            "type": {"typeId": "type", "key": "customer-consent"},
            "fields": {"emailOptIn": False},
        },
    )
    create_customer(ct, "none@example.com")
    found = ct.get("/customers", params={"where": "custom(fields(emailOptIn = true))"}).json()
    assert [c["id"] for c in found["results"]] == [opted["id"]]
    either = ct.get(
        "/customers",
        params={"where": 'email in ("in@example.com", "none@example.com")', "sort": "email asc"},
    ).json()
    assert [c["email"] for c in either["results"]] == ["in@example.com", "none@example.com"]


# -- messages ------------------------------------------------------------------------------


BASE_MESSAGE_FIELDS = {
    "id",
    "version",
    "sequenceNumber",
    "resource",
    "resourceVersion",
    "type",
    "createdAt",
    "lastModifiedAt",
    "createdBy",
    "lastModifiedBy",
}


def payload(message: Json) -> Json:
    """The type-specific fields of a message."""
    return {
        k: v
        for k, v in message.items()
        if k not in BASE_MESSAGE_FIELDS and k != "resourceUserProvidedIdentifiers"
    }


def test_customer_writes_produce_messages_with_commercetools_payloads(ct: httpx.Client) -> None:
    consent_type = make_customer_type(ct)
    customer = create_customer(
        ct, "Anna@Example.com", key="cust-1", customerNumber="C-1", password="s3cret!"
    )
    cid = customer["id"]
    path = f"/customers/{cid}"
    change_email = {"action": "changeEmail", "email": "anna@new.example"}
    v = update(ct, path, customer["version"], change_email)
    v = update(
        ct,
        path,
        v["version"],
        {"action": "setFirstName", "firstName": "Anna"},
        {"action": "setLastName", "lastName": "de Vries"},
    )
    v = update(
        ct,
        path,
        v["version"],
        {
            "action": "setCustomType",
            "type": {"typeId": "type", "key": "customer-consent"},
            "fields": {"emailOptIn": False},
        },
    )
    v = update(
        ct,
        path,
        v["version"],
        {"action": "setCustomField", "name": "emailOptIn", "value": True},
        {"action": "setCustomField", "name": "source", "value": "checkout"},
    )
    unset = {"action": "setCustomField", "name": "source", "value": None}
    v = update(ct, path, v["version"], unset)
    deleted = ct.delete(path, params={"version": v["version"]})
    assert deleted.status_code == 200, deleted.text

    found = messages(ct, where=f'resource(id="{cid}")', sort="sequenceNumber asc")
    assert [m["type"] for m in found] == [
        "CustomerCreated",
        "CustomerEmailChanged",
        "CustomerFirstNameSet",
        "CustomerLastNameSet",
        "CustomerCustomTypeSet",
        "CustomerCustomFieldChanged",
        "CustomerCustomFieldAdded",
        "CustomerCustomFieldRemoved",
        "CustomerDeleted",
    ]
    assert [m["sequenceNumber"] for m in found] == list(range(1, 10))
    # One version per effective update action; the delete refers to the last version.
    assert [m["resourceVersion"] for m in found] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert v["version"] == 8
    for message in found:
        assert message["version"] == 1
        assert message["resource"] == {"typeId": "customer", "id": cid}
        assert message["resourceUserProvidedIdentifiers"] == {
            "key": "cust-1",
            "customerNumber": "C-1",
        }
        assert message["createdAt"] == message["lastModifiedAt"]
        assert uuid.UUID(message["id"])

    created, email, first, last, type_set, changed, added, removed, gone = found
    assert created["customer"]["id"] == cid
    assert created["customer"]["email"] == "anna@example.com"
    assert created["customer"]["password"] == "****"
    assert "lowercaseEmail" not in created["customer"]
    assert "lowercaseEmail" not in customer
    assert payload(email) == {"email": "anna@new.example", "oldEmail": "anna@example.com"}
    assert payload(first) == {"firstName": "Anna"}
    assert payload(last) == {"lastName": "de Vries"}
    assert payload(type_set)["customFields"]["type"]["id"] == consent_type["id"]
    assert payload(type_set)["customFields"]["fields"] == {"emailOptIn": False}
    assert "previousTypeId" not in type_set
    assert payload(changed) == {"name": "emailOptIn", "value": True, "previousValue": False}
    assert payload(added) == {"name": "source", "value": "checkout"}
    assert payload(removed) == {"name": "source"}
    assert payload(gone) == {"email": "anna@new.example"}
    assert ct.get(path).status_code == 404


def test_rejected_update_produces_no_messages(ct: httpx.Client) -> None:
    customer = create_customer(ct, "conflict@example.com")
    stale = ct.post(
        f"/customers/{customer['id']}",
        json={
            "version": customer["version"] + 5,
            "actions": [{"action": "changeEmail", "email": "other@example.com"}],
        },
    )
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "ConcurrentModification"
    assert [m["type"] for m in messages(ct)] == ["CustomerCreated"]


def test_order_writes_produce_messages(ct: httpx.Client) -> None:
    make_product(
        ct, "SKU-RED", [{"value": {"currencyCode": "EUR", "centAmount": 2500}, "country": "DE"}]
    )
    order = order_from_new_cart(ct, "NL-1001")
    oid = order["id"]
    v = update(
        ct,
        f"/orders/{oid}",
        order["version"],
        {"action": "changeOrderState", "orderState": "Confirmed"},
        {"action": "changeShipmentState", "shipmentState": "Shipped"},
        {"action": "changePaymentState", "paymentState": "Paid"},
    )
    imported = ct.post(
        "/orders/import",
        json={
            "orderNumber": "IMP-7",
            "customerEmail": "guest@example.com",
            "totalPrice": {"currencyCode": "EUR", "centAmount": 5000},
            "lineItems": [
                {
                    "name": {"en": "Red"},
                    "variant": {"sku": "SKU-RED"},
                    "price": {"value": {"currencyCode": "EUR", "centAmount": 2500}},
                    "quantity": 2,
                }
            ],
            "orderState": "Complete",
            "shipmentState": "Delivered",
            "completedAt": "2024-05-04T10:00:00.000Z",
        },
    )
    assert imported.status_code == 200, imported.text
    imp = imported.json()
    assert imp["completedAt"] == "2024-05-04T10:00:00.000Z"
    assert imp["shipmentState"] == "Delivered"
    line_id = imp["lineItems"][0]["id"]
    v2 = update(
        ct,
        f"/orders/{imp['id']}",
        imp["version"],
        {
            "action": "addReturnInfo",
            "returnTrackingId": "RT-1",
            "returnDate": "2024-05-10T00:00:00.000Z",
            "items": [{"quantity": 1, "lineItemId": line_id, "shipmentState": "Returned"}],
        },
    )

    first = messages(ct, where=f'resource(id="{oid}")', sort="sequenceNumber asc")
    assert [m["type"] for m in first] == [
        "OrderCreated",
        "OrderStateChanged",
        "OrderShipmentStateChanged",
        "OrderPaymentStateChanged",
    ]
    assert [m["sequenceNumber"] for m in first] == [1, 2, 3, 4]
    assert [m["resourceVersion"] for m in first] == [1, 2, 3, 4] and v["version"] == 4
    assert first[0]["order"]["orderNumber"] == "NL-1001"
    assert first[0]["resourceUserProvidedIdentifiers"] == {"orderNumber": "NL-1001"}
    assert payload(first[1]) == {"orderState": "Confirmed", "oldOrderState": "Open"}
    assert payload(first[2]) == {"shipmentState": "Shipped"}
    assert payload(first[3]) == {"paymentState": "Paid"}

    second = messages(ct, where=f'resource(id="{imp["id"]}")', sort="sequenceNumber asc")
    assert [m["type"] for m in second] == ["OrderImported", "ReturnInfoAdded"]
    assert second[0]["order"]["orderNumber"] == "IMP-7"
    returned = payload(second[1])["returnInfo"]
    assert returned["returnTrackingId"] == "RT-1"
    assert returned["items"][0]["lineItemId"] == line_id
    assert returned["items"][0]["shipmentState"] == "Returned"
    assert returned == v2["returnInfo"][0]
    assert set(returned["items"][0]) == {
        "type",
        "id",
        "quantity",
        "lineItemId",
        "shipmentState",
        "paymentState",
        "createdAt",
        "lastModifiedAt",
    }
    # Messages of a write carry the resource's own modification time.
    assert second[1]["createdAt"] == v2["lastModifiedAt"]
    assert first[0]["createdAt"] == order["createdAt"]
    assert second[1]["resourceVersion"] == v2["version"]


def test_messages_filter_by_sequence_number_created_at_type_and_resource(
    ct: httpx.Client,
) -> None:
    customer = create_customer(ct, "f@example.com")
    version = customer["version"]
    stamps = ["2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"]
    for index, stamp in enumerate(stamps):
        version = update(
            ct,
            f"/customers/{customer['id']}",
            version,
            {"action": "setFirstName", "firstName": f"N{index}"},
            at=stamp,
        )["version"]
    order_from_new_cart(ct, "ORD-F")

    later = messages(ct, where="sequenceNumber > 2", sort="sequenceNumber asc")
    assert [(m["type"], m["sequenceNumber"]) for m in later] == [
        ("CustomerFirstNameSet", 3),
        ("CustomerFirstNameSet", 4),
    ]
    since = messages(
        ct,
        where="createdAt >= :since and createdAt < :until",
        **{"var.since": stamps[1], "var.until": "2024-12-31T00:00:00.000Z"},
        sort="createdAt desc",
    )
    assert [m["createdAt"] for m in since] == [stamps[2], stamps[1]]
    orders = messages(ct, where='resource(typeId="order")')
    assert [m["type"] for m in orders] == ["OrderCreated"]
    created = messages(ct, where='type = "CustomerCreated"')
    assert len(created) == 1 and created[0]["resource"]["id"] == customer["id"]
    typed = messages(ct, where='type in ("OrderCreated", "CustomerCreated")', sort="type asc")
    assert [m["type"] for m in typed] == ["CustomerCreated", "OrderCreated"]


def test_messages_keyset_paging_and_get_by_id(ct: httpx.Client) -> None:
    for index in range(7):
        create_customer(ct, f"m{index}@example.com")
    seen: list[str] = []
    last: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "id asc", "limit": 3, "withTotal": "false"}
        if last:
            params["where"] = f'id > "{last}"'
        body = ct.get("/messages", params=params).json()
        assert "total" not in body
        seen += [m["id"] for m in body["results"]]
        if body["count"] < 3:
            break
        last = body["results"][-1]["id"]
    assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen)

    one = ct.get(f"/messages/{seen[0]}")
    assert one.status_code == 200
    assert one.json()["id"] == seen[0]
    missing = ct.get(f"/messages/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "ResourceNotFound"


def test_messages_need_a_token(fresh_commercetools: CommercetoolsSandbox) -> None:
    url = f"{fresh_commercetools.api_url}/{fresh_commercetools.project_key}/messages"
    response = httpx.get(url)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_token"


def test_messages_are_enabled_on_the_project(ct: httpx.Client) -> None:
    project = ct.get(str(ct.base_url).rstrip("/"))
    assert project.status_code == 200
    assert project.json()["messages"]["enabled"] is True


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


def test_messages_stop_while_disabled_on_the_project(ct: httpx.Client) -> None:
    project_url = str(ct.base_url).rstrip("/")
    project = ct.get(project_url).json()
    disabled = ct.post(
        project_url,
        json={
            "version": project["version"],
            "actions": [
                {
                    "action": "changeMessagesConfiguration",
                    "messagesConfiguration": {"enabled": False, "deleteDaysAfterCreation": 15},
                }
            ],
        },
    )
    assert disabled.status_code == 200, disabled.text
    create_customer(ct, "quiet@example.com")
    assert messages(ct) == []
    enabled = ct.post(
        project_url,
        json={
            "version": disabled.json()["version"],
            "actions": [
                {
                    "action": "changeMessagesConfiguration",
                    "messagesConfiguration": {"enabled": True, "deleteDaysAfterCreation": 15},
                }
            ],
        },
    )
    assert enabled.status_code == 200, enabled.text
    create_customer(ct, "loud@example.com")
    assert [m["customer"]["email"] for m in messages(ct)] == ["loud@example.com"]


def test_backdated_delete_dates_its_message(ct: httpx.Client) -> None:
    customer = create_customer(ct, "gone@example.com")
    response = ct.delete(
        f"/customers/{customer['id']}",
        params={"version": customer["version"]},
        headers={"X-Sandbox-Timestamp": "2025-01-02T03:04:05.678Z"},
    )
    assert response.status_code == 200
    deleted = messages(ct, where='type = "CustomerDeleted"')
    assert [(m["createdAt"], m["email"]) for m in deleted] == [
        ("2025-01-02T03:04:05.678Z", "gone@example.com")
    ]


def test_concurrent_requests_keep_their_own_timestamp_and_sort(ct: httpx.Client) -> None:
    def create(index: int) -> tuple[str, str]:
        stamp = f"2020-01-01T00:{index // 60:02d}:{index % 60:02d}.000Z"
        response = ct.post(
            "/customers",
            json={"email": f"conc{index}@example.com", "key": f"k{index:03d}"},
            headers={"X-Sandbox-Timestamp": stamp},
        )
        assert response.status_code == 201, response.text
        return response.json()["customer"]["id"], stamp

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(80)))
    stored = {c["id"]: c for c in ct.get("/customers", params={"limit": 500}).json()["results"]}
    for customer_id, stamp in created:
        assert stored[customer_id]["createdAt"] == stamp
        assert stored[customer_id]["lastModifiedAt"] == stamp
    by_message = {m["resource"]["id"]: m["createdAt"] for m in messages(ct)}
    assert by_message == dict(created)

    def keys(sort: str) -> list[str]:
        body = ct.get("/customers", params={"sort": sort, "limit": 500}).json()
        return [c["key"] for c in body["results"]]

    expected = sorted(c["key"] for c in stored.values())
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(keys, ["key asc", "key desc"] * 10))
    for index, result in enumerate(results):
        assert result == (expected if index % 2 == 0 else expected[::-1])


def test_sort_without_direction_means_ascending_and_expand_still_works(
    ct: httpx.Client,
) -> None:
    group = ct.post("/customer-groups", json={"key": "gold", "groupName": "Gold"}).json()
    for email in ("b@example.com", "a@example.com"):
        create_customer(ct, email, customerGroup={"typeId": "customer-group", "id": group["id"]})
    body = ct.get("/customers", params={"sort": "email", "expand": "customerGroup"}).json()
    assert [c["email"] for c in body["results"]] == ["a@example.com", "b@example.com"]
    assert body["results"][0]["customerGroup"]["obj"]["name"] == "Gold"


def test_in_store_queries_honour_sort_and_caps(ct: httpx.Client) -> None:
    store = ct.post("/stores", json={"key": "nl", "name": {"en": "NL"}})
    assert store.status_code == 201, store.text
    for email in ("z@example.com", "m@example.com", "a@example.com"):
        response = ct.post(
            "/in-store/key=nl/customers", json={"email": email, "stores": [{"key": "nl"}]}
        )
        assert response.status_code == 201, response.text
    body = ct.get("/in-store/key=nl/customers", params={"sort": "email desc"}).json()
    assert [c["email"] for c in body["results"]] == [
        "z@example.com",
        "m@example.com",
        "a@example.com",
    ]
    assert ct.get("/in-store/key=nl/customers", params={"limit": 501}).status_code == 400


def test_address_and_state_messages(ct: httpx.Client) -> None:
    customer = create_customer(ct, "addr@example.com")
    path = f"/customers/{customer['id']}"
    after_add = update(
        ct,
        path,
        customer["version"],
        {"action": "addAddress", "address": {"key": "home", "country": "NL", "city": "Utrecht"}},
    )
    address_id = after_add["addresses"][0]["id"]
    after_default = update(
        ct,
        path,
        after_add["version"],
        {"action": "setDefaultShippingAddress", "addressId": address_id},
        {"action": "setCompanyName", "companyName": "ACME"},
    )
    update(
        ct,
        path,
        after_default["version"],
        {
            "action": "changeAddress",
            "addressId": address_id,
            "address": {"key": "home", "country": "NL", "city": "Amersfoort"},
        },
    )
    found = messages(ct, sort="sequenceNumber asc")
    assert [m["type"] for m in found] == [
        "CustomerCreated",
        "CustomerAddressAdded",
        "CustomerDefaultShippingAddressSet",
        "CustomerCompanyNameSet",
        "CustomerAddressChanged",
    ]
    assert found[1]["address"]["city"] == "Utrecht"
    assert found[2]["address"]["id"] == address_id
    assert payload(found[3]) == {"companyName": "ACME"}
    assert found[4]["address"]["city"] == "Amersfoort"
    assert found[4]["addressRoles"] == ["Shipping"]


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


# -- scopes --------------------------------------------------------------------------------


def scoped_client(sandbox: CommercetoolsSandbox, *scopes: str) -> httpx.Client:
    key = sandbox.project_key
    token = sandbox.token(" ".join(f"{scope}:{key}" for scope in scopes))
    return httpx.Client(
        base_url=f"{sandbox.api_url}/{key}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def test_scopes_limit_what_a_token_may_do(fresh_commercetools: CommercetoolsSandbox) -> None:
    key = fresh_commercetools.project_key
    with scoped_client(fresh_commercetools, "view_customers") as viewer:
        assert viewer.get("/customers").status_code == 200
        denied = viewer.get("/orders")
        assert denied.status_code == 403
        expected = f"Insufficient scope. One of the following scopes is missing: view_orders:{key}"
        assert denied.json() == {
            "statusCode": 403,
            "message": expected,
            "errors": [{"code": "insufficient_scope", "message": expected}],
            "error": "insufficient_scope",
        }
        assert viewer.post("/customers", json={"email": "v@example.com"}).status_code == 403
        assert viewer.get("/messages").status_code == 403
    with scoped_client(fresh_commercetools, "manage_customers", "view_orders") as manager:
        assert manager.post("/customers", json={"email": "m@example.com"}).status_code == 201
        assert manager.get("/customers").status_code == 200
        assert manager.get("/customer-groups").status_code == 200
        # view_orders is the deprecated alternative scope of /messages.
        assert manager.get("/messages").json()["count"] == 1
        assert manager.post("/carts", json={"currency": "EUR"}).status_code == 403
    with scoped_client(fresh_commercetools, "view_messages", "view_published_products") as reader:
        assert reader.get("/messages").status_code == 200
        assert reader.get("/product-projections").status_code == 200
        assert reader.get("/customers").status_code == 403
    with fresh_commercetools.client() as admin:
        assert admin.get("/orders").status_code == 200
        other_project = admin.get(f"{fresh_commercetools.api_url}/other-project/customers")
        assert other_project.status_code == 403


def test_token_request_for_another_projects_scope_is_refused(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    response = httpx.post(
        fresh_commercetools.token_url,
        data={"grant_type": "client_credentials", "scope": "manage_project:someone-else"},
        auth=(fresh_commercetools.client_id, fresh_commercetools.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "manage_project:someone-else" in response.json()["message"]


def test_date_time_predicates_compare_instants_not_strings(ct: httpx.Client) -> None:
    stamps = ["2024-01-04T09:59:59.999Z", "2024-01-04T10:00:00.000Z", "2024-01-04T10:00:00.001Z"]
    for index, stamp in enumerate(stamps):
        ct.post(
            "/customers",
            json={"email": f"dt{index}@example.com"},
            headers={"X-Sandbox-Timestamp": stamp},
        ).raise_for_status()

    def created(**params: Any) -> list[str]:
        body = ct.get("/customers", params={**params, "sort": "createdAt asc"}).json()
        return [c["createdAt"] for c in body["results"]]

    # Without milliseconds, and with an offset: the same instant as the stored 10:00:00.000Z.
    assert (
        created(where="createdAt >= :since", **{"var.since": "2024-01-04T10:00:00Z"}) == stamps[1:]
    )
    assert created(where='createdAt >= "2024-01-04T12:00:00+02:00"') == stamps[1:]
    assert created(where='createdAt < "2024-01-04T10:00:00Z" and email != "x"') == stamps[:1]
    # Complex predicates (here with `or`) get the same treatment.
    assert (
        created(where='createdAt = "2024-01-04T10:00:00Z" or email = "dt2@example.com"')
        == stamps[1:]
    )
