"""What the commands share: the options they repeat, the consoles, and the helpers
more than one command uses (one definition each)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from ctsync.core.config import WAREHOUSE_ENV, IterableSettings
from ctsync.core.console import make_console

console = make_console()
err = make_console(stderr=True)
WarehouseOption = Annotated[
    Path | None,
    typer.Option("--warehouse", envvar=WAREHOUSE_ENV, help="DuckDB warehouse file."),
]


VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log in more detail.")]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
]
ObjectsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--objects",
        "-o",
        help="Iterable objects to sync (repeat or comma-separate): user_deletions, users, "
        "subscriptions, purchases, carts, events, catalog_items. Default: all.",
    ),
]


def _target(warehouse: Path | None) -> Path:
    from ctsync.core.warehouse import warehouse_path

    return warehouse.resolve() if warehouse else warehouse_path()


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _objects(values: list[str] | None) -> list[str] | None:
    from ctsync.sync.planner import validate_objects

    names = _split(values)
    if names is None:
        return None
    try:
        return validate_objects(names)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    from ctsync.core.redact import install_log_redaction

    install_log_redaction()
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    root = logging.getLogger()
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("ctsync").setLevel(logging.DEBUG if verbose else logging.INFO)


def _preflight(dry_run: bool) -> None:
    from ctsync.app.jobs.runner import JobConfigError, check_configuration

    try:
        check_configuration(dry_run=dry_run)
    except JobConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        err.print("Run `ctsync doctor` for a full check.")
        raise typer.Exit(1) from None


def _print_summary(report: Any) -> None:
    from ctsync.app.jobs.runner import summary_tables

    for table in summary_tables(report):
        console.print(table)


def _settings() -> IterableSettings:
    from ctsync.core.config import ConfigError, load_settings
    from ctsync.core.redact import install_log_redaction

    install_log_redaction()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(1) from None
