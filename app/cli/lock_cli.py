"""The run lock as the CLI commands take it: a refusal is a clean message and exit code 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape


@contextmanager
def locked(warehouse: Path | str, console: Console) -> Iterator[None]:
    """Hold `ctsync.core.lock.run_lock` for the block; if another run holds it, say who and exit
    3."""
    from ctsync.core.lock import RunLockHeld, run_lock

    try:
        lock = run_lock(warehouse)
        lock.__enter__()
    except RunLockHeld as exc:
        console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        raise typer.Exit(3) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
