"""`ctsync demo`: the whole pipeline on a laptop, against both sandboxes, in a few minutes.

1. start the commercetools sandbox and the Iterable emulator (loopback ports, in-process
   launchers), 2. seed commercetools with realistic shoppers, 3. run the job (ingest → dbt →
   sync), 4. show what reached Iterable, 5. change a slice of commercetools (emails, consent,
   order states, returns, deletions), 6. run again and show that only the changes went out.

Everything lives in one folder (default `.ctsync/demo/`): the warehouse, the dlt state and
the HTML report. The folder is recreated on every demo so each run starts clean.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ctsync.app.jobs.runner import JobOptions, JobReport, run_job, summary_tables
from ctsync.core.config import WAREHOUSE_ENV, audit_schema
from ctsync.core.names import OBJECTS
from ctsync.core.warehouse import DEFAULT_WAREHOUSE

ENV_PREFIXES = ("SOURCES__COMMERCETOOLS__", "SYNC__ITERABLE__")


class DemoError(RuntimeError):
    """The demo could not run; the message says what to install or fix."""


@dataclass
class IterableSnapshot:
    users: int
    users_with_unsubscriptions: int
    users_on_lists: int
    purchases: int
    events: Counter[str]
    catalog_items: int
    cart_updates: int
    forgotten: int
    requests: Counter[str]

    @classmethod
    def take(cls, emulator: Any, catalog: str) -> IterableSnapshot:
        users = emulator.users()
        try:
            items = len(emulator.catalog_items(catalog))
        except Exception:  # the catalog exists only once an item was sent
            items = 0
        forgotten = emulator.forgotten()
        requests: Counter[str] = Counter()
        for endpoint, statuses in emulator.counters().items():
            requests[endpoint] = sum(statuses.values())
        return cls(
            users=len(users),
            users_with_unsubscriptions=sum(
                1
                for u in users
                if u["dataFields"].get("unsubscribedChannelIds")
                or u["dataFields"].get("unsubscribedMessageTypeIds")
            ),
            users_on_lists=sum(
                1
                for u in users
                if u["dataFields"].get("emailListIds") or u["dataFields"].get("userListIds")
            ),
            purchases=len(emulator.purchases()),
            events=Counter(e["eventName"] for e in emulator.events()),
            catalog_items=items,
            cart_updates=len(emulator.cart_updates()),
            forgotten=len(forgotten.get("emails", [])) + len(forgotten.get("userIds", [])),
            requests=requests,
        )


def run_demo(
    customers: int = 500, folder: Path = Path(".ctsync/demo"), *, console: Console
) -> None:
    try:
        from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox, SandboxError
        from ctsync.sandbox.iterable.emulator import IterableEmulator
    except ImportError as exc:  # pragma: no cover - a broken checkout
        raise DemoError(f"the sandboxes are not importable ({exc}); run ./dev demo") from None

    started = time.monotonic()
    folder = folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    warehouse = folder / DEFAULT_WAREHOUSE

    console.rule("[bold]ctsync demo[/]: commercetools → DuckDB (dlt, dbt) → Iterable")
    console.print(f"Working folder: {folder}")
    try:
        commercetools_sandbox = CommercetoolsSandbox(project_key="ctsync-demo")
        commercetools_sandbox.start()
    except SandboxError as exc:
        raise DemoError(f"{exc} (./dev demo installs the sandbox's Node packages)") from None
    try:
        with (
            IterableEmulator(project_type="hybrid") as emulator,
            _environment(
                {
                    **commercetools_sandbox.env(),
                    **emulator.env(),
                    WAREHOUSE_ENV: str(warehouse),
                }
            ),
        ):
            console.print(
                f"[green]✔[/] commercetools sandbox on {commercetools_sandbox.api_url}, "
                f"Iterable emulator on {emulator.api_url}"
            )

            console.rule(f"1. Seed commercetools with {customers} customers")
            summary = _with_progress(
                console,
                lambda progress: commercetools_sandbox.seed(customers=customers, progress=progress),
            )
            console.print(
                f"Seeded {summary.customers} customers ({summary.customers_malformed_email} with "
                f"a malformed email, {summary.customers_shared_email} sharing an email), "
                f"{summary.guests} guests, {summary.orders} orders, {summary.carts} carts, "
                f"{summary.products} products in {summary.seconds:.0f}s."
            )

            console.rule("2. First run: ingest → dbt build → sync")
            first = _run(console, warehouse)
            from ctsync.core.config import load_settings

            catalog = load_settings().catalog_name
            after_first = IterableSnapshot.take(emulator, catalog)
            _show_iterable(console, after_first, None)
            _show_rejections(console, warehouse)

            console.rule("3. Someone unsubscribes in Iterable")
            unsubscribed = _unsubscribe_in_iterable(console, warehouse, emulator)

            console.rule("4. A day of shop activity in commercetools")
            changes = commercetools_sandbox.apply_changes(fraction=0.02)
            console.print(
                f"Changed in commercetools: {len(changes.email_changed)} email(s), "
                f"{len(changes.consent_changed)} consent flag(s), "
                f"{len(changes.order_state_changed)} order state(s), "
                f"{len(changes.returns_added)} return(s), "
                f"{len(changes.customers_deleted)} customer deletion(s)."
            )

            if unsubscribed is not None:
                _change_profile(commercetools_sandbox, unsubscribed[0])

            console.rule("5. Second run: only the changes travel")
            second = _run(console, warehouse)
            after_second = IterableSnapshot.take(emulator, catalog)
            if unsubscribed is not None:
                _show_still_unsubscribed(console, warehouse, emulator, unsubscribed)
            _compare_runs(console, first, second)
            _show_iterable(console, after_second, after_first)

            from ctsync.app.report import write_report

            report = folder / "report.html"
            write_report(warehouse, report)
    finally:
        commercetools_sandbox.stop()

    console.rule("Done")
    console.print(
        f"Finished in {time.monotonic() - started:.0f}s. Explore the result:\n"
        f"  export CTSYNC_WAREHOUSE={warehouse}\n"
        "  ctsync status                      # runs, rejections, freshness\n"
        f"  open {report}   # charts, self-contained\n"
        f'  duckdb {warehouse} "select * from audit.audit__run_health"'
    )
    if first.exit_code or second.exit_code:
        raise DemoError(
            f"a pipeline run did not succeed (first: {first.status}, second: {second.status}); "
            "see the summaries above"
        )


def _unsubscribe_in_iterable(
    console: Console, warehouse: Path, emulator: Any
) -> tuple[str, str] | None:
    """One subscribed customer clicks "unsubscribe" in a marketing email (channel 11)."""

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select customer_id, user_id from audit.audit__consent_decisions "
            "where iterable_kind = 'channel' and iterable_id = 11 and is_subscribed "
            "and not is_guest and user_id is not null order by customer_id limit 50"
        ).fetchall()
    row = next((r for r in rows if emulator.user(user_id=str(r[1])) is not None), None)
    if row is None:
        console.print("Nobody is subscribed to the marketing email channel; skipping.")
        return None
    customer_id, user_id = str(row[0]), str(row[1])
    emulator.recipient("unsubscribe", userId=user_id, channelId=11)
    console.print(
        f"Customer {customer_id} clicked the unsubscribe link of a marketing email: Iterable "
        "unsubscribed them from channel 11 (Marketing Email). commercetools still says opted in."
    )
    return customer_id, user_id


def _change_profile(sandbox: Any, customer_id: str) -> None:
    """The same customer edits their profile in the shop (a change the next run sends)."""
    with sandbox.client() as client:
        customer = client.get(f"/customers/{customer_id}").json()
        client.post(
            f"/customers/{customer_id}",
            json={
                "version": customer["version"],
                "actions": [{"action": "setFirstName", "firstName": "Renamed"}],
            },
        ).raise_for_status()


def _show_still_unsubscribed(
    console: Console, warehouse: Path, emulator: Any, who: tuple[str, str]
) -> None:

    customer_id, user_id = who
    user = emulator.user(user_id=user_id) or {"dataFields": {}}
    fields = user["dataFields"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select decision_reason from audit.audit__consent_decisions "
            "where customer_id = ? and iterable_kind = 'channel' and iterable_id = 11",
            [customer_id],
        ).fetchone()
    still = 11 in (fields.get("unsubscribedChannelIds") or [])
    console.print(
        f"Customer {customer_id} after the second run: first name "
        f"{fields.get('firstName')!r} (changed in commercetools), marketing email "
        f"{'[green]still unsubscribed[/]' if still else '[red]RE-SUBSCRIBED[/]'} "
        f"(decision: {row[0] if row else '?'})."
    )
    if not still:
        raise DemoError(f"customer {customer_id}'s Iterable unsubscribe was overwritten")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Point ctsync's configuration at the sandboxes for the demo, then restore."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    saved_warehouse = os.environ.get(WAREHOUSE_ENV)
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in values:
            os.environ.pop(key, None)
        os.environ.update(saved)
        if saved_warehouse is not None:
            os.environ[WAREHOUSE_ENV] = saved_warehouse


def _with_progress(console: Console, work: Any) -> Any:
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total or None)
            progress.update(tasks[phase], completed=done, total=total or None)

        return work(report)


def _run(console: Console, warehouse: Path) -> JobReport:
    report = run_job(JobOptions(trigger="demo"), warehouse=warehouse, console=console)
    for table in summary_tables(report):
        console.print(table)
    return report


def _sent(report: JobReport) -> dict[str, Any]:
    result = report.stage("sync").result
    return dict(getattr(result, "objects", {}) or {})


def _compare_runs(console: Console, first: JobReport, second: JobReport) -> None:
    before, after = _sent(first), _sent(second)
    table = Table(title="records sent to Iterable, first run vs second run", title_justify="left")
    table.add_column("object")
    table.add_column("first run", justify="right")
    table.add_column("second run", justify="right")
    for name in OBJECTS:
        one, two = before.get(name), after.get(name)
        table.add_row(name, str(getattr(one, "sent", 0)), str(getattr(two, "sent", 0)))
    console.print(table)
    total_first = sum(getattr(c, "sent", 0) for c in before.values())
    total_second = sum(getattr(c, "sent", 0) for c in after.values())
    console.print(
        f"The second run sent {total_second} record(s) against {total_first} in the first: "
        "unchanged records were not sent again."
    )


def _show_iterable(
    console: Console, now: IterableSnapshot, before: IterableSnapshot | None
) -> None:
    def delta(current: int, previous: int | None) -> str:
        if previous is None:
            return str(current)
        change = current - previous
        return f"{current} ({'+' if change >= 0 else ''}{change})"

    table = Table(title="what Iterable holds (emulator inspection API)", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("users", now.users, before.users if before else None),
        (
            "users with unsubscriptions",
            now.users_with_unsubscriptions,
            before.users_with_unsubscriptions if before else None,
        ),
        ("users on lists", now.users_on_lists, before.users_on_lists if before else None),
        ("purchases", now.purchases, before.purchases if before else None),
        ("cart updates", now.cart_updates, before.cart_updates if before else None),
        ("catalog items", now.catalog_items, before.catalog_items if before else None),
        ("forgotten / deleted users", now.forgotten, before.forgotten if before else None),
    ]
    for name, count in sorted(now.events.items()):
        rows.append((f"events: {name}", count, before.events.get(name, 0) if before else None))
    for what, current, previous in rows:
        table.add_row(what, delta(current, previous))
    console.print(table)
    if before is not None:
        calls = {ep: n - before.requests.get(ep, 0) for ep, n in now.requests.items()}
        spent = ", ".join(f"{ep} {n}" for ep, n in sorted(calls.items()) if n)
        console.print(f"API requests in the second run: {spent or 'none'}")


def _show_rejections(console: Console, warehouse: Path) -> None:
    """Rows refused by the models (dbt) and by the validator or Iterable (sync)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select 'sync' as stage, object, reason_code, count(*), min(record_key) "
            f"from {audit_schema()}.sync_rejections where resolved_at is null "
            "group by object, reason_code "
            "union all "
            "select 'dbt', object, reason_code, count(*), min(record_key) "
            "from iterable.iterable__rejections group by object, reason_code "
            "order by 1 desc, 4 desc"
        ).fetchall()
    if not rows:
        console.print("[green]No rejections.[/]")
        return
    table = Table(
        title="rejected records: kept in the warehouse with their reason, not sent",
        title_justify="left",
    )
    for column in ("refused by", "object", "reason", "records", "example"):
        table.add_column(column)
    for stage, obj, reason, count, example in rows:
        table.add_row(
            "validator / Iterable" if stage == "sync" else "models (dbt)",
            obj,
            escape(str(reason)),
            str(count),
            escape(str(example)),
        )
    console.print(table)
    console.print(
        f"[dim]{audit_schema()}.sync_rejections and iterable.iterable__rejections hold the "
        "details; `ctsync replay` re-queues the first kind once the source is fixed.[/]"
    )
