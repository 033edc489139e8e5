"""`ctsync plan`: Show what a sync would send (counts per object and operation, sample
payloads). Reads only; writes nothing and calls no API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ctsync.app.cli.options import (
    ObjectsOption,
    WarehouseOption,
    _objects,
    _settings,
    _target,
    console,
    err,
)


def plan_command(
    objects: ObjectsOption = None,
    full: Annotated[bool, typer.Option("--full", help="Plan a full resync.")] = False,
    sample: Annotated[int, typer.Option(help="Sample payloads per object.")] = 2,
    warehouse: WarehouseOption = None,
) -> None:
    """Show what a sync would send (counts per object and operation, sample payloads).
    Reads only; writes nothing and calls no API."""
    from ctsync.sync.plan import build_plan, payload_preview

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
