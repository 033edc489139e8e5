"""`ctsync sync | plan | replay | reset-state`: output and exit codes."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from ctsync.app.cli import app
from ctsync.core.lock import run_lock
from ctsync.sandbox.iterable.emulator import IterableEmulator

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture
def env(fresh_iterable: IterableEmulator, warehouse) -> dict[str, str]:
    fresh_iterable.reset(project_type="hybrid", rate_scale=50)
    warehouse.set_desired(
        "users",
        {
            "c1": {"email": "a@example.com", "dataFields": {"n": 1}},
            "c2": {"email": "b@example.com", "dataFields": {"n": 2}},
            "c3": {"email": "broken", "dataFields": {"n": 3}},
        },
    )
    return {
        **fresh_iterable.env(),
        "CTSYNC_WAREHOUSE": str(warehouse.path),
        "SYNC__ITERABLE__RATE_SCALE": "50",
    }


def test_plan_then_sync_then_replay_then_reset(env: dict[str, str], warehouse) -> None:
    plan = runner.invoke(app, ["plan", "--objects", "users,events"], env=env)
    assert plan.exit_code == 0, plan.output
    assert "users" in plan.output and "a@example.com" in plan.output
    assert warehouse.scalar("select count(*) from ctsync.sync_runs") == 0

    synced = runner.invoke(app, ["sync", "--no-progress"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "succeeded_with_rejections" in synced.output
    assert "invalid_email" in synced.output
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == 2

    replay = runner.invoke(app, ["replay", "--reason", "invalid_email"], env=env)
    assert replay.exit_code == 0 and "re-queued 1" in replay.output
    again = runner.invoke(app, ["sync", "--no-progress", "-o", "users"], env=env)
    assert again.exit_code == 0
    assert (
        warehouse.scalar("select attempts from ctsync.sync_rejections where record_key = 'c3'") == 2
    )

    reset = runner.invoke(app, ["reset-state", "--yes", "-o", "users"], env=env)
    assert reset.exit_code == 0 and "users: 1 record(s)" in reset.output
    assert warehouse.changes("users") == []


def test_exit_codes(env: dict[str, str], warehouse) -> None:
    bad_object = runner.invoke(app, ["sync", "--objects", "users,orders"], env=env)
    assert bad_object.exit_code == 2
    assert "orders" in bad_object.output

    with run_lock(warehouse.path):
        locked = runner.invoke(app, ["sync", "--no-progress"], env=env)
    assert locked.exit_code == 3
    assert f"process {os.getpid()}" in locked.output

    wrong_key = runner.invoke(
        app, ["sync", "--no-progress"], env={**env, "SYNC__ITERABLE__API_KEY": "nope-nope-nope"}
    )
    assert wrong_key.exit_code == 4
    assert "401" in wrong_key.output and "nope-nope-nope" not in wrong_key.output

    no_key = runner.invoke(app, ["sync"], env={**env, "SYNC__ITERABLE__API_KEY": ""})
    assert no_key.exit_code == 1 and "SYNC__ITERABLE__API_KEY" in no_key.output

    dry = runner.invoke(app, ["sync", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "dry_run" in dry.output
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == 0


def test_missing_warehouse_is_a_clear_error(env: dict[str, str], tmp_path) -> None:
    # A long path on a narrow terminal: the message a person copies stays on one line.
    target = tmp_path / ("a-rather-long-folder-name-" * 4) / "nowhere.duckdb"
    missing = {**env, "CTSYNC_WAREHOUSE": str(target), "COLUMNS": "40"}
    for command in (["sync", "--no-progress"], ["plan"], ["sync", "--dry-run"]):
        result = runner.invoke(app, command, env=missing)
        assert result.exit_code == 1, command
        assert f"warehouse {target} does not exist; build it first" in result.output, result.output
    assert not target.exists()
