"""`ctsync run`: Run the pipeline once: ingest (incremental) → dbt build → sync, under one
lock."""

from __future__ import annotations

from typing import Annotated

import typer

from ctsync.app.cli.options import (
    ObjectsOption,
    ProgressOption,
    VerboseOption,
    WarehouseOption,
    _logging,
    _objects,
    _preflight,
    _print_summary,
    _split,
    _target,
    err,
)

ResourcesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--resources",
        "-r",
        help="commercetools resources to ingest (repeat or comma-separate): customers, "
        "orders, carts, products, categories, customer_groups, stores, types, messages. "
        "Default: all.",
    ),
]


def _resources(values: list[str] | None) -> list[str] | None:
    from ctsync.ingest.pipeline import parse_resources

    try:
        return parse_resources(_split(values))
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def run_command(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Reload the ingested commercetools tables from scratch."
        ),
    ] = False,
    objects: ObjectsOption = None,
    resources: ResourcesOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Ingest and build, then only plan the sync: nothing is sent."
        ),
    ] = False,
    progress: ProgressOption = True,
    verbose: VerboseOption = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Run the pipeline once: ingest (incremental) → dbt build → sync, under one lock."""
    from ctsync.app.jobs.runner import JobOptions, run_job
    from ctsync.core.lock import RunLockHeld

    _logging(verbose)
    options = JobOptions(
        full_refresh=full_refresh,
        resources=_resources(resources),
        objects=_objects(objects),
        dry_run=dry_run,
        trigger="manual",
    )
    _preflight(dry_run)
    try:
        report = run_job(options, warehouse=_target(warehouse), progress=progress, console=err)
    except RunLockHeld as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(3) from None
    _print_summary(report)
    raise typer.Exit(report.exit_code)
