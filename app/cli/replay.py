"""`ctsync replay`: Re-queue open rejections: the next `ctsync sync` sends those records again."""

from __future__ import annotations

from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _objects, _target, console, err


def replay_command(
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only rejections with this reason code.")
    ] = None,
    obj: Annotated[str | None, typer.Option("--object", help="Only this object.")] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Re-queue open rejections: the next `ctsync sync` sends those records again."""
    from ctsync.core.lock import RunLockHeld, run_lock
    from ctsync.core.warehouse import connect
    from ctsync.sync.audit import request_replay

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
