"""`ctsync build`: run `dbt build` and summarise it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import typer

from ctsync.app.transform import (
    BuildConfigError,
    print_summary,
    run_dbt_build,
)


def build(
    select: list[str] = typer.Option(  # noqa: B008
        None, "--select", "-s", help="dbt selector(s), e.g. 'iterable+' or 'marts'."
    ),
    exclude: list[str] = typer.Option(None, "--exclude", help="dbt selector(s) to skip."),  # noqa: B008
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild incremental models from scratch."
    ),
    vars_json: str = typer.Option(
        None, "--vars", help='dbt vars as JSON, e.g. \'{"base_currency": "USD"}\'.'
    ),
) -> None:
    """Run `dbt build` (models, seeds, tests) on the warehouse and summarise the outcome.

    Settings dbt shares with the sync (project type, deletion method, user-id field,
    catalog name, base and purchase currency, backfill windows) come from
    sync.iterable.* (environment or .dlt/config.toml), never from --vars.
    Exit code 0 when everything passed (warnings allowed), 1 when a model, seed or
    test failed or dbt could not run, 2 for a configuration error, 3 when another run
    holds the warehouse's run lock.
    """
    from ctsync.app.cli.lock_cli import locked
    from ctsync.core.console import make_console
    from ctsync.core.warehouse import warehouse_path

    extra: dict[str, Any] = {}
    if vars_json:
        try:
            extra = json.loads(vars_json)
        except json.JSONDecodeError as error:
            raise typer.BadParameter(f"--vars is not valid JSON: {error}") from None
        if not isinstance(extra, dict):
            raise typer.BadParameter("--vars must be a JSON object")
    console = make_console()
    finished = Counter[str]()
    try:
        with locked(warehouse_path(), console), console.status("dbt build: starting") as status:

            def progress(name: str, outcome: str) -> None:
                finished[outcome] += 1
                status.update(
                    f"dbt build: {sum(finished.values())} nodes done "
                    f"({finished['error']} failed) - {name}"
                )

            result = run_dbt_build(
                select=select or None,
                exclude=exclude or None,
                full_refresh=full_refresh,
                vars=extra,
                on_node_finished=progress,
            )
    except BuildConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    print_summary(result)
    raise typer.Exit(0 if result.success else 1)
