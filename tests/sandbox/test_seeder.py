"""The commercetools seeder against the real sandbox server, over HTTP."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seed_catalog import product_plans
from ctsync.sandbox.commercetools.seed_people import ShopperPlan, plan_shoppers
from ctsync.sandbox.commercetools.seeder import (
    ChangeSummary,
    SeedError,
    SeedSummary,
    apply_changes,
    default_now,
    seed,
)

pytestmark = pytest.mark.slow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
RESOURCES = [
    "customers",
    "orders",
    "carts",
    "products",
    "categories",
    "stores",
    "customer-groups",
    "types",
    "channels",
    "product-types",
]


def _seed(ct: CommercetoolsSandbox, **kwargs: Any) -> SeedSummary:
    return seed(ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret, **kwargs)


def _changes(ct: CommercetoolsSandbox, **kwargs: Any) -> ChangeSummary:
    return apply_changes(
        ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret, **kwargs
    )


def _fetch_all(client: httpx.Client, resource: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    last_id = None
    while True:
        query: dict[str, Any] = {"limit": 500, "sort": "id asc", "withTotal": "false", **params}
        wheres = [params["where"]] if "where" in params else []
        if last_id:
            wheres.append("id > :lastId")
            query["var.lastId"] = last_id
        if wheres:
            query["where"] = wheres
        response = client.get(f"/{resource}", params=query)
        response.raise_for_status()
        page = response.json()["results"]
        rows.extend(page)
        if len(page) < 500:
            return rows
        last_id = page[-1]["id"]


def _snapshot(ct: CommercetoolsSandbox) -> dict[str, Any]:
    with ct.client() as client:
        data: dict[str, Any] = {name: _fetch_all(client, name) for name in RESOURCES}
        data["messages"] = _fetch_all(client, "messages")
        # httpx would add a trailing slash to a relative "", which is another route.
        data["project"] = client.get(f"{ct.api_url}/{ct.project_key}").json()
    return data


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


@pytest.fixture(scope="module")
def seeded(commercetools_sandbox: CommercetoolsSandbox) -> Iterator[dict[str, Any]]:
    """One 200-customer project, read back whole right after seeding.

    Tests assert on this snapshot (taken from the API), so tests elsewhere that reset the
    shared server cannot disturb them.
    """
    commercetools_sandbox.reset()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = _seed(commercetools_sandbox, customers=200, seed=42, now=now)
    data = _snapshot(commercetools_sandbox)
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


# -- determinism and changes ---------------------------------------------------------------


def test_same_seed_same_business_content_and_same_changes(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    # Seeding is dated relative to the current minute; pin it, or two seedings that straddle
    # a minute boundary differ in every timestamp (seen in CI).
    now = default_now()
    first_summary = _seed(ct, customers=100, seed=7, now=now)
    first = _business_content(_snapshot(ct))
    first_changes = _changed_keys(ct, _changes(ct, fraction=0.05, seed=3))

    ct.reset()
    second_summary = _seed(ct, customers=100, seed=7, now=now)
    second = _business_content(_snapshot(ct))
    second_changes = _changed_keys(ct, _changes(ct, fraction=0.05, seed=3))

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
    data = _snapshot(ct)
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
    _seed(ct, customers=120, seed=11)
    with ct.client() as client:
        before = {c["id"]: c for c in _fetch_all(client, "customers")}
        orders_before = {o["id"]: o for o in _fetch_all(client, "orders")}
        last_sequence = len(_fetch_all(client, "messages"))

    changes = _changes(ct, fraction=0.05, seed=5)

    assert len(changes.email_changed) == len(changes.consent_changed) == 6
    assert len(changes.customers_deleted) == 3
    assert len(changes.order_state_changed) >= 1 and len(changes.returns_added) >= 1
    touched = changes.email_changed + changes.consent_changed + changes.customers_deleted
    assert len(set(touched)) == len(touched), "one change per customer per round"

    with ct.client() as client:
        after = {c["id"]: c for c in _fetch_all(client, "customers")}
        orders_after = {o["id"]: o for o in _fetch_all(client, "orders")}
        messages = _fetch_all(client, "messages")
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


# -- failure behaviour ---------------------------------------------------------------------


def test_seeding_rides_out_throttling_and_overload(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    ct.set_faults(status_429=0.05, status_503=0.05, retry_after_seconds=0, seed=3)
    summary = _seed(ct, customers=25, seed=5)
    ct.clear_faults()
    assert summary.retries > 0
    with ct.client() as client:
        assert len(_fetch_all(client, "customers")) == summary.customers == 25
        assert len(_fetch_all(client, "orders")) == summary.orders


def test_an_expired_token_is_reminted(fresh_commercetools: CommercetoolsSandbox) -> None:
    ct = fresh_commercetools
    ct.reset_stats()
    ct.set_faults(sequence=[401])  # the first API request finds its token rejected
    summary = _seed(ct, customers=12, seed=6)
    assert ct.stats()["tokens_issued"] == 2
    with ct.client() as client:
        assert len(_fetch_all(client, "customers")) == summary.customers

    ct.reset()
    ct.set_faults(sequence=[401, 401])  # a fresh token refused too: give up, say why
    with pytest.raises(SeedError, match="HTTP 401"):
        _seed(ct, customers=2, seed=6)


def test_writes_are_not_resent_after_a_500_but_reads_are(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    ct.set_faults(sequence=[500], paths=f"^/{ct.project_key}/carts$")  # only ever POSTed
    with pytest.raises(SeedError, match=r"customer cust-\d+ .*POST /carts .*HTTP 500"):
        _seed(ct, customers=4, seed=2)
    ct.reset()
    _seed(ct, customers=4, seed=2)
    ct.set_faults(sequence=[500, 504], paths=f"^/{ct.project_key}/customers$")
    changes = _changes(ct, fraction=0.25, seed=2)  # starts with GET /customers
    assert changes.email_changed
    assert ct.faults()["sequence"] == []


def test_seeding_twice_is_refused_with_a_clear_error(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    _seed(fresh_commercetools, customers=3, seed=1)
    with pytest.raises(SeedError, match="already holds stores: seed an empty project"):
        _seed(fresh_commercetools, customers=3, seed=1)


def test_wrong_credentials_fail_without_revealing_the_secret(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    secret = "wrong-secret-a1b2c3d4e5"
    with pytest.raises(SeedError) as caught:
        seed(ct.api_url, ct.auth_url, ct.project_key, ct.client_id, secret, customers=2)
    assert "oauth/token" in str(caught.value) and "401" in str(caught.value)
    assert secret not in str(caught.value) and ct.client_secret not in str(caught.value)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(SeedError, match="customers must be at least 1"):
        seed("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", customers=0)
    with pytest.raises(SeedError, match="concurrency must be at least 1"):
        seed("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", concurrency=0)
    with pytest.raises(SeedError, match="fraction"):
        apply_changes("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", fraction=0)


# -- the command ---------------------------------------------------------------------------


def test_cli_seeds_prints_exports_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ctsync.app.cli import main; main()",
            "sandbox",
            "commercetools",
            "--customers",
            "6",
            "--seed",
            "4",
            "--project-key",
            "cli-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while len(exports) < 5 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = value
        assert set(exports) == {
            "SOURCES__COMMERCETOOLS__PROJECT_KEY",
            "SOURCES__COMMERCETOOLS__API_URL",
            "SOURCES__COMMERCETOOLS__AUTH_URL",
            "SOURCES__COMMERCETOOLS__CLIENT_ID",
            "SOURCES__COMMERCETOOLS__CLIENT_SECRET",
        }
        assert exports["SOURCES__COMMERCETOOLS__PROJECT_KEY"] == "cli-test"
        token = httpx.post(
            exports["SOURCES__COMMERCETOOLS__AUTH_URL"] + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(
                exports["SOURCES__COMMERCETOOLS__CLIENT_ID"],
                exports["SOURCES__COMMERCETOOLS__CLIENT_SECRET"],
            ),
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"{exports['SOURCES__COMMERCETOOLS__API_URL']}/cli-test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            assert len(_fetch_all(client, "customers")) == 6
            assert _fetch_all(client, "orders")
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("node" in child.name() for child in children)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, "the node server outlived the command"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
