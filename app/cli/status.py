"""`ctsync status`: Recent runs, open rejections by reason, and freshness per Iterable object."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console, err


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Recent runs to show.")] = 10,
    warehouse: WarehouseOption = None,
) -> None:
    """Recent runs, open rejections by reason, and freshness per Iterable object."""
    from ctsync.app.status import StatusError, collect_status, render_status

    try:
        status = collect_status(_target(warehouse), limit=limit)
    except StatusError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(status.as_dict(), indent=2))
    else:
        render_status(status, console)
