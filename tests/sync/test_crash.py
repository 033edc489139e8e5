"""kill -9 in the middle of `ctsync sync`, then run again: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.iterable.emulator import IterableEmulator
from sync.config import IterableSettings
from sync.engine import run_sync

RATE_SCALE = 4.0  # bulkUpdate 20/s, trackBulk 40/s: slow enough to kill mid-run
N_USERS = 300
N_EVENTS = 300


def cli_env(emu: IterableEmulator, warehouse: Path) -> dict[str, str]:
    return {
        **os.environ,
        **emu.env(),
        "CTSYNC_WAREHOUSE": str(warehouse),
        "SYNC__ITERABLE__RATE_SCALE": str(RATE_SCALE),
        "SYNC__ITERABLE__BATCH_SIZES__USERS": "10",
        "SYNC__ITERABLE__BATCH_SIZES__EVENTS": "10",
        "SYNC__ITERABLE__CONCURRENCY": "3",
    }


def wait_for_requests(emu: IterableEmulator, endpoint: str, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(emu.counters().get(endpoint, {}).values()) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"{endpoint} never reached {at_least} requests")


@pytest.mark.parametrize(
    "endpoint,after", [("users/bulkUpdate", 8), ("events/trackBulk", 6)], ids=["users", "events"]
)
def test_kill_9_mid_run_then_rerun(
    fresh_iterable: IterableEmulator, warehouse, endpoint: str, after: int
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=RATE_SCALE)
    warehouse.set_desired(
        "users",
        {
            f"c{i:04d}": {"email": f"k{i}@example.com", "dataFields": {"n": i}}
            for i in range(N_USERS)
        },
    )
    events = {
        f"e{i:04d}": {
            "email": f"k{i % N_USERS}@example.com",
            "eventName": "pageViewed",
            "id": f"evt-{i:04d}",
            "createdAt": 1_700_000_000 + i,
        }
        for i in range(N_EVENTS)
    }
    warehouse.set_desired("events", events)

    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ctsync")), "sync", "--no-progress"],
        env=cli_env(emu, warehouse.path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_requests(emu, endpoint, after, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    acknowledged = warehouse.scalar("select count(*) from ctsync.sync_ledger")
    assert 0 < acknowledged < N_USERS + N_EVENTS
    assert warehouse.scalar("select status from ctsync.sync_runs") == "running"

    settings = IterableSettings(
        api_key=emu.api_key,
        api_url=emu.api_url,
        rate_scale=RATE_SCALE * 5,
        batch_sizes={"users": 10, "events": 10},
    )
    emu.set_rate_scale(RATE_SCALE * 5)
    rerun = run_sync(settings, warehouse.path, progress=False)
    assert rerun.status == "succeeded", rerun.error_message
    # the rerun sends what was not acknowledged (in-flight requests may have been applied
    # without being acknowledged: sent again, harmless), never what was
    assert rerun.totals.sent == N_USERS + N_EVENTS - acknowledged
    statuses = dict(warehouse.query("select run_id, status from ctsync.sync_runs"))
    assert sorted(statuses.values()) == ["abandoned", "succeeded"]

    emu.flush()
    stored_users = emu.users()
    assert len(stored_users) == N_USERS
    assert {u["email"]: u["dataFields"]["n"] for u in stored_users} == {
        f"k{i}@example.com": i for i in range(N_USERS)
    }
    stored_events = emu.events("pageViewed")
    assert sorted(e["id"] for e in stored_events) == sorted(e["id"] for e in events.values())
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == N_USERS + N_EVENTS
    assert run_sync(settings, warehouse.path, progress=False).totals.sent == 0


def test_ctrl_c_stops_cleanly_and_the_rest_follows(
    fresh_iterable: IterableEmulator, warehouse
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=RATE_SCALE)
    warehouse.set_desired(
        "users",
        {
            f"c{i:04d}": {"email": f"k{i}@example.com", "dataFields": {"n": i}}
            for i in range(N_USERS)
        },
    )
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ctsync")), "sync", "--no-progress"],
        env=cli_env(emu, warehouse.path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_requests(emu, "users/bulkUpdate", 5, timeout=60)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in stderr
    [(status, succeeded)] = warehouse.query("select status, succeeded_count from ctsync.sync_runs")
    assert status == "interrupted"
    assert succeeded == warehouse.scalar("select count(*) from ctsync.sync_ledger") > 0

    settings = IterableSettings(
        api_key=emu.api_key,
        api_url=emu.api_url,
        rate_scale=RATE_SCALE * 5,
        batch_sizes={"users": 10},
    )
    emu.set_rate_scale(RATE_SCALE * 5)
    rerun = run_sync(settings, warehouse.path, progress=False)
    assert rerun.totals.sent == N_USERS - succeeded
    emu.flush()
    assert len(emu.users()) == N_USERS
