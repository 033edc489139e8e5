"""End-to-end sync runs over HTTP against the Iterable emulator, with a real DuckDB file."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from ctsync.core.config import IterableSettings
from ctsync.core.lock import RunLockHeld, run_lock
from ctsync.core.warehouse import connect
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.audit import request_replay
from ctsync.sync.engine import run_sync
from ctsync.sync.plan import build_plan
from ctsync.sync.reset import reset_state
from ctsync.sync.result import EXIT_PARTIAL, SyncResult

pytestmark = pytest.mark.slow

SCALE = 40.0  # emulator and client both run at 40x Iterable's published rates
ITEM = {"id": "sku-1", "name": "Mug", "price": 9.5, "quantity": 1}


@pytest.fixture
def emu(fresh_iterable: IterableEmulator) -> IterableEmulator:
    fresh_iterable.reset(project_type="hybrid", rate_scale=SCALE)
    return fresh_iterable


def settings_for(emu: IterableEmulator, **overrides: Any) -> IterableSettings:
    values: dict[str, Any] = dict(
        api_key=emu.api_key,
        api_url=emu.api_url,
        project_type=emu.project_type,
        rate_scale=SCALE,
        timeout_seconds=5.0,
        backoff_base_seconds=0.02,
        backoff_max_seconds=0.3,
        concurrency=4,
    )
    values.update(overrides)
    return IterableSettings(**values)


def api(emu: IterableEmulator, method: str, path: str, body: Any = None) -> httpx.Response:
    """Talk to the emulator's public API directly, as another Iterable client would."""
    return httpx.request(
        method, f"{emu.api_url}{path}", json=body, headers={"Api-Key": emu.api_key}, timeout=10
    )


def user_payload(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "email": f"user{i}@example.com",
        "userId": f"cust-{i}",
        "dataFields": {"firstName": f"F{i}", "orders": i % 5, **fields},
    }


def users(n: int, **fields: Any) -> dict[str, dict[str, Any]]:
    return {f"cust-{i:04d}": user_payload(i, **fields) for i in range(n)}


def sent_user_emails(emu: IterableEmulator) -> list[str]:
    emails = []
    for request in emu.captured():
        if request["endpoint"] == "users/bulkUpdate":
            emails += [u["email"] for u in request["request"]["users"]]
    return emails


def test_delta_precision_only_changed_users_are_sent(emu: IterableEmulator, warehouse) -> None:
    desired = users(120)
    warehouse.set_desired("users", desired)
    settings = settings_for(emu, batch_sizes={"users": 25})
    first = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert (first.status, first.objects["users"].succeeded) == ("succeeded", 120)
    emu.flush()
    assert len(emu.users()) == 120

    emu.reset(project_type="hybrid", rate_scale=SCALE, capture=True)
    # the emulator forgot everything; the ledger did not: unchanged rows must not be resent
    changed = ["cust-0003", "cust-0010", "cust-0042", "cust-0077", "cust-0101", "cust-0119"]
    for key in changed:
        desired[key]["dataFields"]["orders"] = 99
    warehouse.set_desired("users", desired)
    second = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert second.objects["users"].planned == len(changed)
    assert second.objects["users"].sent == len(changed)
    expected = sorted(desired[k]["email"] for k in changed)
    assert sorted(sent_user_emails(emu)) == expected
    emu.flush()
    assert sorted(u["email"] for u in emu.users()) == expected
    assert all(u["dataFields"]["orders"] == 99 for u in emu.users())
    row = warehouse.query(
        "select sent_count, succeeded_count from ctsync.sync_run_objects where run_id = ?",
        [second.run_id],
    )
    assert row == [(len(changed), len(changed))]

    third = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert third.objects["users"].planned == 0 and third.requests == 0


def test_faults_every_record_delivered_once_in_effect(emu: IterableEmulator, warehouse) -> None:
    emu.reset(
        project_type="hybrid",
        rate_scale=SCALE,
        faults="*:500=0.1,502=0.05,503=0.05,429=0.15,drop=0.05,hang=0.04,hang_s=2,seed=7",
    )
    desired_users = users(150)
    events = {
        f"ev-{i:03d}": {
            "email": f"user{i % 150}@example.com",
            "eventName": "productViewed",
            "id": f"ev-{i:03d}",
            "createdAt": 1_700_000_000 + i,
            "dataFields": {"sku": f"sku-{i % 7}"},
        }
        for i in range(120)
    }
    purchases = {
        f"order-{i}": {
            "id": f"order-{i}",
            "user": {"email": f"user{i}@example.com"},
            "items": [ITEM],
            "total": 9.5,
            "createdAt": 1_700_000_000,
        }
        for i in range(25)
    }
    warehouse.set_desired("users", desired_users)
    warehouse.set_desired("events", events)
    warehouse.set_desired("purchases", purchases)
    settings = settings_for(
        emu,
        timeout_seconds=0.8,
        max_attempts=10,
        batch_sizes={"users": 10, "events": 10},
    )
    result = run_sync(settings, warehouse.path, progress=False)
    assert result.status == "succeeded", result.error_message
    counters = emu.counters()
    statuses = {status for per in counters.values() for status in per}
    assert {429, 500}.issubset(statuses), counters  # the faults really happened
    assert result.retries > 0 and result.rate_limited > 0

    emu.set_faults("")
    emu.flush()
    stored = {u["email"]: u for u in emu.users()}
    assert set(stored) == {u["email"] for u in desired_users.values()}
    assert all(
        stored[u["email"]]["dataFields"]["orders"] == u["dataFields"]["orders"]
        for u in desired_users.values()
    )
    stored_events = emu.events("productViewed")
    assert sorted(e["id"] for e in stored_events) == sorted(events)  # no duplicates
    assert sorted(p["id"] for p in emu.purchases()) == sorted(purchases)
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == 150 + 120 + 25
    again = run_sync(settings, warehouse.path, progress=False)
    assert again.totals.sent == 0


def test_partial_failures_and_type_mismatches_become_rejections(
    emu: IterableEmulator, warehouse
) -> None:
    # Iterable already knows: a forgotten customer, a userId taken by another email, an
    # event field typed as a number, a user field typed as a number.
    assert api(emu, "POST", "/api/users/update", {"email": "gone@example.com"}).status_code == 200
    assert api(emu, "POST", "/api/users/forget", {"email": "gone@example.com"}).status_code == 200
    api(emu, "POST", "/api/users/update", {"email": "user2@example.com", "userId": "legacy-2"})
    api(emu, "POST", "/api/users/update", {"email": "x@example.com", "dataFields": {"age": 30}})
    api(
        emu,
        "POST",
        "/api/events/trackBulk",
        {
            "events": [
                {
                    "email": "x@example.com",
                    "eventName": "reviewed",
                    "id": "seed-1",
                    "dataFields": {"stars": 4},
                }
            ]
        },
    )
    emu.flush()

    desired = users(8)
    desired["cust-0005"] = {"email": "gone@example.com", "dataFields": {"firstName": "G"}}
    desired["cust-0006"]["dataFields"]["age"] = "thirty"  # locked as long in Iterable
    desired["cust-0007"]["email"] = "not-an-email"
    warehouse.set_desired("users", desired)
    events = {
        f"rv-{i}": {
            "email": f"user{i}@example.com",
            "eventName": "reviewed",
            "id": f"rv-{i}",
            "dataFields": {"comment": "ok"},
        }
        for i in range(10)
    }
    for key in ("rv-3", "rv-8"):
        events[key]["dataFields"]["stars"] = "five"  # only Iterable knows stars is a number
    warehouse.set_desired("events", events)

    result = run_sync(
        settings_for(emu), warehouse.path, objects=["users", "events"], progress=False
    )
    assert result.status == "succeeded_with_rejections"
    rejected = warehouse.open_rejections()
    assert rejected == {
        "cust-0002": "iterable_conflict",
        "cust-0005": "iterable_forgotten",
        "cust-0006": "field_type_mismatch",
        "cust-0007": "invalid_email",
        "rv-3": "iterable_type_mismatch",
        "rv-8": "iterable_type_mismatch",
    }
    emu.flush()
    stored = {u.get("email") for u in emu.users()}
    for i in (0, 1, 3, 4):
        assert f"user{i}@example.com" in stored
    assert "not-an-email" not in stored
    assert sorted(e["id"] for e in emu.events("reviewed")) == sorted(
        ["seed-1"] + [k for k in events if k not in ("rv-3", "rv-8")]
    )
    detail = warehouse.scalar(
        "select reason_detail from ctsync.sync_rejections where record_key = 'rv-3'"
    )
    assert "stars" in detail
    ledger_keys = {k for (k,) in warehouse.query("select record_key from ctsync.sync_ledger")}
    assert not ledger_keys & set(rejected)
    changelog = dict(
        warehouse.query(
            "select record_key, http_status from ctsync.sync_changelog where outcome = 'rejected'"
        )
    )
    assert changelog["rv-3"] == 400 and changelog["cust-0007"] is None


def test_rejections_are_held_then_resolved_by_fixed_data_or_replay(
    emu: IterableEmulator, warehouse
) -> None:
    api(emu, "POST", "/api/users/update", {"email": "user1@example.com", "userId": "legacy-1"})
    emu.flush()
    desired = users(3)
    desired["cust-0002"]["email"] = "broken@@example.com"
    warehouse.set_desired("users", desired)
    settings = settings_for(emu)
    run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert warehouse.open_rejections() == {
        "cust-0001": "iterable_conflict",
        "cust-0002": "invalid_email",
    }

    held = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert (held.objects["users"].planned, held.objects["users"].held) == (0, 2)
    assert held.requests == 0

    # fix the source data of one row; the other is fixed in Iterable, then replayed
    desired["cust-0002"]["email"] = "fixed@example.com"
    warehouse.set_desired("users", desired)
    assert api(emu, "DELETE", "/api/users/byUserId/legacy-1").status_code == 200
    emu.flush()
    with connect(warehouse.path) as con:
        assert request_replay(con, reason="iterable_conflict") == 1
    fixed = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert fixed.status == "succeeded"
    assert fixed.objects["users"].succeeded == 2
    assert warehouse.open_rejections() == {}
    resolved = warehouse.query(
        "select record_key, attempts from ctsync.sync_rejections "
        "where resolved_at is not null order by 1"
    )
    assert resolved == [("cust-0001", 1), ("cust-0002", 1)]
    emu.flush()
    assert emu.user(email="fixed@example.com") is not None
    assert emu.user(user_id="cust-1")["email"] == "user1@example.com"


def group_rows(
    desired: dict[str, dict[str, Any]], key: str, actions: dict[tuple[str, int], str]
) -> dict[str, dict[str, Any]]:
    """Subscription rows (one per group) for one user, as iterable__subscriptions has them."""
    user = desired[key]
    kinds = {"emailList": "email_list", "messageChannel": "channel", "messageType": "message_type"}
    return {
        f"{key}:{kinds[group]}:{group_id}": {
            "email": user["email"],
            "userId": user["userId"],
            "subscriptionGroup": group,
            "subscriptionGroupId": group_id,
            "action": action,
        }
        for (group, group_id), action in actions.items()
    }


def test_opted_out_customer_stays_unsubscribed(emu: IterableEmulator, warehouse) -> None:
    # Rewritten for per-group subscription rows (issue 10): each row changes one group.
    desired = users(3)
    warehouse.set_desired("users", desired)
    warehouse.mark_read_back()
    subscriptions: dict[str, dict[str, Any]] = {}
    for key in desired:
        subscriptions.update(group_rows(desired, key, {("emailList", 31): "subscribe"}))
    warehouse.set_desired("subscriptions", subscriptions)
    settings = settings_for(emu)
    run_sync(settings, warehouse.path, progress=False)
    emu.flush()
    assert emu.user(email="user1@example.com")["dataFields"]["userListIds"] == [31]
    # another tool puts customer 1 on a list no rule covers
    other = api(emu, "POST", "/api/lists", {"name": "VIP"}).json()["listId"]
    api(
        emu,
        "POST",
        "/api/lists/subscribe",
        {"listId": other, "subscribers": [{"userId": "cust-1"}]},
    )

    # customer 1 opts out in commercetools: their groups are written one by one
    subscriptions = group_rows(
        desired,
        "cust-0001",
        {
            ("emailList", 31): "unsubscribe",
            ("messageChannel", 11): "unsubscribe",
            ("messageType", 21): "unsubscribe",
            ("messageType", 22): "unsubscribe",
        },
    )
    warehouse.set_desired("subscriptions", subscriptions)
    run_sync(settings, warehouse.path, progress=False)
    emu.flush()

    # later runs change the profile and record a purchase; nothing re-subscribes them
    desired["cust-0001"]["dataFields"]["orders"] = 42
    warehouse.set_desired("users", desired)
    warehouse.set_desired(
        "purchases",
        {
            "o-1": {
                "id": "o-1",
                "user": {"email": "user1@example.com"},
                "items": [ITEM],
                "total": 9.5,
            }
        },
    )
    later = run_sync(settings, warehouse.path, progress=False)
    assert later.objects["subscriptions"].sent == 0
    assert later.objects["users"].sent == 1 and later.objects["purchases"].sent == 1
    resubscribe = dict(desired)
    resubscribe["cust-0002"] = user_payload(2, emailListIds=[31])
    warehouse.set_desired("users", resubscribe)
    blocked = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert warehouse.open_rejections("users") == {"cust-0002": "managed_field"}
    assert blocked.objects["users"].sent == 0
    emu.flush()
    profile = emu.user(email="user1@example.com")["dataFields"]
    assert profile["orders"] == 42
    assert profile["unsubscribedChannelIds"] == [11]
    assert profile["unsubscribedMessageTypeIds"] == [21, 22]
    assert profile["userListIds"] == [other]  # the list no rule covers is untouched
    assert not any(r["endpoint"] == "users/bulkUpdateSubscriptions" for r in emu.requests())


def test_subscriptions_wait_for_the_read_back(emu: IterableEmulator, warehouse) -> None:
    desired = users(1)
    warehouse.set_desired("users", desired)
    warehouse.set_desired(
        "subscriptions", group_rows(desired, "cust-0000", {("messageChannel", 11): "unsubscribe"})
    )
    result = run_sync(settings_for(emu), warehouse.path, progress=False)
    counts = result.objects["subscriptions"]
    assert (counts.planned, counts.sent, counts.held) == (1, 0, 1)
    assert result.objects["users"].succeeded == 1
    warehouse.mark_read_back()
    again = run_sync(settings_for(emu), warehouse.path, progress=False)
    assert again.objects["subscriptions"].succeeded == 1


def test_a_wrong_id_in_the_consent_seed_stops_subscriptions_with_one_clear_error(
    emu: IterableEmulator, warehouse, tmp_path, monkeypatch
) -> None:
    from ctsync.sync import consent

    seed = tmp_path / "rules.csv"
    seed.write_text(
        "consent_attribute,iterable_kind,iterable_id,iterable_name,source_of_truth\n"
        "email,email_list,31,Newsletter,commercetools\n"
        "email,channel,99,Marketing Email,opt_out_wins\n"
        "sms,message_type,22,Promotions,iterable\n"
    )
    monkeypatch.setattr(consent, "RULES_PATH", seed)
    desired = users(2)
    warehouse.set_desired("users", desired)
    warehouse.mark_read_back()
    rows: dict[str, dict[str, Any]] = {}
    for key in desired:
        rows.update(group_rows(desired, key, {("messageChannel", 99): "unsubscribe"}))
    warehouse.set_desired("subscriptions", rows)
    settings = settings_for(emu)
    for _ in range(2):
        result = run_sync(settings, warehouse.path, progress=False)
        assert result.status == "failed" and result.exit_code == 1
        message = result.error_message or ""
        assert "seeds/iterable_consent_rules.csv line 3" in message
        assert "no channel 99" in message
        # and line 4: message type 22 sits on an Email channel, not SMS
        assert "line 4" in message and "not SMS" in message
        counts = result.objects["subscriptions"]
        assert (counts.sent, counts.failed) == (0, 0)
        assert result.objects["users"].failed == 0
    # nothing waits as a transient failure, nothing was sent to the group endpoints
    assert warehouse.open_rejections("subscriptions") == {}
    assert not [r for r in emu.requests() if "subscriptions/" in r["endpoint"]]


def test_api_key_never_reaches_logs_exceptions_or_tables(
    emu: IterableEmulator, warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.reset(project_type="hybrid", rate_scale=SCALE, faults="*:500=0.3,seed=3")
    warehouse.set_desired("users", users(30))
    settings = settings_for(emu, batch_sizes={"users": 5}, max_attempts=6)
    assert emu.api_key not in repr(settings) and emu.api_key not in str(settings)
    ok = run_sync(settings, warehouse.path, progress=False)
    assert ok.retries > 0

    wrong_key = "wrong-key-" + emu.api_key[::-1]
    bad_settings = settings_for(emu, api_key=wrong_key)
    warehouse.set_desired("users", users(31))
    failed = run_sync(bad_settings, warehouse.path, progress=False)
    assert failed.status == "auth_error" and failed.exit_code == 4
    assert "401" in (failed.error_message or "")

    texts = [caplog.text, repr(ok), repr(failed), failed.error_message or ""]
    for table in (
        "sync_runs",
        "sync_run_objects",
        "sync_changelog",
        "sync_rejections",
        "sync_ledger",
    ):
        texts.append(repr(warehouse.query(f"select * from ctsync.{table}")))
    blob = "\n".join(texts)
    assert "HTTP Request" in caplog.text or "retry" in caplog.text  # logs were captured
    for secret in (emu.api_key, wrong_key):
        assert secret not in blob


def test_401_stops_the_run_and_acknowledges_nothing(emu: IterableEmulator, warehouse) -> None:
    warehouse.set_desired("users", users(40))
    settings = settings_for(emu, api_key="not-the-key-0000", batch_sizes={"users": 5})
    result = run_sync(settings, warehouse.path, progress=False)
    assert result.status == "auth_error"
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == 0
    assert warehouse.scalar("select status from ctsync.sync_runs") == "auth_error"
    assert sum(emu.counters().get("users/bulkUpdate", {}).values()) <= settings.concurrency * 2


def test_deletes_full_resync_and_reset_state(emu: IterableEmulator, warehouse) -> None:
    settings = settings_for(emu)
    warehouse.set_desired("users", users(6))
    warehouse.set_desired(
        "carts", {"c-1": {"user": {"email": "user1@example.com"}, "items": [ITEM]}}
    )
    warehouse.set_desired(
        "catalog_items",
        {
            f"sku-{i}": {"itemId": f"sku-{i}", "value": {"name": f"P{i}", "price": 2.5}}
            for i in range(4)
        },
    )
    run_sync(settings, warehouse.path, progress=False)
    # users and carts both validate user fields: getFields is fetched once per run
    assert emu.counters()["users/getFields"] == {200: 1}
    emu.flush()
    assert len(emu.catalog_items("products")) == 4

    # removals: a user, the cart, a catalog item
    remaining = users(6)
    del remaining["cust-0004"]
    warehouse.set_desired("users", remaining)
    warehouse.set_desired("carts", {})
    warehouse.set_desired(
        "catalog_items",
        {
            f"sku-{i}": {"itemId": f"sku-{i}", "value": {"name": f"P{i}", "price": 2.5}}
            for i in range(3)
        },
    )
    removal = run_sync(settings, warehouse.path, progress=False)
    assert removal.status == "succeeded"
    assert {k: v.succeeded for k, v in removal.objects.items() if v.succeeded} == {
        "users": 1,
        "carts": 1,
        "catalog_items": 1,
    }
    emu.flush()
    assert emu.user(email="user4@example.com") is None
    assert emu.user(email="user1@example.com")["dataFields"].get("shoppingCartItems") == []
    assert sorted(emu.catalog_items("products")) == ["sku-0", "sku-1", "sku-2"]
    assert (
        warehouse.scalar("select operation from ctsync.sync_ledger where record_key = 'cust-0004'")
        == "delete"
    )

    full = run_sync(settings, warehouse.path, objects=["users"], full=True, progress=False)
    assert (full.mode, full.objects["users"].sent) == ("full", 5)

    warehouse.set_desired("users", users(9))
    marked = reset_state(warehouse.path, objects=["users"])
    assert marked == {"users": 4}
    quiet = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert quiet.objects["users"].planned == 0
    emu.flush()
    assert emu.user(email="user8@example.com") is None  # marked, never sent


def test_dry_run_and_plan_write_and_send_nothing(emu: IterableEmulator, warehouse) -> None:
    desired = users(5)
    desired["cust-0003"]["email"] = "bad"
    warehouse.set_desired("users", desired)
    before = warehouse.query("select count(*) from ctsync.sync_runs")
    result = run_sync(settings_for(emu), warehouse.path, dry_run=True, progress=False)
    assert (result.status, result.objects["users"].planned) == ("dry_run", 5)
    assert result.objects["users"].rejected == 1
    [plan] = build_plan(settings_for(emu), warehouse.path, ["users"], sample=2)
    assert (plan.operations, plan.invalid, len(plan.samples)) == ({"upsert": 5}, 1, 2)
    assert warehouse.query("select count(*) from ctsync.sync_runs") == before
    assert warehouse.scalar("select count(*) from ctsync.sync_changelog") == 0
    assert emu.counters() == {}


def test_run_lock_fails_fast_naming_the_holder(emu: IterableEmulator, warehouse) -> None:
    import os

    warehouse.set_desired("users", users(2))
    with run_lock(warehouse.path):
        with pytest.raises(RunLockHeld) as caught:
            run_sync(settings_for(emu), warehouse.path, progress=False)
        assert f"process {os.getpid()}" in str(caught.value)
        # a job runner holding the lock itself passes lock_held
        inside = run_sync(
            settings_for(emu),
            warehouse.path,
            progress=False,
            lock_held=True,
            run_id="job-run-1",
            trigger="schedule",
        )
    assert inside.status == "succeeded"
    assert warehouse.query("select run_id, trigger from ctsync.sync_runs") == [
        ("job-run-1", "schedule")
    ]


def test_email_based_project_identity_rules(emu: IterableEmulator, warehouse) -> None:
    emu.reset(project_type="email", rate_scale=SCALE)
    warehouse.set_desired(
        "users",
        {
            "a": {"email": "a@example.com", "dataFields": {"n": 1}},
            "b": {"userId": "only-id", "dataFields": {"n": 2}},
            "c": {"userId": "placeholder-ok", "preferUserId": True, "dataFields": {"n": 3}},
        },
    )
    result = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert warehouse.open_rejections() == {"b": "missing_identifier"}
    assert result.objects["users"].succeeded == 2
    emu.flush()
    assert emu.user(user_id="placeholder-ok")["email"].endswith("@placeholder.email")
    assert emu.user(user_id="only-id") is None


def test_user_id_project_deletes_by_user_id(emu: IterableEmulator, warehouse) -> None:
    emu.reset(project_type="userId", rate_scale=SCALE)
    settings = settings_for(emu)
    desired = {f"u{i}": {"userId": f"u{i}", "dataFields": {"n": i}} for i in range(3)}
    warehouse.set_desired("users", desired)
    run_sync(settings, warehouse.path, objects=["users"], progress=False)
    del desired["u1"]
    del desired["u2"]  # a deleted customer is no longer a desired user (dbt leaves them out)
    warehouse.set_desired("users", desired)
    warehouse.set_desired("user_deletions", {"u2": {"userId": "u2", "method": "forget"}})
    result = run_sync(settings, warehouse.path, progress=False)
    assert result.status == "succeeded", warehouse.open_rejections()
    emu.flush()
    assert emu.user(user_id="u1") is None
    assert emu.user(user_id="u0") is not None
    assert "u2" in emu.forgotten()["userIds"]


def test_duplicate_keys_in_a_broken_changes_view_are_refused(
    emu: IterableEmulator, warehouse
) -> None:
    warehouse.set_desired("users", users(3))
    with connect(warehouse.path) as con:
        con.execute(
            "create or replace view iterable.iterable__users_changes as "
            "select record_key, 'upsert' as operation, payload, payload_hash, "
            "'users:' || record_key as idempotency_key, source_updated_at "
            "from iterable.iterable__users union all "
            "select record_key, 'upsert', payload, payload_hash, 'x', source_updated_at "
            "from iterable.iterable__users where record_key = 'cust-0001'"
        )
    result = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert result.status == "succeeded_with_rejections"
    assert result.objects["users"].succeeded == 3
    assert (
        warehouse.scalar(
            "select count(*) from ctsync.sync_changelog where reason_code = 'duplicate_record_key'"
        )
        == 1
    )


def test_pacing_at_published_limits_avoids_429(fresh_iterable: IterableEmulator, warehouse) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=1.0)  # bulkUpdate 5/s, as Iterable
    warehouse.set_desired("users", users(120))
    settings = settings_for(emu, rate_scale=1.0, batch_sizes={"users": 10})
    result = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert result.status == "succeeded"
    assert emu.counters()["users/bulkUpdate"] == {200: 12}
    assert result.rate_limited == 0
    started = [r["at"] for r in emu.requests(endpoint="users/bulkUpdate")]
    assert max(started) - min(started) >= 11 * 0.2 - 0.05


def test_requests_are_full_across_page_boundaries(emu: IterableEmulator, warehouse) -> None:
    desired = users(1000)
    desired["cust-0500"]["email"] = "invalid"
    warehouse.set_desired("users", desired)
    settings = settings_for(emu, page_size=300, batch_sizes={"users": 250})
    result = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert result.objects["users"].succeeded == 999
    # 999 valid rows in pages of 300: four requests (250, 250, 250, 249), not seven
    assert emu.counters()["users/bulkUpdate"] == {200: 4}


def test_disallowed_event_names_are_rejected_per_row(emu: IterableEmulator, warehouse) -> None:
    emu.reset(project_type="hybrid", rate_scale=SCALE, disallowed_event_names=["debugPing"])
    events = {
        f"ev-{i}": {
            "email": f"user{i}@example.com",
            "id": f"ev-{i}",
            "eventName": "debugPing" if i % 4 == 0 else "pageViewed",
        }
        for i in range(12)
    }
    warehouse.set_desired("events", events)
    result = run_sync(settings_for(emu), warehouse.path, objects=["events"], progress=False)
    assert result.objects["events"].succeeded == 9
    assert warehouse.open_rejections("events") == {
        "ev-0": "iterable_disallowed_event",
        "ev-4": "iterable_disallowed_event",
        "ev-8": "iterable_disallowed_event",
    }
    emu.flush()
    assert len(emu.events("pageViewed")) == 9


def test_type_mismatches_teach_the_validator(emu: IterableEmulator, warehouse) -> None:
    api(
        emu,
        "POST",
        "/api/events/trackBulk",
        {
            "events": [
                {
                    "email": "x@example.com",
                    "eventName": "rated",
                    "id": "seed-1",
                    "dataFields": {"stars": 4},
                }
            ]
        },
    )
    emu.flush()
    events = {
        f"r-{i:03d}": {
            "email": f"user{i}@example.com",
            "eventName": "rated",
            "id": f"r-{i:03d}",
            "dataFields": {"stars": "five"} if i % 10 == 5 else {"note": "ok"},
        }
        for i in range(120)
    }
    warehouse.set_desired("events", events)
    settings = settings_for(emu, page_size=10, concurrency=1, batch_sizes={"events": 10})
    result = run_sync(settings, warehouse.path, objects=["events"], progress=False)
    rejections = warehouse.open_rejections("events")
    assert set(rejections) == {k for k in events if int(k[2:]) % 10 == 5}
    reasons = set(rejections.values())
    # Iterable's answer for the first bad rows; the validator's own check for the later ones
    assert reasons == {"iterable_type_mismatch", "field_type_mismatch"}
    assert result.objects["events"].succeeded == 108
    # without learning every one of the 12 batches would be split (at least 5 requests each)
    assert emu.counters()["events/trackBulk"][200] + emu.counters()["events/trackBulk"][400] < 40


def test_a_failing_warehouse_write_fails_the_run_and_loses_nothing(
    emu: IterableEmulator, warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctsync.sync.audit

    real = ctsync.sync.audit.record_outcomes
    calls = {"n": 0}
    written: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(*args, **kwargs)
        written.append(len(args[2]))

    warehouse.set_desired("users", users(50))
    settings = settings_for(emu, batch_sizes={"users": 10}, concurrency=1)
    monkeypatch.setattr(ctsync.sync.audit, "record_outcomes", flaky)
    failed = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert failed.status == "failed"
    assert "disk full" in (failed.error_message or "")
    assert warehouse.scalar("select status from ctsync.sync_runs") == "failed"
    # The writer commits every answer that arrived since its last look in one transaction,
    # so the first (successful) write holds one or more whole batches, never all of them;
    # the failed second write left nothing behind.
    acknowledged = warehouse.scalar("select count(*) from ctsync.sync_ledger")
    assert written and acknowledged == written[0]
    assert acknowledged % 10 == 0 and 10 <= acknowledged < 50

    monkeypatch.setattr(ctsync.sync.audit, "record_outcomes", real)
    rerun = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert (rerun.status, rerun.objects["users"].sent) == ("succeeded", 50 - acknowledged)
    emu.flush()
    assert len(emu.users()) == 50


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("succeeded", 0),
        ("succeeded_with_rejections", 0),
        ("partial", EXIT_PARTIAL),
        ("failed", 1),
        ("interrupted", 1),
        ("auth_error", 4),
    ],
)
def test_each_sync_status_has_its_documented_exit_code(status: str, code: int) -> None:
    assert EXIT_PARTIAL == 5  # documented in the README and docs/CONTRACTS.md
    assert (
        SyncResult(run_id="r", mode="incremental", trigger="manual", status=status).exit_code
        == code
    )
