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


def _delivered_user(**fields: Any) -> list[Expect]:
    return [Expect(0, "users", "delivered", fields=fields)]


def _rejected_user(reason: str) -> list[Expect]:
    return [Expect(0, "users", "rejected", reason)]


def _email_case(name: str, email: str, outcome: str, reason: str | None = None) -> Case:
    expect = (
        _delivered_user(email=email.strip().lower())
        if outcome == "delivered"
        else _rejected_user(reason or "invalid_email")
    )
    return Case(name, "emails", lambda shop: [shop.customer(email=email)], expect)


def _name_case(name: str, first_name: str, expected: Any) -> Case:
    return Case(
        name,
        "names and encodings",
        lambda shop: [shop.customer(firstName=first_name)],
        _delivered_user(**{"dataFields.firstName": expected}),
    )


def _purchase(record: int, outcome: str, reason: str | None = None, **fields: Any) -> Expect:
    return Expect(record, "purchases", outcome, reason, fields)


def _customer_and_order(**order: Any) -> Callable[[Shop], list[str]]:
    def write(shop: Shop) -> list[str]:
        customer = shop.customer()
        return [shop.order(customer, **order), customer]

    return write


def _two_customers_same_email(shop: Shop) -> list[str]:
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


def _deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    shop.delete_customer(customer)
    return [customer]


def _re_registered(shop: Shop) -> list[str]:
    email = f"{shop.unique('again')}@example.com"
    old = shop.customer(email=email)
    shop.delete_customer(old)
    return [old, shop.customer(email=email)]


def _order_of_deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    order = shop.order(customer)
    shop.delete_customer(customer)
    return [order, customer]


def _cart_of_deleted_customer(shop: Shop) -> list[str]:
    customer = shop.customer()
    cart = shop.cart(customer)
    shop.delete_customer(customer)
    return [cart, customer]


def _two_open_carts(shop: Shop) -> list[str]:
    customer = shop.customer()
    older = shop.cart(customer)
    newer = shop.cart(customer, items=2)
    return [older, newer]


def _ordered_cart(shop: Shop) -> list[str]:
    customer = shop.customer()
    cart = shop.cart(customer)
    shop.order_from_cart(cart)
    return [cart]


def _product_order(
    name: dict[str, str], locale: str | None, store_languages: list[str] | None = None
) -> Callable[[Shop], list[str]]:
    def write(shop: Shop) -> list[str]:
        customer = shop.customer()
        store = shop.store(store_languages) if store_languages is not None else None
        return [shop.order(customer, name=name, locale=locale, store=store)]

    return write


def _customer_with_number(number: str) -> Callable[[Shop], list[str]]:
    # the customerRegistered event's record key is the event id: name and source id
    def write(shop: Shop) -> list[str]:
        customer = shop.customer(customerNumber=number)
        return [customer, f"customerRegistered-{customer}"]

    return write


LONG = "x" * 5000
CASES: list[Case] = [
    # identities and emails -------------------------------------------------------------------
    _email_case("plain email", "plain.person@example.com", "delivered"),
    _email_case("upper-case email with spaces", "  Mixed.Case@Example.COM ", "delivered"),
    _email_case("plus tag", "tagged+newsletter@example.com", "delivered"),
    _email_case("punycode IDN domain", "kunde@xn--mller-kva.de", "delivered"),
    _email_case("unicode IDN domain", "kunde@müller.de", "rejected"),
    _email_case("unicode local part", "jürgen@example.com", "rejected"),
    _email_case("no TLD", "nobody@localhost", "rejected"),
    _email_case("two at signs", "a@b@example.com", "rejected"),
    _email_case("space inside", "first last@example.com", "rejected"),
    _email_case("trailing dot in domain", "dot@example.com.", "rejected"),
    _email_case("consecutive dots", "a..b@example.com", "rejected"),
    _email_case("numeric TLD", "n@example.123", "rejected"),
    _email_case("subdomain", "deep@mail.eu.example.co.uk", "delivered"),
    _email_case("apostrophe", "o'connor@example.ie", "delivered"),
    Case(
        "two customers, one email (case differs)",
        "identities",
        _two_customers_same_email,
        [
            Expect(0, "users", "delivered"),
            Expect(1, "users", "rejected", "duplicate_email"),
        ],
    ),
    Case(
        "customer with external id",
        "identities",
        lambda shop: [shop.customer(externalId="crm-ÄÖÜ-1")],
        _delivered_user(**{"dataFields.externalId": "crm-ÄÖÜ-1"}),
    ),
    Case(
        "customer with a key",
        "identities",
        lambda shop: [shop.customer(key=shop.unique("adv-key"))],
        _delivered_user(),
    ),
    # names and encodings --------------------------------------------------------------------
    _name_case("emoji name", "Zoë 🦄", "Zoë 🦄"),
    _name_case("arabic name", "مريم", "مريم"),
    _name_case("CJK name", "山田太郎", "山田太郎"),
    _name_case("combining characters", "Zoe\u0308", "Zoe\u0308"),
    _name_case("zero-width joiner", "A\u200db", "A\u200db"),
    _name_case("html in name", "<b>Bold</b>", "<b>Bold</b>"),
    _name_case("sql quote in name", "O'Brien; drop table x", "O'Brien; drop table x"),
    _name_case("control characters", "Tab\tBell\u0007Line\nEnd", "Tab Bell Line End"),
    _name_case("surrounding whitespace", "   Padded   ", "Padded"),
    _name_case("very long name", LONG, "x" * 1000),
    _name_case("only whitespace", "   ", ABSENT),
    Case(
        "no names at all",
        "names and encodings",
        lambda shop: [shop.customer(firstName=None, lastName=None)],
        _delivered_user(**{"dataFields.firstName": ABSENT, "dataFields.lastName": ABSENT}),
    ),
    Case(
        "loyalty tier custom field outside the configured tiers",
        "identities",
        lambda shop: [
            shop.customer(
                custom={
                    "type": {"typeId": "type", "key": "ctsync-customer"},
                    "fields": {"loyaltyTier": "Diamond"},
                }
            )
        ],
        _delivered_user(**{"dataFields.loyaltyTier": "bronze"}),
    ),
    Case(
        "loyalty tier custom field in upper case",
        "identities",
        lambda shop: [
            shop.customer(
                custom={
                    "type": {"typeId": "type", "key": "ctsync-customer"},
                    "fields": {"loyaltyTier": "GOLD"},
                }
            )
        ],
        _delivered_user(**{"dataFields.loyaltyTier": "gold"}),
    ),
    Case(
        "unknown locale on customer",
        "locales",
        lambda shop: [shop.customer(locale="tlh")],
        _delivered_user(**{"dataFields.locale": "tlh"}),
    ),
    # dates -------------------------------------------------------------------------------------
    Case(
        "plausible birth date",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="1984-02-29")],
        _delivered_user(**{"dataFields.birthDate": "1984-02-29"}),
    ),
    Case(
        "birth date in the nineteenth century",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="1850-01-01")],
        _delivered_user(**{"dataFields.birthDate": ABSENT}),
    ),
    Case(
        "birth date in the future",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="2999-12-31")],
        _delivered_user(**{"dataFields.birthDate": ABSENT}),
    ),
    Case(
        "order placed in 1970",
        "dates",
        _customer_and_order(at="1970-01-01T00:00:00.000Z"),
        [_purchase(0, "rejected", "implausible_date")],
    ),
    Case(
        "order placed in 2001 (old but plausible)",
        "dates",
        _customer_and_order(at="2001-06-01T12:00:00.000Z"),
        [_purchase(0, "delivered", createdAt=991396800)],
    ),
    # money and currencies --------------------------------------------------------------------
    Case(
        "EUR order",
        "money",
        _customer_and_order(cents=12345),
        [_purchase(0, "delivered", total=123.45)],
    ),
    Case(
        "JPY order (0 fraction digits)",
        "money",
        _customer_and_order(currency="JPY", digits=0, cents=12345),
        # total in the base currency (EUR, seed rate 0.0062); the order's own in dataFields
        [
            _purchase(
                0,
                "delivered",
                total=76.539,
                **{"dataFields.currency": "EUR", "dataFields.orderCurrency": "JPY"},
            ),
            Expect(0, "purchases", "delivered", None, {"dataFields.orderTotal": 12345.0}),
        ],
    ),
    Case(
        "KWD order (3 fraction digits)",
        "money",
        _customer_and_order(currency="KWD", digits=3, cents=12345),
        # no KWD rate in the FX seed: sent in its own currency, exactly
        [
            _purchase(
                0,
                "delivered",
                total=12.345,
                **{"dataFields.currency": "KWD", "dataFields.orderCurrency": "KWD"},
            )
        ],
    ),
    Case(
        "currency missing from the FX seed",
        "money",
        _customer_and_order(currency="ISK", digits=0, cents=9900),
        [
            _purchase(0, "delivered", total=9900),
            Expect(
                1,
                "users",
                "delivered",
                fields={
                    "dataFields.lifetimeValueIncomplete": True,
                    "dataFields.lifetimeValue": ABSENT,
                },
            ),
        ],
    ),
    Case(
        "zero total order",
        "money",
        _customer_and_order(cents=0),
        [_purchase(0, "delivered", total=0)],
    ),
    Case(
        "very large amount",
        "money",
        _customer_and_order(cents=123456789012),
        [_purchase(0, "delivered", total=1234567890.12)],
    ),
    Case(
        "one cent",
        "money",
        _customer_and_order(cents=1),
        [_purchase(0, "delivered", total=0.01)],
    ),
    # orders and line items --------------------------------------------------------------------
    Case(
        "order with a custom line item (gift wrap)",
        "orders",
        _customer_and_order(cents=5499, custom_lines=[("Gift wrap", 500)]),
        # custom line items are items after the products, marked customLineItem
        [
            _purchase(
                0,
                "delivered",
                total=54.99,
                **{
                    "items.0.dataFields.customLineItem": ABSENT,
                    "items.1.id": "gift-wrap",
                    "items.1.sku": "gift-wrap",
                    "items.1.name": "Gift wrap",
                    "items.1.price": 5.0,
                    "items.1.quantity": 1,
                    "items.1.dataFields.customLineItem": True,
                },
            )
        ],
    ),
    Case(
        "order with only custom line items (a service)",
        "orders",
        _customer_and_order(cents=2500, lines=0, custom_lines=[("Installation service", 2500)]),
        [
            _purchase(
                0,
                "delivered",
                total=25.0,
                **{
                    "items.0.name": "Installation service",
                    "items.0.dataFields.customLineItem": True,
                    "items.1": ABSENT,
                },
            )
        ],
    ),
    Case(
        "order with a shipping fee as a custom line item in a three-decimal currency",
        "orders",
        _customer_and_order(
            currency="KWD", digits=3, cents=12345, custom_lines=[("Shipping fee", 1250)]
        ),
        [
            Expect(
                0,
                "purchases",
                "delivered",
                fields={"items.1.price": 1.25, "items.1.name": "Shipping fee"},
            )
        ],
    ),
    Case(
        "custom line item with a very long name and control characters",
        "strings",
        _customer_and_order(
            cents=1500,
            custom_lines=[("Gift wrap", 500)],
            custom_names={"en": "Wrap\tit\u0007 " + LONG},
        ),
        [_purchase(0, "delivered", **{"items.1.name": ("Wrap it  " + LONG)[:1000]})],
    ),
    Case(
        "order without any line item",
        "orders",
        _customer_and_order(cents=0, lines=0),
        [_purchase(0, "not_sent", "order_without_line_items")],
    ),
    Case(
        "order with many lines",
        "orders",
        _customer_and_order(cents=100000, lines=60),
        [_purchase(0, "delivered")],
    ),
    Case(
        "cancelled order",
        "orders",
        _customer_and_order(state="Cancelled"),
        [_purchase(0, "not_sent", "order_cancelled")],
    ),
    Case(
        "order without locale",
        "orders",
        _customer_and_order(locale=None),
        [_purchase(0, "delivered")],
    ),
    Case(
        "unicode order number",
        "orders",
        _customer_and_order(number="Bestellung-Ä-001"),
        [_purchase(0, "delivered", **{"dataFields.orderNumber": "Bestellung-Ä-001"})],
    ),
    Case(
        "order without order number",
        "orders",
        _customer_and_order(number=""),
        [_purchase(0, "delivered", **{"dataFields.orderNumber": ABSENT})],
    ),
    Case(
        "orphan order (customer does not exist)",
        "orders",
        lambda shop: [shop.order(str(uuid.uuid4()), "orphan-adv@example.com")],
        [_purchase(0, "rejected", "customer_missing")],
    ),
    Case(
        "guest order with email",
        "orders",
        lambda shop: [shop.order(None, "guest-adv@example.com")],
        [_purchase(0, "delivered", **{"user.email": "guest-adv@example.com"})],
    ),
    Case(
        "guest order without email",
        "orders",
        lambda shop: [shop.order(None, None)],
        [_purchase(0, "rejected", "guest_without_email")],
    ),
    Case(
        "guest order with malformed email",
        "orders",
        lambda shop: [shop.order(None, "not-an-email")],
        [_purchase(0, "rejected", "guest_without_email")],
    ),
    Case(
        "order of a deleted customer",
        "deletions",
        _order_of_deleted_customer,
        [Expect(0, "purchases", "purged", person=1)],
    ),
    # carts -------------------------------------------------------------------------------------
    Case(
        "anonymous cart",
        "carts",
        lambda shop: [shop.cart(anonymous=True)],
        [Expect(0, "carts", "not_sent", "anonymous_cart")],
    ),
    Case(
        "empty cart of a customer",
        "carts",
        lambda shop: [shop.cart(shop.customer(), items=0)],
        [Expect(0, "carts", "not_sent", "cart_empty")],
    ),
    Case(
        "two open carts of one customer",
        "carts",
        _two_open_carts,
        [
            Expect(0, "carts", "not_sent", "superseded_by_newer_cart"),
            Expect(1, "carts", "delivered"),
        ],
    ),
    Case(
        "ordered cart",
        "carts",
        _ordered_cart,
        [Expect(0, "carts", "not_sent", "cart_ordered")],
    ),
    Case(
        "cart of a deleted customer",
        "deletions",
        _cart_of_deleted_customer,
        [Expect(0, "carts", "purged", person=1)],
    ),
    Case(
        "cart with a large quantity",
        "carts",
        lambda shop: [shop.cart(shop.customer(), items=25)],
        [Expect(0, "carts", "delivered")],
    ),
    Case(
        "guest cart with email",
        "carts",
        lambda shop: [shop.cart(None, "guest-cart@example.com")],
        [Expect(0, "carts", "delivered", fields={"user.email": "guest-cart@example.com"})],
    ),
    # products, variants and locales --------------------------------------------------------
    Case(
        "product named in German only",
        "locales",
        lambda shop: [shop.product_with({"de": "Nur Deutsch"})],
        [Expect(0, "catalog_items", "delivered", fields={"value.name": "Nur Deutsch"})],
    ),
    Case(
        "product named in fr-CA only",
        "locales",
        lambda shop: [shop.product_with({"fr-CA": "Seulement québécois"})],
        [Expect(0, "catalog_items", "delivered", fields={"value.name": "Seulement québécois"})],
    ),
    Case(
        "product with emoji name",
        "products",
        lambda shop: [shop.product_with({"en": "Rocket 🚀"})],
        [Expect(0, "catalog_items", "delivered", fields={"value.name": "Rocket 🚀"})],
    ),
    Case(
        "product with 40 variants",
        "products",
        lambda shop: [shop.product_with({"en": "Many sizes"}, variants=40)],
        [Expect(0, "catalog_items", "delivered", fields={"value.variantCount": 40})],
    ),
    Case(
        "product without SKU on the master variant",
        "products",
        lambda shop: [shop.product_with({"en": "No SKU"}, sku=False)],
        [Expect(0, "catalog_items", "delivered", fields={"value.sku": ABSENT})],
    ),
    Case(
        "order line named in German only, order locale en",
        "locales",
        _product_order({"de": "Nur Deutsch"}, "en"),
        [_purchase(0, "delivered", **{"items.0.name": "Nur Deutsch"})],
    ),
    Case(
        "order line named in fr-CA only, order locale de-DE",
        "locales",
        _product_order({"fr-CA": "Québec"}, "de-DE"),
        [_purchase(0, "delivered", **{"items.0.name": "Québec"})],
    ),
    Case(
        "order line named only in the store's language, order locale en",
        "locales",
        # the project's languages (en, de) would pick "Hallo": the store's language comes first
        _product_order({"de": "Hallo", "it": "Ciao"}, "en", ["it-IT"]),
        [_purchase(0, "delivered", **{"items.0.name": "Ciao"})],
    ),
    Case(
        "order line in none of the store's languages falls back to the project's",
        "locales",
        _product_order({"es": "Hola", "de": "Hallo"}, "en", ["it-IT", "fr"]),
        [_purchase(0, "delivered", **{"items.0.name": "Hallo"})],
    ),
    Case(
        "order line in the order's regional locale",
        "locales",
        _product_order({"en": "English", "de-AT": "Österreichisch"}, "de-AT"),
        [_purchase(0, "delivered", **{"items.0.name": "Österreichisch"})],
    ),
    # long strings and control characters in every text field ------------------------------
    Case(
        "product with a very long name",
        "strings",
        lambda shop: [shop.product_with({"en": LONG})],
        [Expect(0, "catalog_items", "delivered", fields={"value.name": "x" * 1000})],
    ),
    Case(
        "product name with control characters",
        "strings",
        lambda shop: [shop.product_with({"en": "Bell\u0007Tab\tNew\nLine\u009f"})],
        [Expect(0, "catalog_items", "delivered", fields={"value.name": "Bell Tab New Line"})],
    ),
    Case(
        "product name of control characters only",
        "strings",
        lambda shop: [shop.product_with({"en": "\u0007\u0008"})],
        # nothing is left of the name: no name rather than an unreadable one
        [Expect(0, "catalog_items", "delivered", fields={"value.name": ABSENT})],
    ),
    Case(
        "order line name with control characters and a very long tail",
        "strings",
        _product_order({"en": "Line\u0001Name " + LONG}, "en"),
        [_purchase(0, "delivered", **{"items.0.name": ("Line Name " + LONG)[:1000]})],
    ),
    Case(
        "order line name of control characters only",
        "strings",
        _product_order({"en": "\u0001\u0002"}, "en"),
        # Iterable requires an item name: the SKU stands in, as for a line without any name
        # (delivered proves it: the sync rejects an item without a name, invalid_item)
        [_purchase(0, "delivered")],
    ),
    Case(
        "customer number with control characters (event and profile)",
        "strings",
        _customer_with_number("NUM\tBER\u0007"),
        [
            Expect(
                1, "events", "delivered", fields={"dataFields.details.customerNumber": "NUM BER"}
            ),
            Expect(0, "users", "delivered", fields={"dataFields.customerNumber": "NUM BER"}),
        ],
    ),
    # deletions and re-registrations ----------------------------------------------------------
    Case(
        "deleted customer",
        "deletions",
        _deleted_customer,
        [Expect(0, "users", "purged", person=0)],
    ),
    Case(
        "deleted and re-registered with the same email",
        "deletions",
        _re_registered,
        [
            Expect(0, "users", "purged", person=0),
            Expect(1, "users", "delivered"),
        ],
    ),
]
