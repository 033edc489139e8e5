"""How a sync run starts, stops and fails: secrets, 401s, deletions, full resync and reset,
dry run and plan, the run lock, a failing audit write, exit codes."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

from ctsync.core.lock import RunLockHeld, run_lock
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync
from ctsync.sync.plan import build_plan
from ctsync.sync.reset import reset_state
from ctsync.sync.result import EXIT_PARTIAL, SyncResult

from ._support import ITEM, SCALE, settings_for, users

pytestmark = pytest.mark.slow


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
    # marked as the sync acknowledges: one row per key, the payload reduced to identity
    assert warehouse.query(
        "select count(*), count(distinct record_key) from ctsync.sync_ledger where object = 'users'"
    ) == [(9, 9)]
    kept = json.loads(
        warehouse.scalar("select payload from ctsync.sync_ledger where record_key = 'cust-0008'")
    )
    assert "dataFieldNames" in kept and set(kept.get("dataFields", {})) <= {"customerId"}, kept
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
