"""``ctsync sandbox commercetools``: run a seeded commercetools stand-in in the foreground."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported when the command runs
    from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
    from ctsync.sandbox.commercetools.seed_common import SeedSummary

DEFAULT_PROJECT_KEY = "ctsync-sandbox"


def _seed_with_progress(
    err: Any, sandbox: CommercetoolsSandbox, customers: int, seed: int, concurrency: int
) -> SeedSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(f"seeding {phase}", total=total)
            progress.update(tasks[phase], completed=done, total=total)

        return sandbox.seed(
            customers=customers,
            seed=seed,
            concurrency=concurrency,
            progress=report,
        )


def _summary_table(summary: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"seeded project {summary.project_key} (seed {summary.seed})")
    table.add_column("resource")
    table.add_column("count", justify="right")
    table.add_column("detail")
    rows = [
        (
            "customers",
            summary.customers,
            f"{summary.customers_shared_email} share an email, "
            f"{summary.customers_without_consent} without consent, "
            f"{summary.customers_malformed_email} malformed email",
        ),
        ("guests", summary.guests, f"{summary.guest_orders} guest orders"),
        (
            "orders",
            summary.orders,
            ", ".join(f"{k} {v}" for k, v in summary.orders_by_state.items())
            + f"; {summary.orders_with_returns} with returns",
        ),
        ("carts", summary.carts, ", ".join(f"{k} {v}" for k, v in summary.carts_by_kind.items())),
        ("products", summary.products, f"{summary.product_variants} variants"),
        ("categories", summary.categories, ""),
        ("stores", summary.stores, ", ".join(summary.customers_by_store)),
        ("customer groups", summary.customer_groups, ""),
        ("types", summary.types, ""),
    ]
    for name, count, detail in rows:
        table.add_row(name, str(count), detail)
    table.caption = f"{summary.requests} requests in {summary.seconds:.1f}s"
    for warning in summary.warnings:
        table.caption += f"\nwarning: {warning}"
    return table


def commercetools(
    port: Annotated[int, typer.Option(help="Loopback port (0 = any free port).")] = 0,
    customers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Registered customers to seed (0 = leave the project "
            "empty); guests, carts and orders scale with it.",
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    project_key: Annotated[
        str, typer.Option("--project-key", help="commercetools project key.")
    ] = DEFAULT_PROJECT_KEY,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="API client id the server accepts (default: generated)."),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            "--client-secret", help="API client secret the server accepts (default: generated)."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Requests in flight while seeding.")
    ] = 12,
) -> None:
    """Start the commercetools sandbox, seed it, print its settings as `export` lines and
    serve until Ctrl-C or SIGTERM.

    The `export` lines go to stdout; progress and the seed summary go to stderr.
    """
    from ctsync.core.console import make_console
    from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox, SandboxError
    from ctsync.sandbox.commercetools.seeder import SeedError

    err = make_console(stderr=True)
    stop = threading.Event()
    seeding = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if seeding.is_set():
            # Interrupts asyncio.run() inside seed(); while serving, the loop below
            # notices the event instead.
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = CommercetoolsSandbox(
        project_key, client_id=client_id, client_secret=client_secret, port=port
    )
    try:
        try:
            sandbox.start()
        except SandboxError as exc:
            err.print(
                f"[red]could not start the commercetools sandbox:[/red] {exc}",
                markup=True,
                highlight=False,
            )
            raise typer.Exit(1) from None
        if customers > 0:
            seeding.set()
            try:
                summary = _seed_with_progress(err, sandbox, customers, seed, concurrency)
            except SeedError as exc:
                err.print(f"[red]seeding failed:[/red] {exc}", markup=True, highlight=False)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err.print("seeding interrupted; the sandbox is stopped", style="red")
                raise typer.Exit(1) from None
            finally:
                seeding.clear()
            err.print(_summary_table(summary))
        for name, value in sandbox.env().items():
            typer.echo(f"export {name}={value}")
        err.print(
            f"# commercetools sandbox (project {project_key}) on {sandbox.api_url}; "
            f"admin under {sandbox.api_url}/_sandbox/ ; Ctrl-C stops it.",
            markup=False,
            highlight=False,
        )
        while not stop.wait(1.0):
            if not sandbox.running:
                err.print("the commercetools sandbox server exited unexpectedly", style="red")
                raise typer.Exit(1)
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
