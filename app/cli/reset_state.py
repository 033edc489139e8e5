"""`ctsync reset-state`: Mark everything currently desired as already sent, without sending
anything."""

from __future__ import annotations

from typing import Annotated

import typer

from ctsync.app.cli.options import (
    ObjectsOption,
    WarehouseOption,
    _objects,
    _target,
    console,
    err,
)


def reset_state_command(
    objects: ObjectsOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Mark everything currently desired as already sent, without sending anything."""
    from ctsync.core.lock import RunLockHeld
    from ctsync.sync.reset import reset_state

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
