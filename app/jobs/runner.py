"""`ctsync run`: ingest (incremental) → dbt build → sync, as one job under one lock.

The three stages share one run id. The runner writes the run's `ctsync.sync_runs` row when
it starts (the sync stage takes the row over and fills in its counts) and one
`ctsync.sync_run_stages` row per stage, so a run that fails in ingest or dbt is as visible
to analysts as one that fails in delivery. A stop request (SIGINT/SIGTERM in `schedule` or
`serve`) is honoured between stages: the current stage finishes, the rest are skipped.

The warehouse is opened only for those short bookkeeping writes, never across a stage:
dlt and dbt open the DuckDB file themselves, and DuckDB allows one writer. After the stages,
still under the lock, a run that left enough free blocks compacts the file (stage `compact`,
`core/warehouse.py` `compaction_due`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ctsync.app.alerts import AlertSettings
from ctsync.app.jobs.selection import IngestChanges
from ctsync.core.clock import utcnow
from ctsync.core.config import audit_schema
from ctsync.core.console import make_console
from ctsync.core.lock import run_lock
from ctsync.core.names import OBJECTS, OK_STATUSES
from ctsync.core.redact import redact
from ctsync.core.warehouse import (
    compact_if_due,
    compaction_due,
    connect,
    file_blocks,
    load_compaction_settings,
    warehouse_path,
)
from ctsync.sync.result import EXIT_PARTIAL

log = logging.getLogger("ctsync.jobs.runner")

STAGES = ("ingest", "dbt", "sync")


@dataclass(frozen=True)
class JobOptions:
    full_refresh: bool = False
    resources: Sequence[str] | None = None  # ingest resources; None = all
    objects: Sequence[str] | None = None  # Iterable objects; None = all
    dry_run: bool = False
    trigger: str = "manual"

    @property
    def mode(self) -> str:
        if self.dry_run:
            return "dry_run"
        return "full_refresh" if self.full_refresh else "incremental"


@dataclass
class StageReport:
    name: str
    status: str = "pending"  # succeeded | failed | skipped | the sync's own status
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""
    result: Any = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class JobReport:
    run_id: str
    options: JobOptions
    status: str = "running"
    stages: list[StageReport] = field(default_factory=list)
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def stage(self, name: str) -> StageReport:
        for report in self.stages:
            if report.name == name:
                return report
        raise KeyError(name)

    @property
    def exit_code(self) -> int:
        """0 ok (rejections are reported, not failures); 4 Iterable refused the key;
        EXIT_PARTIAL (5) some objects' models failed to build or some records hit transient
        errors, and the rest was synced; 1 else."""
        if self.status in OK_STATUSES:
            return 0
        if self.status == "auth_error":
            return 4
        if self.status == "partial":
            return EXIT_PARTIAL
        return 1


@dataclass
class StageContext:
    run_id: str
    options: JobOptions
    warehouse: Path
    progress: bool
    console: Console
    blocked_objects: dict[str, str] = field(default_factory=dict)
    """Iterable objects whose models did not build in this run (object -> why): the sync
    stage leaves them out, and the run ends `partial`."""
    changed: IngestChanges | None = None
    """What the ingest stage changed (None: unknown, so dbt builds everything)."""


StageFunction = Callable[[StageContext], tuple[str, str, Any]]
"""A stage: returns (status, one-line detail, result object); raises on failure. The dbt
stage may return `partial`: some objects' models failed, the others go on to the sync."""


class JobConfigError(RuntimeError):
    """The job cannot start: a setting is missing or wrong (the message says which)."""


def check_configuration(*, dry_run: bool = False) -> None:
    """Fail before ingest starts, not minutes later in the sync stage."""
    from ctsync.core.config import ConfigError
    from ctsync.core.config import load_settings as load_iterable
    from ctsync.ingest.commercetools.client import CommercetoolsError
    from ctsync.ingest.commercetools.source import load_settings as load_commercetools

    problems: list[str] = []
    try:
        # refuses a missing project key, client id or secret, naming the setting
        commercetools = load_commercetools()
        commercetools.endpoints  # noqa: B018 - resolves region/URLs, raising when unusable
    except CommercetoolsError as exc:
        problems.append(redact(exc))
    try:
        iterable = load_iterable()
        if not dry_run:
            iterable.require_api_key()
    except ConfigError as exc:
        problems.append(redact(exc))
    from ctsync.app.alerts import AlertConfigError, load_alert_settings

    try:
        load_alert_settings()
    except AlertConfigError as exc:
        problems.append(redact(exc))
    try:
        load_compaction_settings()
    except ValueError as exc:
        problems.append(redact(exc))
    if problems:
        raise JobConfigError("; ".join(problems))


def run_job(
    options: JobOptions,
    *,
    warehouse: Path | str | None = None,
    stop: threading.Event | None = None,
    stages: Mapping[str, StageFunction] | None = None,
    progress: bool = True,
    console: Console | None = None,
    run_id: str | None = None,
    alerts: AlertSettings | None = None,
) -> JobReport:
    """Run the pipeline once. Raises `ctsync.core.lock.RunLockHeld` when another run is active.
    `alerts` (default: `sync.alerts.*` from the configuration) says where to report a failed
    run, a rejection spike or stale data."""
    target = Path(warehouse).resolve() if warehouse is not None else warehouse_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    console = console or make_console(stderr=True)
    functions = dict(default_stages())
    functions.update(stages or {})
    report = JobReport(run_id=run_id or uuid.uuid4().hex, options=options)
    context = StageContext(report.run_id, options, target, progress, console)

    with run_lock(target):
        report.started_at = utcnow()
        _record_run_start(target, report)
        for name in STAGES:
            stage = StageReport(name)
            report.stages.append(stage)
            if report.status != "running":
                stage.status = "skipped"
                continue
            if stop.is_set():
                stage.status = "skipped"
                report.status = "interrupted"
                report.error_message = f"stopped before the {name} stage on request"
                continue
            _run_stage(functions[name], stage, context, target)
            if stage.status == "failed":
                report.status = "failed"
                report.error_message = f"{name} failed: {stage.detail}"
        sync_stage = report.stage("sync")
        if report.status == "running":
            report.status = sync_stage.status
            result = sync_stage.result
            report.error_message = getattr(result, "error_message", None)
            if context.blocked_objects and report.status in (*OK_STATUSES, "partial"):
                # the objects whose models built were delivered; the rest wait for a run
                # whose build succeeds (serve / schedule retry partial runs)
                report.status = "partial"
                blocked = "; ".join(f"{o}: {why}" for o, why in context.blocked_objects.items())
                report.error_message = "; ".join(
                    part
                    for part in (f"not synced, models failed: {blocked}", report.error_message)
                    if part
                )
        report.finished_at = utcnow()
        blocks = _record_run_finish(target, report)
        if not options.dry_run:
            _compact_if_due(report, context, target, blocks)
        stale = _stale_minutes(target, report)
    _send_alerts(report, stale, alerts)
    return report


def _compact_if_due(
    report: JobReport, context: StageContext, target: Path, blocks: tuple[int, int]
) -> None:
    """After the run, still under its lock: rewrite the warehouse without its free blocks when
    they are due (`core/warehouse.py` `compaction_due`; `blocks`: the file's free and total
    bytes, read as the run was recorded). Recorded as stage `compact` of the run when it
    compacts or fails; the run's own status stays what its stages made it."""
    free, total = blocks
    try:
        settings = load_compaction_settings()
    except ValueError as exc:
        log.warning("compaction not checked: %s", redact(exc))
        return
    if not compaction_due(free, total, settings):
        return
    stage = StageReport("compact")
    report.stages.append(stage)

    def compact_stage(_: StageContext) -> tuple[str, str, Any]:
        done, detail = compact_if_due(target, settings, blocks)
        return ("succeeded" if done else "skipped"), detail, done

    _run_stage(compact_stage, stage, context, target)


def _stale_minutes(target: Path, report: JobReport) -> float | None:
    """Minutes since the last run that succeeded, when this one did not (else None)."""
    if report.status in OK_STATUSES:
        return None
    with connect(target) as con:
        ok = ", ".join(f"'{status}'" for status in OK_STATUSES)
        row = con.execute(
            f"select coalesce(max(finished_at) filter (where status in ({ok}) "
            f"and mode <> 'dry_run'), min(started_at)) from {audit_schema()}.sync_runs"
        ).fetchone()
    if not row or row[0] is None or report.finished_at is None:
        return None
    last: datetime = row[0]
    return max(0.0, (report.finished_at - last).total_seconds() / 60)


def _send_alerts(report: JobReport, stale: float | None, settings: AlertSettings | None) -> None:
    from ctsync.app.alerts import AlertConfigError, load_alert_settings, run_alerts, send

    try:
        settings = settings or load_alert_settings()
    except AlertConfigError as exc:
        log.error("alerts are off: %s", redact(exc))
        return
    if not settings.enabled:
        return
    totals = getattr(report.stage("sync").result, "totals", None) if report.stages else None
    for title, lines, facts in run_alerts(
        run_id=report.run_id,
        status=report.status,
        error_message=report.error_message,
        rejected=int(getattr(totals, "rejected", 0) or 0),
        trigger=report.options.trigger,
        stale_minutes=stale,
        settings=settings,
    ):
        send(settings, title, lines, facts)


def _run_stage(
    function: StageFunction, stage: StageReport, context: StageContext, target: Path
) -> None:
    stage.started_at = utcnow()
    _record_stage(target, context.run_id, stage)
    context.console.print(f"[bold cyan]▶ {stage.name}[/] …")
    begun = time.perf_counter()
    try:
        stage.status, stage.detail, stage.result = function(context)
    except KeyboardInterrupt:
        stage.status = "failed"
        stage.detail = "interrupted"
        stage.finished_at = utcnow()
        _record_stage(target, context.run_id, stage)
        raise
    except Exception as exc:
        stage.status = "failed"
        stage.detail = redact(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
        log.debug("stage %s failed", stage.name, exc_info=True)
    stage.finished_at = utcnow()
    _record_stage(target, context.run_id, stage)
    colour = {"partial": "yellow"}.get(
        stage.status, "green" if stage.status in OK_STATUSES else "red"
    )
    context.console.print(
        f"[bold {colour}]{'✔' if colour == 'green' else '✘'} {stage.name}[/] "
        f"{stage.status} in {time.perf_counter() - begun:.1f}s — {escape(stage.detail)}"
    )


# -- bookkeeping in ctsync.sync_runs / sync_run_stages ------------------------------------


def _record_run_start(target: Path, report: JobReport) -> None:
    objects = ",".join(report.options.objects) if report.options.objects else None
    with connect(target) as con:
        con.execute(
            f"insert into {audit_schema()}.sync_runs (run_id, trigger, mode, objects, status, "
            "started_at) values (?, ?, ?, ?, 'running', ?)",
            [
                report.run_id,
                report.options.trigger,
                report.options.mode,
                objects,
                report.started_at,
            ],
        )


def _record_stage(target: Path, run_id: str, stage: StageReport) -> None:
    with connect(target) as con:
        con.execute(
            f"insert into {audit_schema()}.sync_run_stages (run_id, stage, status, started_at, "
            "finished_at, detail) values (?, ?, ?, ?, ?, ?) on conflict (run_id, stage) do update "
            "set status = excluded.status, finished_at = excluded.finished_at, "
            "detail = excluded.detail",
            [
                run_id,
                stage.name,
                "running" if stage.finished_at is None else stage.status,
                stage.started_at,
                stage.finished_at,
                redact(stage.detail)[:4000] or None,
            ],
        )


def _record_run_finish(target: Path, report: JobReport) -> tuple[int, int]:
    """Close the run row with the job's status, mode and end time. The sync stage has filled
    in its counts when it ran for real; runs that stopped earlier and dry runs get theirs here.
    Returns the file's free and total bytes (`file_blocks`), read on the same connection."""
    sync_result = report.stage("sync").result
    totals = getattr(sync_result, "totals", None)
    with connect(target) as con:
        con.execute(
            f"update {audit_schema()}.sync_runs set status = ?, mode = ?, "
            "finished_at = ?, error_message = coalesce(?, error_message), "
            "planned_count = coalesce(planned_count, ?), "
            "rejected_count = coalesce(rejected_count, ?) where run_id = ?",
            [
                report.status,
                report.options.mode,
                report.finished_at,
                redact(report.error_message)[:4000] if report.error_message else None,
                getattr(totals, "planned", None),
                getattr(totals, "rejected", None),
                report.run_id,
            ],
        )
        return file_blocks(con)


# -- the real stages ------------------------------------------------------------------------


def default_stages() -> dict[str, StageFunction]:
    return {"ingest": ingest_stage, "dbt": dbt_stage, "sync": sync_stage}


def ingest_stage(context: StageContext) -> tuple[str, str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from ctsync.ingest.iterable.pipeline import run_iterable_ingest
    from ctsync.ingest.pipeline import run_ingest

    # What Iterable holds (consent), read before anything is sent: the first run loads a
    # full snapshot, later runs what changed. It reads Iterable only and writes its own
    # dataset (dlt runs pipelines of other names in other threads), so it runs while
    # commercetools is read: the stage takes the longer of the two, not their sum. Both
    # finish before the stage ends, whichever fails.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="iterable-read-back") as pool:
        reading_back = pool.submit(
            run_iterable_ingest, context.warehouse, full_refresh=context.options.full_refresh
        )
        summary = run_ingest(
            full_refresh=context.options.full_refresh,
            resources=list(context.options.resources) if context.options.resources else None,
            warehouse=context.warehouse,
        )
        back = reading_back.result()
    changed = [
        f"{r.name} +{r.new}/~{r.updated}" + (f"/-{r.removed}" if r.removed else "")
        for r in summary.resources
        if r.new or r.updated or r.removed
    ]
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in summary.step_seconds.items())
    detail = (
        f"fetched {summary.fetched} row(s) in {summary.requests} request(s) in "
        f"{summary.elapsed_seconds:.1f} s" + (f" ({steps})" if steps else "")
    )
    detail += f"; {', '.join(changed)}" if changed else "; no changes"
    if back.skipped:
        detail += f"; Iterable read-back skipped: {back.skipped}"
    else:
        detail += (
            f"; raw_iterable {back.rows.get('users', 0)} user(s), "
            f"{back.rows.get('consent_events', 0)} consent event(s) in "
            f"{back.elapsed_seconds:.1f} s"
        )
        if back.deferred:
            # Iterable's export budget (4 a minute) was spent: the next run reads these
            detail += f"; read-back deferred to the next run: {', '.join(back.deferred)}"
    # an ingest that reloaded tables in full (a new raw layout) changed them all
    if not summary.full_refresh:
        context.changed = IngestChanges(summary.changed_resources, summary.load_ids)
    return "succeeded", detail, summary


# Unit tests check model logic against fixed inputs, not the data: they belong to CI and
# `ctsync build`, and would only slow every scheduled or event-triggered run down.
JOB_DBT_EXCLUDE = ["resource_type:unit_test"]


def dbt_stage(context: StageContext) -> tuple[str, str, Any]:
    """Build what changed since the last build (see ``ctsync.app.jobs.selection``)."""
    from ctsync.app.jobs.selection import build_what_changed

    finished = 0
    with context.console.status("dbt build", spinner="dots") as status:

        def node_finished(name: str, outcome: str) -> None:
            nonlocal finished
            finished += 1
            if context.progress:
                status.update(f"dbt build: {finished} node(s) done, last {name} ({outcome})")

        plan, result = build_what_changed(
            context.warehouse,
            context.run_id,
            context.changed,
            full_refresh=context.options.full_refresh,
            exclude=JOB_DBT_EXCLUDE,
            on_node_finished=node_finished,
        )
    if result is None:
        return "succeeded", f"dbt not run: {plan.reason}", None
    detail = f"{describe_build(result)}; {plan.describe()}"
    if not result.success:
        if result.error is not None:
            raise RuntimeError(detail)
        requested = list(context.options.objects) if context.options.objects else list(OBJECTS)
        blocked = {
            o: why
            for o, why in objects_blocked_by(result, selective=plan.kind == "selective").items()
            if o in requested
        }
        if len(blocked) == len(requested):
            raise RuntimeError(detail)
        context.blocked_objects.update(blocked)
        detail += f"; not synced: {', '.join(blocked)}" if blocked else ""
        return "partial" if blocked else "succeeded", detail, result
    return "succeeded", detail, result


def objects_blocked_by(result: Any, *, selective: bool = False) -> dict[str, str]:
    """Iterable objects whose desired state or diff did not build cleanly in `result` (a
    `BuildResult`), with the reason: the model failed or was skipped (an upstream model or a
    blocking test failed), or a failing test checks it. Source-data rules never block
    (they quarantine rows); only failures that protect Iterable from a malformed payload
    reach here. In a `selective` build a model that was not selected is not blocked: it
    holds what the last build made of inputs that have not changed since."""
    failed_tests = {
        name: node
        for name, node in result.nodes.items()
        if node.resource_type == "test" and node.outcome == "error"
    }
    blocked: dict[str, str] = {}
    for obj in OBJECTS:
        for model in (f"iterable__{obj}", f"iterable__{obj}_changes"):
            node = result.nodes.get(model)
            if node is None:
                if not selective:
                    blocked[obj] = f"{model} did not run"
            elif node.outcome in ("error", "skipped"):
                blocked[obj] = f"{model} {'failed' if node.outcome == 'error' else 'was skipped'}"
            else:
                tests = [t for t, n in failed_tests.items() if model in n.depends_on]
                if tests:
                    blocked[obj] = f"test {tests[0]} failed"
            if obj in blocked:
                break
    return blocked


def describe_build(result: Any) -> str:
    """One line: what dbt built and tested, and the first failures by name."""
    if result.error is not None:
        return f"dbt could not run: {result.error}"
    parts = []
    for kind in ("model", "seed", "test"):
        counter = result.counts.get(kind)
        if counter:
            parts.append(f"{sum(counter.values())} {kind}s")
    line = f"{', '.join(parts) or 'nothing'} in {result.elapsed_seconds:.0f}s"
    if result.warnings:
        line += f"; {len(result.warnings)} warning(s)"
    failures = result.failures
    if failures:
        named = "; ".join(f"{p.name}: {p.message[:200]}" for p in failures[:3])
        more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
        line += f"; {len(failures)} failure(s): {named}{more}"
    return line


def sync_stage(context: StageContext) -> tuple[str, str, Any]:
    from ctsync.core.config import load_settings
    from ctsync.sync.engine import run_sync

    objects = list(context.options.objects) if context.options.objects else None
    if context.blocked_objects:
        objects = [o for o in (objects or OBJECTS) if o not in context.blocked_objects]
    result = run_sync(
        load_settings(),
        context.warehouse,
        objects=objects,
        full=False,
        dry_run=context.options.dry_run,
        run_id=context.run_id,
        trigger=context.options.trigger,
        lock_held=True,
        progress=context.progress,
    )
    totals = result.totals
    if context.options.dry_run:
        detail = f"would send {totals.planned}; {totals.rejected} invalid (dry run, nothing sent)"
    else:
        detail = (
            f"planned {totals.planned}, sent {totals.sent}, succeeded {totals.succeeded}, "
            f"rejected {totals.rejected}"
        )
    if result.error_message:
        detail += f" — {result.error_message}"
    from ctsync.app.jobs.write_back import write_back, write_back_enabled

    blocked = context.blocked_objects or ()
    if not context.options.dry_run and "subscriptions" not in blocked and write_back_enabled():
        detail += "; " + write_back(context.warehouse).describe()
    return result.status, detail, result


# -- the closing summary --------------------------------------------------------------------


def summary_tables(report: JobReport) -> list[Table]:
    stages = Table(title=f"run {report.run_id} — {report.status}", title_justify="left")
    stages.add_column("stage")
    stages.add_column("status")
    stages.add_column("seconds", justify="right")
    stages.add_column("detail", overflow="fold")
    for stage in report.stages:
        seconds = f"{stage.seconds:.1f}" if stage.seconds is not None else "—"
        stages.add_row(stage.name, _styled(stage.status), seconds, escape(stage.detail))
    tables = [stages]
    sync_result = report.stage("sync").result if report.stages else None
    objects = getattr(sync_result, "objects", None)
    if objects:
        per_object = Table(title="records per Iterable object", title_justify="left")
        for column in ("object", "planned", "sent", "succeeded", "rejected", "failed", "held"):
            per_object.add_column(column, justify="left" if column == "object" else "right")
        for name, counts in objects.items():
            per_object.add_row(
                name,
                *(
                    str(getattr(counts, a, 0))
                    for a in ("planned", "sent", "succeeded", "rejected", "failed", "held")
                ),
            )
        tables.append(per_object)
    return tables


def _styled(status: str) -> str:
    if status in OK_STATUSES:
        return f"[green]{status}[/]"
    if status in ("skipped", "pending"):
        return f"[dim]{status}[/]"
    return f"[red]{status}[/]"
