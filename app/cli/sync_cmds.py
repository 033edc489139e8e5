"""`ctsync sync`, `ctsync plan`, `ctsync replay`, `ctsync reset-state`.

Exit codes (see `sync.cli`): 0 delivered (rejected rows are reported, not failures);
1 failed, or records hit transient errors and wait for the next run; 2 usage;
3 another run holds the lock; 4 Iterable refused the API key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sync.console import make_console

console = make_console()
err = make_console(stderr=True)

ObjectsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--objects",
        "-o",
        help="Objects to sync (repeat or comma-separate): user_deletions, users, subscriptions, "
        "purchases, carts, events, catalog_items. Default: all, in that order.",
    ),
]
WarehouseOption = Annotated[
    Path | None,
    typer.Option("--warehouse", envvar="CTSYNC_WAREHOUSE", help="DuckDB warehouse file."),
]


def _objects(values: list[str] | None) -> list[str] | None:
    from sync.planner import validate_objects

    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    try:
        return validate_objects(names)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _target(warehouse: Path | None) -> Path:
    from sync.warehouse import warehouse_path

    return warehouse.resolve() if warehouse else warehouse_path()


def _settings():  # type: ignore[no-untyped-def]
    from sync.config import ConfigError, load_settings
    from sync.redact import install_log_redaction

    install_log_redaction()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(1) from None


def summary_table(result) -> Table:  # type: ignore[no-untyped-def]
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
            "select object, reason_code, count(*) from ctsync.sync_changelog "
            "where run_id = ? and outcome in ('rejected', 'failed') "
            "group by 1, 2 order by 3 desc limit 20",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    if not rows:
        return None
    table = Table(title="rejections this run (details: ctsync.sync_rejections)")
    for name in ("object", "reason", "rows"):
        table.add_column(name)
    for obj, reason, count in rows:
        table.add_row(str(obj), str(reason), str(count))
    return table


def register(app: typer.Typer) -> None:
    """Attach this group's commands to `app`."""

    @app.command("sync")
    def sync_command(
        objects: ObjectsOption = None,
        full: Annotated[
            bool, typer.Option("--full", help="Re-send every desired record, not just changes.")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Validate and count; send and write nothing.")
        ] = False,
        warehouse: WarehouseOption = None,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    ) -> None:
        """Send what changed in the warehouse to Iterable, and audit every record."""
        from sync.config import ConfigError
        from sync.engine import run_sync
        from sync.lock import RunLockHeld

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

    @app.command("plan")
    def plan_command(
        objects: ObjectsOption = None,
        full: Annotated[bool, typer.Option("--full", help="Plan a full resync.")] = False,
        sample: Annotated[int, typer.Option(help="Sample payloads per object.")] = 2,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Show what a sync would send (counts per object and operation, sample payloads).
        Reads only; writes nothing and calls no API."""
        from sync.engine import build_plan, payload_preview

        chosen = _objects(objects)
        settings = _settings()
        try:
            plans = build_plan(settings, _target(warehouse), chosen or [], full, sample)
        except FileNotFoundError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        table = Table(title="sync plan" + (" (full resync)" if full else ""))
        columns = ("object", "upsert", "delete", "other", "invalid", "held (already rejected)")
        for name in (*columns, "skipped (before backfill window)"):
            table.add_column(name, justify="left" if name == "object" else "right")
        for plan in plans:
            if not plan.available:
                table.add_row(plan.object, "-", "-", "-", "-", "changes view missing", "-")
                continue
            other = sum(n for op, n in plan.operations.items() if op not in ("upsert", "delete"))
            table.add_row(
                plan.object,
                str(plan.operations.get("upsert", 0)),
                str(plan.operations.get("delete", 0)),
                str(other),
                str(plan.invalid),
                str(plan.held),
                str(plan.skipped),
            )
        console.print(table)
        skipped = sum(plan.skipped for plan in plans)
        if skipped:
            console.print(
                f"{skipped} event(s) happened before the backfill window "
                "(sync.iterable.event_backfill_days before the first sync) and are not sent."
            )
        for plan in plans:
            if plan.guard is not None:
                err.print(
                    f"[red]blocked by the mass-deletion guard:[/red] {plan.guard.describe()}; "
                    f"the sync would send nothing. If intended: `{plan.guard.release_command}`"
                )
        for plan in plans:
            for row in plan.samples:
                console.print(
                    Text.assemble(
                        (plan.object, "bold"),
                        f" {row.operation} {row.record_key}: {payload_preview(row)}",
                    ),
                    highlight=False,
                )

    @app.command("replay")
    def replay_command(
        reason: Annotated[
            str | None, typer.Option("--reason", help="Only rejections with this reason code.")
        ] = None,
        obj: Annotated[str | None, typer.Option("--object", help="Only this object.")] = None,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Re-queue open rejections: the next `ctsync sync` sends those records again."""
        from sync.audit import request_replay
        from sync.lock import RunLockHeld, run_lock
        from sync.warehouse import connect

        if obj:
            _objects([obj])
        target = _target(warehouse)
        try:
            with run_lock(target), connect(target) as con:
                count = request_replay(con, reason=reason, obj=obj)
        except RunLockHeld as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(3) from None
        console.print(f"re-queued {count} rejected record(s); run `ctsync sync` to send them")

    @app.command("allow-deletions")
    def allow_deletions_command(
        obj: Annotated[
            str,
            typer.Argument(help="The guarded object: users, user_deletions, catalog_items, carts."),
        ],
        count: Annotated[
            int | None,
            typer.Option(
                "--count", help="Deletions to let through once (default: the blocked number)."
            ),
        ] = None,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Let deletions the mass-deletion guard blocked through the next sync, once."""
        from sync import guards
        from sync.lock import RunLockHeld, run_lock
        from sync.warehouse import connect

        target = _target(warehouse)
        if not target.exists():
            err.print(f"[red]No warehouse at {target}.[/red]")
            raise typer.Exit(1)
        try:
            with run_lock(target), connect(target) as con:
                allowed = guards.allow(con, obj, count)
        except RunLockHeld as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(3) from None
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        console.print(
            f"the next sync may delete up to {allowed} {obj} record(s) once; "
            "run `ctsync sync` (or wait for the next scheduled run)"
        )

    @app.command("reset-state")
    def reset_state_command(
        objects: ObjectsOption = None,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Mark everything currently desired as already sent, without sending anything."""
        from sync.engine import reset_state
        from sync.lock import RunLockHeld

        chosen = _objects(objects)
        if not yes:
            typer.confirm(
                "Mark every pending record as acknowledged without sending it to Iterable?",
                abort=True,
            )
        try:
            marked = reset_state(_target(warehouse), chosen)
        except RunLockHeld as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(3) from None
        for obj, count in marked.items():
            console.print(f"{obj}: {count} record(s) marked as acknowledged")
