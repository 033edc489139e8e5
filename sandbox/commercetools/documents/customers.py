"""Customers: names, consent fields, addresses; some deleted, some with a changed email."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ctsync.sandbox.commercetools.documents.base import (
    CUSTOMER_GROUPS,
    CUSTOMER_TYPE_KEY,
    FIRST_NAMES,
    LAST_NAMES,
    LOYALTY_TIERS,
    PREFERRED_CHANNELS,
    STORES,
    Document,
    Scale,
    client,
    iso,
    seeded_rng,
    stable_id,
)


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: str
    email: str
    store_index: int
    first_name: str
    last_name: str
    created_at: datetime
    is_deleted: bool
    old_email: str | None


def customer_facts(scale: Scale, index: int) -> CustomerFacts:
    rng = seeded_rng(scale.seed, "customer", index)
    first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
    last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
    store_index = index % len(STORES)
    local = f"{first}.{last}".lower().replace(" ", "").replace("ü", "ue")
    email = f"{local}.{index}@example.com"
    if scale.duplicate_email_every and index > 0 and index % scale.duplicate_email_every == 0:
        previous = customer_facts(scale, index - 1)
        email = previous.email.upper()
        store_index = (previous.store_index + 1) % len(STORES)
    created = scale.now - timedelta(days=400) + timedelta(seconds=rng.randrange(0, 390 * 86400))
    is_deleted = bool(scale.deleted_customer_every) and index % scale.deleted_customer_every == 7
    old_email = None
    if scale.email_changed_every and index % scale.email_changed_every == 3:
        old_email = f"old.{index}@example.org"
    return CustomerFacts(
        stable_id("customer", index, scale.seed),
        email,
        store_index,
        first,
        last,
        created,
        is_deleted,
        old_email,
    )


def _custom_fields(index: int, opt_in_at: datetime) -> dict[str, Any]:
    """The ``ctsync-customer`` fields: six consent cases, SMS, phone, channel, loyalty."""
    fields: dict[str, Any] = {}
    consent_case = index % 6
    if consent_case in (0, 1, 2):
        fields["emailOptIn"] = True
        fields["emailOptInAt"] = iso(opt_in_at)
    if consent_case == 2:
        # Opted out after opting in, but the flag was never cleared by the shop front-end.
        fields["emailOptOutAt"] = iso(opt_in_at + timedelta(days=20))
    if consent_case == 3:
        fields["emailOptIn"] = False
        fields["emailOptOutAt"] = iso(opt_in_at)
    if consent_case == 4:
        # A flag without a recorded opt-in time: not a valid opt-in.
        fields["emailOptIn"] = True
    if index % 4 == 0:
        fields["smsOptIn"] = True
        fields["smsOptInAt"] = iso(opt_in_at)
    if index % 2 == 0:
        fields["phone"] = f"+4915{index:08d}"
        fields["preferredChannel"] = PREFERRED_CHANNELS[index % len(PREFERRED_CHANNELS)]
    if index % 7 == 0:
        fields["loyaltyTier"] = LOYALTY_TIERS[index % len(LOYALTY_TIERS)]
    return fields


def _address(index: int, facts: CustomerFacts, country: str, address_id: str) -> Document:
    return {
        "id": address_id,
        "key": "home",
        "firstName": facts.first_name,
        "lastName": facts.last_name,
        "streetName": "Main Street",
        "streetNumber": str(1 + index % 200),
        "postalCode": f"{10000 + index % 89999}",
        "city": "Springfield",
        "country": country,
        "email": facts.email,
    }


def customer_document(scale: Scale, index: int) -> Document:
    """Customer number ``index`` as the API returns it (also for deleted customers, whose
    documents only appear embedded in their CustomerCreated message)."""
    facts = customer_facts(scale, index)
    rng = seeded_rng(scale.seed, "customer-detail", index)
    store_key, country, locale, *_ = STORES[facts.store_index]
    address_id = f"addr{index:08d}"[-8:]
    fields = _custom_fields(index, facts.created_at + timedelta(minutes=5))
    group = CUSTOMER_GROUPS[index % len(CUSTOMER_GROUPS)][0]
    modified = facts.created_at + timedelta(
        days=rng.randrange(0, 10), seconds=rng.randrange(0, 86400)
    )
    document: Document = {
        "id": facts.customer_id,
        "version": 1 + rng.randrange(1, 9),
        "key": f"customer-{index:08d}",
        "customerNumber": f"C{index:08d}",
        "createdAt": iso(facts.created_at),
        "lastModifiedAt": iso(min(modified, scale.now)),
        "lastModifiedBy": client(),
        "createdBy": client(),
        "email": facts.email,
        "firstName": facts.first_name,
        "lastName": facts.last_name,
        "salutation": "",
        "addresses": [_address(index, facts, country, address_id)],
        "defaultShippingAddressId": address_id,
        "shippingAddressIds": [address_id],
        "defaultBillingAddressId": address_id,
        "billingAddressIds": [address_id],
        "isEmailVerified": index % 5 != 0,
        "customerGroup": {
            "typeId": "customer-group",
            "id": stable_id("customer-group", group, scale.seed),
        },
        "customerGroupAssignments": [
            {
                "customerGroup": {
                    "typeId": "customer-group",
                    "id": stable_id("customer-group", group, scale.seed),
                }
            }
        ],
        "stores": [{"typeId": "store", "key": store_key}],
        "locale": locale,
        "authenticationMode": "Password",
    }
    if index % 3 == 0:
        document["externalId"] = f"crm-{index:08d}"
    if index % 9 == 0:
        document["dateOfBirth"] = f"{1960 + index % 40}-{1 + index % 12:02d}-{1 + index % 28:02d}"
    if fields:
        document["custom"] = {
            "type": {"typeId": "type", "id": stable_id("type", CUSTOMER_TYPE_KEY, scale.seed)},
            "fields": fields,
        }
    return document


def customers(scale: Scale) -> Iterator[Document]:
    for index in range(scale.customers):
        if not customer_facts(scale, index).is_deleted:
            yield customer_document(scale, index)
