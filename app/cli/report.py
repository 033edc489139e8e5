"""`ctsync report`: Write a self-contained HTML report: runs, records per object, rejections,
latency."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console, err


def report_command(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    warehouse: WarehouseOption = None,
) -> None:
    """Write a self-contained HTML report: runs, records per object, rejections, latency."""
    from ctsync.app.report import write_report
    from ctsync.app.status import StatusError

    try:
        data = write_report(_target(warehouse), out)
    except StatusError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Wrote {out} ({len(data.runs)} run(s), {sum(r[3] for r in data.records):,} "
        "delivery attempt(s)). Open it in any browser; it needs no network."
    )
