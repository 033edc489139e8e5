"""Parsing of commercetools subscription deliveries in every supported transport."""

from __future__ import annotations

import base64
import json

import pytest

from ctsync.app.jobs.deliveries import DeliveryError, parse_delivery

MESSAGE = {
    "notificationType": "Message",
    "projectKey": "demo",
    "id": "6d1f3f5e-1b55-4c1e-9d0a-2f3b7c2f0e11",
    "version": 1,
    "sequenceNumber": 3,
    "resource": {"typeId": "customer", "id": "c-1"},
    "resourceVersion": 3,
    "type": "CustomerEmailChanged",
    "email": "new@example.com",
    "createdAt": "2026-11-26T10:00:00.000Z",
    "lastModifiedAt": "2026-11-26T10:00:00.000Z",
}
CHANGE = {
    "notificationType": "ResourceUpdated",
    "projectKey": "demo",
    "resource": {"typeId": "order", "id": "o-9"},
    "version": 7,
    "oldVersion": 6,
    "modifiedAt": "2026-11-26T10:00:01.000Z",
}


def b(document: object) -> bytes:
    return json.dumps(document).encode()


def test_platform_message_is_keyed_by_message_id_and_refreshes_customers_and_messages() -> None:
    delivery = parse_delivery({"content-type": "application/json"}, b(MESSAGE))
    assert delivery.transport == "platform"
    [note] = delivery.notifications
    assert note.dedupe_key == f"message:{MESSAGE['id']}"
    assert note.message_type == "CustomerEmailChanged"
    assert note.resource_id == "c-1"
    assert delivery.affected_resources() == {"customers", "messages"}


def test_change_notification_is_keyed_by_resource_and_version() -> None:
    delivery = parse_delivery({}, b(CHANGE))
    [note] = delivery.notifications
    assert note.kind == "ResourceUpdated"
    assert note.dedupe_key == "ResourceUpdated:order:o-9:7"
    assert note.changed_at == "2026-11-26T10:00:01.000Z"
    assert delivery.affected_resources() == {"orders", "messages"}


def test_pubsub_push_envelope() -> None:
    envelope = {
        "message": {
            "data": base64.b64encode(b(MESSAGE)).decode(),
            "messageId": "2070443601311540",
            "publishTime": "2026-11-26T10:00:02Z",
            "attributes": {},
        },
        "subscription": "projects/p/subscriptions/ctsync",
    }
    delivery = parse_delivery({"content-type": "application/json"}, b(envelope))
    assert delivery.transport == "pubsub"
    assert delivery.notifications[0].dedupe_key == f"message:{MESSAGE['id']}"


def test_pubsub_cloudevents_binary_binding_in_attributes() -> None:
    envelope = {
        "message": {
            "data": base64.b64encode(b(CHANGE)).decode(),
            "messageId": "1",
            "attributes": {
                "ce-specversion": "1.0",
                "ce-id": "ce-77",
                "ce-type": "com.commercetools.order.change.ResourceUpdated",
                "ce-source": "/demo/orders",
                "ce-subject": "o-9",
            },
        },
        "subscription": "projects/p/subscriptions/ctsync",
    }
    delivery = parse_delivery({}, b(envelope))
    [note] = delivery.notifications
    assert note.dedupe_key == "ResourceUpdated:order:o-9:7"
    assert delivery.affected_resources() == {"orders", "messages"}


def test_sns_notification_with_text_plain_body() -> None:
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ct",
        "Message": json.dumps(MESSAGE),
        "Timestamp": "2026-11-26T10:00:02.000Z",
    }
    delivery = parse_delivery({"content-type": "text/plain; charset=UTF-8"}, b(body))
    assert delivery.transport == "sns"
    assert delivery.notifications[0].dedupe_key == f"message:{MESSAGE['id']}"


def test_sns_subscription_confirmation_carries_the_subscribe_url() -> None:
    body = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
    }
    delivery = parse_delivery({}, b(body))
    assert delivery.notifications == []
    assert delivery.sns_subscribe_url is not None
    assert delivery.sns_subscribe_url.startswith("https://sns.eu-west-1.amazonaws.com/")


def test_eventbridge_event_and_its_detail_alone() -> None:
    event = {
        "version": "0",
        "id": "eb-1",
        "detail-type": "ResourceUpdated",
        "source": "aws.partner/commercetools.com/demo/ctsync",
        "time": "2026-11-26T10:00:02Z",
        "detail": CHANGE,
    }
    delivery = parse_delivery({}, b(event))
    assert delivery.transport == "eventbridge"
    assert delivery.notifications[0].dedupe_key == "ResourceUpdated:order:o-9:7"
    # With an input transformer that forwards `$.detail`, the body is the bare payload.
    assert (
        parse_delivery({}, b(CHANGE)).notifications[0].dedupe_key == "ResourceUpdated:order:o-9:7"
    )


def test_cloudevents_structured_batch_and_binary() -> None:
    event = {
        "specversion": "1.0",
        "id": MESSAGE["id"],
        "type": "com.commercetools.customer.message.CustomerEmailChanged",
        "source": "/demo/customers",
        "subject": "c-1",
        "time": "2026-11-26T10:00:00.000Z",
        "dataref": f"/demo/messages/{MESSAGE['id']}",
        "data": MESSAGE,
    }
    structured = parse_delivery({"content-type": "application/cloudevents+json"}, b(event))
    assert structured.transport == "cloudevents"
    assert structured.notifications[0].dedupe_key == f"message:{MESSAGE['id']}"

    batch = parse_delivery(
        {"content-type": "application/cloudevents-batch+json"},
        b([event, {**event, "id": "x2", "data": {**MESSAGE, "id": "x2"}}]),
    )
    assert [n.dedupe_key for n in batch.notifications] == [f"message:{MESSAGE['id']}", "message:x2"]

    binary = parse_delivery(
        {
            "ce-specversion": "1.0",
            "ce-id": "ce-1",
            "ce-type": "com.commercetools.cart.change.ResourceCreated",
            "ce-source": "/demo/carts",
            "ce-subject": "cart-5",
        },
        b(""),
    )
    [note] = binary.notifications
    assert (note.kind, note.resource_type, note.resource_id) == (
        "ResourceCreated",
        "cart",
        "cart-5",
    )
    assert binary.affected_resources() == {"carts", "messages"}


def test_the_same_message_has_the_same_key_whatever_transport_carried_it() -> None:
    direct = parse_delivery({}, b(MESSAGE)).notifications[0].dedupe_key
    via_sns = (
        parse_delivery(
            {}, b({"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(MESSAGE)})
        )
        .notifications[0]
        .dedupe_key
    )
    via_pubsub = (
        parse_delivery(
            {}, b({"message": {"data": base64.b64encode(b(MESSAGE)).decode(), "messageId": "ps-1"}})
        )
        .notifications[0]
        .dedupe_key
    )
    assert direct == via_sns == via_pubsub


def test_notifications_about_other_resources_refresh_nothing() -> None:
    # commercetools sends a test notification about the subscription itself on creation.
    test_note = {
        **CHANGE,
        "notificationType": "ResourceCreated",
        "resource": {"typeId": "subscription", "id": "s"},
    }
    delivery = parse_delivery({}, b(test_note))
    assert len(delivery.notifications) == 1
    assert delivery.affected_resources() == set()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b(["x"]), "item 0: expected a commercetools notification object"),
        (b({"hello": "world"}), "not a recognised delivery"),
        (b({**MESSAGE, "id": None}), "commercetools message without 'id'"),
        (b({**CHANGE, "resource": {}}), "without 'resource.typeId'"),
        (
            b({"message": {"messageId": "9", "data": "%%%"}, "subscription": "s"}),
            "Pub/Sub message 9",
        ),
        (
            b({"Type": "Notification", "MessageId": "n1", "Message": {"a": 1}}),
            "SNS notification n1",
        ),
        (
            b({"specversion": "1.0", "id": "e1", "source": "/x"}),
            "CloudEvent e1: required attribute 'type'",
        ),
    ],
)
def test_bad_input_gets_an_error_naming_the_record_and_reason(body: bytes, expected: str) -> None:
    with pytest.raises(DeliveryError, match=expected.replace("(", r"\(").replace("'", "'")):
        parse_delivery({}, body)
