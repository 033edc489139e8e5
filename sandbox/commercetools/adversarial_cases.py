"""The adversarial cases (``CASES``): what each writes into the shop and what must become
of it in Iterable. The shop they write through: ``adversarial.py``."""

from __future__ import annotations

import uuid

from ctsync.sandbox.commercetools.adversarial import (
    ABSENT,
    Case,
    Expect,
    cart_of_deleted_customer,
    customer_and_order,
    customer_with_number,
    deleted_customer,
    delivered_user,
    email_case,
    name_case,
    order_of_deleted_customer,
    ordered_cart,
    product_order,
    purchase,
    re_registered,
    two_customers_same_email,
    two_open_carts,
)

LONG = "x" * 5000


CASES: list[Case] = [
    # identities and emails -------------------------------------------------------------------
    email_case("plain email", "plain.person@example.com", "delivered"),
    email_case("upper-case email with spaces", "  Mixed.Case@Example.COM ", "delivered"),
    email_case("plus tag", "tagged+newsletter@example.com", "delivered"),
    email_case("punycode IDN domain", "kunde@xn--mller-kva.de", "delivered"),
    email_case("unicode IDN domain", "kunde@müller.de", "rejected"),
    email_case("unicode local part", "jürgen@example.com", "rejected"),
    email_case("no TLD", "nobody@localhost", "rejected"),
    email_case("two at signs", "a@b@example.com", "rejected"),
    email_case("space inside", "first last@example.com", "rejected"),
    email_case("trailing dot in domain", "dot@example.com.", "rejected"),
    email_case("consecutive dots", "a..b@example.com", "rejected"),
    email_case("numeric TLD", "n@example.123", "rejected"),
    email_case("subdomain", "deep@mail.eu.example.co.uk", "delivered"),
    email_case("apostrophe", "o'connor@example.ie", "delivered"),
    Case(
        "two customers, one email (case differs)",
        "identities",
        two_customers_same_email,
        [
            Expect(0, "users", "delivered"),
            Expect(1, "users", "rejected", "duplicate_email"),
        ],
    ),
    Case(
        "customer with external id",
        "identities",
        lambda shop: [shop.customer(externalId="crm-ÄÖÜ-1")],
        delivered_user(**{"dataFields.externalId": "crm-ÄÖÜ-1"}),
    ),
    Case(
        "customer with a key",
        "identities",
        lambda shop: [shop.customer(key=shop.unique("adv-key"))],
        delivered_user(),
    ),
    # names and encodings --------------------------------------------------------------------
    name_case("emoji name", "Zoë 🦄", "Zoë 🦄"),
    name_case("arabic name", "مريم", "مريم"),
    name_case("CJK name", "山田太郎", "山田太郎"),
    name_case("combining characters", "Zoe\u0308", "Zoe\u0308"),
    name_case("zero-width joiner", "A\u200db", "A\u200db"),
    name_case("html in name", "<b>Bold</b>", "<b>Bold</b>"),
    name_case("sql quote in name", "O'Brien; drop table x", "O'Brien; drop table x"),
    name_case("control characters", "Tab\tBell\u0007Line\nEnd", "Tab Bell Line End"),
    name_case("surrounding whitespace", "   Padded   ", "Padded"),
    name_case("very long name", LONG, "x" * 1000),
    name_case("only whitespace", "   ", ABSENT),
    Case(
        "no names at all",
        "names and encodings",
        lambda shop: [shop.customer(firstName=None, lastName=None)],
        delivered_user(**{"dataFields.firstName": ABSENT, "dataFields.lastName": ABSENT}),
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
        delivered_user(**{"dataFields.loyaltyTier": "bronze"}),
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
        delivered_user(**{"dataFields.loyaltyTier": "gold"}),
    ),
    Case(
        "unknown locale on customer",
        "locales",
        lambda shop: [shop.customer(locale="tlh")],
        delivered_user(**{"dataFields.locale": "tlh"}),
    ),
    # dates -------------------------------------------------------------------------------------
    Case(
        "plausible birth date",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="1984-02-29")],
        delivered_user(**{"dataFields.birthDate": "1984-02-29"}),
    ),
    Case(
        "birth date in the nineteenth century",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="1850-01-01")],
        delivered_user(**{"dataFields.birthDate": ABSENT}),
    ),
    Case(
        "birth date in the future",
        "dates",
        lambda shop: [shop.customer(dateOfBirth="2999-12-31")],
        delivered_user(**{"dataFields.birthDate": ABSENT}),
    ),
    Case(
        "order placed in 1970",
        "dates",
        customer_and_order(at="1970-01-01T00:00:00.000Z"),
        [purchase(0, "rejected", "implausible_date")],
    ),
    Case(
        "order placed in 2001 (old but plausible)",
        "dates",
        customer_and_order(at="2001-06-01T12:00:00.000Z"),
        [purchase(0, "delivered", createdAt=991396800)],
    ),
    # money and currencies --------------------------------------------------------------------
    Case(
        "EUR order",
        "money",
        customer_and_order(cents=12345),
        [purchase(0, "delivered", total=123.45)],
    ),
    Case(
        "JPY order (0 fraction digits)",
        "money",
        customer_and_order(currency="JPY", digits=0, cents=12345),
        # total in the base currency (EUR, seed rate 0.0062); the order's own in dataFields
        [
            purchase(
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
        customer_and_order(currency="KWD", digits=3, cents=12345),
        # no KWD rate in the FX seed: sent in its own currency, exactly
        [
            purchase(
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
        customer_and_order(currency="ISK", digits=0, cents=9900),
        [
            purchase(0, "delivered", total=9900),
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
        customer_and_order(cents=0),
        [purchase(0, "delivered", total=0)],
    ),
    Case(
        "very large amount",
        "money",
        customer_and_order(cents=123456789012),
        [purchase(0, "delivered", total=1234567890.12)],
    ),
    Case(
        "one cent",
        "money",
        customer_and_order(cents=1),
        [purchase(0, "delivered", total=0.01)],
    ),
    # orders and line items --------------------------------------------------------------------
    Case(
        "order with a custom line item (gift wrap)",
        "orders",
        customer_and_order(cents=5499, custom_lines=[("Gift wrap", 500)]),
        # custom line items are items after the products, marked customLineItem
        [
            purchase(
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
        customer_and_order(cents=2500, lines=0, custom_lines=[("Installation service", 2500)]),
        [
            purchase(
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
        customer_and_order(
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
        customer_and_order(
            cents=1500,
            custom_lines=[("Gift wrap", 500)],
            custom_names={"en": "Wrap\tit\u0007 " + LONG},
        ),
        [purchase(0, "delivered", **{"items.1.name": ("Wrap it  " + LONG)[:1000]})],
    ),
    Case(
        "order without any line item",
        "orders",
        customer_and_order(cents=0, lines=0),
        [purchase(0, "not_sent", "order_without_line_items")],
    ),
    Case(
        "order with many lines",
        "orders",
        customer_and_order(cents=100000, lines=60),
        [purchase(0, "delivered")],
    ),
    Case(
        "cancelled order",
        "orders",
        customer_and_order(state="Cancelled"),
        [purchase(0, "not_sent", "order_cancelled")],
    ),
    Case(
        "order without locale",
        "orders",
        customer_and_order(locale=None),
        [purchase(0, "delivered")],
    ),
    Case(
        "unicode order number",
        "orders",
        customer_and_order(number="Bestellung-Ä-001"),
        [purchase(0, "delivered", **{"dataFields.orderNumber": "Bestellung-Ä-001"})],
    ),
    Case(
        "order without order number",
        "orders",
        customer_and_order(number=""),
        [purchase(0, "delivered", **{"dataFields.orderNumber": ABSENT})],
    ),
    Case(
        "orphan order (customer does not exist)",
        "orders",
        lambda shop: [shop.order(str(uuid.uuid4()), "orphan-adv@example.com")],
        [purchase(0, "rejected", "customer_missing")],
    ),
    Case(
        "guest order with email",
        "orders",
        lambda shop: [shop.order(None, "guest-adv@example.com")],
        [purchase(0, "delivered", **{"user.email": "guest-adv@example.com"})],
    ),
    Case(
        "guest order without email",
        "orders",
        lambda shop: [shop.order(None, None)],
        [purchase(0, "rejected", "guest_without_email")],
    ),
    Case(
        "guest order with malformed email",
        "orders",
        lambda shop: [shop.order(None, "not-an-email")],
        [purchase(0, "rejected", "guest_without_email")],
    ),
    Case(
        "order of a deleted customer",
        "deletions",
        order_of_deleted_customer,
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
        two_open_carts,
        [
            Expect(0, "carts", "not_sent", "superseded_by_newer_cart"),
            Expect(1, "carts", "delivered"),
        ],
    ),
    Case(
        "ordered cart",
        "carts",
        ordered_cart,
        [Expect(0, "carts", "not_sent", "cart_ordered")],
    ),
    Case(
        "cart of a deleted customer",
        "deletions",
        cart_of_deleted_customer,
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
        product_order({"de": "Nur Deutsch"}, "en"),
        [purchase(0, "delivered", **{"items.0.name": "Nur Deutsch"})],
    ),
    Case(
        "order line named in fr-CA only, order locale de-DE",
        "locales",
        product_order({"fr-CA": "Québec"}, "de-DE"),
        [purchase(0, "delivered", **{"items.0.name": "Québec"})],
    ),
    Case(
        "order line named only in the store's language, order locale en",
        "locales",
        # the project's languages (en, de) would pick "Hallo": the store's language comes first
        product_order({"de": "Hallo", "it": "Ciao"}, "en", ["it-IT"]),
        [purchase(0, "delivered", **{"items.0.name": "Ciao"})],
    ),
    Case(
        "order line in none of the store's languages falls back to the project's",
        "locales",
        product_order({"es": "Hola", "de": "Hallo"}, "en", ["it-IT", "fr"]),
        [purchase(0, "delivered", **{"items.0.name": "Hallo"})],
    ),
    Case(
        "order line in the order's regional locale",
        "locales",
        product_order({"en": "English", "de-AT": "Österreichisch"}, "de-AT"),
        [purchase(0, "delivered", **{"items.0.name": "Österreichisch"})],
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
        product_order({"en": "Line\u0001Name " + LONG}, "en"),
        [purchase(0, "delivered", **{"items.0.name": ("Line Name " + LONG)[:1000]})],
    ),
    Case(
        "order line name of control characters only",
        "strings",
        product_order({"en": "\u0001\u0002"}, "en"),
        # Iterable requires an item name: the SKU stands in, as for a line without any name
        # (delivered proves it: the sync rejects an item without a name, invalid_item)
        [purchase(0, "delivered")],
    ),
    Case(
        "customer number with control characters (event and profile)",
        "strings",
        customer_with_number("NUM\tBER\u0007"),
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
        deleted_customer,
        [Expect(0, "users", "purged", person=0)],
    ),
    Case(
        "deleted and re-registered with the same email",
        "deletions",
        re_registered,
        [
            Expect(0, "users", "purged", person=0),
            Expect(1, "users", "delivered"),
        ],
    ),
]
