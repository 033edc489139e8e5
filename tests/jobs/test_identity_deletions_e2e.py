"""Deletions end to end, over HTTP, per Iterable project type: commercetools sandbox → dlt →
DuckDB → dbt → Iterable emulator, driven through `ctsync run`.

- Deleting a customer whose email a live customer (another store) holds leaves the live
  customer's profile in Iterable, and the ledger agrees with Iterable.
- A deleted customer's open cart, order and order event, changed in the deletion's run and
  again in a later run, never re-create the profile (the emulator, like Iterable, creates
  a user on `updateCart`, `trackPurchase` and `trackBulk` for an unknown one).
- `forget` mode: when Iterable's daily forget quota is spent, the deletion waits and is
  sent on a later run.

One small seeded shop per test; as few runs as each scenario needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seed_catalog import MARKET_BY_STORE
from ctsync.sandbox.commercetools.seed_client import TIMESTAMP_HEADER, iso
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.result import EXIT_PARTIAL

from ._support import delete_customer, fresh_shop, iterable_api, job_env, new_run, query

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    sandbox: CommercetoolsSandbox
    emulator: IterableEmulator
    folder: Path
    env: dict[str, str]
    project_type: str

    @property
    def warehouse(self) -> Path:
        return self.folder / "warehouse.duckdb"

    def run(self, expect_exit: int = 0) -> str:
        run_id, _ = new_run(self.folder, self.env, self.warehouse, expect_exit)
        self.emulator.flush()
        return run_id

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return query(self.warehouse, sql, params)

    def key(self, customer: dict[str, Any]) -> str:
        """The customer's Iterable record key in this project type."""
        return str(customer["email"]).lower() if self.project_type == "email" else customer["id"]

    def profile(self, customer: dict[str, Any]) -> dict[str, Any] | None:
        if self.project_type == "email":
            return self.emulator.user(email=customer["email"].lower())
        return self.emulator.user(user_id=customer["id"])

    def requests_about(self, since: int, *needles: str) -> list[str]:
        """`METHOD path` of every request Iterable received after the first `since` whose
        path or body names any of `needles` (the emulator captures them all)."""
        return [
            f"{request['method']} {request['path']}"
            for request in self.emulator.captured()[since:]
            if any(
                needle in request["path"] or needle in json.dumps(request["request"])
                for needle in needles
            )
        ]

    def mark(self, customer: dict[str, Any]) -> None:
        """Another source writes a field on the customer's profile (Iterable-side history)."""
        who = (
            {"email": customer["email"].lower()}
            if self.project_type == "email"
            else {"userId": customer["id"]}
        )
        response = iterable_api(
            self.emulator,
            "POST",
            "/api/users/update",
            {**who, "dataFields": {"favouriteColour": "teal"}},
        )
        assert response.status_code == 200, response.text
        self.emulator.flush()


def make_shop(
    sandbox: CommercetoolsSandbox,
    emulator: IterableEmulator,
    folder: Path,
    project_type: str,
    **settings: str,
) -> Shop:
    fresh_shop(sandbox, emulator, project_type, capture=True, customers=3, seed=23)
    env = job_env(sandbox, emulator, folder / "warehouse.duckdb", **settings)
    return Shop(sandbox, emulator, folder, env, project_type)


# commercetools, through its API ---------------------------------------------------------


def register(
    sandbox: CommercetoolsSandbox, email: str, store_key: str, at: datetime | None = None
) -> dict[str, Any]:
    """A customer of `store_key` (commercetools scopes email uniqueness per store), created
    `at` (the sandbox backdates a write by its `X-Sandbox-Timestamp`)."""
    draft = {
        "email": email,
        "password": "secret-123",
        "firstName": "Dee",
        "lastName": "Lete",
        "stores": [{"typeId": "store", "key": store_key}],
    }
    headers = {TIMESTAMP_HEADER: iso(at)} if at else {}
    with sandbox.client() as api:
        response = api.post("/customers", json=draft, headers=headers)
        if response.status_code == 201:
            return dict(response.json()["customer"])
        # a server enforcing project-wide uniqueness: same end state through an email change
        response = api.post(
            "/customers", json={**draft, "email": f"x.{email}.invalid"}, headers=headers
        )
        assert response.status_code == 201, response.text
        created = response.json()["customer"]
        changed = api.post(
            f"/customers/{created['id']}",
            json={
                "version": created["version"],
                "actions": [{"action": "changeEmail", "email": email}],
            },
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        return dict(changed.json())


def any_sku(sandbox: CommercetoolsSandbox) -> str:
    with sandbox.client() as api:
        product = api.get("/products", params={"limit": "1"}).json()["results"][0]
    return str(product["masterData"]["current"]["masterVariant"]["sku"])


def open_cart(sandbox: CommercetoolsSandbox, customer: dict[str, Any], sku: str) -> dict[str, Any]:
    store = str(customer["stores"][0]["key"])
    market = MARKET_BY_STORE[store]
    with sandbox.client() as api:
        response = api.post(
            "/carts",
            json={
                "currency": market.currency,
                "country": market.country,
                "store": {"typeId": "store", "key": store},
                "customerId": customer["id"],
                "customerEmail": customer["email"],
                "lineItems": [{"sku": sku, "quantity": 1}],
                "shippingAddress": {"country": market.country},
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def update(sandbox: CommercetoolsSandbox, path: str, actions: list[Any]) -> dict[str, Any]:
    with sandbox.client() as api:
        current = api.get(path).json()
        response = api.post(path, json={"version": current["version"], "actions": actions})
        assert response.status_code == 200, response.text
        return dict(response.json())


def place_order(sandbox: CommercetoolsSandbox, customer: dict[str, Any], sku: str) -> str:
    cart = open_cart(sandbox, customer, sku)
    with sandbox.client() as api:
        response = api.post(
            "/orders",
            json={
                "cart": {"typeId": "cart", "id": cart["id"]},
                "version": cart["version"],
                "orderNumber": f"DEL-{cart['id'][:8]}",
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


# tests ------------------------------------------------------------------------------------


@pytest.fixture
def shop(
    project_type: str,
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> Iterator[Shop]:
    yield make_shop(commercetools_sandbox, iterable_emulator, tmp_path, project_type)
    commercetools_sandbox.reset()
    iterable_emulator.reset(capture=False)


def test_deleted_customers_never_take_a_live_profile_or_come_back(shop: Shop) -> None:
    sandbox = shop.sandbox
    # `owner` has the profile of the shared email; `holder` registered later in another
    # store with the same email (a duplicate in email and hybrid projects until `owner` is
    # deleted); `leaver` has an open cart
    a_month_ago = datetime.now(UTC) - timedelta(days=30)
    owner = register(sandbox, "shared.owner@example.com", "de-store", at=a_month_ago)
    holder = register(sandbox, "shared.owner@example.com", "uk-store")
    leaver = register(sandbox, "leaver@example.com", "de-store")
    sku = any_sku(sandbox)
    cart = open_cart(sandbox, leaver, sku)
    shop.run()

    assert shop.profile(owner) is not None and shop.profile(leaver) is not None
    if shop.project_type == "userId":
        assert shop.profile(holder) is not None  # emails are not unique in userId projects
        shop.mark(holder)
    elif shop.project_type == "email":
        shop.mark(owner)  # the one profile of the shared email

    # the deletion's run also carries the deleted customer's newest cart change, order and
    # order event
    update(sandbox, f"/carts/{cart['id']}", [{"action": "addLineItem", "sku": sku, "quantity": 2}])
    order_id = place_order(sandbox, leaver, sku)
    update(
        sandbox, f"/orders/{order_id}", [{"action": "changeOrderState", "orderState": "Confirmed"}]
    )
    delete_customer(sandbox, leaver)
    delete_customer(sandbox, owner)
    before_deletion = len(shop.emulator.captured())
    shop.run()

    # the live holder's profile is there, with what Iterable alone had on it
    if shop.project_type == "email":
        kept = shop.profile(holder)
        assert kept is not None, "deleting a customer deleted the live holder's profile"
        assert kept["dataFields"]["customerId"] == holder["id"]
        assert kept["dataFields"]["favouriteColour"] == "teal"
        # the deletion is held, with its reason, and the ledger agrees with Iterable
        assert shop.query(
            "select reason_code from iterable.iterable__rejections "
            "where object = 'user_deletions' and record_key = ?",
            [shop.key(owner)],
        ) == [("identity_held_by_live_customer",)]
        assert shop.query(
            "select count(*) from ctsync.sync_ledger "
            "where object = 'user_deletions' and record_key = ?",
            [shop.key(owner)],
        ) == [(0,)]
        [(operation, payload)] = shop.query(
            "select operation, payload from ctsync.sync_ledger "
            "where object = 'users' and record_key = ?",
            [shop.key(holder)],
        )
        assert operation == "upsert" and holder["id"] in payload
    else:
        # by userId: the deleted customer's own profile goes, the holder's stays
        assert shop.profile(owner) is None
        kept = shop.profile(holder)
        assert kept is not None, "the live holder has no profile"
        assert kept["email"] == holder["email"].lower()
        if shop.project_type == "userId":
            assert kept["dataFields"]["favouriteColour"] == "teal"
        [(deletion,)] = shop.query(
            "select operation from ctsync.sync_ledger "
            "where object = 'user_deletions' and record_key = ?",
            [owner["id"]],
        )
        assert deletion == "upsert"
        assert shop.query(
            "select operation from ctsync.sync_ledger where object = 'users' and record_key = ?",
            [holder["id"]],
        ) == [("upsert",)]

    # the deleted customer is gone: the deletion was the only request about them (their
    # cart's new content, their order and its event were not sent)
    leaver_named = (leaver["id"], leaver["email"].lower(), order_id)
    assert shop.profile(leaver) is None
    assert shop.emulator.user(email=leaver["email"].lower()) is None
    assert shop.requests_about(before_deletion, *leaver_named) == [
        f"DELETE /api/users/{leaver['email'].lower()}"
        if shop.project_type == "email"
        else f"DELETE /api/users/byUserId/{leaver['id']}"
    ]

    # a later run with more changes to the deleted customer's cart and order
    update(sandbox, f"/carts/{cart['id']}", [{"action": "addLineItem", "sku": sku, "quantity": 1}])
    update(
        sandbox, f"/orders/{order_id}", [{"action": "changeOrderState", "orderState": "Complete"}]
    )
    before_later = len(shop.emulator.captured())
    shop.run()
    assert shop.requests_about(before_later, *leaver_named) == []
    assert shop.profile(leaver) is None, "a deleted customer's profile was re-created"
    assert shop.emulator.user(email=leaver["email"].lower()) is None
    assert shop.profile(holder) is not None


@pytest.fixture
def forget_shop(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> Iterator[Shop]:
    yield make_shop(
        commercetools_sandbox,
        iterable_emulator,
        tmp_path,
        "email",
        SYNC__ITERABLE__USER_DELETION_METHOD="forget",
    )
    commercetools_sandbox.reset()
    iterable_emulator.reset(capture=False)


def test_a_forget_over_the_daily_quota_waits_for_a_later_run(forget_shop: Shop) -> None:
    shop = forget_shop
    # two profiles Iterable already holds, of customers deleted before this first sync
    gone = [
        register(shop.sandbox, "first.forgotten@example.com", "de-store"),
        register(shop.sandbox, "second.forgotten@example.com", "uk-store"),
    ]
    for customer in gone:
        shop.mark(customer)
        delete_customer(shop.sandbox, customer)
    shop.emulator.set_forget_quota(1)

    spent = shop.run(expect_exit=EXIT_PARTIAL)  # one deletion waits for tomorrow's quota
    [(status,)] = shop.query("select status from ctsync.sync_runs where run_id = ?", [spent])
    assert status == "partial"
    keys = {shop.key(customer) for customer in gone}
    forgotten = set(shop.emulator.forgotten()["emails"])
    [done] = keys & forgotten
    [waiting] = keys - forgotten
    assert shop.emulator.user(email=done) is None
    assert shop.emulator.user(email=waiting) is not None
    assert shop.query(
        "select reason_code, resolved_at from ctsync.sync_rejections "
        "where object = 'user_deletions' and record_key = ?",
        [waiting],
    ) == [("daily_quota_exhausted", None)]
    assert shop.query(
        "select record_key from ctsync.sync_ledger where object = 'user_deletions'"
    ) == [(done,)]

    shop.emulator.set_forget_quota(1)  # a new day
    shop.run()
    assert shop.emulator.user(email=waiting) is None
    assert waiting in shop.emulator.forgotten()["emails"]
    assert shop.query(
        "select count(*) from ctsync.sync_rejections "
        "where object = 'user_deletions' and record_key = ? and resolved_at is null",
        [waiting],
    ) == [(0,)]
    acknowledged = shop.query(
        "select record_key from ctsync.sync_ledger where object = 'user_deletions'"
    )
    assert sorted(r[0] for r in acknowledged) == sorted(keys)
