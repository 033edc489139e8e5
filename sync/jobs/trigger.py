"""A debounced, non-overlapping trigger: bursts of notifications become one job run.

Notifications only add resources to a pending set. A worker thread waits until the set has
been quiet for `debounce` seconds (or `max_wait` has passed since the oldest pending change,
so a steady stream cannot postpone a run forever), then runs the job for everything pending.
Notifications that arrive while the job runs accumulate and cause exactly one follow-up run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sync.jobs.state import ReceiverState

log = logging.getLogger("ctsync.jobs.trigger")

JobFunction = Callable[[frozenset[str], threading.Event], Any]


class RetryLater(Exception):
    """Raised by a job that could not start (e.g. another run holds the lock); retried later."""


@dataclass
class TriggerStats:
    runs: int = 0
    failed_runs: int = 0
    retries: int = 0
    last_resources: list[str] = field(default_factory=list)
    last_started_at: float | None = None
    last_finished_at: float | None = None
    last_error: str | None = None


class DebouncedTrigger:
    def __init__(
        self,
        job: JobFunction,
        *,
        debounce: float = 2.0,
        max_wait: float = 30.0,
        retry_delay: float = 10.0,
        state: ReceiverState | None = None,
    ) -> None:
        self._job = job
        self.debounce = debounce
        self.max_wait = max_wait
        self.retry_delay = retry_delay
        self._state = state
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._first_at: float | None = None
        self._last_at: float | None = None
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
                due = max(
                    self._not_before,
                    min(self._last_at + self.debounce, self._first_at + self.max_wait),
                )
                if now >= due:
                    batch = frozenset(self._pending)
                    self._pending.clear()
                    self._first_at = self._last_at = None
                    self._running = True
                    return batch
                self._cond.wait(due - now)

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self.stats.last_started_at = time.time()
            self.stats.last_resources = sorted(batch)
            requeue = False
            try:
                log.info("starting a run for %s", ", ".join(sorted(batch)))
                self._job(batch, self.stop_event)
                self.stats.runs += 1
                self.stats.last_error = None
            except RetryLater as exc:
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                log.warning("run postponed: %s; retrying in %.0fs", exc, self.retry_delay)
                requeue = True
            except Exception as exc:  # the receiver must outlive a failed run
                self.stats.runs += 1
                self.stats.failed_runs += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("triggered run failed")
            finally:
                self.stats.last_finished_at = time.time()
            with self._cond:
                self._running = False
                if requeue:
                    now = time.monotonic()
                    if not self._pending:
                        self._first_at = self._last_at = now
                    self._pending |= batch
                    # Whatever arrives meanwhile, the blocker needs time to go away.
                    self._not_before = now + self.retry_delay
                if self._state is not None:
                    self._state.replace_pending(self._pending)
                self._cond.notify_all()
