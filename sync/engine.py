"""`run_sync`: plan, validate, deliver and acknowledge, object by object.

One thread owns the DuckDB connection (reads pages, writes acknowledgements); pools of
worker threads own the HTTP requests. Request groups are submitted as pages are read, with
a bounded number in flight, so memory stays flat and the per-endpoint limiters, not the
warehouse, set the pace.

Bulk requests (a few per second, up to 1000 records each) use `concurrency` workers.
Single-record requests (trackPurchase, updateCart, users/update, updateEmail, deletions)
go one record per task, as many in flight as the endpoint's rate times its observed
latency needs (Little's law, capped by `max_inflight`); a request stalled well past the
typical latency stops counting against that window, so the others keep flowing until its
own timeout retries it. Records of one person are sent in the order they were read, one
after the other; records of different people never wait for each other.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from sync import audit, guards, privacy
from sync.audit import ObjectCounts
from sync.config import IterableSettings
from sync.consent import ConsentConfigError, check_consent_rules
from sync.delivery import FAILED, REJECTED, SUCCEEDED, Delivery, Outcome, Prepared, batches
from sync.iterable_client import IterableAuthError, IterableClient, IterableTransientError
from sync.lock import run_lock
from sync.planner import (
    ChangeRow,
    changes_relation,
    count_changes,
    iter_pages,
    quiet,
    relation_exists,
    validate_objects,
)
from sync.redact import install_log_redaction, redact
from sync.validation import Validator
from sync.warehouse import connect, read_back_loaded
from sync.warehouse import warehouse_path as default_warehouse_path

log = logging.getLogger("ctsync.sync")

EXIT_PARTIAL = 5
"""Exit code of a `partial` run: part of it was delivered, the rest (objects whose models did
not build, records that hit transient errors) waits for the next run, which `serve` and
`schedule` start with backoff. Distinct from 1 so that a caller can tell "retry soon" from
"something is broken"."""

USER_FIELD_OBJECTS = frozenset({"users", "purchases", "carts"})
# Events before the first sync's backfill window (dbt view): counted by `plan`, never sent.
SKIPPED_EVENTS = "iterable.iterable__events_skipped"
# Single-record endpoints: the window of requests in flight is at least `concurrency` and
# at most `max_inflight`; a request on the wire longer than STALL_FACTOR typical latencies
# (and at least STALL_MIN_SECONDS) is stalled and leaves the window.
STALL_FACTOR = 5.0
STALL_MIN_SECONDS = 0.5
# Latency assumed for an endpoint before its first answer.
INITIAL_LATENCY_SECONDS = 0.2
# Per-object endpoint of single-record requests, for the window's rate and latency.
SINGLE_ENDPOINTS = {
    ("purchases", "upsert"): "track_purchase",
    ("carts", "upsert"): "update_cart",
    ("carts", "delete"): "update_cart",
    ("users", "move"): "update_email",
    ("users", "update"): "user_update",
    ("users", "delete"): "user_delete",
    ("user_deletions", "upsert"): "user_delete",
}


@dataclass
class SyncResult:
    run_id: str
    mode: str
    trigger: str
    status: str
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0

    @property
    def totals(self) -> ObjectCounts:
        total = ObjectCounts()
        for counts in self.objects.values():
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
        return total

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 delivered (rejections are reported, not failures), 1 failed or
        interrupted, 4 Iterable refused the API key, EXIT_PARTIAL (5) some records hit
        transient errors and wait for the next run."""
        if self.status == "auth_error":
            return 4
        if self.status == "partial":
            return EXIT_PARTIAL
        if self.status in ("failed", "interrupted"):
            return 1
        return 0


class MassDeletionBlocked(RuntimeError):
    """A run would delete more users than the mass-deletion guard allows."""


class _Progress:
    """rich progress bars, or nothing (tests, non-interactive callers)."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description:<15}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, obj: str, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(obj, total=max(total, 0))

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None and n:
            self._progress.advance(self._task, n)


def fetch_user_field_types(client: IterableClient) -> dict[str, str]:
    """Field types Iterable has locked for user profiles (`GET /api/users/getFields`)."""
    try:
        response = client.call("get_fields", "GET", "/api/users/getFields")
    except IterableTransientError as exc:
        log.warning("getFields unavailable (%s); checking types within the run only", exc)
        return {}
    if not response.ok or not isinstance(response.body, dict):
        log.warning(
            "getFields answered HTTP %s; checking types within the run only", response.status
        )
        return {}
    fields = response.body.get("fields") or {}
    if not isinstance(fields, dict):
        return {}
    return {str(name): str(kind).lower() for name, kind in fields.items()}


def run_sync(
    settings: IterableSettings,
    warehouse_path: Path | str | None = None,
    objects: Sequence[str] | None = None,
    full: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
    trigger: str = "manual",
    lock_held: bool = False,
    progress: bool = True,
    *,
    transport: httpx.BaseTransport | None = None,
) -> SyncResult:
    """Send what changed to Iterable and acknowledge what it accepted.

    `objects` limits the run to some objects (still in delivery order); `full` re-sends
    every desired record; `dry_run` validates and counts without sending or writing.
    A job runner that already holds `sync.lock.run_lock` passes `lock_held=True` and its
    own `run_id`/`trigger`. Raises `RunLockHeld` if another run holds the lock; every other
    outcome (including a 401) is reported in the returned `SyncResult` and `sync_runs`.
    """
    install_log_redaction()
    chosen = validate_objects(list(objects) if objects else None)
    target = Path(warehouse_path) if warehouse_path is not None else default_warehouse_path()
    run_id = run_id or uuid.uuid4().hex
    mode = "dry_run" if dry_run else ("full" if full else "incremental")
    if dry_run:
        return _dry_run(settings, target, chosen, full, run_id, trigger)
    settings.require_api_key()
    if not target.exists():
        raise FileNotFoundError(
            f"warehouse {target} does not exist; build it first (`ctsync build` or `ctsync run`)"
        )
    with ExitStack() as stack:
        if not lock_held:
            stack.enter_context(run_lock(target))
        con = quiet(stack.enter_context(connect(target)))
        client = stack.enter_context(IterableClient(settings, transport=transport))
        result = _Run(
            settings, con, client, chosen, full, run_id, trigger, mode, progress
        ).execute()
        privacy.upkeep(con)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


class _AckWriter:
    """Acknowledgements written on their own thread and DuckDB connection.

    The main thread reads pages and validates (Python work) while this thread commits
    outcome groups (DuckDB work), so neither waits for the other on large runs. All other
    writes of a run happen on the main thread only after `drain()`, so the warehouse never
    sees two writers at once.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        self._con = quiet(con.cursor())
        self._run_id = run_id
        self._queue: queue.Queue[tuple[list[Outcome], bool] | None] = queue.Queue(maxsize=16)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ctsync-ack", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            # Groups that queued up meanwhile (many small answers of single-record
            # endpoints) are committed together: one transaction, same atomicity per record.
            outcomes, resolve = list(item[0]), item[1]
            taken, stop = 1, False
            keys = {o.row.record_key for o in outcomes}
            while True:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if following is None:
                    stop = True
                    break
                if (
                    outcomes
                    and following[0]
                    and (
                        following[0][0].row.object != outcomes[0].row.object
                        or keys.intersection(o.row.record_key for o in following[0])
                    )
                ):
                    self._write(outcomes, resolve)
                    outcomes, resolve, keys = [], False, set()
                outcomes += following[0]
                resolve = resolve or following[1]
                keys.update(o.row.record_key for o in following[0])
            self._write(outcomes, resolve)
            for _ in range(taken):
                self._queue.task_done()
            if stop:
                return

    def _write(self, outcomes: list[Outcome], resolve: bool) -> None:
        try:
            if self._error is None and outcomes:
                audit.record_outcomes(self._con, self._run_id, outcomes, resolve=resolve)
        except BaseException as exc:  # surfaced on the main thread by put/drain
            self._error = exc

    def put(self, outcomes: list[Outcome], resolve: bool) -> None:
        self._check()
        self._queue.put((outcomes, resolve))

    def drain(self) -> None:
        self._queue.join()
        self._check()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._con.close()

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing acknowledgements failed: {self._error}") from self._error


class _Run:
    def __init__(
        self,
        settings: IterableSettings,
        con: duckdb.DuckDBPyConnection,
        client: IterableClient,
        objects: list[str],
        full: bool,
        run_id: str,
        trigger: str,
        mode: str,
        progress: bool,
    ) -> None:
        self.settings = settings
        self.con = con
        self.client = client
        self.objects = objects
        self.full = full
        self.delivery = Delivery(client, settings)
        self.validator: Validator | None = None
        self.may_have_rejections = True
        self.result = SyncResult(run_id=run_id, mode=mode, trigger=trigger, status="running")
        self.config_errors: list[str] = []
        self.progress = _Progress(progress)
        # The object being sent: its counts and its requests in flight (for Ctrl-C).
        self._current: tuple[ObjectCounts, deque[Future[list[Outcome]]]] | None = None
        # users: new email -> why the profile could not move there (held until it can)
        self._failed_moves: dict[str, Outcome] = {}
        self.singles: ThreadPoolExecutor | None = None
        # Single-record tasks in flight, and per person the last one (sent in order).
        self._single_futures: set[Future[list[Outcome]]] = set()
        self._person_tail: dict[str, Future[list[Outcome]]] = {}
        self._future_person: dict[Future[list[Outcome]], str] = {}

    def execute(self) -> SyncResult:
        result = self.result
        result.started_at = audit.start_run(
            self.con, result.run_id, result.trigger, result.mode, self.objects
        )
        self.writer = _AckWriter(self.con, result.run_id)
        try:
            self._deliver_all()
        except KeyboardInterrupt:
            result.status = "interrupted"
            result.error_message = "interrupted; unacknowledged records are sent on the next run"
            self._finish()
            raise
        finally:
            self.writer.close()
        return result

    def _deliver_all(self) -> None:
        result = self.result
        try:
            with (
                self.progress,
                ThreadPoolExecutor(
                    max_workers=self.settings.concurrency, thread_name_prefix="ctsync-send"
                ) as pool,
                ThreadPoolExecutor(
                    max_workers=self.settings.max_inflight, thread_name_prefix="ctsync-single"
                ) as singles,
            ):
                self.singles = singles
                self._guard_mass_deletion()
                try:
                    for obj in self.objects:
                        self._sync_object(obj, pool)
                except KeyboardInterrupt:
                    self._stop_on_interrupt()
                    raise
            totals = result.totals
            if self.config_errors:
                result.status = "failed"
                result.error_message = "; ".join(self.config_errors)
            elif totals.failed:
                result.status = "partial"
                result.error_message = (
                    f"{totals.failed} record(s) hit transient errors; "
                    "they are retried on the next run"
                )
            elif totals.rejected:
                result.status = "succeeded_with_rejections"
            else:
                result.status = "succeeded"
        except IterableAuthError as exc:
            result.status = "auth_error"
            result.error_message = redact(exc)
        except Exception as exc:
            result.status = "failed"
            result.error_message = redact(f"{type(exc).__name__}: {exc}")
            log.exception("sync run %s failed", result.run_id)
        self._finish()

    def _guard_mass_deletion(self) -> None:
        """Refuse a run that would delete more of any object than its guard allows: that
        is a broken source far more often than a real purge (see `sync.guards`)."""
        decisions = guards.evaluate(self.con, self.settings, self.objects, self.full)
        guards.record(self.con, decisions, self.objects, self.result.run_id)
        blocked = [d for d in decisions if d.blocked]
        if blocked:
            raise MassDeletionBlocked(
                "mass-deletion guard: "
                + "; ".join(d.describe() for d in blocked)
                + ". Nothing was sent. Check the source data and the last ingest; if the "
                "deletions are intended, run "
                + " and ".join(f"`{d.release_command}`" for d in blocked)
                + ", then sync again (or raise sync.iterable.delete_guards.<object>."
                "max_delete_fraction)"
            )

    def _finish(self) -> None:
        result = self.result
        try:
            self.writer.drain()
        except RuntimeError as exc:
            result.status = "failed"
            result.error_message = redact(exc)
        result.requests = self.client.total_requests
        result.rate_limited = self.client.rate_limited_count
        result.retries = self.client.retry_count
        result.finished_at = audit.utcnow()
        totals = result.totals
        totals.requests = result.requests
        audit.finish_run(self.con, result.run_id, result.status, totals, result.error_message)

    def _consent_ready(self, counts: ObjectCounts) -> bool:
        """Subscriptions are written only after Iterable was read back (raw_iterable), and
        only when every consent rule names an id the Iterable project has."""
        if not read_back_loaded(self.con):
            counts.held += counts.planned
            log.warning(
                "subscriptions held: Iterable's consent state was never read back into "
                "raw_iterable; run `ctsync ingest` (or `ctsync run`) first so no opt-out made "
                "in Iterable is overwritten"
            )
            return False
        try:
            problems = check_consent_rules(self.client)
        except ConsentConfigError as exc:
            problems = [str(exc)]
        if problems:
            self.config_errors.append(
                "subscriptions not sent, the consent rules do not match the Iterable project: "
                + "; ".join(problems)
                + ". Fix seeds/iterable_consent_rules.csv (then `ctsync build`) or the project"
            )
            log.error("%s", self.config_errors[-1])
            return False
        return True

    def _validator_for(self, obj: str) -> Validator:
        if self.validator is None:
            locked = fetch_user_field_types(self.client) if obj in USER_FIELD_OBJECTS else {}
            self.validator = Validator(self.settings, locked)
        elif obj in USER_FIELD_OBJECTS and not self.validator.types.locked.get("user"):
            self.validator.types.locked["user"] = fetch_user_field_types(self.client)
        return self.validator

    def _sync_object(self, obj: str, pool: ThreadPoolExecutor) -> None:
        counts = ObjectCounts()
        self.result.objects[obj] = counts
        relation = changes_relation(obj)
        if not relation_exists(self.con, relation):
            log.warning("%s does not exist yet (dbt not built?); skipping %s", relation, obj)
            audit.write_run_object(self.con, self.result.run_id, obj, counts)
            return
        planned = count_changes(self.con, obj, self.full)
        counts.held = planned.pop("held", 0)
        counts.planned = sum(planned.values())
        if obj == "subscriptions" and counts.planned and not self._consent_ready(counts):
            audit.write_run_object(self.con, self.result.run_id, obj, counts)
            return
        requests_before = self.client.total_requests
        self.may_have_rejections = audit.open_rejection_count(self.con, obj) > 0
        self.progress.start(obj, counts.planned)
        if counts.planned:
            validator = self._validator_for(obj)
            if obj == "users":
                # Email moves first, and to the end: the upsert of a moved profile's new
                # email must find the profile there, not create a second one.
                self._send_pages(obj, pool, counts, validator, only=("move",))
                self.writer.drain()
                self._hold_unmoved_profiles()
                self._send_pages(obj, pool, counts, validator, skip=("move",))
            else:
                self._send_pages(obj, pool, counts, validator)
        self.writer.drain()
        audit.resolve_settled(self.con, obj, relation)
        counts.requests = self.client.total_requests - requests_before
        audit.write_run_object(self.con, self.result.run_id, obj, counts)

    def _send_pages(
        self,
        obj: str,
        pool: ThreadPoolExecutor,
        counts: ObjectCounts,
        validator: Validator,
        only: tuple[str, ...] = (),
        skip: tuple[str, ...] = (),
    ) -> None:
        """Validate and send the object's change rows (those of the `only` operations, or
        all but the `skip` ones), then wait for every request to be answered."""
        inflight: deque[Future[list[Outcome]]] = deque()
        self._current = (counts, inflight)
        previous_key: str | None = None
        # Rows carried over from one page to the next so that every request but the
        # last one of an object is full: bulkUpdate's 5 requests/s make each one count.
        accepted: dict[str, list[Prepared]] = {}
        pages = iter_pages(self.con, obj, self.full, self.settings.page_size, only=only, skip=skip)
        for page in pages:
            invalid: list[Outcome] = []
            for row in page:
                # Rows arrive ordered by key, so a duplicate (a broken changes view)
                # sits right after its twin: refuse it rather than send a record twice.
                if row.record_key == previous_key:
                    invalid.append(
                        Outcome(
                            row,
                            REJECTED,
                            None,
                            None,
                            "duplicate_record_key",
                            f"{changes_relation(obj)} has more than one row for "
                            f"record_key {row.record_key!r}; only the first was sent",
                        )
                    )
                    continue
                previous_key = row.record_key
                pending_move = self._failed_moves.get(row.record_key) if obj == "users" else None
                if pending_move is not None:
                    invalid.append(pending_move._replace(row=row, endpoint=None))
                    continue
                payload, rejection = validator.validate(row)
                if rejection is not None:
                    invalid.append(
                        Outcome(row, REJECTED, None, None, rejection.reason_code, rejection.detail)
                    )
                elif payload is not None:
                    accepted.setdefault(row.operation, []).append(
                        Prepared(row, payload, len(row.payload.encode()))
                    )
            self._record(counts, invalid)
            for operation, items in accepted.items():
                accepted[operation] = self._submit(
                    obj, operation, items, pool, inflight, counts, final=False
                )
            self._collect(counts, inflight, block=False)
        for operation, items in accepted.items():
            self._submit(obj, operation, items, pool, inflight, counts, final=True)
        while inflight:
            self._collect(counts, inflight, block=True)

    def _stop_on_interrupt(self) -> None:
        """Ctrl-C: send nothing more, let the requests already on the wire finish, and
        acknowledge what Iterable accepted, so that the next run re-sends only the rest."""
        self.delivery.stopped.set()
        if self._current is None:
            return
        counts, inflight = self._current
        running = [future for future in inflight if not future.cancel()]
        log.warning(
            "interrupt received: sending nothing more; waiting for %d request(s) in flight",
            len(running),
        )
        inflight.clear()
        inflight.extend(running)
        self._single_futures.intersection_update(running)
        wait(running)
        self._collect(counts, inflight, block=False)
        self.writer.drain()

    def _submit(
        self,
        obj: str,
        operation: str,
        items: list[Prepared],
        pool: ThreadPoolExecutor,
        inflight: deque[Future[list[Outcome]]],
        counts: ObjectCounts,
        final: bool,
    ) -> list[Prepared]:
        """Submit request groups for `items`; unless `final`, hold back a last bulk group
        that is not full yet and return it, to be topped up by the next page."""
        if not items:
            return []
        if not self.delivery.is_bulk(obj, operation):
            self._submit_singles(obj, operation, items, inflight, counts)
            return []
        groups = list(
            batches(items, self.settings.batch_size_for(obj), self.settings.max_body_bytes)
        )
        held: list[Prepared] = []
        if not final and groups and len(groups[-1]) < self.settings.batch_size_for(obj):
            held = groups.pop()
        for group in groups:
            counts.sent += len(group)
            inflight.append(pool.submit(self.delivery.send, obj, operation, group))
            while len(inflight) - len(self._single_futures) >= self.settings.concurrency * 2:
                self._collect(counts, inflight, block=True)
        return held

    def _submit_singles(
        self,
        obj: str,
        operation: str,
        items: list[Prepared],
        inflight: deque[Future[list[Outcome]]],
        counts: ObjectCounts,
    ) -> None:
        """One task per person (usually one record): a stalled request holds up only the
        records of its own person, never the rest."""
        assert self.singles is not None
        chains: dict[str, list[Prepared]] = {}
        for item in items:
            chains.setdefault(_person_key(item), []).append(item)
        endpoint = SINGLE_ENDPOINTS.get((obj, operation), "")
        for person, chain in chains.items():
            while len(self._single_futures) >= self.settings.max_inflight or (
                len(self._single_futures) - self._stalled() >= self._single_window(endpoint)
            ):
                self._collect(counts, inflight, block=True, timeout=0.1)
            before = self._person_tail.get(person)
            if before is not None and before.done():
                before = None
            counts.sent += len(chain)
            future = self.singles.submit(self._send_after, before, obj, operation, chain)
            self._person_tail[person] = future
            self._future_person[future] = person
            self._single_futures.add(future)
            inflight.append(future)

    def _send_after(
        self,
        before: Future[list[Outcome]] | None,
        obj: str,
        operation: str,
        chain: list[Prepared],
    ) -> list[Outcome]:
        """Send `chain` once the person's previous task has finished (in read order).

        The previous task was submitted earlier to the same FIFO pool, so it is running or
        ahead in the queue: waiting on it cannot deadlock."""
        if before is not None:
            wait([before])
        return self.delivery.send(obj, operation, chain)

    def _single_window(self, endpoint: str) -> int:
        """Requests to keep in flight on a single-record endpoint: its rate times its
        typical latency, doubled for headroom (Little's law), within [concurrency,
        max_inflight]."""
        latency = self.client.latency(endpoint) or INITIAL_LATENCY_SECONDS
        rate = self.client.limiters.get(endpoint).current_rate if endpoint else 10.0
        wanted = math.ceil(rate * latency * 2) + 1
        return max(self.settings.concurrency, min(self.settings.max_inflight, wanted))

    def _stalled(self) -> int:
        """Requests stalled on the wire: they leave the window (the tasks in flight stay
        at most `max_inflight`)."""
        return self.client.stalled(STALL_FACTOR, STALL_MIN_SECONDS)

    def _collect(
        self,
        counts: ObjectCounts,
        inflight: deque[Future[list[Outcome]]],
        block: bool,
        timeout: float | None = None,
    ) -> None:
        if not inflight:
            return
        if block:
            wait(list(inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        answered: list[Outcome] = []
        for future in [f for f in inflight if f.done()]:
            inflight.remove(future)
            self._single_futures.discard(future)
            person = self._future_person.pop(future, None)
            if person is not None and self._person_tail.get(person) is future:
                del self._person_tail[person]
            try:
                outcomes = future.result()
            except IterableAuthError:
                # Stop now: acknowledge what was answered, nothing more; let queued work
                # fall through.
                self._record(counts, answered)
                self.delivery.stopped.set()
                for pending in inflight:
                    pending.cancel()
                inflight.clear()
                self._single_futures.clear()
                self._person_tail.clear()
                self._future_person.clear()
                raise
            answered += outcomes
        # Everything answered since the last look is acknowledged together (one transaction).
        self._record(counts, answered)
        learned = self.delivery.take_learned_types()
        if learned and self.validator is not None:
            for category, name, kind in learned:
                self.validator.types.locked.setdefault(category, {})[name] = kind

    def _record(self, counts: ObjectCounts, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        for outcome in outcomes:
            if outcome.row.operation == "move" and outcome.outcome != SUCCEEDED:
                self._hold_moved_profile(outcome)
        self.writer.put(outcomes, self.may_have_rejections)
        if any(o.outcome != SUCCEEDED for o in outcomes):
            self.may_have_rejections = True
        for outcome in outcomes:
            if outcome.outcome == SUCCEEDED:
                counts.succeeded += 1
            elif outcome.outcome == REJECTED:
                counts.rejected += 1
            elif outcome.outcome == FAILED:
                counts.failed += 1
        self.progress.advance(len(outcomes))

    def _hold_unmoved_profiles(self) -> None:
        """Moves still pending after the move pass (held back as rejected earlier, or
        refused now) hold the upsert of their new email."""
        rows = self.con.execute(
            f"select record_key, operation, payload, payload_hash, idempotency_key, "
            f"source_updated_at from {changes_relation('users')} where operation = 'move'"
        ).fetchall()
        for row in rows:
            change = ChangeRow("users", str(row[0]), "move", row[2] or "", row[3], row[4], row[5])
            self._hold_moved_profile(
                Outcome(change, REJECTED, None, None, "email_change_pending", "move not done")
            )

    def _hold_moved_profile(self, outcome: Outcome) -> None:
        """A profile that could not move to its new email: hold the new email's upsert
        too, or it would create a second profile and leave the history on the old one."""
        try:
            new_email = str(orjson.loads(outcome.row.payload)["newEmail"]).lower()
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if new_email in self._failed_moves:
            return
        self._failed_moves[new_email] = Outcome(
            outcome.row,
            outcome.outcome,
            None,
            outcome.http_status,
            "email_change_pending",
            redact(
                f"the profile could not move here from its previous email "
                f"({outcome.reason_code}: {outcome.detail}); sent once the move succeeds"
            ),
        )


def _person_key(item: Prepared) -> str:
    """Who a single-record request is about: its records go out in order, one at a time."""
    payload = item.payload
    user = payload.get("user")
    who: dict[str, Any] = user if isinstance(user, dict) else payload
    for name in ("userId", "email", "currentEmail"):
        value = who.get(name)
        if value:
            return f"{name}:{str(value).lower() if 'mail' in name else value}"
    return f"record:{item.row.record_key}"


@contextmanager
def _read_only(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if not target.exists():
        raise FileNotFoundError(
            f"warehouse {target} does not exist; build it first (`ctsync build` or `ctsync run`)"
        )
    with connect(target, read_only=True) as con:
        yield quiet(con)


@dataclass
class ObjectPlan:
    object: str
    operations: dict[str, int]
    held: int
    invalid: int
    samples: list[ChangeRow]
    available: bool = True
    guard: guards.GuardDecision | None = None  # set when this object's deletions would stop
    skipped: int = 0
    """Records left out as history before the backfill window (events): never sent."""


def build_plan(
    settings: IterableSettings,
    target: Path,
    objects: Sequence[str],
    full: bool = False,
    sample: int = 3,
    validate: bool = True,
) -> list[ObjectPlan]:
    """What a sync would send, per object: counts per operation, rows held back as already
    rejected, rows that would fail validation (local rules only: no API call), samples."""
    plans = []
    with _read_only(target) as con:
        validator = Validator(settings)
        for obj in validate_objects(list(objects) if objects else None):
            if not relation_exists(con, changes_relation(obj)):
                plans.append(ObjectPlan(obj, {}, 0, 0, [], available=False))
                continue
            counts = count_changes(con, obj, full)
            held = counts.pop("held", 0)
            invalid = 0
            samples: list[ChangeRow] = []
            if validate or sample:
                for page in iter_pages(con, obj, full, settings.page_size):
                    if len(samples) < sample:
                        samples.extend(page[: sample - len(samples)])
                    if not validate:
                        break
                    invalid += sum(1 for row in page if validator.validate(row)[1] is not None)
            skipped = 0
            if obj == "events" and relation_exists(con, SKIPPED_EVENTS):
                row = con.execute(f"select count(*) from {SKIPPED_EVENTS}").fetchone()
                skipped = int(row[0]) if row else 0
            plans.append(ObjectPlan(obj, counts, held, invalid, samples, skipped=skipped))
        chosen = [plan.object for plan in plans if plan.available]
        for decision in guards.evaluate(con, settings, chosen, full):
            if decision.blocked:
                next(plan for plan in plans if plan.object == decision.object).guard = decision
    return plans


def _dry_run(
    settings: IterableSettings,
    target: Path,
    objects: list[str],
    full: bool,
    run_id: str,
    trigger: str,
) -> SyncResult:
    result = SyncResult(run_id=run_id, mode="dry_run", trigger=trigger, status="dry_run")
    result.started_at = audit.utcnow()
    for plan in build_plan(settings, target, objects, full, sample=0):
        planned = sum(plan.operations.values())
        result.objects[plan.object] = ObjectCounts(
            planned=planned, rejected=plan.invalid, held=plan.held
        )
    result.finished_at = audit.utcnow()
    return result


def reset_state(
    target: Path | str | None = None,
    objects: Sequence[str] | None = None,
    lock_held: bool = False,
    run_id: str | None = None,
) -> dict[str, int]:
    """Mark everything currently desired as acknowledged, without sending anything.

    For each object: every pending upsert in its changes view becomes a ledger row with its
    payload hash, every pending delete a ledger row with operation 'delete'. Afterwards the
    changes views are empty until the source changes. Returns rows marked per object.
    """
    chosen = validate_objects(list(objects) if objects else None)
    path = Path(target) if target is not None else default_warehouse_path()
    run_id = run_id or uuid.uuid4().hex
    marked: dict[str, int] = {}
    lock = nullcontext() if lock_held else run_lock(path)
    with lock, connect(path) as con:
        audit.start_run(con, run_id, "manual", "reset_state", chosen)
        totals = ObjectCounts()
        for obj in chosen:
            relation = changes_relation(obj)
            if not relation_exists(con, relation):
                continue
            now = audit.utcnow()
            con.execute("begin transaction")
            try:
                row = con.execute(f"select count(*) from {relation}").fetchone()
                marked[obj] = int(row[0]) if row else 0
                con.execute(
                    "insert into ctsync.sync_ledger (object, record_key, operation, payload_hash, "
                    "payload, run_id, acknowledged_at) "
                    # users/update carries the whole profile: marked like an upsert
                    "select ?, record_key, case when operation = 'update' then 'upsert' "
                    "else operation end, case when operation in ('upsert', 'update') then "
                    f"payload_hash end, payload, ?, ? from {relation} "
                    "on conflict (object, record_key) do update set "
                    "operation = excluded.operation, payload_hash = excluded.payload_hash, "
                    "payload = excluded.payload, "
                    "run_id = excluded.run_id, acknowledged_at = excluded.acknowledged_at",
                    [obj, run_id, now],
                )
                privacy.minimize_ledger_rows(con, obj, run_id)
                con.execute(
                    "update ctsync.sync_rejections set resolved_at = ? "
                    "where object = ? and resolved_at is null",
                    [now, obj],
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            totals.planned += marked[obj]
            audit.write_run_object(con, run_id, obj, ObjectCounts(planned=marked[obj]))
        audit.finish_run(con, run_id, "succeeded", totals, None)
    return marked


def payload_preview(row: ChangeRow, limit: int = 300) -> str:
    """A compact, secret-free preview of a payload for the plan output."""
    try:
        text = orjson.dumps(orjson.loads(row.payload)).decode()
    except orjson.JSONDecodeError:
        text = row.payload
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
