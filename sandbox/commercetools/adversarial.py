"""Adversarial shop: unusual and malformed records written through the commercetools API.

Each :class:`Case` writes one kind of oddity (identities, emails and IDN domains, names and
encodings, money and currencies, dates, orders and line items, carts, products and variants,
locales, deletions and re-registrations) into a sandbox that already holds the seeded
reference data (stores, products, customer type), and states what must become of it in
Iterable: delivered with these values, rejected with this reason, or deliberately not sent
with this reason. ``tests/jobs/test_adversarial_e2e.py`` runs `ctsync run` over them and
scores every case against ``audit.audit__record_outcomes`` and the payloads.

Writes go through the public HTTP API only (``httpx`` with the sandbox's client
credentials), exactly as a real shop's data arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Expect:
    """What must become of the ``record``-th record a case wrote, for one Iterable object.

    ``fields`` are dotted paths into the desired payload (``dataFields.firstName``) with the
    exact value the delivered payload must carry (``ABSENT``: the key is missing or null).
    Outcome ``purged``: the record belonged to a person deleted in commercetools whose
    deletion Iterable acknowledged, so the run purged it from the warehouse (no outcome row
    is left); ``person`` is the index of that customer's id, which `ctsync.sync_purges`
    must hold (hashed).
    """

    record: int
    object: str
    outcome: str
    reason: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    person: int | None = None


class _Absent:
    """Marks a field that must be missing or null in the delivered payload."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass
class Case:
    name: str
    category: str
    write: Callable[[Shop], list[str]]
    """Writes the records; returns their ids (customers, orders, carts or products)."""
    expect: list[Expect]


class Shop:
    """A thin client for writing cases: the sandbox's API with a bearer token."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        [product] = self.get("/product-projections", limit=1, sort="id asc")["results"]
        self.product = product
        self.sku = product["masterVariant"]["sku"]
        self.product_type_id = product["productType"]["id"]
        self.serial = 0

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return dict(response.json())

    def post(self, path: str, body: dict[str, Any], at: str | None = None) -> dict[str, Any]:
        headers = {"X-Sandbox-Timestamp": at} if at else {}
        response = self.client.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"POST {path} -> {response.status_code}: {response.text[:500]}")
        return dict(response.json())

    def unique(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:03d}"

    # -- writers -----------------------------------------------------------------------------

    def customer(self, email: str | None = None, **fields: Any) -> str:
        number = self.unique("ADV")
        draft: dict[str, Any] = {
            "email": email or f"{number.lower()}@example.com",
            "password": "not-a-real-password",
            "customerNumber": number,
            "firstName": "Ada",
            "lastName": "Adversary",
            **fields,
        }
        created = self.post("/customers", draft)
        return str(created["customer"]["id"])

    def delete_customer(self, customer_id: str) -> None:
        version = self.get(f"/customers/{customer_id}")["version"]
        response = self.client.delete(f"/customers/{customer_id}", params={"version": version})
        response.raise_for_status()

    def order(
        self,
        customer_id: str | None = None,
        email: str | None = None,
        *,
        currency: str = "EUR",
        digits: int = 2,
        cents: int = 4999,
        lines: int = 1,
        custom_lines: list[tuple[str, int]] | None = None,
        state: str = "Complete",
        locale: str | None = "en",
        at: str | None = None,
        number: str | None = None,
        name: dict[str, str] | None = None,
        store: str | None = None,
        custom_names: dict[str, str] | None = None,
    ) -> str:
        money = {"currencyCode": currency, "centAmount": cents, "fractionDigits": digits}
        draft: dict[str, Any] = {
            "orderNumber": number if number is not None else self.unique("ADV-ORDER"),
            "country": "DE",
            "orderState": state,
            "totalPrice": money,
            "lineItems": [
                {
                    "productId": self.product["id"],
                    "name": name if name is not None else {"en": "Adversarial line"},
                    "variant": {"sku": self.sku},
                    "price": {"value": {**money, "centAmount": cents // max(lines, 1)}},
                    "quantity": 1,
                }
                for _ in range(lines)
            ],
            "customLineItems": [
                {
                    "name": custom_names if custom_names is not None else {"en": label},
                    "slug": label.lower().replace(" ", "-"),
                    "money": {**money, "centAmount": amount},
                    "quantity": 1,
                }
                for label, amount in custom_lines or []
            ],
        }
        if number == "":
            draft.pop("orderNumber")
        if locale:
            draft["locale"] = locale
        if customer_id:
            draft["customerId"] = customer_id
        if email:
            draft["customerEmail"] = email
        if store:
            draft["store"] = {"typeId": "store", "key": store}
        order = self.post("/orders/import", draft, at=at)
        if locale and order.get("locale") != locale:
            self.post(
                f"/orders/{order['id']}",
                {
                    "version": order["version"],
                    "actions": [{"action": "setLocale", "locale": locale}],
                },
                at=at,
            )
        return str(order["id"])

    def cart(
        self,
        customer_id: str | None = None,
        email: str | None = None,
        *,
        items: int = 1,
        anonymous: bool = False,
    ) -> str:
        draft: dict[str, Any] = {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [{"sku": self.sku, "quantity": 1} for _ in range(items)],
        }
        if customer_id:
            draft["customerId"] = customer_id
        if email:
            draft["customerEmail"] = email
        if anonymous:
            draft["anonymousId"] = str(uuid.uuid4())
        return str(self.post("/carts", draft)["id"])

    def order_from_cart(self, cart_id: str) -> str:
        cart = self.get(f"/carts/{cart_id}")
        order = self.post(
            "/orders",
            {
                "cart": {"typeId": "cart", "id": cart_id},
                "version": cart["version"],
                "orderNumber": self.unique("ADV-CART-ORDER"),
            },
        )
        return str(order["id"])

    def store(self, languages: list[str]) -> str:
        key = self.unique("adv-store")
        self.post("/stores", {"key": key, "name": {"en": key}, "languages": languages})
        return key

    def product_with(self, name: dict[str, str], *, variants: int = 1, sku: bool = True) -> str:
        key = self.unique("adv-product")
        master: dict[str, Any] = {
            "prices": [{"value": {"currencyCode": "EUR", "centAmount": 1999}}],
        }
        if sku:
            master["sku"] = f"{key}-sku-0"
        draft = {
            "key": key,
            "productType": {"typeId": "product-type", "id": self.product_type_id},
            "name": name,
            "slug": {"en": key},
            "masterVariant": master,
            "variants": [
                {
                    "sku": f"{key}-sku-{index}",
                    "prices": [{"value": {"currencyCode": "EUR", "centAmount": 1999}}],
                }
                for index in range(1, variants)
            ],
            "publish": True,
        }
        return str(self.post("/products", draft)["id"])


# -- the cases -------------------------------------------------------------------------------


def delivered_user(**fields: Any) -> list[Expect]:
    return [Expect(0, "users", "delivered", fields=fields)]


def rejected_user(reason: str) -> list[Expect]:
    return [Expect(0, "users", "rejected", reason)]


def email_case(name: str, email: str, outcome: str, reason: str | None = None) -> Case:
    expect = (
        delivered_user(email=email.strip().lower())
        if outcome == "delivered"
        else rejected_user(reason or "invalid_email")
    )
    return Case(name, "emails", lambda shop: [shop.customer(email=email)], expect)


def name_case(name: str, first_name: str, expected: Any) -> Case:
    return Case(
        name,
        "names and encodings",
        lambda shop: [shop.customer(firstName=first_name)],
        delivered_user(**{"dataFields.firstName": expected}),
    )


def purchase(record: int, outcome: str, reason: str | None = None, **fields: Any) -> Expect:
    return Expect(record, "purchases", outcome, reason, fields)


def customer_and_order(**order: Any) -> Callable[[Shop], list[str]]:
    def write(shop: Shop) -> list[str]:
        customer = shop.customer()
        return [shop.order(customer, **order), customer]

    return write


def two_customers_same_email(shop: Shop) -> list[str]:
    # the real API allows one email once per store; the sandbox enforces it project-wide on
    # creation, so the second customer gets the email through an email change (as the seeder)
    email = f"{shop.unique('twin')}@example.com"
    first = shop.customer(email=email, isEmailVerified=True)
    second = shop.customer()
    version = shop.get(f"/customers/{second}")["version"]
    shop.post(
        f"/customers/{second}",
        {"version": version, "actions": [{"action": "changeEmail", "email": email.upper()}]},
    )
    return [first, second]


def deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    shop.delete_customer(customer)
    return [customer]


def re_registered(shop: Shop) -> list[str]:
    email = f"{shop.unique('again')}@example.com"
    old = shop.customer(email=email)
    shop.delete_customer(old)
    return [old, shop.customer(email=email)]


def order_of_deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    order = shop.order(customer)
    shop.delete_customer(customer)
    return [order, customer]


def cart_of_deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    cart = shop.cart(customer)
    shop.delete_customer(customer)
    return [cart, customer]


def two_open_carts(shop: Shop) -> list[str]:
    customer = shop.customer()
    older = shop.cart(customer)
    newer = shop.cart(customer, items=2)
    return [older, newer]


def ordered_cart(shop: Shop) -> list[str]:
    customer = shop.customer()
    cart = shop.cart(customer)
    shop.order_from_cart(cart)
    return [cart]


def product_order(
    name: dict[str, str], locale: str | None, store_languages: list[str] | None = None
) -> Callable[[Shop], list[str]]:
    def write(shop: Shop) -> list[str]:
        customer = shop.customer()
        store = shop.store(store_languages) if store_languages is not None else None
        return [shop.order(customer, name=name, locale=locale, store=store)]

    return write


def customer_with_number(number: str) -> Callable[[Shop], list[str]]:
    # the customerRegistered event's record key is the event id: name and source id
    def write(shop: Shop) -> list[str]:
        customer = shop.customer(customerNumber=number)
        return [customer, f"customerRegistered-{customer}"]

    return write
