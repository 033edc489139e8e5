"""The commercetools seeder's determinism (same seed, same shop and changes) and its rounds
of changes, against the real sandbox server."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seed_catalog import product_plans
from ctsync.sandbox.commercetools.seed_people import ShopperPlan, plan_shoppers
from ctsync.sandbox.commercetools.seeder import ChangeSummary, default_now

from ._seeding import fetch_all, snapshot

pytestmark = pytest.mark.slow


def _business_content(data: dict[str, Any]) -> dict[str, Any]:
    """What must not vary between two seedings with the same seed (ids and clocks may)."""
    return {
        "emails": sorted(c["email"] for c in data["customers"]),
        "customers": sorted(
            (
                c["key"],
                c.get("firstName"),
                c.get("lastName"),
                c.get("locale"),
                tuple(s["key"] for s in c["stores"]),
                (c.get("custom") or {}).get("fields"),
            )
            for c in data["customers"]
        ),
        "orders": sorted(
            (
                o["orderNumber"],
                o.get("customerEmail"),
                o["totalPrice"]["centAmount"],
                o["totalPrice"]["currencyCode"],
                o["orderState"],
                o.get("shipmentState"),
                len(o["lineItems"]),
                len(o.get("returnInfo") or []),
            )
            for o in data["orders"]
        ),
        "skus": sorted(
            v["sku"]
            for p in data["products"]
            for v in [
                p["masterData"]["current"]["masterVariant"],
                *p["masterData"]["current"]["variants"],
            ]
        ),
        "carts": sorted(
            (c.get("customerEmail"), c["totalPrice"]["centAmount"], c["cartState"])
            for c in data["carts"]
        ),
    }


# -- determinism and changes ---------------------------------------------------------------


def test_same_seed_same_business_content_and_same_changes(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    # Seeding is dated relative to the current minute; pin it, or two seedings that straddle
    # a minute boundary differ in every timestamp (seen in CI).
    now = default_now()
    first_summary = ct.seed(customers=100, seed=7, now=now)
    first = _business_content(snapshot(ct))
    first_changes = _changed_keys(ct, ct.apply_changes(fraction=0.05, seed=3))

    ct.reset()
    second_summary = ct.seed(customers=100, seed=7, now=now)
    second = _business_content(snapshot(ct))
    second_changes = _changed_keys(ct, ct.apply_changes(fraction=0.05, seed=3))

    assert first == second
    volatile = {"requests", "retries", "seconds", "now"}
    assert {k: v for k, v in first_summary.to_dict().items() if k not in volatile} == {
        k: v for k, v in second_summary.to_dict().items() if k not in volatile
    }
    assert first_changes == second_changes
    assert first_changes["email_changed"]


def test_a_different_seed_gives_different_content() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    a = _plan(1, now)
    b = _plan(2, now)
    assert [c.email for c in a.customers] != [c.email for c in b.customers]
    again = _plan(1, now)
    assert [(c.email, [o.total for o in c.orders]) for c in a.customers] == [
        (c.email, [o.total for o in c.orders]) for c in again.customers
    ]


def _plan(seed_value: int, now: datetime, customers: int = 100) -> ShopperPlan:
    rng = random.Random(seed_value)
    return plan_shoppers(customers, rng, now, product_plans(rng))


@pytest.mark.parametrize("customers", [1, 2, 5, 30, 100])
def test_plans_of_any_size_hold_the_edge_cases(customers: int) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    plan = _plan(9, now, customers)
    assert len(plan.customers) == customers
    assert len({c.key for c in plan.customers}) == customers
    orders = [o for c in plan.customers for o in c.orders] + [
        o for g in plan.guests for o in g.orders
    ]
    assert len({o.order_number for o in orders}) == len(orders)
    for customer in plan.customers:
        for order in customer.orders:
            assert customer.created_at < order.created_at <= now
            assert order.created_at <= order.state_changed_at <= now
            assert order.return_at is None or order.state_changed_at <= order.return_at <= now
        if customer.shares_email_with and customer.index > 0:
            others = [
                c for c in plan.customers if c.email == customer.email and c.key != customer.key
            ]
            assert others and all(not set(o.stores) & set(customer.stores) for o in others)
    guest_emails = [g.email for g in plan.guests]
    assert len(set(guest_emails)) == len(guest_emails)
    if customers >= 5:
        assert sum(c.malformed_email for c in plan.customers) >= 2
        assert sum(bool(c.shares_email_with) for c in plan.customers) >= 2
        assert sum(c.missing_name for c in plan.customers) >= 2
        assert any(not c.stores for c in plan.customers)
        assert any(c.custom_fields is None for c in plan.customers) or customers < 30


def _changed_keys(ct: CommercetoolsSandbox, changes: ChangeSummary) -> dict[str, list[str]]:
    """Translate the ids a round changed into business keys (ids differ between seedings)."""
    data = snapshot(ct)
    customer_keys = {c["id"]: c["key"] for c in data["customers"]}
    order_numbers = {o["id"]: o["orderNumber"] for o in data["orders"]}
    deleted = {
        m["resource"]["id"]: m["resourceUserProvidedIdentifiers"]["key"]
        for m in data["messages"]
        if m["type"] == "CustomerDeleted"
    }
    return {
        "email_changed": sorted(customer_keys[i] for i in changes.email_changed),
        "consent_changed": sorted(customer_keys[i] for i in changes.consent_changed),
        "order_state_changed": sorted(order_numbers[i] for i in changes.order_state_changed),
        "returns_added": sorted(order_numbers[i] for i in changes.returns_added),
        "customers_deleted": sorted(deleted[i] for i in changes.customers_deleted),
    }


def test_apply_changes_produces_the_expected_messages(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    ct.seed(customers=120, seed=11)
    with ct.client() as client:
        before = {c["id"]: c for c in fetch_all(client, "customers")}
        orders_before = {o["id"]: o for o in fetch_all(client, "orders")}
        last_sequence = len(fetch_all(client, "messages"))

    changes = ct.apply_changes(fraction=0.05, seed=5)

    assert len(changes.email_changed) == len(changes.consent_changed) == 6
    assert len(changes.customers_deleted) == 3
    assert len(changes.order_state_changed) >= 1 and len(changes.returns_added) >= 1
    touched = changes.email_changed + changes.consent_changed + changes.customers_deleted
    assert len(set(touched)) == len(touched), "one change per customer per round"

    with ct.client() as client:
        after = {c["id"]: c for c in fetch_all(client, "customers")}
        orders_after = {o["id"]: o for o in fetch_all(client, "orders")}
        messages = fetch_all(client, "messages")
    assert len(messages) > last_sequence
    by_type: dict[str, set[str]] = {}
    for message in messages:
        by_type.setdefault(message["type"], set()).add(message["resource"]["id"])

    assert set(changes.customers_deleted) <= by_type["CustomerDeleted"]
    assert not set(changes.customers_deleted) & set(after)
    assert len(after) == len(before) - len(changes.customers_deleted)

    assert set(changes.email_changed) <= by_type["CustomerEmailChanged"]
    for customer_id in changes.email_changed:
        assert after[customer_id]["email"] != before[customer_id]["email"]

    flips = (
        by_type.get("CustomerCustomFieldChanged", set())
        | by_type.get("CustomerCustomTypeSet", set())
        | by_type.get("CustomerCustomFieldAdded", set())
    )
    assert set(changes.consent_changed) <= flips
    for customer_id in changes.consent_changed:
        old = ((before[customer_id].get("custom") or {}).get("fields") or {}).get("emailOptIn")
        new = after[customer_id]["custom"]["fields"]["emailOptIn"]
        assert new is (old is not True), customer_id

    assert set(changes.order_state_changed) <= by_type["OrderStateChanged"]
    progression = {"Open": "Confirmed", "Confirmed": "Complete"}
    for order_id in changes.order_state_changed:
        assert (
            orders_after[order_id]["orderState"]
            == progression[orders_before[order_id]["orderState"]]
        )
    assert set(changes.returns_added) <= by_type["ReturnInfoAdded"]
    for order_id in changes.returns_added:
        assert len(orders_after[order_id]["returnInfo"]) == 1 + len(
            orders_before[order_id].get("returnInfo") or []
        )
