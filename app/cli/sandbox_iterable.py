"""``ctsync sandbox iterable``: run the Iterable API emulator in the foreground."""

from __future__ import annotations

import math
from typing import Annotated

import typer

DEFAULT_API_KEY = "sandbox-iterable-api-key"


def iterable(
    port: Annotated[int, typer.Option(help="Loopback port (0 = any free port).")] = 0,
    project_type: Annotated[
        str, typer.Option("--project-type", help="email, userId or hybrid.")
    ] = "hybrid",
    rate_scale: Annotated[
        str,
        typer.Option(
            "--rate-scale",
            help="Multiply Iterable's published rate limits; 0 or inf lifts them.",
        ),
    ] = "1",
    faults: Annotated[
        str,
        typer.Option(
            help="Fault SPEC, e.g. 'users/bulkUpdate:500=0.2,hang=0.05;"
            "*:latency_ms=20' (see sandbox/iterable/README.md)."
        ),
    ] = "",
    api_key: Annotated[
        str, typer.Option("--api-key", help="API key the emulator accepts.")
    ] = DEFAULT_API_KEY,
    capture: Annotated[
        bool,
        typer.Option(
            "--capture", help="Keep request and answer bodies for GET /_emulator/captured."
        ),
    ] = False,
) -> None:
    """Start the Iterable emulator, print its settings as `export` lines, serve until ^C."""
    from ctsync.core.names import PROJECT_TYPES
    from ctsync.sandbox.iterable.app import EmulatorApp
    from ctsync.sandbox.iterable.faults import FaultSpecError
    from ctsync.sandbox.iterable.server import bind, serve

    if project_type not in PROJECT_TYPES:
        raise typer.BadParameter(
            f"{project_type!r} is not one of {', '.join(PROJECT_TYPES)}",
            param_hint="--project-type",
        )
    try:
        scale = math.inf if rate_scale.lower() == "inf" else float(rate_scale)
        if scale < 0:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(
            f"{rate_scale!r} is not a number ≥ 0 or 'inf'", param_hint="--rate-scale"
        ) from None
    try:
        app_ = EmulatorApp(api_key, project_type, scale, faults, capture)
    except FaultSpecError as error:
        raise typer.BadParameter(str(error), param_hint="--faults") from None
    try:
        sock = bind(port=port)
    except OSError as error:
        typer.echo(f"cannot listen on 127.0.0.1:{port}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def ready() -> None:
        typer.echo(f"export SYNC__ITERABLE__API_URL={url}")
        typer.echo(f"export SYNC__ITERABLE__API_KEY={api_key}")
        typer.echo(f"export SYNC__ITERABLE__PROJECT_TYPE={project_type}")
        typer.echo(
            f"# Iterable emulator ({project_type} project) on {url}; inspection "
            f"under {url}/_emulator/ ; Ctrl-C stops it.",
            err=True,
        )

    try:
        serve(app_, sock, ready)
    except KeyboardInterrupt:
        pass
