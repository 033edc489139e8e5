"""``ctsync ingest``: load commercetools into ``raw_commercetools``, then read Iterable's
consent state back into ``raw_iterable`` (skipped without an Iterable API key), with dlt.

Exit codes: 0 loaded; 1 the ingest failed (bad configuration or credentials, unreachable
API, a load error: the message says which); 2 usage (e.g. an unknown resource name);
3 another run holds the warehouse's run lock."""

from __future__ import annotations

import threading
from typing import Annotated

import typer


def ingest(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Drop the selected raw tables and cursors and reload everything "
            "(also removes rows deleted in commercetools).",
        ),
    ] = False,
    reconcile_deletions: Annotated[
        bool,
        typer.Option(
            "--reconcile-deletions",
            help="Also compare the raw ids with commercetools' and record what is gone as "
            "deleted: finds deletions when the project's Messages are disabled "
            "(a full refresh always does this).",
        ),
    ] = False,
    resources: Annotated[
        str | None,
        typer.Option(
            "--resources",
            help="Comma-separated subset, e.g. customers,orders "
            "(default: customers, orders, carts, products, categories, customer_groups, "
            "stores, types, messages).",
        ),
    ] = None,
) -> None:
    """Load commercetools data into the warehouse (incremental unless --full-refresh)."""
    from rich.markup import escape
    from rich.progress import (
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from ctsync.app.cli.lock_cli import locked
    from ctsync.core.console import make_console
    from ctsync.core.warehouse import warehouse_path
    from ctsync.ingest.pipeline import IngestError, parse_resources, run_ingest

    console = make_console(stderr=True)
    try:
        names = parse_resources(resources)
    except ValueError as exc:
        console.print(f"[red]ctsync ingest:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None

    with locked(warehouse_path(), console):
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.completed:>10,.0f} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[str, TaskID] = {}
            lock = threading.Lock()

            def on_page(resource: str, rows: int) -> None:
                with lock:
                    if resource not in tasks:
                        tasks[resource] = progress.add_task(resource, total=None)
                progress.advance(tasks[resource], rows)

            try:
                summary = run_ingest(
                    full_refresh=full_refresh,
                    resources=names,
                    progress=on_page,
                    reconcile=reconcile_deletions,
                )
            except IngestError as exc:
                progress.stop()
                console.print(f"[red]ctsync ingest failed:[/red] {escape(str(exc))}")
                raise typer.Exit(1) from None
            for task_id in tasks.values():
                progress.update(task_id, total=progress.tasks[task_id].completed)

        table = Table(
            title=f"ingest {'full refresh' if summary.full_refresh else 'incremental'} "
            f"→ {summary.warehouse}",
        )
        columns = (
            "resource",
            "fetched",
            "new",
            "updated",
            "unchanged",
            "removed",
            "rows in table",
        )
        for column in columns:
            table.add_column(column, justify="left" if column == "resource" else "right")
        for r in summary.resources:
            table.add_row(
                r.name,
                *(f"{n:,}" for n in (r.fetched, r.new, r.updated, r.unchanged, r.removed, r.total)),
            )
        table.caption = (
            f"{summary.elapsed_seconds:.1f}s, {summary.requests:,} requests, "
            f"{summary.retries} retries, {summary.token_mints} token(s)"
        )
        make_console().print(table)

        from ctsync.ingest.iterable.client import IterableSourceError
        from ctsync.ingest.iterable.pipeline import run_iterable_ingest

        try:
            back = run_iterable_ingest(warehouse_path(), full_refresh=full_refresh)
        except IterableSourceError as exc:
            console.print(
                f"[red]ctsync ingest (Iterable read-back) failed:[/red] {escape(str(exc))}"
            )
            raise typer.Exit(1) from None
        if back.skipped:
            console.print(f"[yellow]Iterable read-back skipped:[/yellow] {escape(back.skipped)}")
        else:
            make_console().print(
                "raw_iterable: "
                + ", ".join(
                    f"{name} {back.rows[name]:,} loaded / {back.totals[name]:,}"
                    for name in back.rows
                )
                + f" ({back.requests} requests, {back.waited_seconds:.0f}s on export limits)"
            )
