"""`ctsync compact`: rewrite the warehouse file without its free blocks."""

from __future__ import annotations

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console, err


def compact_command(warehouse: WarehouseOption = None) -> None:
    """Rewrite the warehouse file without its free blocks (DuckDB never shrinks a file).

    Worth it after a full refresh or the first sync, which leave hundreds of MB free; runs
    under the run lock, so no job writes meanwhile. It needs the room of a second copy.
    """
    from ctsync.core.lock import RunLockHeld, run_lock
    from ctsync.core.warehouse import compact, free_bytes

    target = _target(warehouse)
    if not target.exists():
        err.print(f"[red]No warehouse at {target}.[/red]")
        raise typer.Exit(1)
    try:
        with run_lock(target, "ctsync compact"):
            free, total = free_bytes(target)
            console.print(f"{target}: {total / 1e6:,.1f} MB, {free / 1e6:,.1f} MB of it free")
            done = compact(target)
    except RunLockHeld as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    console.print(
        f"compacted {done.tables} tables in {done.seconds:.1f} s: "
        f"{done.before_bytes / 1e6:,.1f} MB -> {done.after_bytes / 1e6:,.1f} MB"
    )
