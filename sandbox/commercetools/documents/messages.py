"""Messages: the change feed a message-driven sync reads (customer and order events)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ctsync.sandbox.commercetools.documents.base import (
    Document,
    Scale,
    client,
    iso,
    stable_id,
)
from ctsync.sandbox.commercetools.documents.customers import (
    customer_document,
    customer_facts,
)
from ctsync.sandbox.commercetools.documents.orders import order_document


def _message(
    scale: Scale,
    kind: str,
    key: str,
    resource: Document,
    sequence: int,
    resource_version: int,
    created: datetime,
    payload: Document,
    identifiers: Document | None = None,
) -> Document:
    message: Document = {
        "id": stable_id(f"message-{kind}", key, scale.seed),
        "version": 1,
        "sequenceNumber": sequence,
        "resource": resource,
        "resourceVersion": resource_version,
        "type": kind,
        "createdAt": iso(created),
        "lastModifiedAt": iso(created),
        "createdBy": client(),
        "lastModifiedBy": client(),
        **payload,
    }
    if identifiers:
        message["resourceUserProvidedIdentifiers"] = identifiers
    return message


def messages(scale: Scale) -> Iterator[Document]:
    """Customer deletions and email changes, and order state / shipment / return messages."""
    for index in range(scale.customers):
        yield from _customer_messages(scale, index)
    for index in range(scale.orders):
        yield from _order_messages(scale, index)


def _customer_messages(scale: Scale, index: int) -> Iterator[Document]:
    facts = customer_facts(scale, index)
    resource = {"typeId": "customer", "id": facts.customer_id}
    identifiers = {"key": f"customer-{index:08d}", "customerNumber": f"C{index:08d}"}
    if facts.is_deleted or facts.created_at > scale.now - timedelta(days=90):
        # CustomerCreated embeds the customer: the only email left once it is deleted.
        yield _message(
            scale,
            "CustomerCreated",
            str(index),
            resource,
            1,
            1,
            facts.created_at,
            {"customer": customer_document(scale, index)},
            identifiers,
        )
    if facts.old_email is not None:
        yield _message(
            scale,
            "CustomerEmailChanged",
            str(index),
            resource,
            2,
            2,
            facts.created_at + timedelta(hours=1),
            {"email": facts.email, "oldEmail": facts.old_email},
            identifiers,
        )
    if facts.is_deleted:
        yield _message(
            scale,
            "CustomerDeleted",
            str(index),
            resource,
            3,
            3,
            min(facts.created_at + timedelta(days=3), scale.now),
            {"erasure": False},
            identifiers,
        )


def _order_messages(scale: Scale, index: int) -> Iterator[Document]:
    order = order_document(scale, index)
    resource = {"typeId": "order", "id": order["id"]}
    identifiers = {"orderNumber": order["orderNumber"]}
    created = datetime.fromisoformat(order["createdAt"].replace("Z", "+00:00"))
    modified = datetime.fromisoformat(order["lastModifiedAt"].replace("Z", "+00:00"))
    sequence = 2
    if order["orderState"] != "Open":
        yield _message(
            scale,
            "OrderStateChanged",
            str(index),
            resource,
            sequence,
            2,
            modified,
            {"orderState": order["orderState"], "oldOrderState": "Open"},
            identifiers,
        )
        sequence += 1
    if order["shipmentState"] in ("Shipped", "Delivered"):
        yield _message(
            scale,
            "OrderShipmentStateChanged",
            str(index),
            resource,
            sequence,
            3,
            max(created, modified - timedelta(seconds=30)),
            {"shipmentState": order["shipmentState"], "oldShipmentState": "Pending"},
            identifiers,
        )
        sequence += 1
    if order["returnInfo"]:
        yield _message(
            scale,
            "ReturnInfoAdded",
            str(index),
            resource,
            sequence,
            4,
            modified,
            {"returnInfo": order["returnInfo"][0]},
            identifiers,
        )
