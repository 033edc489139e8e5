"""Deterministic commercetools-shaped JSON documents, at any scale, as streams.

Every document is a pure function of ``(seed, kind, index)``: the same arguments give the
same bytes, and generating order 2 999 999 does not require generating the orders before
it. That lets tests build a small raw warehouse and the transform benchmark a large one
from the same shapes, and lets orders reference customers and products without holding
them in memory.

Shapes follow the commercetools HTTP API as documented in the TypeScript SDK (Customer,
Order, Cart, Product, Category, Store, CustomerGroup, Type, Message): camelCase names,
``TypedMoney`` as ``{type, currencyCode, centAmount, fractionDigits}``, localized strings
as ``{locale: text}`` maps, references as ``{typeId, id}`` and store key references as
``{typeId: "store", key}``. Customer passwords are never generated (ingest drops them).

Products are ProductProjections (``/product-projections?staged=false``), as ingest reads them.
Load everything into ``raw_commercetools`` with :func:`load_raw`, which goes through the ingest
helper so the raw schema is exactly the one a real ingest produces.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Document = dict[str, Any]

_NAMESPACE = uuid.UUID("6f1c1d3e-2b7a-4c55-9a0e-7d9b1f0c2a11")

# Markets: store key, country, locale, currency, fraction digits, tax rate, distribution channel.
STORES: tuple[tuple[str, str, str, str, int, float, str], ...] = (
    ("de-store", "DE", "de-DE", "EUR", 2, 0.19, "web-de"),
    ("nl-store", "NL", "nl-NL", "EUR", 2, 0.21, "web-nl"),
    ("us-store", "US", "en-US", "USD", 2, 0.0, "web-us"),
    ("jp-store", "JP", "ja-JP", "JPY", 0, 0.10, "web-jp"),
)
CUSTOMER_GROUPS: tuple[tuple[str, str], ...] = (
    ("retail", "Retail"),
    ("vip", "VIP"),
    ("wholesale", "Wholesale"),
)
# Category tree: key, parent key, English name.
CATEGORIES: tuple[tuple[str, str | None, str], ...] = (
    ("women", None, "Women"),
    ("men", None, "Men"),
    ("home", None, "Home"),
    ("women-clothing", "women", "Clothing"),
    ("women-shoes", "women", "Shoes"),
    ("men-clothing", "men", "Clothing"),
    ("men-shoes", "men", "Shoes"),
    ("women-dresses", "women-clothing", "Dresses"),
    ("men-shirts", "men-clothing", "Shirts"),
    ("home-kitchen", "home", "Kitchen"),
    ("home-decor", "home", "Decor"),
)
LEAF_CATEGORIES = (
    "women-dresses",
    "women-shoes",
    "men-shirts",
    "men-shoes",
    "home-kitchen",
    "home-decor",
)
CUSTOMER_TYPE_KEY = "ctsync-customer"
STORE_TYPE_KEY = "ctsync-store"
PREFERRED_CHANNELS = ("email", "sms", "push", "none")
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Lars",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Yuki",
)
LAST_NAMES = (
    "de Vries",
    "Müller",
    "Smith",
    "Tanaka",
    "Jansen",
    "Schmidt",
    "Brown",
    "Sato",
    "Bakker",
    "Fischer",
    "Miller",
    "Suzuki",
)
PRODUCT_WORDS = ("Linen", "Cotton", "Wool", "Leather", "Canvas", "Silk", "Oak", "Ceramic")
PRODUCT_NOUNS = {
    "women-dresses": ("Dress", "Kleid", "Jurk", "ドレス"),
    "women-shoes": ("Pump", "Pumps", "Pump", "パンプス"),
    "men-shirts": ("Shirt", "Hemd", "Overhemd", "シャツ"),
    "men-shoes": ("Sneaker", "Sneaker", "Sneaker", "スニーカー"),
    "home-kitchen": ("Mug", "Becher", "Mok", "マグ"),
    "home-decor": ("Vase", "Vase", "Vaas", "花瓶"),
}
ORDER_STATES = ("Open", "Confirmed", "Complete", "Complete", "Complete", "Cancelled")


def stable_id(kind: str, key: str | int, seed: int = 0) -> str:
    """A UUID that depends only on the kind, key and seed."""
    return str(uuid.uuid5(_NAMESPACE, f"{seed}:{kind}:{key}"))


def _rng(seed: int, kind: str, index: int) -> random.Random:
    digest = hashlib.blake2b(f"{seed}:{kind}:{index}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _money(cents: int, currency: str, digits: int) -> Document:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cents,
        "fractionDigits": digits,
    }


def _client() -> Document:
    return {"clientId": "ctsync-sandbox-client", "isPlatformClient": False}


@dataclass(frozen=True)
class Scale:
    """How many documents of each kind to generate and the clock they are generated against."""

    customers: int = 100
    orders: int = 300
    carts: int = 40
    products: int = 24
    seed: int = 0
    # Everything happens in the 400 days before `now`; carts in the last 10 days.
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    # Every Nth customer reuses (with other casing) the email of the customer before it,
    # in another store: commercetools allows that for store-scoped customers.
    duplicate_email_every: int = 25
    # Every Nth order is a guest checkout (no customerId).
    guest_order_every: int = 10
    # Every Nth customer has been deleted (absent from customers, present as a message).
    deleted_customer_every: int = 40
    # Every Nth customer changed email (a CustomerEmailChanged message).
    email_changed_every: int = 30


# ---------------------------------------------------------------- reference data


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
            "createdAt": _iso(created + timedelta(minutes=index)),
            "lastModifiedAt": _iso(created + timedelta(minutes=index)),
        }


def customer_groups(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=800)
    for index, (key, name) in enumerate(CUSTOMER_GROUPS):
        yield {
            "id": stable_id("customer-group", key, scale.seed),
            "version": 1,
            "key": key,
            "name": name,
            "createdAt": _iso(created + timedelta(minutes=index)),
            "lastModifiedAt": _iso(created + timedelta(minutes=index)),
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
    created = scale.now - timedelta(days=800)
    yield {
        "id": stable_id("type", CUSTOMER_TYPE_KEY, scale.seed),
        "version": 1,
        "key": CUSTOMER_TYPE_KEY,
        "name": {"en": "Customer consent and loyalty"},
        "resourceTypeIds": ["customer"],
        "fieldDefinitions": [
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
        "createdAt": _iso(created),
        "lastModifiedAt": _iso(created),
    }
    yield {
        "id": stable_id("type", STORE_TYPE_KEY, scale.seed),
        "version": 1,
        "key": STORE_TYPE_KEY,
        "name": {"en": "Store market settings"},
        "resourceTypeIds": ["store"],
        "fieldDefinitions": [
            _field("currency", "String", "Market currency (ISO 4217)"),
            _field("country", "String", "Market country (ISO 3166-1)"),
            _field("defaultLocale", "String", "Default locale"),
        ],
        "createdAt": _iso(created),
        "lastModifiedAt": _iso(created),
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
            "createdAt": _iso(created + timedelta(minutes=index)),
            "lastModifiedAt": _iso(created + timedelta(minutes=index)),
        }
        if parent is not None:
            document["parent"] = {
                "typeId": "category",
                "id": stable_id("category", parent, scale.seed),
            }
        yield document


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class _ProductFacts:
    product_id: str
    key: str
    category: str
    names: dict[str, str]
    variants: tuple[tuple[int, str, dict[str, int]], ...]  # (variant id, sku, {currency: cents})


def _product_facts(scale: Scale, index: int) -> _ProductFacts:
    rng = _rng(scale.seed, "product", index)
    category = LEAF_CATEGORIES[index % len(LEAF_CATEGORIES)]
    word = PRODUCT_WORDS[rng.randrange(len(PRODUCT_WORDS))]
    nouns = PRODUCT_NOUNS[category]
    names = {
        "en": f"{word} {nouns[0]} {index}",
        "de-DE": f"{word} {nouns[1]} {index}",
        "nl-NL": f"{word} {nouns[2]} {index}",
        "ja-JP": f"{nouns[3]} {index}",
    }
    base_eur = rng.randrange(900, 15000)
    variants = []
    for variant_id, size in enumerate(("S", "M", "L")[: 2 + index % 2], start=1):
        cents = base_eur + (variant_id - 1) * 100
        prices = {"EUR": cents, "USD": cents + cents // 10, "JPY": cents * 16 // 10}
        variants.append((variant_id, f"SKU-{index:05d}-{size}", prices))
    return _ProductFacts(
        stable_id("product", index, scale.seed),
        f"product-{index:05d}",
        category,
        names,
        tuple(variants),
    )


def _variant_document(
    scale: Scale, facts: _ProductFacts, variant: tuple[int, str, dict[str, int]]
) -> Document:
    variant_id, sku, prices = variant
    return {
        "id": variant_id,
        "sku": sku,
        "key": sku.lower(),
        "prices": [
            {
                "id": stable_id("price", f"{sku}-{currency}", scale.seed),
                "value": _money(cents, currency, 0 if currency == "JPY" else 2),
            }
            for currency, cents in prices.items()
        ],
        "images": [
            {
                "url": f"https://images.example.com/{sku.lower()}.jpg",
                "dimensions": {"w": 800, "h": 800},
            }
        ],
        "attributes": [{"name": "size", "value": sku.rsplit("-", 1)[1]}],
        "assets": [],
    }


def products(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=700)
    for index in range(scale.products):
        facts = _product_facts(scale, index)
        slug = {locale: name.lower().replace(" ", "-") for locale, name in facts.names.items()}
        data = {
            "name": facts.names,
            "description": {"en": f"{facts.names['en']}, made to last."},
            "categories": [
                {"typeId": "category", "id": stable_id("category", facts.category, scale.seed)}
            ],
            "categoryOrderHints": {},
            "slug": slug,
            "masterVariant": _variant_document(scale, facts, facts.variants[0]),
            "variants": [_variant_document(scale, facts, v) for v in facts.variants[1:]],
            "searchKeywords": {},
            "attributes": [],
        }
        # Ingest reads /product-projections?staged=false: the published current data,
        # flattened from masterData.current. Unpublished products are not returned at all.
        if index % 12 == 11:
            continue
        yield {
            "id": facts.product_id,
            "version": 3,
            "key": facts.key,
            "productType": {
                "typeId": "product-type",
                "id": stable_id("product-type", "apparel", scale.seed),
            },
            **data,
            "hasStagedChanges": False,
            "published": True,
            "createdAt": _iso(created + timedelta(hours=index)),
            "lastModifiedAt": _iso(created + timedelta(hours=index, days=30)),
        }


# ---------------------------------------------------------------- customers


@dataclass(frozen=True)
class _CustomerFacts:
    customer_id: str
    email: str
    store_index: int
    first_name: str
    last_name: str
    created_at: datetime
    is_deleted: bool
    old_email: str | None


def _customer_facts(scale: Scale, index: int) -> _CustomerFacts:
    rng = _rng(scale.seed, "customer", index)
    first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
    last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
    store_index = index % len(STORES)
    local = f"{first}.{last}".lower().replace(" ", "").replace("ü", "ue")
    email = f"{local}.{index}@example.com"
    if scale.duplicate_email_every and index > 0 and index % scale.duplicate_email_every == 0:
        previous = _customer_facts(scale, index - 1)
        email = previous.email.upper()
        store_index = (previous.store_index + 1) % len(STORES)
    created = scale.now - timedelta(days=400) + timedelta(seconds=rng.randrange(0, 390 * 86400))
    is_deleted = bool(scale.deleted_customer_every) and index % scale.deleted_customer_every == 7
    old_email = None
    if scale.email_changed_every and index % scale.email_changed_every == 3:
        old_email = f"old.{index}@example.org"
    return _CustomerFacts(
        stable_id("customer", index, scale.seed),
        email,
        store_index,
        first,
        last,
        created,
        is_deleted,
        old_email,
    )


def customer_document(scale: Scale, index: int) -> Document:
    """Customer number ``index`` as the API returns it (also for deleted customers, whose
    documents only appear embedded in their CustomerCreated message)."""
    facts = _customer_facts(scale, index)
    rng = _rng(scale.seed, "customer-detail", index)
    store_key, country, locale, *_ = STORES[facts.store_index]
    address_id = f"addr{index:08d}"[-8:]
    fields: dict[str, Any] = {}
    consent_case = index % 6
    opt_in_at = facts.created_at + timedelta(minutes=5)
    if consent_case in (0, 1, 2):
        fields["emailOptIn"] = True
        fields["emailOptInAt"] = _iso(opt_in_at)
    if consent_case == 2:
        # Opted out after opting in, but the flag was never cleared by the shop front-end.
        fields["emailOptOutAt"] = _iso(opt_in_at + timedelta(days=20))
    if consent_case == 3:
        fields["emailOptIn"] = False
        fields["emailOptOutAt"] = _iso(opt_in_at)
    if consent_case == 4:
        # A flag without a recorded opt-in time: not a valid opt-in.
        fields["emailOptIn"] = True
    if index % 4 == 0:
        fields["smsOptIn"] = True
        fields["smsOptInAt"] = _iso(opt_in_at)
    if index % 2 == 0:
        fields["phone"] = f"+4915{index:08d}"
        fields["preferredChannel"] = PREFERRED_CHANNELS[index % len(PREFERRED_CHANNELS)]
    if index % 7 == 0:
        fields["loyaltyTier"] = LOYALTY_TIERS[index % len(LOYALTY_TIERS)]
    group = CUSTOMER_GROUPS[index % len(CUSTOMER_GROUPS)][0]
    modified = facts.created_at + timedelta(
        days=rng.randrange(0, 10), seconds=rng.randrange(0, 86400)
    )
    document: Document = {
        "id": facts.customer_id,
        "version": 1 + rng.randrange(1, 9),
        "key": f"customer-{index:08d}",
        "customerNumber": f"C{index:08d}",
        "createdAt": _iso(facts.created_at),
        "lastModifiedAt": _iso(min(modified, scale.now)),
        "lastModifiedBy": _client(),
        "createdBy": _client(),
        "email": facts.email,
        "firstName": facts.first_name,
        "lastName": facts.last_name,
        "salutation": "",
        "addresses": [
            {
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
            },
        ],
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
        if not _customer_facts(scale, index).is_deleted:
            yield customer_document(scale, index)


# ---------------------------------------------------------------- orders and carts


def _line_items(
    scale: Scale,
    rng: random.Random,
    store: tuple[str, str, str, str, int, float, str],
    kind: str,
    owner_id: str,
    added_at: datetime,
    with_state: bool,
) -> list[Document]:
    _key, country, _locale, currency, digits, tax, _channel = store
    lines = []
    for position in range(1 + rng.randrange(3)):
        facts = _product_facts(scale, rng.randrange(scale.products))
        variant = facts.variants[rng.randrange(len(facts.variants))]
        unit = variant[2][currency]
        quantity = 1 + rng.randrange(3)
        discount = unit // 10 if rng.random() < 0.2 else 0
        total = (unit - discount) * quantity
        net = round(total / (1 + tax))
        line: Document = {
            "id": stable_id(f"{kind}-line", f"{owner_id}-{position}", scale.seed),
            "productId": facts.product_id,
            "productKey": facts.key,
            "name": facts.names,
            "productSlug": {
                loc: name.lower().replace(" ", "-") for loc, name in facts.names.items()
            },
            "productType": {
                "typeId": "product-type",
                "id": stable_id("product-type", "apparel", scale.seed),
            },
            "variant": _variant_document(scale, facts, variant),
            "price": {
                "id": stable_id("price", f"{variant[1]}-{currency}", scale.seed),
                "value": _money(unit, currency, digits),
                "country": country,
            },
            "quantity": quantity,
            "discountedPricePerQuantity": [],
            "taxRate": {
                "name": f"{round(tax * 100)}% VAT",
                "amount": tax,
                "includedInPrice": True,
                "country": country,
                "subRates": [],
            },
            "totalPrice": _money(total, currency, digits),
            "taxedPrice": {
                "totalNet": _money(net, currency, digits),
                "totalGross": _money(total, currency, digits),
                "totalTax": _money(total - net, currency, digits),
                "taxPortions": [],
            },
            "taxedPricePortions": [],
            "perMethodTaxRate": [],
            "state": [],
            "priceMode": "Platform",
            "lineItemMode": "Standard",
            "addedAt": _iso(added_at),
            "lastModifiedAt": _iso(added_at),
        }
        if with_state:
            line["state"] = [
                {
                    "quantity": quantity,
                    "state": {"typeId": "state", "id": stable_id("state", "initial", scale.seed)},
                }
            ]
        if discount:
            line["discountedPricePerQuantity"] = [
                {
                    "quantity": quantity,
                    "discountedPrice": {
                        "value": _money(unit - discount, currency, digits),
                        "includedDiscounts": [
                            {
                                "discount": {
                                    "typeId": "cart-discount",
                                    "id": stable_id("discount", "ten", scale.seed),
                                },
                                "discountedAmount": _money(discount, currency, digits),
                            }
                        ],
                    },
                }
            ]
        lines.append(line)
    return lines


def _totals(
    lines: list[Document], shipping: int, store: tuple[str, str, str, str, int, float, str]
) -> Document:
    _key, _country, _locale, currency, digits, tax, _channel = store
    gross = sum(line["totalPrice"]["centAmount"] for line in lines) + shipping
    net = sum(line["taxedPrice"]["totalNet"]["centAmount"] for line in lines) + round(
        shipping / (1 + tax)
    )
    return {
        "totalPrice": _money(gross, currency, digits),
        "taxedPrice": {
            "totalNet": _money(net, currency, digits),
            "totalGross": _money(gross, currency, digits),
            "totalTax": _money(gross - net, currency, digits),
            "taxPortions": [],
        },
    }


def _order_owner(
    scale: Scale, rng: random.Random, index: int
) -> tuple[_CustomerFacts | None, str, int]:
    """(customer or None for a guest, email, store index) of an order or cart."""
    if scale.guest_order_every and index % scale.guest_order_every == 5:
        store_index = rng.randrange(len(STORES))
        return None, f"guest.{index}@example.net", store_index
    customer = _customer_facts(scale, rng.randrange(scale.customers))
    return customer, customer.email, customer.store_index


def order_document(scale: Scale, index: int) -> Document:
    """Order number ``index`` as the API returns it, without generating the others."""
    rng = _rng(scale.seed, "order", index)
    customer, email, store_index = _order_owner(scale, rng, index)
    store = STORES[store_index]
    key, country, locale, currency, digits, tax, _channel = store
    order_id = stable_id("order", index, scale.seed)
    earliest = customer.created_at if customer else scale.now - timedelta(days=400)
    span = max(1, int((scale.now - earliest).total_seconds()) - 3600)
    created = earliest + timedelta(seconds=rng.randrange(span))
    lines = _line_items(scale, rng, store, "order", order_id, created - timedelta(minutes=7), True)
    shipping = 0 if currency == "JPY" and rng.random() < 0.5 else (500 if digits else 800)
    state = ORDER_STATES[rng.randrange(len(ORDER_STATES))]
    shipment = {
        "Open": "Pending",
        "Confirmed": "Ready",
        "Complete": "Delivered",
        "Cancelled": "Canceled",
    }[state]
    if state == "Confirmed" and rng.random() < 0.5:
        shipment = "Shipped"
    modified = min(created + timedelta(days=rng.randrange(0, 5), minutes=1), scale.now)
    address = {
        "firstName": customer.first_name if customer else "Guest",
        "lastName": customer.last_name if customer else "Shopper",
        "streetName": "Main Street",
        "city": "Springfield",
        "country": country,
        "email": email,
    }
    document: Document = {
        "id": order_id,
        "version": 2 + rng.randrange(8),
        "orderNumber": f"{country}-{index:09d}",
        "customerEmail": email,
        "store": {"typeId": "store", "key": key},
        "lineItems": lines,
        "customLineItems": [],
        **_totals(lines, shipping, store),
        "taxMode": "Platform",
        "taxRoundingMode": "HalfEven",
        "taxCalculationMode": "LineItemLevel",
        "inventoryMode": "None",
        "shippingMode": "Single",
        "shippingAddress": address,
        "billingAddress": address,
        "shippingInfo": {
            "shippingMethodName": f"Standard {country}",
            "price": _money(shipping, currency, digits),
            "shippingRate": {"price": _money(shipping, currency, digits), "tiers": []},
            "shippingMethod": {
                "typeId": "shipping-method",
                "id": stable_id("shipping", country, scale.seed),
            },
            "deliveries": [],
            "shippingMethodState": "MatchesCart",
        },
        "shipping": [],
        "discountCodes": [],
        "directDiscounts": [],
        "refusedGifts": [],
        "country": country,
        "locale": locale,
        "origin": "Customer",
        "cart": {"typeId": "cart", "id": stable_id("ordered-cart", index, scale.seed)},
        "orderState": state,
        "shipmentState": shipment,
        "paymentState": "Pending" if state == "Open" else "Paid",
        "syncInfo": [],
        "returnInfo": [],
        "createdAt": _iso(created),
        "lastModifiedAt": _iso(modified),
        "lastModifiedBy": _client(),
        "createdBy": _client(),
    }
    if customer is None:
        document["anonymousId"] = stable_id("anonymous", index, scale.seed)
    else:
        document["customerId"] = customer.customer_id
        document["customerGroup"] = {
            "typeId": "customer-group",
            "id": stable_id("customer-group", CUSTOMER_GROUPS[0][0], scale.seed),
        }
    if state == "Complete" and index % 8 == 0:
        line = lines[0]
        returned_at = _iso(min(created + timedelta(days=14), scale.now))
        document["returnInfo"] = [
            {
                "returnTrackingId": f"RT-{index:09d}",
                "returnDate": returned_at,
                "items": [
                    {
                        "type": "LineItemReturnItem",
                        "id": stable_id("return-item", index, scale.seed),
                        "quantity": 1,
                        "lineItemId": line["id"],
                        "shipmentState": "Returned",
                        "paymentState": "Refunded",
                        "createdAt": returned_at,
                        "lastModifiedAt": returned_at,
                    }
                ],
            }
        ]
    return document


def orders(scale: Scale) -> Iterator[Document]:
    for index in range(scale.orders):
        yield order_document(scale, index)


def cart_document(scale: Scale, index: int) -> Document | None:
    """A cart, or None when its owner has since been deleted (commercetools deletes those carts)."""
    rng = _rng(scale.seed, "cart", index)
    customer, email, store_index = _order_owner(scale, rng, index)
    if customer is not None and customer.is_deleted:
        return None
    store = STORES[store_index]
    key, country, locale, *_ = store
    cart_id = stable_id("cart", index, scale.seed)
    # Spread over the last 10 days so some are fresh and some idle long enough to be abandoned.
    modified = scale.now - timedelta(seconds=rng.randrange(0, 10 * 86400))
    created = modified - timedelta(hours=rng.randrange(0, 48))
    lines = _line_items(scale, rng, store, "cart", cart_id, created, False)
    if index % 9 == 4:
        lines = []
    state = "Ordered" if index % 5 == 1 else ("Merged" if index % 17 == 3 else "Active")
    document: Document = {
        "id": cart_id,
        "version": 1 + len(lines),
        "customerEmail": email,
        "store": {"typeId": "store", "key": key},
        "lineItems": lines,
        "customLineItems": [],
        "totalLineItemQuantity": sum(line["quantity"] for line in lines),
        **_totals(lines, 0, store),
        "taxMode": "Platform",
        "taxRoundingMode": "HalfEven",
        "taxCalculationMode": "LineItemLevel",
        "inventoryMode": "None",
        "shippingMode": "Single",
        "shipping": [],
        "itemShippingAddresses": [],
        "discountCodes": [],
        "directDiscounts": [],
        "refusedGifts": [],
        "country": country,
        "locale": locale,
        "origin": "Customer",
        "cartState": state,
        "createdAt": _iso(created),
        "lastModifiedAt": _iso(modified),
    }
    if customer is None:
        document["anonymousId"] = stable_id("anonymous-cart", index, scale.seed)
        if index % 2 == 0:
            del document["customerEmail"]
    else:
        document["customerId"] = customer.customer_id
    return document


def carts(scale: Scale) -> Iterator[Document]:
    for index in range(scale.carts):
        document = cart_document(scale, index)
        if document is not None:
            yield document


# ---------------------------------------------------------------- messages


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
        "createdAt": _iso(created),
        "lastModifiedAt": _iso(created),
        "createdBy": _client(),
        "lastModifiedBy": _client(),
        **payload,
    }
    if identifiers:
        message["resourceUserProvidedIdentifiers"] = identifiers
    return message


def messages(scale: Scale) -> Iterator[Document]:
    """Customer deletions and email changes, and order state / shipment / return messages."""
    for index in range(scale.customers):
        facts = _customer_facts(scale, index)
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
    for index in range(scale.orders):
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


GENERATORS: dict[str, Callable[[Scale], Iterator[Document]]] = {
    "stores": stores,
    "customer_groups": customer_groups,
    "types": types,
    "categories": categories,
    "products": products,
    "customers": customers,
    "orders": orders,
    "carts": carts,
    "messages": messages,
}


def documents(scale: Scale) -> dict[str, Iterator[Document]]:
    """One stream per raw resource name (``raw_commercetools.<name>``)."""
    return {name: generator(scale) for name, generator in GENERATORS.items()}


def load_raw(warehouse: str | Path, scale: Scale) -> None:
    """Generate every resource at ``scale`` and load it into ``raw_commercetools`` via dlt."""
    from ingest.commercetools.schema import load_resources

    load_resources(warehouse, {name: _pages(stream) for name, stream in documents(scale).items()})


def _pages(stream: Iterator[Document], size: int = 500) -> Iterator[list[Document]]:
    page: list[Document] = []
    for document in stream:
        page.append(document)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
