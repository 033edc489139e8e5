"""What the commercetools seeder writes, read back over HTTP from the real sandbox server:
counts, markets and reference data, customers, orders and carts."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seeder import SeedSummary

from ._seeding import snapshot

pytestmark = pytest.mark.slow


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


@pytest.fixture(scope="module")
def seeded(commercetools_sandbox: CommercetoolsSandbox) -> Iterator[dict[str, Any]]:
    """One 200-customer project, read back whole right after seeding.

    Tests assert on this snapshot (taken from the API), so tests elsewhere that reset the
    shared server cannot disturb them.
    """
    commercetools_sandbox.reset()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = commercetools_sandbox.seed(customers=200, seed=42, now=now)
    data = snapshot(commercetools_sandbox)
    data["summary"] = summary
    data["now"] = now
    yield data
    commercetools_sandbox.reset()


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- counts -------------------------------------------------------------------------------


def test_summary_counts_equal_what_the_api_returns(seeded: dict[str, Any]) -> None:
    summary: SeedSummary = seeded["summary"]
    assert summary.customers == 200 == len(seeded["customers"])
    assert summary.orders == len(seeded["orders"])
    assert summary.carts == len(seeded["carts"])
    assert summary.products == len(seeded["products"])
    assert summary.categories == len(seeded["categories"])
    assert summary.stores == len(seeded["stores"])
    assert summary.customer_groups == len(seeded["customer-groups"])
    assert summary.types == len(seeded["types"])
    assert summary.channels == len(seeded["channels"])
    assert summary.product_types == len(seeded["product-types"])
    assert summary.deleted_customers == 0
    # orders average 2-3 per registered customer
    assert 2.0 <= (summary.orders - summary.guest_orders) / summary.customers <= 3.2

    guest_orders = [o for o in seeded["orders"] if not o.get("customerId")]
    assert summary.guest_orders == len(guest_orders)
    assert summary.guests == len({o["customerEmail"] for o in guest_orders})
    assert summary.orders_by_state == dict(Counter(o["orderState"] for o in seeded["orders"]))
    assert summary.orders_by_shipment_state == dict(
        Counter(o["shipmentState"] for o in seeded["orders"])
    )
    assert summary.orders_by_store == dict(Counter(o["store"]["key"] for o in seeded["orders"]))
    assert summary.orders_with_returns == sum(1 for o in seeded["orders"] if o.get("returnInfo"))
    assert summary.order_lines == sum(len(o["lineItems"]) for o in seeded["orders"])
    assert summary.orders_imported == sum(1 for o in seeded["orders"] if "cart" not in o)
    assert summary.carts_by_kind["ordered"] == sum(
        1 for c in seeded["carts"] if c["cartState"] == "Ordered"
    )
    assert summary.product_variants == sum(
        1 + len(p["masterData"]["current"]["variants"]) for p in seeded["products"]
    )
    assert sum(summary.customers_by_store.values()) == sum(
        len(c["stores"]) for c in seeded["customers"]
    )


def test_every_write_produced_its_creation_message(seeded: dict[str, Any]) -> None:
    types = Counter(m["type"] for m in seeded["messages"])
    summary: SeedSummary = seeded["summary"]
    assert types["CustomerCreated"] == summary.customers
    assert types["OrderCreated"] + types["OrderImported"] == summary.orders
    assert types["ReturnInfoAdded"] == summary.orders_with_returns
    assert types["OrderStateChanged"] > 0


# -- markets and reference data ------------------------------------------------------------


def test_project_settings_and_markets(seeded: dict[str, Any]) -> None:
    project = seeded["project"]
    assert set(project["currencies"]) == {"EUR", "GBP", "USD"}
    assert set(project["countries"]) == {"DE", "FR", "GB", "US"}
    assert {"en", "de", "fr"} <= set(project["languages"])
    assert project["messages"]["enabled"] is True

    stores = {s["key"]: s for s in seeded["stores"]}
    currencies = {key: s["custom"]["fields"]["currency"] for key, s in stores.items()}
    assert len(stores) >= 3
    assert len(set(currencies.values())) >= 3
    assert len({s["languages"][0] for s in stores.values()}) == len(stores)
    channel_ids = {c["id"] for c in seeded["channels"]}
    for store in stores.values():
        assert len(store["distributionChannels"]) == 2
        assert {ref["id"] for ref in store["distributionChannels"]} <= channel_ids
    # every order is in the currency of its store
    for order in seeded["orders"]:
        assert order["totalPrice"]["currencyCode"] == currencies[order["store"]["key"]], order[
            "orderNumber"
        ]
        assert order["totalPrice"]["fractionDigits"] == 2


def test_category_tree_and_products(seeded: dict[str, Any]) -> None:
    categories = {c["id"]: c for c in seeded["categories"]}
    assert max(len(c["ancestors"]) for c in categories.values()) >= 2  # three levels
    dresses = next(c for c in categories.values() if c["key"] == "women-dresses")
    # As a set: the real API lists ancestors root first, the mock parent first.
    assert {categories[a["id"]]["key"] for a in dresses["ancestors"]} == {"women", "women-clothing"}
    assert categories[dresses["parent"]["id"]]["key"] == "women-clothing"
    for category in categories.values():
        assert set(category["name"]) == {"en", "de", "fr"}
        assert set(category["slug"]) == {"en", "de", "fr"}

    for product in seeded["products"]:
        assert product["masterData"]["published"] is True
        current = product["masterData"]["current"]
        assert {"en", "de", "fr"} <= set(current["name"])
        assert current["categories"] and all(
            ref["id"] in categories for ref in current["categories"]
        )
        for variant in [current["masterVariant"], *current["variants"]]:
            assert variant["sku"]
            assert {p["value"]["currencyCode"] for p in variant["prices"]} == {"EUR", "GBP", "USD"}
    assert any(p["masterData"]["current"]["variants"] for p in seeded["products"])


# -- customers -----------------------------------------------------------------------------


def test_customers_cover_the_identity_and_consent_edge_cases(seeded: dict[str, Any]) -> None:
    customers = seeded["customers"]
    summary: SeedSummary = seeded["summary"]
    groups = {g["id"]: g["key"] for g in seeded["customer-groups"]}

    by_email: dict[str, list[dict[str, Any]]] = {}
    for customer in customers:
        by_email.setdefault(customer["email"], []).append(customer)
    shared = {email: group for email, group in by_email.items() if len(group) > 1}
    assert shared, "some customers must share an email"
    for email, group in shared.items():
        store_sets = [frozenset(s["key"] for s in c["stores"]) for c in group]
        assert all(store_sets), f"{email}: customers sharing an email must be store-scoped"
        assert not frozenset.intersection(*store_sets), f"{email} is shared inside one store"
    assert sum(len(g) for g in shared.values()) == summary.customers_shared_email

    without_consent = [
        c for c in customers if "emailOptIn" not in ((c.get("custom") or {}).get("fields") or {})
    ]
    assert len(without_consent) == summary.customers_without_consent
    assert any(not c.get("custom") for c in without_consent)
    opted = [
        c
        for c in customers
        if ((c.get("custom") or {}).get("fields") or {}).get("emailOptIn") is True
    ]
    assert len(opted) == summary.customers_opted_in
    assert all("emailOptInAt" in c["custom"]["fields"] for c in opted)
    assert any(
        ((c.get("custom") or {}).get("fields") or {}).get("emailOptIn") is False for c in customers
    )

    malformed = [c for c in customers if not EMAIL.match(c["email"])]
    assert len(malformed) == summary.customers_malformed_email >= 2
    assert sum(1 for c in customers if not c.get("firstName")) == summary.customers_missing_name
    assert any(len(c["stores"]) > 1 for c in customers)
    assert any(not c["stores"] for c in customers)

    for customer in customers:
        assert customer["key"] and customer["customerNumber"] and customer["externalId"]
        assert customer["locale"] in {"de", "fr", "en-GB", "en-US"}
        assert customer["addresses"], customer["key"]
        if customer.get("customerGroup"):
            assert groups[customer["customerGroup"]["id"]] in {"standard", "vip", "wholesale"}
        fields = (customer.get("custom") or {}).get("fields") or {}
        assert set(fields) <= {
            "emailOptIn",
            "emailOptInAt",
            "emailOptOutAt",
            "smsOptIn",
            "smsOptInAt",
            "phone",
            "loyaltyTier",
            "preferredChannel",
        }
    assert len({groups[c["customerGroup"]["id"]] for c in customers if c.get("customerGroup")}) == 3


# -- orders and carts ----------------------------------------------------------------------


def test_orders_have_states_lines_returns_and_history(seeded: dict[str, Any]) -> None:
    orders = seeded["orders"]
    now: datetime = seeded["now"]
    assert {"Open", "Confirmed", "Complete", "Cancelled"} <= {o["orderState"] for o in orders}
    assert {"Pending", "Shipped", "Delivered"} <= {o["shipmentState"] for o in orders}
    assert any(len(o["lineItems"]) >= 3 for o in orders)
    assert any("cart" not in o for o in orders) and any("cart" in o for o in orders)

    customers = {c["id"]: c for c in seeded["customers"]}
    for order in orders:
        number = order["orderNumber"]
        line_total = sum(li["totalPrice"]["centAmount"] for li in order["lineItems"])
        assert order["totalPrice"]["centAmount"] == line_total, number
        assert order["customerEmail"], number
        created = _ts(order["createdAt"])
        assert now - timedelta(days=741) <= created <= now, number
        assert _ts(order["lastModifiedAt"]) >= created, number
        if order.get("customerId"):
            customer = customers[order["customerId"]]
            assert created > _ts(customer["createdAt"]), number
            assert order["customerEmail"] == customer["email"], number
        for info in order.get("returnInfo") or []:
            line_ids = {li["id"] for li in order["lineItems"]}
            assert info["items"] and all(
                item["lineItemId"] in line_ids for item in info["items"]
            ), number
    spread = [_ts(o["createdAt"]) for o in orders]
    assert max(spread) - min(spread) > timedelta(days=365)


def test_carts_are_active_idle_or_ordered(seeded: dict[str, Any]) -> None:
    now: datetime = seeded["now"]
    open_carts = [c for c in seeded["carts"] if c["cartState"] == "Active"]
    kinds = seeded["summary"].carts_by_kind
    assert len(open_carts) == kinds["active"] + kinds["abandoned"]
    idle = [c for c in open_carts if now - _ts(c["lastModifiedAt"]) > timedelta(days=1)]
    recent = [c for c in open_carts if now - _ts(c["lastModifiedAt"]) <= timedelta(days=1)]
    assert len(idle) == kinds["abandoned"] and len(recent) == kinds["active"]
    assert all(c["lineItems"] and c.get("customerEmail") for c in open_carts)
    assert any(_ts(c["lastModifiedAt"]) > _ts(c["createdAt"]) for c in open_carts)
