"""Sync runs over HTTP against the Iterable emulator, with a real DuckDB file: what is
sent, once, in full requests at the published pace, and what becomes a rejection."""

from __future__ import annotations

import pytest

from ctsync.core.warehouse import connect
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.audit import request_replay
from ctsync.sync.engine import run_sync
from ctsync.sync.planner import changes_sql

from ._support import ITEM, SCALE, api, seed_event, sent_user_emails, settings_for, users

pytestmark = pytest.mark.slow


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
    seed_event(emu, "reviewed", stars=4)
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


def test_duplicate_keys_in_a_broken_changes_view_are_refused(
    emu: IterableEmulator, warehouse
) -> None:
    warehouse.set_desired("users", users(3))
    # the project's diff, plus a second row for one key (a broken model)
    changes = changes_sql("users", project_type="hybrid")
    with connect(warehouse.path) as con:
        con.execute(
            "create or replace view iterable.iterable__users_changes as "
            f"select * from ({changes}) union all "
            "select record_key, operation, payload, payload_hash, 'x', source_updated_at "
            f"from ({changes}) where record_key = 'cust-0001'"
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
    seed_event(emu, "rated", stars=4)
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
