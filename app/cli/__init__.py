"""The ``ctsync`` command line: one Typer app, one module per command group.

Exit codes: 0 success; 1 the command failed (see its message); 2 usage error;
3 another run holds the lock; 4 Iterable refused the API key (401); 5 partial run (some
objects' models failed to build or some records hit transient errors; the rest was synced).
"""

from __future__ import annotations

import os

import typer

from ctsync.app.cli import (
    allow_deletions,
    build,
    compact,
    demo,
    doctor,
    explain,
    ingest,
    plan,
    replay,
    report,
    reset_state,
    run,
    sandbox_commercetools,
    sandbox_iterable,
    schedule,
    serve,
    status,
    sync,
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
        from ctsync.core.transport import INSECURE_ENV

        # An environment variable, so dlt and dbt work started from here sees it too.
        os.environ[INSECURE_ENV] = "1"


app.command("ingest")(ingest.ingest)
app.command("build")(build.build)
app.command("sync")(sync.sync_command)
app.command("plan")(plan.plan_command)
app.command("replay")(replay.replay_command)
app.command("allow-deletions")(allow_deletions.allow_deletions_command)
app.command("reset-state")(reset_state.reset_state_command)
app.command("compact")(compact.compact_command)
app.command("run")(run.run_command)
app.command("schedule")(schedule.schedule_command)
app.command("serve")(serve.serve_command)
app.command("status")(status.status_command)
app.command("doctor")(doctor.doctor_command)
app.command("report")(report.report_command)
app.command("demo")(demo.demo_command)
app.command("explain")(explain.explain_command)
sandbox_app.command("commercetools")(sandbox_commercetools.commercetools)
sandbox_app.command("iterable")(sandbox_iterable.iterable)


def main() -> None:
    app()
