"""`ctsync schedule`: parsing, timing without overlap, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ctsync.app.jobs.scheduler import (
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    make_schedule,
    parse_every,
    run_schedule,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("30s", 30), ("1h30m", 5400), ("2d", 172800), ("90", 90), ("0.5s", 0.5)],
)
def test_every_accepts_units(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m5", "-1m", "0s", "5x"])
def test_every_rejects_nonsense_with_an_example(text: str) -> None:
    with pytest.raises(ScheduleError, match="--every"):
        parse_every(text)


def test_cron_validation_and_next_slot() -> None:
    with pytest.raises(ScheduleError, match="not a valid cron expression"):
        CronSchedule("*/5 * * *")
    schedule = CronSchedule("*/5 * * * *")
    now = datetime(2026, 1, 1, 10, 2, 30, tzinfo=UTC)
    assert schedule.next_after(None, now) == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
    assert schedule.next_after(datetime(2026, 1, 1, 10, 5, tzinfo=UTC), now) == datetime(
        2026, 1, 1, 10, 10, tzinfo=UTC
    )


def test_exactly_one_of_cron_or_every() -> None:
    with pytest.raises(ScheduleError, match="exactly one"):
        make_schedule(None, None)
    with pytest.raises(ScheduleError, match="exactly one"):
        make_schedule("* * * * *", "5m")
    assert make_schedule(None, "1m").description == "every 1m"


def test_interval_skips_the_slots_a_long_run_missed() -> None:
    schedule = IntervalSchedule(60)
    start = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert schedule.next_after(start, start + timedelta(seconds=10)) == start + timedelta(minutes=1)
    # The run took 3.5 minutes: slots at +1, +2, +3 are gone; the next is +4.
    assert schedule.next_after(start, start + timedelta(seconds=210)) == start + timedelta(
        minutes=4
    )


@pytest.mark.slow
def test_runs_follow_the_interval_and_never_overlap() -> None:
    spans: list[tuple[float, float]] = []
    active = threading.Lock()

    def job(stop: threading.Event) -> None:
        assert active.acquire(blocking=False), "two runs overlapped"
        begun = time.monotonic()
        time.sleep(0.05)
        spans.append((begun, time.monotonic()))
        active.release()

    runs = run_schedule(job, IntervalSchedule(0.25), threading.Event(), max_runs=3)
    assert runs == 3
    starts = [s for s, _ in spans]
    # Never early. How late a start may be is not asserted: on a loaded machine a missed
    # slot is rightly skipped (test_interval_skips_the_slots_a_long_run_missed).
    assert all(b - a >= 0.24 for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.slow
def test_a_run_longer_than_the_interval_delays_the_next_instead_of_overlapping() -> None:
    spans: list[tuple[float, float]] = []

    def job(stop: threading.Event) -> None:
        begun = time.monotonic()
        time.sleep(0.35)
        spans.append((begun, time.monotonic()))

    run_schedule(job, IntervalSchedule(0.1), threading.Event(), max_runs=3)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end


def test_a_failed_run_does_not_end_the_schedule() -> None:
    calls: list[int] = []

    def job(stop: threading.Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ingest failed")

    assert run_schedule(job, IntervalSchedule(0.05), threading.Event(), max_runs=3) == 3
    assert len(calls) == 3


@pytest.mark.slow
def test_a_failed_or_partial_run_is_retried_with_backoff_before_the_next_slot() -> None:
    starts: list[float] = []
    outcomes = [False, False, True]  # False: the run ended failed or partial

    def job(stop: threading.Event) -> bool:
        starts.append(time.monotonic())
        return outcomes[len(starts) - 1]

    stop = threading.Event()
    runs = run_schedule(
        job, IntervalSchedule(30), stop, max_runs=3, retry_delay=0.2, max_retry_delay=10
    )
    # Three quick runs (fail, retry after 0.2 s, retry after 0.4 s), long before the 30 s slot.
    assert runs == 3
    assert 0.19 <= starts[1] - starts[0] < 5
    assert 0.39 <= starts[2] - starts[1] < 5


def test_stop_during_the_wait_returns_at_once() -> None:
    stop = threading.Event()
    calls: list[int] = []
    threading.Timer(0.2, stop.set).start()
    begun = time.monotonic()
    runs = run_schedule(lambda s: calls.append(1), IntervalSchedule(30), stop)
    assert runs == 1
    assert time.monotonic() - begun < 5


SCHEDULE_SCRIPT = textwrap.dedent(
    """
    import io, sys, threading, time
    from pathlib import Path
    from rich.console import Console
    from ctsync.app.jobs.runner import JobOptions, run_job
    from ctsync.app.jobs.scheduler import IntervalSchedule, install_stop_handlers, run_schedule

    warehouse = Path(sys.argv[1])
    marker = Path(sys.argv[2])
    gate = Path(sys.argv[3])

    def stage(name):
        def run(context):
            if name == "ingest":
                marker.write_text(context.run_id)
                while not gate.exists():  # the test opens the gate once the signal landed
                    time.sleep(0.01)
            return "succeeded", f"{name} done", None
        return run

    stages = {"ingest": stage("ingest"), "dbt": stage("dbt"), "sync": stage("sync")}
    stop = threading.Event()
    install_stop_handlers(stop)

    def job(stop_event):
        run_job(JobOptions(trigger="schedule"), warehouse=warehouse, stop=stop_event,
                stages=stages, console=Console(file=io.StringIO()))

    runs = run_schedule(job, IntervalSchedule(0.2), stop)
    print(f"stopped after {runs} run(s)", flush=True)
    """
)


@pytest.mark.slow
def test_sigterm_stops_after_the_current_stage(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    marker = tmp_path / "in-ingest"
    script = tmp_path / "schedule.py"
    script.write_text(SCHEDULE_SCRIPT)
    gate = tmp_path / "gate"
    process = subprocess.Popen(
        [sys.executable, str(script), str(warehouse), str(marker), str(gate)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the first run never reached its ingest stage"
        process.send_signal(signal.SIGTERM)  # mid-ingest: the stage waits for the gate
        for line in process.stderr:  # until the stop request has been taken
            lines.append(line)
            if "finishing the current stage" in line:
                break
        gate.touch()
        out, rest = process.communicate(timeout=60)
        err = "".join(lines) + rest
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped after 1 run(s)" in out
    assert "finishing the current stage" in err
    run_id = marker.read_text()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stages = con.execute(
            "select stage, status from ctsync.sync_run_stages where run_id = ? order by started_at",
            [run_id],
        ).fetchall()
        runs = con.execute("select run_id, status, error_message from ctsync.sync_runs").fetchall()
    assert stages == [("ingest", "succeeded")]  # finished, then nothing more
    assert runs == [(run_id, "interrupted", "stopped before the dbt stage on request")]
