"""Orders (some guest checkouts) and active carts, owned by generated customers and
listing generated products."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from ctsync.sandbox.commercetools.documents.base import (
    CUSTOMER_GROUPS,
    ORDER_STATES,
    STORES,
    Document,
    Scale,
    client,
    iso,
    money,
    seeded_rng,
    stable_id,
)
from ctsync.sandbox.commercetools.documents.customers import (
    CustomerFacts,
    customer_facts,
)
from ctsync.sandbox.commercetools.documents.products import product_facts, variant_document


def _discounted(
    scale: Scale, quantity: int, unit: int, discount: int, currency: str, digits: int
) -> list[Document]:
    """The line's ten-percent cart discount, per quantity."""
    return [
        {
            "quantity": quantity,
            "discountedPrice": {
                "value": money(unit - discount, currency, digits),
                "includedDiscounts": [
                    {
                        "discount": {
                            "typeId": "cart-discount",
                            "id": stable_id("discount", "ten", scale.seed),
                        },
                        "discountedAmount": money(discount, currency, digits),
                    }
                ],
            },
        }
    ]


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
        facts = product_facts(scale, rng.randrange(scale.products))
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
            "variant": variant_document(scale, facts, variant),
            "price": {
                "id": stable_id("price", f"{variant[1]}-{currency}", scale.seed),
                "value": money(unit, currency, digits),
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
            "totalPrice": money(total, currency, digits),
            "taxedPrice": {
                "totalNet": money(net, currency, digits),
                "totalGross": money(total, currency, digits),
                "totalTax": money(total - net, currency, digits),
                "taxPortions": [],
            },
            "taxedPricePortions": [],
            "perMethodTaxRate": [],
            "state": [],
            "priceMode": "Platform",
            "lineItemMode": "Standard",
            "addedAt": iso(added_at),
            "lastModifiedAt": iso(added_at),
        }
        if with_state:
            line["state"] = [
                {
                    "quantity": quantity,
                    "state": {"typeId": "state", "id": stable_id("state", "initial", scale.seed)},
                }
            ]
        if discount:
            line["discountedPricePerQuantity"] = _discounted(
                scale, quantity, unit, discount, currency, digits
            )
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
        "totalPrice": money(gross, currency, digits),
        "taxedPrice": {
            "totalNet": money(net, currency, digits),
            "totalGross": money(gross, currency, digits),
            "totalTax": money(gross - net, currency, digits),
            "taxPortions": [],
        },
    }


def order_owner(
    scale: Scale, rng: random.Random, index: int
) -> tuple[CustomerFacts | None, str, int]:
    """(customer or None for a guest, email, store index) of an order or cart."""
    if scale.guest_order_every and index % scale.guest_order_every == 5:
        store_index = rng.randrange(len(STORES))
        return None, f"guest.{index}@example.net", store_index
    customer = customer_facts(scale, rng.randrange(scale.customers))
    return customer, customer.email, customer.store_index


def _shipping_info(
    scale: Scale, country: str, shipping: int, currency: str, digits: int
) -> Document:
    return {
        "shippingMethodName": f"Standard {country}",
        "price": money(shipping, currency, digits),
        "shippingRate": {"price": money(shipping, currency, digits), "tiers": []},
        "shippingMethod": {
            "typeId": "shipping-method",
            "id": stable_id("shipping", country, scale.seed),
        },
        "deliveries": [],
        "shippingMethodState": "MatchesCart",
    }


def _return_info(scale: Scale, index: int, line: Document, created: datetime) -> list[Document]:
    """One returned (and refunded) item of the order's first line, 14 days on."""
    returned_at = iso(min(created + timedelta(days=14), scale.now))
    return [
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


def order_document(scale: Scale, index: int) -> Document:
    """Order number ``index`` as the API returns it, without generating the others."""
    rng = seeded_rng(scale.seed, "order", index)
    customer, email, store_index = order_owner(scale, rng, index)
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
        "shippingInfo": _shipping_info(scale, country, shipping, currency, digits),
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
        "createdAt": iso(created),
        "lastModifiedAt": iso(modified),
        "lastModifiedBy": client(),
        "createdBy": client(),
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
        document["returnInfo"] = _return_info(scale, index, lines[0], created)
    return document


def orders(scale: Scale) -> Iterator[Document]:
    for index in range(scale.orders):
        yield order_document(scale, index)


def cart_document(scale: Scale, index: int) -> Document | None:
    """A cart, or None when its owner has since been deleted (commercetools deletes those carts)."""
    rng = seeded_rng(scale.seed, "cart", index)
    customer, email, store_index = order_owner(scale, rng, index)
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
        "createdAt": iso(created),
        "lastModifiedAt": iso(modified),
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
