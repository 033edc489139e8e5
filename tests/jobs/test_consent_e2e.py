"""Consent end to end (issue 10): commercetools sandbox → dlt → DuckDB → dbt → Iterable
emulator through `ctsync run`. A person who unsubscribes in Iterable stays unsubscribed
through an email change, a consent change on another attribute and `ctsync sync --full`;
lists no rule covers are never touched; guests get consent rows before their cart lands.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import (
    BACK_TO_BACK_RATE_SCALE,
    ctsync,
    fresh_shop,
    iterable_api,
    job_env,
    query,
    tail,
)

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    ct: CommercetoolsSandbox
    emulator: IterableEmulator
    warehouse: Path
    folder: Path
    env: dict[str, str]

    def ctsync(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = ctsync(self.folder, self.env, *args)
        assert done.returncode == 0, tail(done, 3000)
        return done

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return query(self.warehouse, sql, params)

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return iterable_api(self.emulator, method, path, body)


@pytest.fixture(scope="module")
def shop(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shop]:
    ct = commercetools_sandbox
    fresh_shop(ct, iterable_emulator, customers=20, seed=10, rate_scale=BACK_TO_BACK_RATE_SCALE)
    folder = tmp_path_factory.mktemp("consent")
    env = job_env(
        ct,
        iterable_emulator,
        folder / "warehouse.duckdb",
        SYNC__ITERABLE__RATE_SCALE=str(BACK_TO_BACK_RATE_SCALE),
    )
    shop = Shop(ct, iterable_emulator, folder / "warehouse.duckdb", folder, env)
    shop.ctsync("run", "--no-progress")
    yield shop
    ct.reset()


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_an_unsubscribe_made_in_iterable_survives(shop: Shop) -> None:
    # someone the shop subscribed to list 31 and the marketing email channel
    decisions = "audit.audit__consent_decisions"
    rows = shop.query(
        f"select customer_id, user_id, email from {decisions} "
        "where iterable_kind = 'email_list' and iterable_id = 31 and is_subscribed "
        f"and not is_guest and customer_id in (select customer_id from {decisions} "
        "where iterable_kind = 'channel' and iterable_id = 11 and is_subscribed) "
        f"and customer_id in (select customer_id from {decisions} "
        "where iterable_kind = 'channel' and iterable_id = 13 and not is_subscribed) "
        "order by customer_id"
    )
    # the first of them Iterable holds (the seeded shop has malformed emails the sync refuses)
    held = [(row, shop.emulator.user(user_id=row[1])) for row in rows]
    found = [(row, user) for row, user in held if user is not None]
    assert found, "the seeded shop has nobody opted in to email and out of SMS"
    (customer_id, user_id, email), user = found[0]
    profile = user["dataFields"]
    assert 31 in profile["userListIds"] and 11 not in profile["unsubscribedChannelIds"]
    # another tool puts them on a list no rule covers
    vip = shop.api("POST", "/api/lists", {"name": "VIP"}).json()["listId"]
    shop.api("POST", "/api/lists/subscribe", {"listId": vip, "subscribers": [{"userId": user_id}]})

    # they click "unsubscribe" in an email and leave the newsletter list in the preference centre
    shop.emulator.recipient("unsubscribe", userId=user_id, channelId=11)
    shop.emulator.recipient("unsubscribe", userId=user_id, listId=31)

    # in commercetools they change their email and opt in to SMS
    new_email = "renamed-" + email
    with shop.ct.client() as client:
        customer = client.get(f"/customers/{customer_id}").json()
        response = client.post(
            f"/customers/{customer_id}",
            json={
                "version": customer["version"],
                "actions": [
                    {"action": "changeEmail", "email": new_email},
                    {"action": "setCustomField", "name": "smsOptIn", "value": True},
                    {"action": "setCustomField", "name": "smsOptInAt", "value": _iso_now()},
                ],
            },
        )
        assert response.status_code == 200, response.text
    before = len(shop.emulator.requests())
    shop.ctsync("run", "--no-progress")
    shop.ctsync("sync", "--full")

    user = shop.emulator.user(user_id=user_id)
    assert user is not None and user["email"] == new_email
    fields = user["dataFields"]
    assert 11 in fields["unsubscribedChannelIds"]  # the unsubscribe survived
    assert 31 not in fields["userListIds"]
    assert vip in fields["userListIds"]  # never touched
    assert 13 not in fields["unsubscribedChannelIds"]  # the SMS opt-in was written
    # nothing re-subscribed them; no array overwrite was sent for them
    writes = [r for r in shop.emulator.requests()[before:] if "subscri" in r["endpoint"]]
    assert not any(r["endpoint"] == "users/bulkUpdateSubscriptions" for r in writes)
    reasons = dict(
        shop.query(
            "select iterable_kind || ':' || iterable_id, decision_reason "
            "from audit.audit__consent_decisions where customer_id = ?",
            [customer_id],
        )
    )
    assert reasons["channel:11"] == "iterable_opt_out"
    assert reasons["email_list:31"] == "iterable_opt_out"
    assert reasons["channel:13"] == "commercetools_opt_in"


def test_write_back_to_commercetools_is_off_by_default_and_tells_the_shop_when_on(
    shop: Shop,
) -> None:
    decisions = "audit.audit__consent_decisions"
    rows = shop.query(
        f"select d.customer_id from {decisions} d "
        "inner join intermediate.int_customers__consent c on c.customer_id = d.customer_id "
        "and c.iterable_kind = d.iterable_kind and c.iterable_id = d.iterable_id "
        "where d.iterable_kind = 'channel' and d.iterable_id = 11 "
        "and d.decision_reason = 'iterable_opt_out' and c.has_opt_in_flag"
    )
    assert rows, "the first test leaves an Iterable opt-out commercetools does not know"
    customer_id = rows[0][0]

    def email_consent() -> dict[str, Any]:
        with shop.ct.client() as client:
            fields = client.get(f"/customers/{customer_id}").json()["custom"]["fields"]
        return {k: v for k, v in fields.items() if k.startswith("emailOpt")}

    assert email_consent()["emailOptIn"] is True  # off by default: nothing written back
    shop.env["SYNC__CONSENT__WRITE_BACK_TO_COMMERCETOOLS"] = "true"
    try:
        done = shop.ctsync("run", "--no-progress")
    finally:
        del shop.env["SYNC__CONSENT__WRITE_BACK_TO_COMMERCETOOLS"]
    assert "Iterable opt-out(s) back to commercetools" in done.stdout + done.stderr
    consent = email_consent()
    assert consent["emailOptIn"] is False
    assert consent["emailOptOutAt"].startswith(datetime.now(UTC).strftime("%Y-%m-%d"))
    # the next run reads it back: commercetools now agrees, nothing re-subscribes them
    shop.ctsync("run", "--no-progress")
    [(reason, subscribed)] = shop.query(
        f"select decision_reason, is_subscribed from {decisions} "
        "where customer_id = ? and iterable_kind = 'channel' and iterable_id = 11",
        [customer_id],
    )
    assert not subscribed and reason in ("iterable_opt_out", "commercetools_opt_out")


def test_full_resync_writes_no_subscription_when_nothing_changed(shop: Shop) -> None:
    shop.ctsync("run", "--no-progress")
    before = len(shop.emulator.requests())
    shop.ctsync("sync", "--full", "--objects", "subscriptions")
    writes = [r for r in shop.emulator.requests()[before:] if r["method"] != "GET"]
    assert writes == []


def test_guests_are_unsubscribed_from_every_marketing_group(shop: Shop) -> None:
    guests = shop.query("select distinct email from audit.audit__consent_decisions where is_guest")
    assert guests, "the seeded shop has guest orders or carts"
    for (email,) in guests:
        user = shop.emulator.user(email=email)
        assert user is not None
        fields = user["dataFields"]
        assert {11, 13} <= set(fields["unsubscribedChannelIds"])
        assert 31 not in (fields.get("userListIds") or [])
