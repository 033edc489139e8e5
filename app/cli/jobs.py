"""`ctsync run`, `schedule`, `serve`, `status`, `doctor`, `report`, `demo`.

Exit codes (see `sync.cli`): 0 success (rejected rows are reported, not failures); 1 the
run failed; 2 usage; 3 another run holds the lock; 4 Iterable refused the API key; 5 partial
(some objects or records were left for the next run, the rest was synced).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from sync.console import make_console

console = make_console()
err = make_console(stderr=True)

WarehouseOption = Annotated[
    Path | None,
    typer.Option("--warehouse", envvar="CTSYNC_WAREHOUSE", help="DuckDB warehouse file."),
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
ResourcesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--resources",
        "-r",
        help="commercetools resources to ingest (repeat or comma-separate): customers, "
        "orders, carts, products, categories, customer_groups, stores, types, messages. "
        "Default: all.",
    ),
]


def _target(warehouse: Path | None) -> Path:
    from sync.warehouse import warehouse_path

    return warehouse.resolve() if warehouse else warehouse_path()


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _objects(values: list[str] | None) -> list[str] | None:
    from sync.planner import validate_objects

    names = _split(values)
    if names is None:
        return None
    try:
        return validate_objects(names)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _resources(values: list[str] | None) -> list[str] | None:
    from ingest.pipeline import parse_resources

    try:
        return parse_resources(_split(values))
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    from sync.redact import install_log_redaction

    install_log_redaction()
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    root = logging.getLogger()
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("ctsync").setLevel(logging.DEBUG if verbose else logging.INFO)


def _preflight(dry_run: bool) -> None:
    from sync.jobs.runner import JobConfigError, check_configuration

    try:
        check_configuration(dry_run=dry_run)
    except JobConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        err.print("Run `ctsync doctor` for a full check.")
        raise typer.Exit(1) from None


def _print_summary(report: Any) -> None:
    from sync.jobs.runner import summary_tables

    for table in summary_tables(report):
        console.print(table)


def register(app: typer.Typer) -> None:
    """Attach this group's commands to `app`."""

    @app.command("run")
    def run_command(
        full_refresh: Annotated[
            bool,
            typer.Option(
                "--full-refresh", help="Reload the ingested commercetools tables from scratch."
            ),
        ] = False,
        objects: ObjectsOption = None,
        resources: ResourcesOption = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Ingest and build, then only plan the sync: nothing is sent."
            ),
        ] = False,
        progress: Annotated[
            bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
        ] = True,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Run the pipeline once: ingest (incremental) → dbt build → sync, under one lock."""
        from sync.jobs.runner import JobOptions, run_job
        from sync.lock import RunLockHeld

        _logging(verbose)
        options = JobOptions(
            full_refresh=full_refresh,
            resources=_resources(resources),
            objects=_objects(objects),
            dry_run=dry_run,
            trigger="manual",
        )
        _preflight(dry_run)
        try:
            report = run_job(options, warehouse=_target(warehouse), progress=progress, console=err)
        except RunLockHeld as exc:
            err.print(f"[yellow]{exc}[/yellow]")
            raise typer.Exit(3) from None
        _print_summary(report)
        raise typer.Exit(report.exit_code)

    @app.command("schedule")
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
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Run the pipeline on a schedule, never overlapping; SIGINT/SIGTERM stop it cleanly
        after the current stage."""
        from sync.jobs.runner import JobOptions, run_job
        from sync.jobs.scheduler import (
            ScheduleError,
            install_stop_handlers,
            make_schedule,
            run_schedule,
        )
        from sync.lock import RunLockHeld

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

    @app.command("serve")
    def serve_command(
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="Port (0 = any free port).")] = 8787,
        debounce: Annotated[
            float, typer.Option("--debounce", help="Seconds of quiet before a run starts.")
        ] = 2.0,
        max_wait: Annotated[
            float,
            typer.Option("--max-wait", help="Longest a change waits for its run, in seconds."),
        ] = 30.0,
        state: Annotated[
            Path | None,
            typer.Option(
                "--state",
                help="Receiver state file (seen message ids, queued resources). "
                "Default: .ctsync/receiver.sqlite beside the warehouse.",
            ),
        ] = None,
        allow_unauthenticated: Annotated[
            bool,
            typer.Option(
                "--allow-unauthenticated",
                help="Accept deliveries without a token (only for local testing).",
            ),
        ] = False,
        tls_cert: Annotated[
            Path | None,
            typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS directly."),
        ] = None,
        tls_key: Annotated[
            Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")
        ] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Receive commercetools subscription deliveries over HTTP (Pub/Sub push, SNS,
        EventBridge, CloudEvents) and start debounced incremental runs for what changed."""
        from sync.alerts import load_alert_settings
        from sync.jobs.receiver import ReceiverError, check_token, receiver_token, serve
        from sync.jobs.runner import OK_STATUSES, JobOptions, run_job
        from sync.jobs.trigger import RetryLater, RunFailed
        from sync.lock import RunLockHeld

        _logging(verbose)
        token = receiver_token()
        if not token and not allow_unauthenticated:
            err.print(
                "[red]No receiver token:[/red] set SYNC__RECEIVER__TOKEN (or [sync.receiver] "
                "token in .dlt/secrets.toml) to the secret your subscription's HTTP endpoint "
                "sends, or pass --allow-unauthenticated for local testing."
            )
            raise typer.Exit(2)
        try:
            check_token(token)
        except ReceiverError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if (tls_cert is None) != (tls_key is None):
            err.print("[red]Give both --tls-cert and --tls-key, or neither.[/red]")
            raise typer.Exit(2)
        target = _target(warehouse)
        _preflight(False)
        state_path = state or (target.parent / ".ctsync" / "receiver.sqlite")

        def job(resources: frozenset[str], stop: threading.Event) -> None:
            try:
                report = run_job(
                    JobOptions(resources=sorted(resources), trigger="event"),
                    warehouse=target,
                    stop=stop,
                    progress=False,
                    console=err,
                )
            except RunLockHeld as exc:
                raise RetryLater(str(exc)) from None
            _print_summary(report)
            if report.status not in OK_STATUSES:
                raise RunFailed(
                    report.status,
                    f"run {report.run_id} {report.status}: {report.error_message or 'no detail'}",
                )

        def started(bound: int) -> None:
            err.print(
                f"ctsync serve: listening on {'https' if tls_cert else 'http'}://{host}:{bound}/ "
                f"(health: /healthz); authentication {'on' if token else 'OFF'}"
            )

        try:
            serve(
                job,
                host=host,
                port=port,
                token=token,
                state_path=str(state_path),
                debounce=debounce,
                max_wait=max_wait,
                tls_cert=str(tls_cert) if tls_cert else None,
                tls_key=str(tls_key) if tls_key else None,
                alerts=load_alert_settings(),
                on_started=started,
            )
        except ReceiverError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        err.print("ctsync serve stopped.")

    @app.command("status")
    def status_command(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print JSON instead of tables.")
        ] = False,
        limit: Annotated[int, typer.Option("--limit", help="Recent runs to show.")] = 10,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Recent runs, open rejections by reason, and freshness per Iterable object."""
        from sync.status import StatusError, collect_status, render_status

        try:
            status = collect_status(_target(warehouse), limit=limit)
        except StatusError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        if as_json:
            print(json.dumps(status.as_dict(), indent=2))
        else:
            render_status(status, console)

    @app.command("doctor")
    def doctor_command(
        timeout: Annotated[
            float, typer.Option("--timeout", help="Seconds per network check.")
        ] = 10.0,
        warehouse: WarehouseOption = None,
    ) -> None:
        """Check configuration, credentials, connectivity (commercetools, Iterable, warehouse)."""
        from sync.doctor import FAIL, render_checks, run_checks
        from sync.redact import install_log_redaction

        install_log_redaction()
        checks = run_checks(_target(warehouse), timeout=timeout)
        render_checks(checks, console)
        raise typer.Exit(1 if any(c.status == FAIL for c in checks) else 0)

    @app.command("report")
    def report_command(
        out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
            "report.html"
        ),
        warehouse: WarehouseOption = None,
    ) -> None:
        """Write a self-contained HTML report: runs, records per object, rejections, latency."""
        from sync.report import write_report
        from sync.status import StatusError

        try:
            data = write_report(_target(warehouse), out)
        except StatusError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        console.print(
            f"Wrote {out} ({len(data.runs)} run(s), {sum(r[3] for r in data.records):,} "
            "delivery attempt(s)). Open it in any browser; it needs no network."
        )

    @app.command("demo")
    def demo_command(
        customers: Annotated[int, typer.Option("--customers", help="Customers to seed.")] = 500,
        folder: Annotated[
            Path, typer.Option("--folder", help="Where the demo keeps its warehouse.")
        ] = Path(".ctsync/demo"),
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    ) -> None:
        """Start both sandboxes, seed them, run the pipeline twice, show what reached Iterable."""
        from sync.demo import DemoError, run_demo

        _logging(verbose)
        try:
            run_demo(customers=customers, folder=folder, console=console)
        except DemoError as exc:
            err.print(f"[red]demo failed:[/red] {exc}")
            raise typer.Exit(1) from None
