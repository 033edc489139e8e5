"""`ctsync explain <identifier>`: what Iterable holds for one record, and why.

Exit codes (see `ctsync.app.cli`): 0 explained; 1 nothing matches or the warehouse cannot be
read."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ctsync.app.cli.options import WarehouseOption, _target, console, err


def explain_command(
    identifier: Annotated[
        str,
        typer.Argument(
            help="An email, customer id / number / key / external id, order id or number, "
            "cart id, SKU, or product id / key."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of rich text.")
    ] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Follow a record from commercetools through the models to Iterable: what Iterable
    holds, and why (raw, staging, marts, payload, ledger, changelog, rejections)."""
    from ctsync.app.explain import explain, render_explanation
    from ctsync.app.status import StatusError

    target = _target(warehouse)
    try:
        explanation = explain(target, identifier)
    except StatusError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(explanation.as_dict(), indent=2, ensure_ascii=False))
    else:
        render_explanation(explanation, console)
    if not explanation.subjects:
        raise typer.Exit(1)
