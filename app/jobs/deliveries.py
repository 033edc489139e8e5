"""Parse commercetools subscription deliveries in the transports users already run.

commercetools has no plain webhook destination: HTTP deliveries arrive wrapped by the queue
that forwards them. Supported here:

* Google Pub/Sub push (`{"message": {"data": <base64>, "messageId": ...}, "subscription": ...}`),
  including the CloudEvents binary binding in message attributes (`ce-*`);
* AWS SNS over HTTP(S) (`Type: Notification | SubscriptionConfirmation`, `Message` is a string);
* AWS EventBridge API destinations (the EventBridge event, or just its `detail` after an
  input transformer);
* CloudEvents over HTTP: structured (`application/cloudevents+json`), batched
  (`application/cloudevents-batch+json`) and binary (`ce-*` headers, body = data);
* the bare commercetools payload (Platform format), alone or as a JSON array.

Deliveries are at-least-once and unordered, so every notification gets a de-duplication key
that is the same whichever transport carried it: the commercetools message id for messages,
and (resource type, id, version, notification type) for change notifications.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# commercetools resource type ids → the ingest resources (raw tables) that hold them.
RESOURCE_TYPE_TO_INGEST: dict[str, str] = {
    "customer": "customers",
    "order": "orders",
    "cart": "carts",
    "product": "products",
    "category": "categories",
    "customer-group": "customer_groups",
    "store": "stores",
    "type": "types",
}

CHANGE_NOTIFICATIONS = {"ResourceCreated", "ResourceUpdated", "ResourceDeleted"}
SNS_TYPES = {"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"}


class DeliveryError(ValueError):
    """A request body that is not a commercetools delivery in any supported format."""


@dataclass(frozen=True)
class Notification:
    """One commercetools notification (a message or a resource change)."""

    dedupe_key: str
    kind: str  # "Message", "ResourceCreated", "ResourceUpdated", "ResourceDeleted", "Event"
    message_type: str | None
    resource_type: str | None
    resource_id: str | None
    changed_at: str | None

    @property
    def ingest_resources(self) -> set[str]:
        """Ingest resources to refresh; deletions and consent changes live in `messages` too."""
        resource = RESOURCE_TYPE_TO_INGEST.get(self.resource_type or "")
        return {resource, "messages"} if resource else set()


@dataclass
class Delivery:
    """What one HTTP request carried."""

    transport: str  # "pubsub", "sns", "eventbridge", "cloudevents", "platform"
    notifications: list[Notification] = field(default_factory=list)
    sns_subscribe_url: str | None = None
    sns_message: dict[str, Any] | None = None  # the signed SNS document, for verification

    def affected_resources(self) -> set[str]:
        return set().union(*(n.ingest_resources for n in self.notifications))


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """Parse one request. `headers` keys must be lower-case (Starlette's are)."""
    if "ce-specversion" in headers:
        return Delivery("cloudevents", [_binary_cloudevent(headers, body)])
    document = _load_json(body, "request body")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/cloudevents-batch+json":
        if not isinstance(document, list):
            raise DeliveryError("a CloudEvents batch must be a JSON array of events")
        return Delivery(
            "cloudevents", [_structured_cloudevent(item, i) for i, item in enumerate(document)]
        )
    if isinstance(document, list):
        notifications = [_payload(item, f"item {i}", None) for i, item in enumerate(document)]
        return Delivery("platform", notifications)
    if not isinstance(document, dict):
        raise DeliveryError(f"expected a JSON object, got {type(document).__name__}")
    if isinstance(document.get("message"), dict) and (
        "subscription" in document or "data" in document["message"]
    ):
        return _pubsub(document)
    if (
        isinstance(document.get("Type"), str)
        and document["Type"] in SNS_TYPES
        and ("MessageId" in document)
    ):
        return _sns(document)
    if "detail-type" in document and "detail" in document:
        return _eventbridge(document)
    if "specversion" in document:
        return Delivery("cloudevents", [_structured_cloudevent(document, 0)])
    return Delivery("platform", [_payload(document, "payload", None)])


def _load_json(raw: bytes | str, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"{what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise DeliveryError(f"{what} is nested too deeply") from None


def _text(value: Any, what: str, *, required: bool = False) -> str | None:
    """A string attribute (ids may arrive as numbers); anything else is a malformed delivery."""
    if value is None or value == "":
        if required:
            raise DeliveryError(f"{what} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DeliveryError(f"{what} must be a string, not {type(value).__name__}")
    return str(value)


def _pubsub(document: dict[str, Any]) -> Delivery:
    message = document["message"]
    message_id = _text(
        message.get("messageId") or message.get("message_id"), "Pub/Sub 'message.messageId'"
    )
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise DeliveryError(f"Pub/Sub message {message_id}: 'message.attributes' must be an object")
    raw = message.get("data")
    if not isinstance(raw, str):
        raise DeliveryError(f"Pub/Sub message {message_id}: 'message.data' is missing")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise DeliveryError(f"Pub/Sub message {message_id}: 'message.data' is not base64") from None
    if isinstance(attributes, dict) and "ce-specversion" in attributes:
        # commercetools CloudEvents over Pub/Sub use the binary binding: ce-* attributes.
        return Delivery("pubsub", [_binary_cloudevent(attributes, data)])
    payload = _load_json(data, f"Pub/Sub message {message_id} data")
    return Delivery("pubsub", [_any_payload(payload, f"Pub/Sub message {message_id}", message_id)])


def _sns(document: dict[str, Any]) -> Delivery:
    message_id = _text(document["MessageId"], "SNS 'MessageId'", required=True)
    if document["Type"] == "SubscriptionConfirmation":
        url = document.get("SubscribeURL")
        if not isinstance(url, str):
            raise DeliveryError(f"SNS subscription confirmation {message_id} has no SubscribeURL")
        return Delivery("sns", [], sns_subscribe_url=url, sns_message=document)
    if document["Type"] == "UnsubscribeConfirmation":
        return Delivery("sns", [], sns_message=document)
    raw = document.get("Message")
    if not isinstance(raw, str):
        raise DeliveryError(f"SNS notification {message_id}: 'Message' must be a JSON string")
    payload = _load_json(raw, f"SNS notification {message_id} Message")
    return Delivery(
        "sns",
        [_any_payload(payload, f"SNS notification {message_id}", message_id)],
        sns_message=document,
    )


def _eventbridge(document: dict[str, Any]) -> Delivery:
    event_id = _text(document.get("id"), "EventBridge 'id'")
    detail = document["detail"]
    if not isinstance(detail, dict):
        raise DeliveryError(f"EventBridge event {event_id}: 'detail' must be an object")
    return Delivery(
        "eventbridge", [_any_payload(detail, f"EventBridge event {event_id}", event_id)]
    )


def _any_payload(payload: Any, where: str, transport_id: str | None) -> Notification:
    if isinstance(payload, dict) and "specversion" in payload:
        return _structured_cloudevent(payload, 0)
    return _payload(payload, where, transport_id)


def _structured_cloudevent(event: Any, index: int) -> Notification:
    if not isinstance(event, dict):
        raise DeliveryError(f"CloudEvent {index}: expected a JSON object")
    label = f"CloudEvent {index}"
    event_id = _text(event.get("id"), f"{label}: required attribute 'id'", required=True)
    label = f"CloudEvent {event_id}"
    event_type = _text(event.get("type"), f"{label}: required attribute 'type'", required=True)
    source = _text(event.get("source"), f"{label}: required attribute 'source'", required=True)
    data = event.get("data")
    if data is None and "data_base64" in event:
        encoded = event["data_base64"]
        if not isinstance(encoded, str):
            raise DeliveryError(f"{label}: 'data_base64' must be a base64 string")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise DeliveryError(f"{label}: 'data_base64' is not base64") from None
        data = _load_json(decoded, f"{label} data_base64")
    assert event_id is not None and event_type is not None and source is not None
    return _cloudevent(
        event_id,
        event_type,
        source,
        _text(event.get("subject"), f"{label}: 'subject'"),
        _text(event.get("time"), f"{label}: 'time'"),
        data,
    )


def _binary_cloudevent(attributes: Mapping[str, Any], body: bytes) -> Notification:
    values: dict[str, str | None] = {}
    for name in ("ce-id", "ce-type", "ce-source", "ce-subject", "ce-time"):
        values[name] = _text(
            attributes.get(name),
            f"CloudEvent (binary mode): attribute '{name}'",
            required=name in ("ce-id", "ce-type", "ce-source"),
        )
    event_id, event_type, source = values["ce-id"], values["ce-type"], values["ce-source"]
    assert event_id is not None and event_type is not None and source is not None
    data = _load_json(body, f"CloudEvent {event_id} body") if body.strip() else None
    return _cloudevent(event_id, event_type, source, values["ce-subject"], values["ce-time"], data)


def _cloudevent(
    event_id: str, event_type: str, source: str, subject: str | None, time: str | None, data: Any
) -> Notification:
    # commercetools CloudEvent types: com.commercetools.<typeId>.message.<Type> or
    # com.commercetools.<typeId>.change.<ResourceCreated|...>.
    parts = event_type.split(".")
    type_id = parts[2] if len(parts) >= 5 and parts[:2] == ["com", "commercetools"] else None
    if isinstance(data, dict) and ("notificationType" in data or "resource" in data):
        inner = _payload(data, f"CloudEvent {event_id} data", f"{source}#{event_id}")
        return Notification(
            dedupe_key=inner.dedupe_key,
            kind=inner.kind,
            message_type=inner.message_type,
            resource_type=inner.resource_type or type_id,
            resource_id=inner.resource_id or subject,
            changed_at=inner.changed_at or time,
        )
    kind = "Message" if ".message." in event_type else (parts[-1] if type_id else "Event")
    return Notification(
        dedupe_key=f"cloudevent:{source}#{event_id}",
        kind=kind,
        message_type=parts[-1] if kind == "Message" else None,
        resource_type=type_id,
        resource_id=subject,
        changed_at=time,
    )


def _payload(payload: Any, where: str, transport_id: str | None) -> Notification:
    """A commercetools Platform-format payload (message, change or event)."""
    if not isinstance(payload, dict):
        raise DeliveryError(f"{where}: expected a commercetools notification object")
    kind = payload.get("notificationType")
    if kind is None and "resource" in payload and "type" in payload:
        kind = "Message"  # a message exactly as the /messages endpoint returns it
    if not isinstance(kind, str):
        keys = ", ".join(sorted(str(k) for k in payload)[:8]) or "none"
        raise DeliveryError(
            f"{where}: not a recognised delivery (expected a Pub/Sub push envelope, SNS "
            "notification, EventBridge event, CloudEvent or commercetools notification; "
            f"keys: {keys})"
        )
    found = payload.get("resource")
    resource: dict[str, Any] = found if isinstance(found, dict) else {}
    type_id = _text(resource.get("typeId"), f"{where}: 'resource.typeId'")
    resource_id = _text(resource.get("id"), f"{where}: 'resource.id'")
    message_type = _text(payload.get("type"), f"{where}: 'type'")
    if kind == "Message":
        message_id = _text(payload.get("id"), f"{where}: commercetools message 'id'")
        if not message_id:
            raise DeliveryError(f"{where}: commercetools message without 'id'")
        return Notification(
            dedupe_key=f"message:{message_id}",
            kind=kind,
            message_type=message_type,
            resource_type=type_id,
            resource_id=resource_id,
            changed_at=_text(payload.get("createdAt"), f"{where}: 'createdAt'"),
        )
    if kind in CHANGE_NOTIFICATIONS:
        if not type_id or not resource_id:
            raise DeliveryError(
                f"{where}: {kind} notification without 'resource.typeId'/'resource.id'"
            )
        version = _text(payload.get("version"), f"{where}: 'version'")
        return Notification(
            dedupe_key=f"{kind}:{type_id}:{resource_id}:{version}",
            kind=kind,
            message_type=None,
            resource_type=type_id,
            resource_id=resource_id,
            changed_at=_text(payload.get("modifiedAt"), f"{where}: 'modifiedAt'"),
        )
    event_id = _text(payload.get("id"), f"{where}: 'id'") or transport_id
    if not event_id:
        raise DeliveryError(f"{where}: {kind} notification without an id to de-duplicate on")
    return Notification(
        dedupe_key=f"{kind.lower()}:{event_id}",
        kind=kind,
        message_type=message_type,
        resource_type=type_id,
        resource_id=resource_id,
        changed_at=_text(payload.get("createdAt"), f"{where}: 'createdAt'"),
    )
