"""`ctsync status`: recent runs, what they did, open rejections by reason, and freshness.

Reads the audit tables (`ctsync.*`) directly rather than the dbt `audit` views, so it works
before the first `dbt build` and after a failed one. The warehouse is opened read-only; when
a run is writing it (DuckDB allows one writer), status says so instead of failing obscurely.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ctsync.core.config import audit_schema
from ctsync.core.lock import lock_path_for, read_holder
from ctsync.core.names import OBJECTS, OK_STATUSES, RunStatus
from ctsync.sync.guards import blocked_guards


class StatusError(RuntimeError):
    """The warehouse cannot be read; the message says why and what to do."""


@dataclass
class RunRow:
    run_id: str
    trigger: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    planned: int
    sent: int
    succeeded: int
    rejected: int
    error_message: str | None
    stages: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class Freshness:
    object: str
    last_delivered_at: datetime | None
    acknowledged: int
    open_rejections: int


@dataclass(frozen=True)
class MissingFxRate:
    """A currency the orders use that the FX seed cannot convert to the base currency."""

    currency_code: str
    orders: int
    customers: int


@dataclass
class Status:
    warehouse: Path
    runs: list[RunRow]
    rejections: list[tuple[str, str, int, str | None]]  # object, reason, open count, example
    freshness: list[Freshness]
    running_pid: int | None
    now: datetime
    model_rejections: list[tuple[str, str, int]] = field(default_factory=list)
    missing_fx_rates: list[MissingFxRate] = field(default_factory=list)
    last_failure: RunRow | None = None
    last_success_at: datetime | None = None
    blocked_deletions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stale_seconds(self) -> float | None:
        """Seconds since the last run that finished well (None: no run ever did)."""
        if self.last_success_at is None:
            return None
        return max(0.0, (self.now - self.last_success_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        failure = self.last_failure
        return {
            "warehouse": str(self.warehouse),
            "running_pid": self.running_pid,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "blocked_deletions": self.blocked_deletions,
            "stale_seconds": self.stale_seconds,
            "last_failure": {
                "run_id": failure.run_id,
                "status": failure.status,
                "started_at": failure.started_at.isoformat(),
                "stages": failure.stages,
                "error_message": failure.error_message,
            }
            if failure
            else None,
            "runs": [
                {
                    "run_id": r.run_id,
                    "trigger": r.trigger,
                    "mode": r.mode,
                    "status": r.status,
                    "started_at": r.started_at.isoformat(),
                    "seconds": r.seconds,
                    "planned": r.planned,
                    "sent": r.sent,
                    "succeeded": r.succeeded,
                    "rejected": r.rejected,
                    "stages": r.stages,
                    "error_message": r.error_message,
                }
                for r in self.runs
            ],
            "open_rejections": [
                {
                    "object": o,
                    "reason_code": reason,
                    "count": n,
                    "example_record_key": shown_key(example),
                }
                for o, reason, n, example in self.rejections
            ],
            "refused_by_models": [
                {"object": o, "reason_code": reason, "count": n}
                for o, reason, n in self.model_rejections
            ],
            "currencies_without_fx_rate": [
                {"currency_code": m.currency_code, "orders": m.orders, "customers": m.customers}
                for m in self.missing_fx_rates
            ],
            "freshness": [
                {
                    "object": f.object,
                    "last_delivered_at": f.last_delivered_at.isoformat()
                    if f.last_delivered_at
                    else None,
                    "acknowledged_records": f.acknowledged,
                    "open_rejections": f.open_rejections,
                }
                for f in self.freshness
            ],
        }


def shown_key(record_key: str | None) -> str | None:
    """A record key as status shows it: never an email address (keys of email projects
    are emails); those are shown as a short hash that still finds the row in SQL via
    `md5(record_key)`."""
    if record_key is None or "@" not in record_key:
        return record_key
    return "md5:" + hashlib.md5(record_key.encode()).hexdigest()[:12]


_EMAIL = re.compile(r"[^\s@<>()\[\]{},;:'\"`]+@[^\s@<>()\[\]{},;:'\"`]+\.[A-Za-z]{2,}")


def without_emails(text: str | None) -> str | None:
    """`text` with every email address shown as `shown_key` shows it."""
    if text is None:
        return None
    return _EMAIL.sub(lambda match: shown_key(match.group(0)) or "", text)


def running_pid(warehouse: Path) -> int | None:
    """The pid holding the run lock, or None when no run is active."""
    path = lock_path_for(warehouse)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _ = read_holder(fd)
            return pid if pid is not None else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def open_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise StatusError(
            f"No warehouse at {warehouse}: run `ctsync run` first "
            "(or set CTSYNC_WAREHOUSE to the DuckDB file you use)."
        )
    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            pid = running_pid(warehouse)
            who = f" (process {pid})" if pid and pid > 0 else ""
            raise StatusError(
                f"The warehouse {warehouse} is being written by a run{who}; "
                "DuckDB allows one writer at a time. Try again when the run finishes."
            ) from None
        raise StatusError(f"Cannot open the warehouse {warehouse}: {exc}") from None


def _has_audit_tables(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = 'sync_runs'",
        [audit_schema()],
    ).fetchone()
    return bool(row and row[0])


def collect_status(warehouse: Path, limit: int = 10) -> Status:
    con = open_read_only(warehouse)
    try:
        pid = running_pid(warehouse)
        now = datetime.now(UTC).replace(tzinfo=None)
        if not _has_audit_tables(con):
            return Status(warehouse, [], [], [Freshness(o, None, 0, 0) for o in OBJECTS], pid, now)
        s = audit_schema()
        runs = [
            RunRow(*row[:11])
            for row in con.execute(
                f"select run_id, trigger, mode, status, started_at, finished_at, "
                f"coalesce(planned_count, 0), coalesce(sent_count, 0), "
                f"coalesce(succeeded_count, 0), coalesce(rejected_count, 0), error_message "
                f"from {s}.sync_runs order by started_at desc limit ?",
                [limit],
            ).fetchall()
        ]
        run_columns = (
            "run_id, trigger, mode, status, started_at, finished_at, coalesce(planned_count, 0), "
            "coalesce(sent_count, 0), coalesce(succeeded_count, 0), "
            "coalesce(rejected_count, 0), error_message"
        )
        ok = ", ".join(f"'{name}'" for name in OK_STATUSES)
        failed = con.execute(
            f"select {run_columns} from {s}.sync_runs where status not in ({ok}, 'running') "
            f"order by started_at desc limit 1"
        ).fetchone()
        last_failure = RunRow(*failed) if failed else None
        succeeded = con.execute(
            f"select max(finished_at) from {s}.sync_runs where status in ({ok}) and mode <> "
            "'dry_run'"
        ).fetchone()
        last_success_at = succeeded[0] if succeeded else None
        if last_failure is not None and (
            last_success_at is not None and last_failure.started_at < last_success_at
        ):
            last_failure = None  # a later run succeeded: nothing is failing now
        shown = runs + ([last_failure] if last_failure else [])
        for run in shown:
            run.error_message = without_emails(run.error_message)
        if shown:
            stage_rows = con.execute(
                f"select run_id, stage, status from {s}.sync_run_stages "
                f"where run_id in (select unnest(?::varchar[]))",
                [[r.run_id for r in shown]],
            ).fetchall()
            for run_id, stage, status in stage_rows:
                for run in shown:
                    if run.run_id == run_id:
                        run.stages[stage] = status
        rejections = [
            (row[0], row[1], int(row[2]), row[3])
            for row in con.execute(
                f"select object, reason_code, count(*), min(record_key) from {s}.sync_rejections "
                f"where resolved_at is null group by object, reason_code "
                f"order by count(*) desc, object, reason_code"
            ).fetchall()
        ]
        delivered = dict(
            con.execute(
                f"select object, max(attempted_at) from {s}.sync_changelog "
                f"where outcome = 'succeeded' group by object"
            ).fetchall()
        )
        acknowledged = dict(
            con.execute(
                f"select object, count(*) from {s}.sync_ledger where operation <> 'delete' "
                f"group by object"
            ).fetchall()
        )
        open_by_object: dict[str, int] = {}
        for obj, _, count, _ in rejections:
            open_by_object[obj] = open_by_object.get(obj, 0) + count
        freshness = [
            Freshness(o, delivered.get(o), int(acknowledged.get(o, 0)), open_by_object.get(o, 0))
            for o in OBJECTS
        ]
        return Status(
            warehouse,
            runs,
            rejections,
            freshness,
            pid,
            now,
            _model_rejections(con),
            missing_fx_rates(con),
            last_failure,
            last_success_at,
            blocked_guards(con),
        )
    finally:
        con.close()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def missing_fx_rates(con: duckdb.DuckDBPyConnection) -> list[MissingFxRate]:
    """Currencies of built orders that `seeds/fx_rates.csv` lacks (their base-currency figures
    are null and the customers' lifetime values flagged incomplete)."""
    if not _table_exists(con, "marts", "fct_orders"):
        return []
    return [
        MissingFxRate(str(row[0]), int(row[1]), int(row[2]))
        for row in con.execute(
            "select currency_code, count(*), count(distinct customer_id) from marts.fct_orders "
            "where fx_rate_to_base is null and currency_code is not null "
            "group by currency_code order by 2 desc, 1"
        ).fetchall()
    ]


def _model_rejections(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """Rows the dbt models refused (duplicate identities, guests without email, ...)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'iterable' "
        "and table_name = 'iterable__rejections'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    return [
        (row[0], row[1], int(row[2]))
        for row in con.execute(
            "select object, reason_code, count(*) from iterable.iterable__rejections "
            "group by object, reason_code order by 3 desc, 1, 2"
        ).fetchall()
    ]


def render_status(status: Status, console: Console) -> None:
    if status.running_pid:
        who = f" (process {status.running_pid})" if status.running_pid > 0 else ""
        console.print(f"[yellow]A run is in progress{who}.[/]")
    if not status.runs:
        console.print(f"No runs recorded in {status.warehouse} yet. Start one with `ctsync run`.")
    else:
        runs = Table(title="recent runs", title_justify="left")
        runs.add_column("started UTC", no_wrap=True)
        runs.add_column("run", no_wrap=True)
        runs.add_column("trigger")
        runs.add_column("status", overflow="fold")
        for column in ("secs", "sent", "ok", "rejected"):
            runs.add_column(column, justify="right", no_wrap=True, min_width=4)
        for run in status.runs:
            runs.add_row(
                run.started_at.strftime("%m-%d %H:%M"),
                run.run_id[:8],
                run.trigger,
                _styled(run.status),
                f"{run.seconds:.0f}" if run.seconds is not None else "running",
                str(run.sent),
                str(run.succeeded),
                str(run.rejected),
            )
        console.print(runs)
        for run in status.runs:
            if run.error_message and run.status not in OK_STATUSES:
                failed = [k for k, v in run.stages.items() if v == RunStatus.FAILED]
                where = f" in {', '.join(failed)}" if failed else ""
                console.print(f"  run {run.run_id[:8]}{where}: {escape(run.error_message)}")
    if status.last_failure is not None:
        failure = status.last_failure
        failed_stages = [k for k, v in failure.stages.items() if v == RunStatus.FAILED]
        where = f" in {', '.join(failed_stages)}" if failed_stages else ""
        console.print(
            f"[red]Last failure:[/] run {failure.run_id[:8]} ({failure.status}{where}) at "
            f"{failure.started_at:%Y-%m-%d %H:%M} UTC: {escape(failure.error_message or '—')}"
        )
    for guard in status.blocked_deletions:
        console.print(
            f"[red]Deletions blocked:[/] {guard['object']}: {guard['deletions']} deletion(s) "
            f"of the {guard['held']} held (limit {guard['max_delete_fraction']:.0%}) stopped "
            f"run {str(guard['run_id'])[:8]}. If intended: `{guard['release_command']}`"
        )
    if status.stale_seconds is None:
        if status.runs:
            console.print("[red]No run has succeeded yet: Iterable holds none of this data.[/]")
    else:
        console.print(
            f"Data is {_age(status.now, status.last_success_at)} stale "
            f"(last successful run finished {status.last_success_at:%Y-%m-%d %H:%M:%S} UTC)."
        )
    if status.rejections:
        table = Table(title="open rejections by reason", title_justify="left")
        for column in ("object", "reason", "open", "example record"):
            table.add_column(column, justify="right" if column == "open" else "left")
        for obj, reason, count, example in status.rejections:
            table.add_row(obj, escape(reason), str(count), escape(shown_key(example) or ""))
        console.print(table)
        console.print("Fix the source data, then `ctsync replay` re-queues them.")
    else:
        console.print("[green]No open rejections.[/]")
    if status.model_rejections:
        refused = Table(title="refused by the models (not sent)", title_justify="left")
        for column in ("object", "reason", "records"):
            refused.add_column(column, justify="right" if column == "records" else "left")
        for obj, reason, count in status.model_rejections:
            refused.add_row(obj, escape(reason), str(count))
        console.print(refused)
        console.print("Details: select * from iterable.iterable__rejections")
    if status.missing_fx_rates:
        listed = ", ".join(
            f"{m.currency_code} ({m.orders} order(s), {m.customers} customer(s))"
            for m in status.missing_fx_rates
        )
        console.print(
            f"[yellow]Currencies without an FX rate:[/] {escape(listed)}. Their base-currency "
            "figures are null and those lifetime values are flagged incomplete; add the rates "
            "to seeds/fx_rates.csv and run `ctsync build --full-refresh`."
        )
    fresh = Table(title="freshness per Iterable object", title_justify="left")
    for column in ("object", "last delivered (UTC)", "age", "in Iterable", "open rejections"):
        fresh.add_column(column)
    for item in status.freshness:
        age = _age(status.now, item.last_delivered_at)
        fresh.add_row(
            item.object,
            item.last_delivered_at.strftime("%Y-%m-%d %H:%M:%S")
            if item.last_delivered_at
            else "never",
            age,
            str(item.acknowledged),
            str(item.open_rejections),
        )
    console.print(fresh)


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "—"
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _styled(status: str) -> str:
    if status in OK_STATUSES:
        return f"[green]{status}[/]"
    if status == RunStatus.RUNNING:
        return f"[yellow]{status}[/]"
    return f"[red]{status}[/]"
