"""Reference data: stores, customer groups, custom types, the category tree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from ctsync.sandbox.commercetools.documents.base import (
    CATEGORIES,
    CUSTOMER_GROUPS,
    CUSTOMER_TYPE_KEY,
    STORE_TYPE_KEY,
    STORES,
    Document,
    Scale,
    iso,
    stable_id,
)


def stores(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=800)
    for index, (key, country, locale, currency, _digits, _tax, channel) in enumerate(STORES):
        yield {
            "id": stable_id("store", key, scale.seed),
            "version": 1,
            "key": key,
            "name": {"en": f"{country} online store", locale: f"{country} store"},
            "languages": [locale],
            "countries": [{"code": country}],
            "distributionChannels": [
                {"typeId": "channel", "id": stable_id("channel", channel, scale.seed)}
            ],
            "supplyChannels": [],
            "productSelections": [],
            # Stores have no currency: projects keep the market's on a custom type.
            "custom": {
                "type": {"typeId": "type", "id": stable_id("type", STORE_TYPE_KEY, scale.seed)},
                "fields": {"currency": currency, "country": country, "defaultLocale": locale},
            },
            "createdAt": iso(created + timedelta(minutes=index)),
            "lastModifiedAt": iso(created + timedelta(minutes=index)),
        }


def customer_groups(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=800)
    for index, (key, name) in enumerate(CUSTOMER_GROUPS):
        yield {
            "id": stable_id("customer-group", key, scale.seed),
            "version": 1,
            "key": key,
            "name": name,
            "createdAt": iso(created + timedelta(minutes=index)),
            "lastModifiedAt": iso(created + timedelta(minutes=index)),
        }


def _field(name: str, type_name: str, label: str) -> Document:
    return {
        "name": name,
        "label": {"en": label},
        "required": False,
        "type": {"name": type_name},
        "inputHint": "SingleLine",
    }


def types(scale: Scale) -> Iterator[Document]:
    yield _type(
        scale,
        CUSTOMER_TYPE_KEY,
        "Customer consent and loyalty",
        "customer",
        [
            _field("emailOptIn", "Boolean", "Email marketing opt-in"),
            _field("emailOptInAt", "DateTime", "Email opt-in time"),
            _field("emailOptOutAt", "DateTime", "Email opt-out time"),
            _field("smsOptIn", "Boolean", "SMS marketing opt-in"),
            _field("smsOptInAt", "DateTime", "SMS opt-in time"),
            _field("smsOptOutAt", "DateTime", "SMS opt-out time"),
            _field("phone", "String", "Mobile phone (E.164)"),
            _field("loyaltyTier", "Enum", "Loyalty tier"),
            _field("preferredChannel", "String", "Preferred contact channel"),
        ],
    )
    yield _type(
        scale,
        STORE_TYPE_KEY,
        "Store market settings",
        "store",
        [
            _field("currency", "String", "Market currency (ISO 4217)"),
            _field("country", "String", "Market country (ISO 3166-1)"),
            _field("defaultLocale", "String", "Default locale"),
        ],
    )


def _type(
    scale: Scale, key: str, name: str, resource_type: str, fields: list[Document]
) -> Document:
    created = scale.now - timedelta(days=800)
    return {
        "id": stable_id("type", key, scale.seed),
        "version": 1,
        "key": key,
        "name": {"en": name},
        "resourceTypeIds": [resource_type],
        "fieldDefinitions": fields,
        "createdAt": iso(created),
        "lastModifiedAt": iso(created),
    }


def categories(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=800)
    by_key = {key: (parent, name) for key, parent, name in CATEGORIES}
    for index, (key, parent, name) in enumerate(CATEGORIES):
        ancestors: list[str] = []
        cursor = parent
        while cursor is not None:
            ancestors.insert(0, cursor)
            cursor = by_key[cursor][0]
        document: Document = {
            "id": stable_id("category", key, scale.seed),
            "version": 1,
            "key": key,
            "name": {"en": name, "de-DE": name},
            "slug": {"en": key, "de-DE": key},
            "ancestors": [
                {"typeId": "category", "id": stable_id("category", a, scale.seed)}
                for a in ancestors
            ],
            "orderHint": f"0.{index + 1}",
            "createdAt": iso(created + timedelta(minutes=index)),
            "lastModifiedAt": iso(created + timedelta(minutes=index)),
        }
        if parent is not None:
            document["parent"] = {
                "typeId": "category",
                "id": stable_id("category", parent, scale.seed),
            }
        yield document
