"""`ctsync schedule`: Run the pipeline on a schedule, never overlapping; SIGINT/SIGTERM stop it
cleanly after the current stage."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from ctsync.app.cli.options import (
    ObjectsOption,
    VerboseOption,
    WarehouseOption,
    _logging,
    _objects,
    _preflight,
    _print_summary,
    _target,
    err,
)


def schedule_command(
    cron: Annotated[
        str | None,
        typer.Option("--cron", help="Cron expression in UTC, e.g. '*/5 * * * *'."),
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Interval, e.g. 30s, 5m, 1h, 1h30m.")
    ] = None,
    objects: ObjectsOption = None,
    run_now: Annotated[
        bool | None,
        typer.Option(
            "--run-now/--wait",
            help="Start with a run now (default for --every) or wait for the first slot "
            "(default for --cron).",
        ),
    ] = None,
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", help="Stop after this many runs.")
    ] = None,
    verbose: VerboseOption = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Run the pipeline on a schedule, never overlapping; SIGINT/SIGTERM stop it cleanly
    after the current stage."""
    from ctsync.app.jobs.runner import JobOptions, run_job
    from ctsync.app.jobs.scheduler import (
        ScheduleError,
        install_stop_handlers,
        make_schedule,
        run_schedule,
    )
    from ctsync.core.lock import RunLockHeld

    _logging(verbose)
    try:
        schedule = make_schedule(cron, every)
    except ScheduleError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    chosen = _objects(objects)
    target = _target(warehouse)
    _preflight(False)
    stop = threading.Event()
    install_stop_handlers(stop)
    log = logging.getLogger("ctsync.jobs.scheduler")

    def job(stop_event: threading.Event) -> bool:
        try:
            report = run_job(
                JobOptions(objects=chosen, trigger="schedule"),
                warehouse=target,
                stop=stop_event,
                progress=False,
                console=err,
            )
        except RunLockHeld as exc:
            log.warning("could not start: %s", exc)
            return False
        _print_summary(report)
        if report.exit_code != 0:
            log.error("run %s ended %s; it will be retried", report.run_id, report.status)
        return report.exit_code == 0

    err.print(f"ctsync schedule: {schedule.description}; Ctrl-C stops after the current stage")
    first_now = run_now if run_now is not None else cron is None
    runs = run_schedule(job, schedule, stop, run_now=first_now, max_runs=max_runs)
    err.print(f"ctsync schedule stopped after {runs} run(s).")
