"""`ctsync sync`: Send what changed in the warehouse to Iterable, and audit every record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ctsync.app.cli.options import (
    ObjectsOption,
    ProgressOption,
    WarehouseOption,
    _objects,
    _settings,
    _target,
    console,
    err,
)
from ctsync.core.config import audit_schema

if TYPE_CHECKING:  # the engine (and DuckDB) load when the command runs
    from ctsync.sync.result import SyncResult


def summary_table(result: SyncResult) -> Table:
    """The closing summary of a run, one line per object."""
    title = f"sync {result.mode} run {result.run_id[:12]}: {result.status}"
    table = Table(title=title, show_footer=True)
    totals = result.totals
    columns = [
        ("object", "total"),
        ("planned", totals.planned),
        ("sent", totals.sent),
        ("succeeded", totals.succeeded),
        ("rejected", totals.rejected),
        ("failed", totals.failed),
        ("held", totals.held),
        ("requests", result.requests),
    ]
    for name, footer in columns:
        table.add_column(name, footer=str(footer), justify="left" if name == "object" else "right")
    for obj, counts in result.objects.items():
        table.add_row(
            obj,
            str(counts.planned),
            str(counts.sent),
            str(counts.succeeded),
            str(counts.rejected),
            str(counts.failed),
            str(counts.held),
            str(counts.requests),
        )
    return table


def _reason_table(target: Path, run_id: str) -> Table | None:
    import duckdb

    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute(
            f"select object, reason_code, count(*) from {audit_schema()}.sync_changelog "
            "where run_id = ? and outcome in ('rejected', 'failed') "
            "group by 1, 2 order by 3 desc limit 20",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    if not rows:
        return None
    table = Table(title=f"rejections this run (details: {audit_schema()}.sync_rejections)")
    for name in ("object", "reason", "rows"):
        table.add_column(name)
    for obj, reason, count in rows:
        table.add_row(str(obj), str(reason), str(count))
    return table


def sync_command(
    objects: ObjectsOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-send every desired record, not just changes.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count; send and write nothing.")
    ] = False,
    warehouse: WarehouseOption = None,
    progress: ProgressOption = True,
) -> None:
    """Send what changed in the warehouse to Iterable, and audit every record."""
    from ctsync.core.config import ConfigError
    from ctsync.core.lock import RunLockHeld
    from ctsync.sync.engine import run_sync

    chosen = _objects(objects)
    settings = _settings()
    target = _target(warehouse)
    try:
        result = run_sync(
            settings,
            target,
            objects=chosen,
            full=full,
            dry_run=dry_run,
            progress=progress and console.is_terminal,
        )
    except RunLockHeld as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    except (FileNotFoundError, ConfigError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print(
            "[yellow]interrupted: what Iterable accepted so far is acknowledged; "
            "the rest is sent on the next run[/yellow]"
        )
        raise typer.Exit(130) from None
    console.print(summary_table(result))
    if not dry_run:
        reasons = _reason_table(target, result.run_id)
        if reasons is not None:
            console.print(reasons)
    if result.error_message:
        err.print(f"[red]{result.error_message}[/red]")
    raise typer.Exit(result.exit_code)
