"""A debounced, non-overlapping trigger: bursts of notifications become one job run.

Notifications only add resources to a pending set. The debounce adapts to the traffic:

* idle (nothing pending, no run, no notification for `debounce` seconds): a change starts
  its run after `idle_debounce` seconds (default 0.2: time for the other messages of the
  same change), not after the whole window;
* a burst (a second notification before the run started, or notifications while a run is
  in progress): the worker waits until the set has been quiet for `debounce` seconds (or
  `max_wait` has passed since the oldest pending change, so a steady stream cannot postpone
  a run forever), then runs the job for everything pending.

Notifications that arrive while the job runs accumulate and cause exactly one follow-up run.

A run that fails (raises, or reports `failed`/`partial` by raising `RunFailed`) keeps its
resources pending, in memory and in the state file, and is retried with exponential backoff
until one succeeds; `stats` keeps the last failure (redacted) and how long the oldest pending
change has waited, for `/healthz`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ctsync.app.jobs.state import ReceiverState
from ctsync.core.redact import redact
from ctsync.core.retry import Backoff

log = logging.getLogger("ctsync.jobs.trigger")

# The debounce windows' defaults (`ctsync serve --debounce/--idle-debounce/--max-wait`), seconds.
DEFAULT_DEBOUNCE = 2.0
DEFAULT_IDLE_DEBOUNCE = 0.2
DEFAULT_MAX_WAIT = 30.0

JobFunction = Callable[[frozenset[str], threading.Event], Any]


class RetryLater(Exception):
    """Raised by a job that could not start (e.g. another run holds the lock); retried later."""


class RunFailed(Exception):
    """Raised by a job whose run ended `failed` or `partial`: its resources are retried."""

    def __init__(self, status: str, message: str) -> None:
        self.status = status
        super().__init__(message)


def backoff_delay(base: float, failures: int, cap: float) -> float:
    """`base`, 2×, 4×, ... after consecutive failures, never more than `cap` seconds (no
    jitter: one process retries its own runs)."""
    return Backoff(base, cap).ceiling(failures)


@dataclass
class TriggerStats:
    runs: int = 0
    failed_runs: int = 0
    retries: int = 0
    consecutive_failures: int = 0
    last_resources: list[str] = field(default_factory=list)
    last_started_at: float | None = None
    last_finished_at: float | None = None
    last_succeeded_at: float | None = None
    last_error: str | None = None  # redacted
    last_error_class: str | None = None
    last_failed_at: float | None = None
    next_retry_in: float | None = None


class DebouncedTrigger:
    def __init__(
        self,
        job: JobFunction,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        idle_debounce: float = DEFAULT_IDLE_DEBOUNCE,
        max_wait: float = DEFAULT_MAX_WAIT,
        retry_delay: float = 10.0,
        max_retry_delay: float = 900.0,
        state: ReceiverState | None = None,
    ) -> None:
        self._job = job
        self.debounce = debounce
        self.idle_debounce = min(idle_debounce, debounce)
        self.max_wait = max_wait
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._state = state
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._pending_since: float | None = None  # wall clock of the oldest unsynced change
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._last_notified: float | None = None  # any notification, across batches
        self._quick = False  # the pending batch is one change that arrived while idle
        self._not_before = 0.0
        self._running = False
        self._stopping = False
        self.stop_event = threading.Event()  # handed to the job: stop after the current stage
        self.stats = TriggerStats()
        self._thread = threading.Thread(target=self._loop, name="ctsync-trigger", daemon=True)

    def start(self) -> None:
        if self._state is not None:
            leftover = self._state.pending()
            if leftover:
                log.info(
                    "resuming %d resource(s) queued before the last stop: %s",
                    len(leftover),
                    sorted(leftover),
                )
                self._add(leftover, persist=False)
        self._thread.start()

    def notify(self, resources: Iterable[str], *, persisted: bool = False) -> None:
        """Queue resources for the next run. `persisted`: the caller already stored them."""
        self._add(set(resources), persist=not persisted)

    def _add(self, resources: set[str], *, persist: bool) -> None:
        if not resources:
            return
        with self._cond:
            now = time.monotonic()
            if not self._pending:
                self._first_at = now
                self._quick = not self._running and (
                    self._last_notified is None or now - self._last_notified >= self.debounce
                )
            else:
                self._quick = False  # a burst: wait for quiet
            self._last_notified = now
            if self._pending_since is None:
                self._pending_since = time.time()
            self._last_at = now
            self._pending |= resources
            if persist and self._state is not None:
                self._state.replace_pending(self._pending)
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._running

    def pending(self) -> set[str]:
        with self._cond:
            return set(self._pending)

    def stale_seconds(self) -> float:
        """How long the oldest change not yet synced has waited (0 when nothing waits)."""
        with self._cond:
            since = self._pending_since
        return max(0.0, time.time() - since) if since is not None else 0.0

    def retry_now(self) -> None:
        """Run what waits without waiting out the backoff (an operator's "retry now")."""
        with self._cond:
            self._not_before = 0.0
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._running

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking new runs; a run in progress stops after its current stage."""
        with self._cond:
            self._stopping = True
            self.stop_event.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _next_batch(self) -> frozenset[str] | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if not self._pending:
                    self._cond.wait()
                    continue
                assert self._first_at is not None and self._last_at is not None
                now = time.monotonic()
                due = max(self._not_before, self._due())
                if now >= due:
                    batch = frozenset(self._pending)
                    self._pending.clear()
                    self._first_at = self._last_at = None
                    self._quick = False
                    self._running = True
                    return batch
                self._cond.wait(due - now)

    def _due(self) -> float:
        """When the pending batch may start (before any retry delay): see the module doc."""
        assert self._first_at is not None and self._last_at is not None
        if self._quick:
            return self._first_at + self.idle_debounce
        return min(self._last_at + self.debounce, self._first_at + self.max_wait)

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self.stats.last_started_at = time.time()
            self.stats.last_resources = sorted(batch)
            delay: float | None = None
            try:
                log.info("starting a run for %s", ", ".join(sorted(batch)))
                self._job(batch, self.stop_event)
                self.stats.runs += 1
                self.stats.consecutive_failures = 0
                self.stats.last_succeeded_at = time.time()
            except RetryLater as exc:
                self.stats.retries += 1
                delay = self.retry_delay
                log.warning("run postponed: %s; retrying in %.0fs", redact(exc), delay)
            except Exception as exc:  # the receiver must outlive a failed run
                self.stats.runs += 1
                self.stats.failed_runs += 1
                self.stats.consecutive_failures += 1
                self.stats.last_failed_at = time.time()
                self.stats.last_error_class = (
                    f"run {exc.status}" if isinstance(exc, RunFailed) else type(exc).__name__
                )
                self.stats.last_error = redact(
                    str(exc) if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}"
                )[:1000]
                delay = backoff_delay(
                    self.retry_delay, self.stats.consecutive_failures, self.max_retry_delay
                )
                log.error(
                    "triggered run failed (%s); its resources stay queued, retry in %.0fs",
                    self.stats.last_error,
                    delay,
                    exc_info=not isinstance(exc, RunFailed),
                )
            finally:
                self.stats.last_finished_at = time.time()
            self.stats.next_retry_in = delay
            with self._cond:
                self._running = False
                if delay is not None:
                    now = time.monotonic()
                    if not self._pending:
                        self._first_at = self._last_at = now
                    self._quick = False
                    self._pending |= batch
                    # Whatever arrives meanwhile, the blocker needs time to go away.
                    self._not_before = now + delay
                elif not self._pending:
                    self._pending_since = None
                else:
                    # What arrived during the run is now the oldest unsynced change.
                    self._pending_since = time.time() - (time.monotonic() - (self._first_at or 0))
                if self._state is not None:
                    self._state.replace_pending(self._pending)
                self._cond.notify_all()
