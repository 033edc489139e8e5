"""The commercetools sandbox's Messages API: what each write records, and how it is queried."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox

from ._commercetools import (
    Json,
    create_customer,
    make_customer_type,
    make_product,
    messages,
    order_from_new_cart,
    update,
)

pytestmark = pytest.mark.slow


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
