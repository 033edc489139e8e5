"""The debounced trigger: bursts coalesce, runs never overlap, one follow-up, restarts resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ctsync.app.jobs.state import ReceiverState
from ctsync.app.jobs.trigger import DebouncedTrigger, RetryLater, RunFailed, backoff_delay

from ._support import wait_for

pytestmark = pytest.mark.slow


class RecordingJob:
    """Stands in for the pipeline job (our own code) and records how it was called."""

    def __init__(self, duration: float = 0.0, failures: list[BaseException] | None = None) -> None:
        self.duration = duration
        self.failures = list(failures or [])
        self.calls: list[frozenset[str]] = []
        self.started: list[float] = []
        self.finished: list[float] = []
        self.active = 0
        self.max_active = 0
        self.in_run = threading.Event()
        self.gate: threading.Event | None = None  # when set up, the first run waits for it
        self._lock = threading.Lock()

    def __call__(self, resources: frozenset[str], stop: threading.Event) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(resources)
            self.started.append(time.monotonic())
        self.in_run.set()
        try:
            if self.failures:
                raise self.failures.pop(0)
            if self.gate is not None and len(self.calls) == 1:
                while not self.gate.wait(0.05) and not stop.is_set():
                    pass
            stop.wait(self.duration)
        finally:
            with self._lock:
                self.active -= 1
                self.finished.append(time.monotonic())
            self.in_run.clear()


def test_a_burst_of_notifications_becomes_one_run_with_all_resources() -> None:
    job = RecordingJob()
    # a debounce far above the gaps between notifications, even on a loaded machine (and
    # as long when idle: the first notification must not start a run of its own)
    trigger = DebouncedTrigger(job, debounce=3.0, idle_debounce=3.0, max_wait=20)
    trigger.start()
    try:
        for resource in ["customers", "orders", "customers", "carts", "orders"]:
            trigger.notify({resource})
            time.sleep(0.02)
        assert wait_for(lambda: len(job.calls) == 1, timeout=10)
        assert trigger.wait_idle(5)
        time.sleep(0.3)
        assert job.calls == [frozenset({"customers", "orders", "carts"})]
    finally:
        trigger.stop(5)


def test_the_run_waits_for_quiet_before_starting() -> None:
    job = RecordingJob()
    trigger = DebouncedTrigger(job, debounce=5.0, idle_debounce=0.3, max_wait=5)
    trigger.start()
    try:
        notified = time.monotonic()
        trigger.notify({"customers"})
        assert wait_for(lambda: len(job.calls) == 1)
        assert job.started[0] - notified >= 0.29
    finally:
        trigger.stop(5)


def test_an_isolated_change_starts_its_run_without_waiting_out_the_debounce() -> None:
    # Before: every change waited `debounce` seconds of quiet; an idle trigger now starts
    # after idle_debounce (here 0), so a run starts long before a minute has passed.
    job = RecordingJob()
    trigger = DebouncedTrigger(job, debounce=60.0, idle_debounce=0.0, max_wait=120)
    trigger.start()
    try:
        trigger.notify({"customers"})
        assert wait_for(lambda: len(job.calls) == 1, timeout=30)
        assert job.calls == [frozenset({"customers"})]
    finally:
        trigger.stop(5)


def test_a_burst_waits_for_quiet_even_when_the_trigger_was_idle() -> None:
    # Two notifications are pending before the worker starts: a burst, so the run waits
    # for `debounce` seconds of quiet after the last one, not for idle_debounce.
    job = RecordingJob()
    trigger = DebouncedTrigger(job, debounce=0.5, idle_debounce=0.0, max_wait=30)
    trigger.notify({"customers"})
    trigger.notify({"orders"})
    last = time.monotonic()
    trigger.start()
    try:
        assert wait_for(lambda: len(job.calls) == 1, timeout=10)
        assert job.started[0] - last >= 0.49
        assert job.calls == [frozenset({"customers", "orders"})]
    finally:
        trigger.stop(5)


def test_idle_debounce_is_never_longer_than_the_debounce() -> None:
    trigger = DebouncedTrigger(RecordingJob(), debounce=0.5, idle_debounce=3.0)
    assert trigger.idle_debounce == 0.5


def test_notifications_during_a_run_cause_exactly_one_follow_up_run() -> None:
    job = RecordingJob()
    job.gate = threading.Event()
    trigger = DebouncedTrigger(job, debounce=0.05, max_wait=5)
    trigger.start()
    try:
        trigger.notify({"customers"})
        assert job.in_run.wait(3)
        for resource in ["orders", "carts", "orders", "products"]:
            trigger.notify({resource})
            time.sleep(0.05)
        assert len(job.calls) == 1  # still the first run
        job.gate.set()
        assert wait_for(lambda: len(job.calls) == 2, timeout=5)
        assert trigger.wait_idle(5)
        time.sleep(0.3)
        assert job.calls == [frozenset({"customers"}), frozenset({"orders", "carts", "products"})]
        assert job.max_active == 1
        assert job.started[1] >= job.finished[0]
    finally:
        trigger.stop(5)


def test_a_steady_stream_cannot_postpone_the_run_past_max_wait() -> None:
    job = RecordingJob()
    # The stream never pauses for anything near the debounce window, so only max_wait
    # can start the run: it must start long before the window could ever elapse.
    trigger = DebouncedTrigger(job, debounce=10.0, idle_debounce=10.0, max_wait=0.5)
    trigger.start()
    try:
        first = time.monotonic()
        while time.monotonic() - first < 60 and not job.calls:
            trigger.notify({"customers"})
            time.sleep(0.05)
        assert job.calls, "no run although notifications kept arriving for longer than max_wait"
        assert 0.5 <= job.started[0] - first < 10.0
    finally:
        trigger.stop(5)


def test_a_postponed_run_is_retried_after_the_delay() -> None:
    job = RecordingJob(failures=[RetryLater("another run holds the lock")])
    trigger = DebouncedTrigger(job, debounce=0.05, max_wait=5, retry_delay=0.4)
    trigger.start()
    try:
        trigger.notify({"orders"})
        assert wait_for(lambda: len(job.calls) == 2, timeout=5)
        assert job.calls == [frozenset({"orders"}), frozenset({"orders"})]
        assert job.started[1] - job.started[0] >= 0.39
        assert trigger.stats.retries == 1
    finally:
        trigger.stop(5)


def test_a_failed_run_keeps_its_resources_and_is_retried_with_backoff(tmp_path: Path) -> None:
    # Before: a failed run dropped its resources; they now stay queued until a run succeeds.
    job = RecordingJob(
        failures=[
            RunFailed("partial", "run r1 partial: users failed"),
            RuntimeError("dbt build failed"),
        ]
    )
    state = ReceiverState(tmp_path / "state.sqlite")
    trigger = DebouncedTrigger(
        job, debounce=0.05, max_wait=5, retry_delay=0.2, max_retry_delay=5, state=state
    )
    trigger.start()
    try:
        trigger.notify({"orders"})
        assert wait_for(lambda: trigger.stats.failed_runs == 1)
        assert trigger.stats.last_error_class == "run partial"
        assert state.pending() == {"orders"}  # survives a restart while failing
        assert trigger.stale_seconds() > 0
        trigger.notify({"carts"})
        assert wait_for(lambda: trigger.stats.failed_runs == 2)
        assert trigger.stats.last_error == "RuntimeError: dbt build failed"
        assert trigger.stats.consecutive_failures == 2
        assert wait_for(lambda: len(job.calls) == 3, timeout=10)
        assert trigger.wait_idle(5)
        assert job.calls[0] == frozenset({"orders"})
        assert job.calls[1] == job.calls[2] == frozenset({"orders", "carts"})
        # backoff: 0.2 s after the first failure, 0.4 s after the second
        assert job.started[1] - job.finished[0] >= 0.19
        assert job.started[2] - job.finished[1] >= 0.39
        assert trigger.stats.consecutive_failures == 0
        assert wait_for(lambda: state.pending() == set())
        assert trigger.stale_seconds() == 0
    finally:
        trigger.stop(5)
        state.close()


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(10, n, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_stop_lets_the_running_job_finish_its_stage_and_starts_nothing_new(tmp_path: Path) -> None:
    job = RecordingJob(duration=30)  # only returns early when the stop event is set
    state = ReceiverState(tmp_path / "state.sqlite")
    trigger = DebouncedTrigger(job, debounce=0.05, max_wait=5, state=state)
    trigger.start()
    trigger.notify({"customers"})
    assert job.in_run.wait(3)
    trigger.notify({"orders"})  # arrives during the run; must survive the stop
    started = time.monotonic()
    trigger.stop(10)
    assert time.monotonic() - started < 5
    assert len(job.calls) == 1
    assert state.pending() == {"orders"}
    state.close()


def test_pending_resources_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = ReceiverState(path)
    assert state.record(["message:1"], {"message:1": {"customers", "messages"}}) == ["message:1"]
    state.close()

    job = RecordingJob()
    state = ReceiverState(path)
    trigger = DebouncedTrigger(job, debounce=0.05, max_wait=5, state=state)
    trigger.start()
    try:
        assert wait_for(lambda: len(job.calls) == 1)
        assert job.calls[0] == frozenset({"customers", "messages"})
        assert wait_for(lambda: state.pending() == set())
    finally:
        trigger.stop(5)
        state.close()


def test_state_records_each_key_once_even_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = ReceiverState(path)
    assert state.record(["a", "b"], {"a": {"orders"}, "b": set()}) == ["a", "b"]
    assert state.record(["a", "c"], {"a": {"orders"}, "c": {"carts"}}) == ["c"]
    state.close()
    reopened = ReceiverState(path)
    assert reopened.record(["a", "b", "c", "d"], {"d": {"products"}}) == ["d"]
    assert reopened.pending() == {"orders", "carts", "products"}
    assert reopened.seen_count() == 4
    reopened.close()


def test_old_seen_ids_are_pruned_after_the_retention(tmp_path: Path) -> None:
    state = ReceiverState(tmp_path / "state.sqlite", retention_seconds=0.1)
    state.record(["old"], {})
    time.sleep(0.2)
    state.prune()
    assert state.record(["old"], {}) == ["old"]
    state.close()
