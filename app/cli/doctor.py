"""`ctsync doctor`: Check configuration, credentials, connectivity (commercetools, Iterable,
warehouse)."""

from __future__ import annotations

from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console


def doctor_command(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per network check.")] = 10.0,
    warehouse: WarehouseOption = None,
) -> None:
    """Check configuration, credentials, connectivity (commercetools, Iterable, warehouse)."""
    from ctsync.app.doctor import FAIL, render_checks, run_checks
    from ctsync.core.redact import install_log_redaction

    install_log_redaction()
    checks = run_checks(_target(warehouse), timeout=timeout)
    render_checks(checks, console)
    raise typer.Exit(1 if any(c.status == FAIL for c in checks) else 0)
