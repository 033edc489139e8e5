"""A commercetools project with Messages disabled (the default for new projects): ingest,
build and sync still work; `doctor` warns; a customer deleted without any message is found
by `ctsync ingest --reconcile-deletions` and then removed from Iterable by `ctsync run`, and
so is a deleted cart (commercetools has no message for that at all): its user's Iterable
cart is emptied."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import ctsync as run_ctsync
from ._support import job_env
from ._support import query as query_warehouse

PLAIN_EMAIL = re.compile(r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")

pytestmark = pytest.mark.slow


def _set_messages(sandbox: CommercetoolsSandbox, enabled: bool) -> None:
    url = f"{sandbox.api_url}/{sandbox.project_key}"
    headers = {"Authorization": f"Bearer {sandbox.token()}"}
    project = httpx.get(url, headers=headers, timeout=10).json()
    response = httpx.post(
        url,
        headers=headers,
        json={
            "version": project["version"],
            "actions": [
                {
                    "action": "changeMessagesConfiguration",
                    "messagesConfiguration": {"enabled": enabled},
                }
            ],
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def messages_off(commercetools_sandbox: CommercetoolsSandbox) -> Iterator[CommercetoolsSandbox]:
    """A shop seeded (the seeder switches Messages on for its history), then Messages off."""
    commercetools_sandbox.reset()
    ct = commercetools_sandbox
    ct.seed(customers=8, seed=11)
    _set_messages(commercetools_sandbox, False)
    yield commercetools_sandbox
    _set_messages(commercetools_sandbox, True)
    commercetools_sandbox.reset()


def test_deletions_are_found_by_id_reconciliation_when_messages_are_off(
    messages_off: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> None:
    ct = messages_off
    iterable_emulator.reset(project_type="hybrid")
    warehouse = tmp_path / "warehouse.duckdb"
    env = job_env(ct, iterable_emulator, warehouse)

    def ctsync(*args: str) -> subprocess.CompletedProcess[str]:
        return run_ctsync(tmp_path, env, *args)

    def query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return query_warehouse(warehouse, sql, params)

    # a customer with one open cart, which Iterable will hold as their cart
    with ct.client() as client:
        [product] = client.get("/product-projections", params={"limit": 1}).json()["results"]
        cart_user_id = client.post(
            "/customers",
            json={"email": "cart-owner@example.com", "password": "not-a-real-password"},
        ).json()["customer"]["id"]
        cart_id = client.post(
            "/carts",
            json={
                "currency": "EUR",
                "country": "DE",
                "customerId": cart_user_id,
                "lineItems": [{"sku": product["masterVariant"]["sku"], "quantity": 1}],
            },
        ).json()["id"]

    first = ctsync("run", "--no-progress")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    doctor = ctsync("doctor")
    assert "commercetools messages" in doctor.stdout
    assert "Messages are disabled" in doctor.stdout and "--reconcile-deletions" in doctor.stdout

    held = {
        u.get("userId"): u for u in iterable_emulator.users() if "customerId" in u["dataFields"]
    }
    # a customer whose email no other customer shares: deleting the winner of a shared email
    # hands the email to another customer, a different story (identity lifecycle)
    unshared = {
        customer_id
        for (customer_id,) in query(
            "select customer_id from staging.stg_commercetools__customers where email_normalized "
            "in (select email_normalized from staging.stg_commercetools__customers "
            "group by 1 having count(*) = 1)"
        )
    }
    customer_id = next(
        key
        for key, user in sorted(held.items())
        if key in unshared and key != cart_user_id and PLAIN_EMAIL.match(user.get("email") or "")
    )
    assert held[cart_user_id]["dataFields"]["shoppingCartItems"]
    with ct.client() as client:
        cart_version = client.get(f"/carts/{cart_id}").json()["version"]
        gone = client.delete(f"/carts/{cart_id}", params={"version": cart_version})
        assert gone.status_code == 200, gone.text
        version = client.get(f"/customers/{customer_id}").json()["version"]
        deleted = client.delete(f"/customers/{customer_id}", params={"version": version})
        assert deleted.status_code == 200, deleted.text
        # Messages are off: nothing announces the deletion
        announced = client.get(
            "/messages",
            params={"where": f'resource(id="{customer_id}") and type="CustomerDeleted"'},
        ).json()["results"]
        assert announced == []

    reconcile = ctsync("ingest", "--reconcile-deletions", "--resources", "customers,carts")
    assert reconcile.returncode == 0, reconcile.stdout[-3000:] + reconcile.stderr[-3000:]
    assert query(
        "select count(*) from raw_commercetools.customers where id = ?", [customer_id]
    ) == [(0,)]
    assert query(
        "select resource_type_id from raw_commercetools.reconciled_deletions where resource_id = ?",
        [customer_id],
    ) == [("customer",)]
    assert query("select count(*) from raw_commercetools.carts where id = ?", [cart_id]) == [(0,)]
    assert query(
        "select resource_type_id from raw_commercetools.reconciled_deletions where resource_id = ?",
        [cart_id],
    ) == [("cart",)]

    second = ctsync("run", "--no-progress")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert iterable_emulator.user(user_id=customer_id) is None
    emptied = iterable_emulator.user(user_id=cart_user_id)
    assert emptied is not None and emptied["dataFields"]["shoppingCartItems"] == []
    # the other customers are untouched
    assert all(
        iterable_emulator.user(user_id=key) is not None for key in held if key != customer_id
    )
