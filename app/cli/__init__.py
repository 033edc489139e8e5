"""The ``ctsync`` command line: one Typer app, one module per command group.

Exit codes: 0 success; 1 the command failed (see its message); 2 usage error;
3 another run holds the lock; 4 Iterable refused the API key (401); 5 partial run (some
objects' models failed to build or some records hit transient errors; the rest was synced).
"""

from __future__ import annotations

import os

import typer

from sync.cli import (
    build,
    explain,
    ingest,
    jobs,
    sandbox_commercetools,
    sandbox_iterable,
    sync_cmds,
)

app = typer.Typer(
    name="ctsync",
    help="commercetools -> warehouse (dlt, dbt, DuckDB) -> Iterable, validated and audited.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(
    help="Local stand-ins for commercetools and Iterable.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")


@app.callback()
def main_options(
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow plain http:// API URLs on non-loopback hosts (credentials travel "
        "unencrypted). Only for test setups behind a trusted network.",
    ),
) -> None:
    """commercetools -> warehouse (dlt, dbt, DuckDB) -> Iterable, validated and audited."""
    if insecure:
        from sync.transport import INSECURE_ENV

        # An environment variable, so dlt and dbt work started from here sees it too.
        os.environ[INSECURE_ENV] = "1"


sandbox_commercetools.register(sandbox_app)
sandbox_iterable.register(sandbox_app)
ingest.register(app)
build.register(app)
sync_cmds.register(app)
jobs.register(app)
explain.register(app)


def main() -> None:
    app()
