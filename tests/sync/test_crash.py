"""kill -9 in the middle of `ctsync sync`, then run again: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from ctsync.core.config import IterableSettings
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync

pytestmark = pytest.mark.slow

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


def wait_until(
    condition: Callable[[], bool], what: str, proc: subprocess.Popen[Any], timeout: float = 120
) -> None:
    """Wait for `condition` while `proc` lives; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"ctsync exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def ctrl_c_as_at_a_terminal() -> None:
    """In the child: SIGINT handled by default. A shell starting a job in the background
    (as CI may) ignores SIGINT, children inherit that, and Python then leaves it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_lines(stream: IO[str], lines: list[str], marker: str, seen: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if marker in line:
            seen.set()


def crash_users() -> dict[str, dict[str, Any]]:
    """N_USERS desired users: enough that a run is certainly mid-way when it is stopped."""
    return {
        f"c{i:04d}": {"email": f"k{i}@example.com", "dataFields": {"n": i}} for i in range(N_USERS)
    }


@pytest.mark.parametrize(
    "endpoint,after", [("users/bulkUpdate", 8), ("events/trackBulk", 6)], ids=["users", "events"]
)
def test_kill_9_mid_run_then_rerun(
    fresh_iterable: IterableEmulator, warehouse, endpoint: str, after: int
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=RATE_SCALE)
    warehouse.set_desired("users", crash_users())
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

    # The request after the first `after` is held by the emulator until released, so the
    # sync is certainly mid-run when it is killed, however fast the machine is.
    emu.set_faults(f"{endpoint}:after={after},hold=1")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ctsync")), "sync", "--no-progress"],
        env=cli_env(emu, warehouse.path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: emu.held() > 0, f"a held {endpoint} request", proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        emu.set_faults("")
    assert proc.returncode == -signal.SIGKILL

    acknowledged = warehouse.scalar("select count(*) from ctsync.sync_ledger")
    # users are sent (and acknowledged) before events
    floor = N_USERS if endpoint == "events/trackBulk" else 0
    assert floor <= acknowledged < N_USERS + N_EVENTS
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
    warehouse.set_desired("users", crash_users())
    emu.set_faults("users/bulkUpdate:after=5,hold=1")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ctsync")), "sync", "--no-progress"],
        env=cli_env(emu, warehouse.path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    interrupted = threading.Event()
    reader = threading.Thread(
        target=read_lines, args=(proc.stderr, lines, "interrupt received", interrupted)
    )
    reader.start()
    try:
        # The sixth request is held: the sync cannot finish before the signal lands.
        wait_until(lambda: emu.held() > 0, "a held users/bulkUpdate request", proc)
        proc.send_signal(signal.SIGINT)
        wait_until(interrupted.is_set, "the interrupt being received", proc)
        emu.set_faults("")  # the requests in flight finish, and are acknowledged
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.set_faults("")
        reader.join(timeout=30)
    stderr = "".join(lines)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    [(status, succeeded)] = warehouse.query("select status, succeeded_count from ctsync.sync_runs")
    assert status == "interrupted"
    # the five answered requests and the released one(s) are acknowledged
    assert succeeded == warehouse.scalar("select count(*) from ctsync.sync_ledger") >= 60

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
