"""`ctsync demo`: Start both sandboxes, seed them, run the pipeline twice, show what reached
Iterable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ctsync.app.cli.options import VerboseOption, _logging, console, err


def demo_command(
    customers: Annotated[int, typer.Option("--customers", help="Customers to seed.")] = 500,
    folder: Annotated[
        Path, typer.Option("--folder", help="Where the demo keeps its warehouse.")
    ] = Path(".ctsync/demo"),
    verbose: VerboseOption = False,
) -> None:
    """Start both sandboxes, seed them, run the pipeline twice, show what reached Iterable."""
    from ctsync.app.demo import DemoError, run_demo

    _logging(verbose)
    try:
        run_demo(customers=customers, folder=folder, console=console)
    except DemoError as exc:
        err.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from None
