"""Identity lifecycle end to end, over HTTP, per Iterable project type: commercetools sandbox
→ dlt → DuckDB → dbt → Iterable emulator, driven through `ctsync run`.

An email change keeps the Iterable profile (history, list membership, an Iterable-side
unsubscribe, another source's field) and re-sends no purchase or event; a deleted customer
is deleted and stays deleted; delete → re-register → delete ends with no profile; a field
another source set survives every sync.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import (
    BACK_TO_BACK_RATE_SCALE,
    delete_customer,
    fresh_shop,
    iterable_api,
    job_env,
    new_run,
    query,
    tail,
)
from ._support import ctsync as run_ctsync

NEWSLETTER_LIST = 31
MARKETING_CHANNEL = 11

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    sandbox: CommercetoolsSandbox
    emulator: IterableEmulator
    warehouse: Path
    folder: Path
    env: dict[str, str]
    project_type: str

    def run(self) -> str:
        run_id, _ = new_run(self.folder, self.env, self.warehouse)
        self.emulator.flush()
        return run_id

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return query(self.warehouse, sql, params)

    def sent(self, run_id: str, obj: str) -> list[tuple[str, str]]:
        return [
            (str(key), str(op))
            for key, op in self.query(
                "select record_key, operation from ctsync.sync_changelog "
                "where run_id = ? and object = ? and outcome = 'succeeded'",
                [run_id, obj],
            )
        ]

    def profile(self, customer: dict[str, Any]) -> dict[str, Any] | None:
        if self.project_type == "email":
            return self.emulator.user(email=customer["email"].lower())
        return self.emulator.user(user_id=customer["id"])

    def iterable(self, method: str, path: str, body: Any) -> None:
        response = iterable_api(self.emulator, method, path, body)
        assert response.status_code == 200, response.text
        self.emulator.flush()


def history(shop: Shop, email: str) -> set[str]:
    """Ids of everything Iterable holds for the profile with `email` (events, purchases)."""
    response = iterable_api(shop.emulator, "GET", f"/api/events/{email}", limit="200")
    assert response.status_code == 200, response.text
    return {
        str(event["id"])
        for event in response.json()["events"]
        if event.get("eventType") != "updateCart"
    }


def identify(shop: Shop, customer: dict[str, Any]) -> dict[str, Any]:
    if shop.project_type == "email":
        return {"email": customer["email"].lower()}
    return {"userId": customer["id"]}


def customers(sandbox: CommercetoolsSandbox) -> list[dict[str, Any]]:
    with sandbox.client() as api:
        return list(api.get("/customers", params={"limit": "500"}).json()["results"])


def synced_sole_holders(shop: Shop) -> list[dict[str, Any]]:
    """Synced customers whose email no other customer shares (the shared ones are covered
    by the model tests of int_iterable__user_deletions and the contact identities)."""
    everyone = customers(shop.sandbox)
    claims: dict[str, int] = {}
    for customer in everyone:
        claims[customer["email"].lower()] = claims.get(customer["email"].lower(), 0) + 1
    return [c for c in everyone if claims[c["email"].lower()] == 1 and shop.profile(c) is not None]


def update_customer(
    sandbox: CommercetoolsSandbox, customer: dict[str, Any], actions: list[Any]
) -> dict[str, Any]:
    with sandbox.client() as api:
        current = api.get(f"/customers/{customer['id']}").json()
        response = api.post(
            f"/customers/{customer['id']}", json={"version": current["version"], "actions": actions}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def register(sandbox: CommercetoolsSandbox, email: str) -> dict[str, Any]:
    with sandbox.client() as api:
        response = api.post(
            "/customers",
            json={
                "email": email,
                "password": "secret-123",
                "firstName": "Again",
                "lastName": "Back",
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["customer"])


@pytest.fixture
def shop(
    project_type: str,
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> Iterator[Shop]:
    fresh_shop(
        commercetools_sandbox,
        iterable_emulator,
        project_type,
        customers=12,
        seed=11,
        rate_scale=BACK_TO_BACK_RATE_SCALE,
    )
    warehouse = tmp_path / "warehouse.duckdb"
    # every seeded event counts here; the backfill window has its own test
    env = job_env(
        commercetools_sandbox,
        iterable_emulator,
        warehouse,
        SYNC__ITERABLE__EVENT_BACKFILL_DAYS="all",
        SYNC__ITERABLE__RATE_SCALE=str(BACK_TO_BACK_RATE_SCALE),
    )
    yield Shop(commercetools_sandbox, iterable_emulator, warehouse, tmp_path, env, project_type)
    commercetools_sandbox.reset()


def test_identity_lifecycle(shop: Shop) -> None:
    shop.run()
    known = synced_sole_holders(shop)
    assert len(known) >= 3, "the seeded shop has too few synced customers"
    by_history = sorted(known, key=lambda c: -len(history(shop, c["email"].lower())))
    mover, leaver = by_history[0], by_history[1]

    # Iterable-side state only Iterable has: another source's field, a list membership,
    # an unsubscribe from a channel
    who = identify(shop, mover)
    shop.iterable("POST", "/api/users/update", {**who, "dataFields": {"favouriteColour": "teal"}})
    shop.iterable("POST", "/api/lists/subscribe", {"listId": NEWSLETTER_LIST, "subscribers": [who]})
    shop.iterable(
        "POST",
        "/api/users/updateSubscriptions",
        {**who, "unsubscribedChannelIds": [MARKETING_CHANNEL]},
    )
    before = shop.profile(mover)
    assert before is not None
    history_before = history(shop, mover["email"].lower())
    assert history_before

    new_email = "moved." + mover["email"].lower()
    update_customer(shop.sandbox, mover, [{"action": "changeEmail", "email": new_email}])
    delete_customer(shop.sandbox, leaver)
    second = shop.run()

    # the email change moved the profile: same history, list, unsubscribe, other field
    moved = shop.emulator.user(email=new_email)
    assert moved is not None
    fields = moved["dataFields"]
    assert fields["favouriteColour"] == "teal"
    assert (
        NEWSLETTER_LIST
        in fields[("emailListIds" if shop.project_type == "email" else "userListIds")]
    )
    assert MARKETING_CHANNEL in fields["unsubscribedChannelIds"]
    if shop.project_type != "email":
        assert moved.get("userId") == before.get("userId")
    assert shop.emulator.user(email=mover["email"].lower()) is None
    assert history_before <= history(shop, new_email)
    # nothing re-sent because the identity changed
    assert shop.sent(second, "purchases") == []
    resent_events = [key for key, _ in shop.sent(second, "events")]
    assert all(key.startswith("customerEmailChanged-") for key in resent_events), resent_events
    operations = dict(shop.sent(second, "users"))
    if shop.project_type == "email":
        assert operations.get(mover["email"].lower()) == "move"
    else:
        assert operations.get(mover["id"]) == "update"

    # the deleted customer is gone and nothing (cart, purchase, event) brought them back
    assert shop.profile(leaver) is None

    # delete -> register again with the same email -> delete: no profile at the end
    again = register(shop.sandbox, leaver["email"])
    shop.run()
    assert shop.profile(again) is not None
    delete_customer(shop.sandbox, again)
    fourth = shop.run()
    assert shop.profile(again) is None
    assert shop.emulator.user(email=leaver["email"].lower()) is None
    assert shop.sent(fourth, "user_deletions"), "the second deletion was not sent"
    # the other source's field is still there after all these syncs
    final = shop.emulator.user(email=new_email)
    assert final is not None and final["dataFields"]["favouriteColour"] == "teal"


def ctsync(shop: Shop, *args: str) -> subprocess.CompletedProcess[str]:
    done = run_ctsync(shop.folder, shop.env, *args)
    assert done.returncode == 0, tail(done)
    return done


@pytest.fixture
def history_shop(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> Iterator[Shop]:
    """An email project with two years of history and settings in `.dlt/config.toml`."""
    fresh_shop(commercetools_sandbox, iterable_emulator, "email", customers=12, seed=5)
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[sync.iterable]\nproject_type = "email"\nuser_deletion_method = "forget"\n'
    )
    warehouse = tmp_path / "warehouse.duckdb"
    env = job_env(commercetools_sandbox, iterable_emulator, warehouse)
    env.pop("SYNC__ITERABLE__PROJECT_TYPE")  # from the file
    yield Shop(commercetools_sandbox, iterable_emulator, warehouse, tmp_path, env, "email")
    commercetools_sandbox.reset()


def test_first_sync_sends_no_old_event_and_the_configured_deletion_method_is_used(
    history_shop: Shop,
) -> None:
    shop = history_shop
    ctsync(shop, "ingest")
    ctsync(shop, "build")
    [(all_events, oldest)] = shop.query(
        "select count(*), min(occurred_at) from intermediate.int_iterable__events"
    )
    [(skipped,)] = shop.query("select count(*) from iterable.iterable__events_skipped")
    assert skipped > 0 and skipped < all_events, (skipped, all_events)
    plan = ctsync(shop, "plan").stdout
    assert f"{skipped} event(s) happened before the backfill window" in plan

    ctsync(shop, "sync", "--no-progress")
    shop.emulator.flush()
    [(first_sync,)] = shop.query("select min(started_at) from ctsync.sync_runs")
    window_start = first_sync.timestamp() - 7 * 86400 - 60
    sent = shop.emulator.events()
    assert sent, "no event was sent at all"
    assert all(event["createdAt"] >= window_start for event in sent), "an old event was sent"
    assert oldest.timestamp() < window_start, "the seeded history is not older than the window"
    # purchases: the whole history by default
    [(acknowledged,)] = shop.query(
        "select count(*) from ctsync.sync_ledger where object = 'purchases'"
    )
    purchases = shop.emulator.purchases()
    assert len(purchases) == acknowledged > 0
    assert min(p["createdAt"] for p in purchases) < window_start

    # user_deletion_method = "forget" from .dlt/config.toml reaches dbt and the sync
    victim = synced_sole_holders(shop)[0]
    delete_customer(shop.sandbox, victim)
    shop.run()
    assert shop.profile(victim) is None
    assert victim["email"].lower() in [e.lower() for e in shop.emulator.forgotten()["emails"]]
