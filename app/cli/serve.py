"""`ctsync serve`: Receive commercetools subscription deliveries over HTTP (Pub/Sub push, SNS,
EventBridge, CloudEvents) and start debounced incremental runs for what changed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from ctsync.app.cli.options import (
    VerboseOption,
    WarehouseOption,
    _logging,
    _preflight,
    _print_summary,
    _target,
    err,
)
from ctsync.app.jobs.trigger import DEFAULT_DEBOUNCE, DEFAULT_IDLE_DEBOUNCE, DEFAULT_MAX_WAIT


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0 = any free port).")] = 8787,
    debounce: Annotated[
        float,
        typer.Option("--debounce", help="Under a burst: seconds of quiet before a run starts."),
    ] = DEFAULT_DEBOUNCE,
    idle_debounce: Annotated[
        float,
        typer.Option(
            "--idle-debounce",
            help="When idle: seconds between a change and its run (at most --debounce).",
        ),
    ] = DEFAULT_IDLE_DEBOUNCE,
    max_wait: Annotated[
        float,
        typer.Option("--max-wait", help="Longest a change waits for its run, in seconds."),
    ] = DEFAULT_MAX_WAIT,
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
    verbose: VerboseOption = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Receive commercetools subscription deliveries over HTTP (Pub/Sub push, SNS,
    EventBridge, CloudEvents) and start debounced incremental runs for what changed."""
    from ctsync.app.alerts import load_alert_settings
    from ctsync.app.jobs.receiver import ReceiverError, check_token, receiver_token, serve
    from ctsync.app.jobs.runner import JobOptions, run_job
    from ctsync.app.jobs.trigger import RetryLater, RunFailed
    from ctsync.core.lock import RunLockHeld
    from ctsync.core.names import OK_STATUSES

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
            idle_debounce=idle_debounce,
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
