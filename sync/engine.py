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
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path

import duckdb
import httpx
import orjson

from ctsync.core.clock import utcnow
from ctsync.core.config import IterableSettings
from ctsync.core.lock import run_lock
from ctsync.core.names import (
    ChangeRow,
    IterableObject,
    Operation,
    Outcome,
    RecordOutcome,
    RunMode,
    RunStatus,
)
from ctsync.core.redact import install_log_redaction, redact
from ctsync.core.warehouse import connect, read_back_loaded
from ctsync.core.warehouse import warehouse_path as default_warehouse_path
from ctsync.sync import audit, guards, privacy, windows
from ctsync.sync.acks import AckWriter
from ctsync.sync.audit import ObjectCounts
from ctsync.sync.batching import Prepared, batches, person_key
from ctsync.sync.consent import ConsentConfigError, check_consent_rules
from ctsync.sync.delivery import Delivery
from ctsync.sync.iterable_client import (
    IterableAuthError,
    IterableClient,
    fetch_user_field_types,
)
from ctsync.sync.plan import plan_dry_run
from ctsync.sync.planner import (
    changes_relation,
    count_changes,
    iter_pages,
    quiet,
    relation_exists,
    validate_objects,
)
from ctsync.sync.progress import Progress
from ctsync.sync.result import MassDeletionBlocked, SyncResult
from ctsync.sync.validation import Validator

log = logging.getLogger("ctsync.sync")


USER_FIELD_OBJECTS = frozenset({"users", "purchases", "carts"})


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
    A job runner that already holds `ctsync.core.lock.run_lock` passes `lock_held=True` and its
    own `run_id`/`trigger`. Raises `RunLockHeld` if another run holds the lock; every other
    outcome (including a 401) is reported in the returned `SyncResult` and `sync_runs`.
    """
    install_log_redaction()
    chosen = validate_objects(list(objects) if objects else None)
    target = Path(warehouse_path) if warehouse_path is not None else default_warehouse_path()
    run_id = run_id or uuid.uuid4().hex
    mode = RunMode.DRY_RUN if dry_run else (RunMode.FULL if full else RunMode.INCREMENTAL)
    if dry_run:
        return plan_dry_run(settings, target, chosen, full, run_id, trigger)
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
        mode: RunMode,
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
        self.result = SyncResult(
            run_id=run_id, mode=mode, trigger=trigger, status=RunStatus.RUNNING
        )
        self.config_errors: list[str] = []
        self.progress = Progress(progress)
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
        self.writer = AckWriter(self.con, result.run_id)
        try:
            self._deliver_all()
        except KeyboardInterrupt:
            result.status = RunStatus.INTERRUPTED
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
                result.status = RunStatus.FAILED
                result.error_message = "; ".join(self.config_errors)
            elif totals.failed:
                result.status = RunStatus.PARTIAL
                result.error_message = (
                    f"{totals.failed} record(s) hit transient errors; "
                    "they are retried on the next run"
                )
            elif totals.rejected:
                result.status = RunStatus.SUCCEEDED_WITH_REJECTIONS
            else:
                result.status = RunStatus.SUCCEEDED
        except IterableAuthError as exc:
            result.status = RunStatus.AUTH_ERROR
            result.error_message = redact(exc)
        except Exception as exc:
            result.status = RunStatus.FAILED
            result.error_message = redact(f"{type(exc).__name__}: {exc}")
            log.exception("sync run %s failed", result.run_id)
        self._finish()

    def _guard_mass_deletion(self) -> None:
        """Refuse a run that would delete more of any object than its guard allows: that
        is a broken source far more often than a real purge (see `ctsync.sync.guards`)."""
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
            result.status = RunStatus.FAILED
            result.error_message = redact(exc)
        result.requests = self.client.total_requests
        result.rate_limited = self.client.rate_limited_count
        result.retries = self.client.retry_count
        result.finished_at = utcnow()
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
        planned = count_changes(self.con, obj, self.full, self.settings.project_type)
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
                # email must find the profile there, not create a second one. Without a
                # move to send or held back (the counts say), both steps would only compute
                # the changes view again to find none.
                if planned.get(Operation.MOVE) or counts.held:
                    self._send_pages(obj, pool, counts, validator, only=(Operation.MOVE,))
                    self.writer.drain()
                    self._hold_unmoved_profiles()
                self._send_pages(obj, pool, counts, validator, skip=(Operation.MOVE,))
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
        pages = iter_pages(
            self.con,
            obj,
            self.full,
            self.settings.page_size,
            only=only,
            skip=skip,
            project_type=self.settings.project_type,
        )
        for page in pages:
            invalid: list[Outcome] = []
            for row in page:
                # Rows arrive ordered by key, so a duplicate (a broken changes view)
                # sits right after its twin: refuse it rather than send a record twice.
                if row.record_key == previous_key:
                    invalid.append(
                        _refused(
                            row,
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
                    invalid.append(_refused(row, rejection.reason_code, rejection.detail))
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
            chains.setdefault(person_key(item), []).append(item)
        endpoint = windows.SINGLE_ENDPOINTS.get((obj, operation), "")
        for person, chain in chains.items():
            while len(self._single_futures) >= self.settings.max_inflight or (
                len(self._single_futures) - windows.stalled(self.client)
                >= windows.single_window(self.client, self.settings, endpoint)
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
            if (
                outcome.row.operation == Operation.MOVE
                and outcome.outcome != RecordOutcome.SUCCEEDED
            ):
                self._hold_moved_profile(outcome)
        self.writer.put(outcomes, self.may_have_rejections)
        if any(o.outcome != RecordOutcome.SUCCEEDED for o in outcomes):
            self.may_have_rejections = True
        for outcome in outcomes:
            if outcome.outcome == RecordOutcome.SUCCEEDED:
                counts.succeeded += 1
            elif outcome.outcome == RecordOutcome.REJECTED:
                counts.rejected += 1
            elif outcome.outcome == RecordOutcome.FAILED:
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
            change = ChangeRow(
                IterableObject.USERS,
                str(row[0]),
                Operation.MOVE,
                row[2] or "",
                row[3],
                row[4],
                row[5],
            )
            self._hold_moved_profile(_refused(change, "email_change_pending", "move not done"))

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


def _refused(row: ChangeRow, reason_code: str, detail: str) -> Outcome:
    """A row the sync refuses itself, without a request (Iterable never saw it)."""
    return Outcome(row, RecordOutcome.REJECTED, None, None, reason_code, detail)
