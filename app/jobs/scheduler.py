"""`ctsync schedule`: run the job on a cron expression or a fixed interval, never overlapping.

Runs happen one after another in this process, so they cannot overlap; a run that outlasts
its slot makes the scheduler skip the slots it missed (and say so) rather than queue them.
A stop request (SIGINT/SIGTERM) is handed to the running job, which stops after its current
stage; between runs the scheduler exits at once.

A run that fails (the job raises or returns False: a failed or partial run, or a lock held by
someone else) is retried with exponential backoff before its next slot, so a transient outage
does not leave the data stale for a whole schedule period.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, Protocol

from croniter import croniter  # type: ignore[import-untyped, unused-ignore]  # untyped; mypy's cache decides which it reports

log = logging.getLogger("ctsync.jobs.scheduler")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class ScheduleError(ValueError):
    """A schedule the user gave that cannot be understood."""


class Schedule(Protocol):
    description: str

    def next_after(self, previous_start: datetime | None, now: datetime) -> datetime: ...


def parse_every(text: str) -> float:
    """`90s`, `5m`, `1h30m`, `2d` (or a bare number of seconds) → seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        seconds = float(cleaned)
    else:
        parts = _EVERY.findall(cleaned)
        if not parts or "".join(n + u for n, u in parts) != cleaned:
            raise ScheduleError(
                f"--every {text!r}: use a number with a unit, e.g. 30s, 5m, 1h or 1h30m"
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ScheduleError(f"--every {text!r}: the interval must be longer than zero")
    return seconds


class IntervalSchedule:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.description = f"every {_human(seconds)}"

    def next_after(self, previous_start: datetime | None, now: datetime) -> datetime:
        if previous_start is None:
            return now
        step = timedelta(seconds=self.seconds)
        due = previous_start + step
        if due < now:
            # Anchor to the original slots: skip the ones a long run missed.
            missed = int((now - previous_start) / step)
            due = previous_start + step * missed
            if due < now:
                due += step
            skipped = round((due - previous_start) / step) - 1
            log.warning("the last run outlasted its slot; skipped %d slot(s)", skipped)
        return due


class CronSchedule:
    def __init__(self, expression: str) -> None:
        if not croniter.is_valid(expression):
            raise ScheduleError(
                f"--cron {expression!r} is not a valid cron expression "
                "(five fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *')"
            )
        self.expression = expression
        self.description = f"cron '{expression}' (UTC)"

    def next_after(self, previous_start: datetime | None, now: datetime) -> datetime:
        base = max(previous_start, now) if previous_start is not None else now
        nxt: datetime = croniter(self.expression, base).get_next(datetime)
        return nxt


def make_schedule(cron: str | None, every: str | None) -> Schedule:
    if (cron is None) == (every is None):
        raise ScheduleError("give exactly one of --cron or --every")
    if cron is not None:
        return CronSchedule(cron)
    assert every is not None
    return IntervalSchedule(parse_every(every))


def run_schedule(
    job: Callable[[threading.Event], Any],
    schedule: Schedule,
    stop: threading.Event,
    *,
    run_now: bool = True,
    max_runs: int | None = None,
    retry_delay: float = 30.0,
    max_retry_delay: float = 900.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run `job(stop)` on `schedule` until `stop` is set (or `max_runs` ran). Returns runs.

    `job` returning False (or raising) marks the run failed: the next attempt comes after
    `retry_delay` (doubling per consecutive failure, at most `max_retry_delay`) or at the
    next slot, whichever is sooner."""
    from ctsync.app.jobs.trigger import backoff_delay

    runs = 0
    failures = 0
    slot: datetime | None = None  # start of the last run that ran in its own slot
    last_start: datetime | None = None
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        now = clock()
        if slot is None and run_now:
            due = now
        else:
            due = schedule.next_after(slot, now)
        retrying = False
        if failures and last_start is not None:
            retry_at = last_start + timedelta(
                seconds=backoff_delay(retry_delay, failures, max_retry_delay)
            )
            if retry_at < due:
                due, retrying = max(retry_at, now), True
        wait = (due - now).total_seconds()
        if wait > 0:
            what = "retry of the failed run" if retrying else "next run"
            log.info("%s at %s", what, due.isoformat(timespec="seconds"))
            if stop.wait(wait):
                break
        last_start = clock()
        if not retrying:
            slot = last_start
        runs += 1
        try:
            ok = job(stop) is not False
        except Exception:  # one failed run must not end the schedule
            log.exception("scheduled run %d failed", runs)
            ok = False
        failures = 0 if ok else failures + 1
    return runs


def install_stop_handlers(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop after the current stage. A second SIGINT: stop now."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning(
            "received %s: finishing the current stage, then stopping",
            signal.Signals(signum).name,
        )
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
