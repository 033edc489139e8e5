"""`ctsync allow-deletions`: Let deletions the mass-deletion guard blocked through the next
sync, once."""

from __future__ import annotations

from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console, err


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
    from ctsync.core.lock import RunLockHeld, run_lock
    from ctsync.core.warehouse import connect
    from ctsync.sync import guards

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
