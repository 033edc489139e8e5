"""The mass-deletion guards: a run that would delete too much of any object sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ctsync.core.config import IterableSettings
from ctsync.core.warehouse import connect
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync
from ctsync.sync.guards import held_count

from ._support import ITEM as CART_ITEM
from ._support import settings_for, users

pytestmark = pytest.mark.slow

CTSYNC = Path(sys.executable).parent / "ctsync"


def sync_users(warehouse: Any, settings: IterableSettings, n: int) -> None:
    """`n` desired users, synced: what Iterable holds before a test removes some."""
    warehouse.set_desired("users", users(n))
    assert run_sync(settings, warehouse.path, objects=["users"], progress=False).status == (
        "succeeded"
    )


def carts(numbers: range) -> dict[str, dict[str, Any]]:
    """One open cart each for user0@, user1@, ... (the numbers given)."""
    return {
        f"cart-{i}": {"user": {"email": f"user{i}@example.com"}, "items": [CART_ITEM]}
        for i in numbers
    }


def test_a_mass_deletion_stops_the_run_before_anything_is_sent(
    emu: IterableEmulator,
    warehouse,
) -> None:
    settings = settings_for(emu, max_delete_fraction=0.1, mass_delete_min_records=5)
    sync_users(warehouse, settings, 40)
    emu.flush()
    assert len(emu.users()) == 40

    # a broken source: 30 of 40 users vanish, and one profile changes
    survivors = {key: value for key, value in users(40).items() if key >= "cust-0030"}
    survivors["cust-0030"]["dataFields"]["firstName"] = "Changed"
    warehouse.set_desired("users", survivors)
    blocked = run_sync(settings, warehouse.path, objects=["users"], progress=False)

    assert blocked.status == "failed" and blocked.exit_code == 1
    assert "mass-deletion guard" in (blocked.error_message or "")
    assert "30 of the 40 users" in (blocked.error_message or "")
    emu.flush()
    assert len(emu.users()) == 40, "nothing may be deleted"
    assert emu.user(email="user30@example.com")["dataFields"]["firstName"] == "F30"
    pending = warehouse.scalar(
        "select count(*) from iterable.iterable__users_changes where operation = 'delete'"
    )
    assert pending == 30, "the deletions stay pending, unacknowledged"

    # an operator who means it raises the limit; the same deletions then go through
    allowed = run_sync(
        settings_for(emu, max_delete_fraction=1.0), warehouse.path, objects=["users"],
        progress=False,
    )  # fmt: skip
    assert allowed.status == "succeeded"
    assert allowed.objects["users"].succeeded == 31
    emu.flush()
    assert sorted(u["email"] for u in emu.users()) == sorted(
        f"user{i}@example.com" for i in range(30, 40)
    )


def catalog(n: int) -> dict[str, dict]:
    return {
        f"sku-{i:03d}": {"itemId": f"sku-{i:03d}", "value": {"name": f"P{i}", "price": 2.5}}
        for i in range(n)
    }


def test_a_broken_product_load_cannot_delete_the_catalog(
    emu: IterableEmulator,
    warehouse,
    tmp_path,
) -> None:
    settings = settings_for(emu, max_delete_fraction=0.1, mass_delete_min_records=5)
    warehouse.set_desired("catalog_items", catalog(30))
    assert run_sync(settings, warehouse.path, objects=["catalog_items"], progress=False).status == (
        "succeeded"
    )
    emu.flush()
    assert len(emu.catalog_items("products")) == 30

    warehouse.set_desired("catalog_items", {})  # every product missing from the warehouse
    blocked = run_sync(settings, warehouse.path, objects=["catalog_items"], progress=False)
    assert blocked.status == "failed"
    assert "catalog_items: this run would delete 30 of the 30" in (blocked.error_message or "")
    assert "ctsync allow-deletions catalog_items --count 30" in (blocked.error_message or "")
    emu.flush()
    assert len(emu.catalog_items("products")) == 30, "nothing may be deleted"

    # plan and status show the blocked plan and the command that releases it
    env = {**os.environ, "CTSYNC_WAREHOUSE": str(warehouse.path), "COLUMNS": "250"}
    env.update({"SYNC__ITERABLE__API_KEY": emu.api_key, "SYNC__ITERABLE__API_URL": emu.api_url})
    env["SYNC__ITERABLE__MAX_DELETE_FRACTION"] = "0.1"
    env["SYNC__ITERABLE__MASS_DELETE_MIN_RECORDS"] = "5"
    plan = subprocess.run(
        [str(CTSYNC), "plan", "--objects", "catalog_items"], env=env, capture_output=True, text=True
    )
    assert plan.returncode == 0, plan.stderr
    assert "blocked by the mass-deletion guard" in plan.stderr
    assert "ctsync allow-deletions catalog_items --count 30" in " ".join(plan.stderr.split())
    status = subprocess.run(
        [str(CTSYNC), "status", "--json"], env=env, capture_output=True, text=True
    )
    [guard] = json.loads(status.stdout)["blocked_deletions"]
    assert (guard["object"], guard["deletions"], guard["held"]) == ("catalog_items", 30, 30)
    assert guard["release_command"] == "ctsync allow-deletions catalog_items --count 30"

    # the operator means it: release exactly this plan once
    released = subprocess.run(
        [str(CTSYNC), "allow-deletions", "catalog_items"], env=env, capture_output=True, text=True
    )
    assert released.returncode == 0, released.stderr
    allowed = run_sync(settings, warehouse.path, objects=["catalog_items"], progress=False)
    assert allowed.status == "succeeded", allowed.error_message
    emu.flush()
    assert len(emu.catalog_items("products")) == 0
    assert warehouse.scalar("select count(*) from ctsync.sync_deletion_guards") == 0


def test_carts_are_guarded_and_limits_are_per_object(
    emu: IterableEmulator,
    warehouse,
) -> None:
    per_object = {"carts": (0.5, 3)}
    settings = settings_for(
        emu, max_delete_fraction=0.01, mass_delete_min_records=0, delete_guards=per_object
    )
    warehouse.set_desired("users", users(10))
    warehouse.set_desired("carts", carts(range(10)))
    assert run_sync(settings, warehouse.path, progress=False).status == "succeeded"
    # 4 of 10 carts emptied: under the carts limit (50%), though over the global 1%
    warehouse.set_desired("carts", carts(range(4, 10)))
    assert run_sync(settings, warehouse.path, progress=False).status == "succeeded"
    # all remaining 6 emptied: over 50% of the 6 carts Iterable still holds
    warehouse.set_desired("carts", {})
    blocked = run_sync(settings, warehouse.path, progress=False)
    assert blocked.status == "failed"
    assert "carts: this run would delete 6 of the 6 carts" in (blocked.error_message or "")


def test_users_already_deleted_do_not_loosen_the_guard(
    emu: IterableEmulator,
    warehouse,
) -> None:
    settings = settings_for(emu, max_delete_fraction=0.5, mass_delete_min_records=0)
    sync_users(warehouse, settings, 10)
    # 5 users are deleted through user_deletions (GDPR): 5 remain in Iterable
    # (user_deletions and users share record keys: the user id in hybrid projects)
    deletions = {f"cust-{i:04d}": {"userId": f"cust-{i}", "method": "delete"} for i in range(5)}
    warehouse.set_desired("user_deletions", deletions)
    settings_1 = settings_for(emu, max_delete_fraction=1.0)
    assert run_sync(
        settings_1, warehouse.path, objects=["user_deletions"], progress=False
    ).status == ("succeeded")
    with connect(warehouse.path) as con:
        assert held_count(con, "users") == 5  # not 10
    # 3 more deletions: 3 of 5 (60%) trips a 50% guard; counted against 10 it would not
    more = {f"cust-{i:04d}": {"userId": f"cust-{i}", "method": "delete"} for i in range(8)}
    warehouse.set_desired("user_deletions", more)
    blocked = run_sync(settings, warehouse.path, objects=["user_deletions"], progress=False)
    assert blocked.status == "failed"
    assert "user_deletions: this run would delete 3 of the 5 users" in (blocked.error_message or "")
