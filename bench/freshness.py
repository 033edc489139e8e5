"""Freshness benchmark: commercetools change → subscription message → `serve` → Iterable.

    .venv/bin/python bench/freshness.py [--changes 12] [--interval 10] [--customers 200]
                                        [--big-customers 100000] [--big-changes 100]
                                        [--skip-latency] [--skip-big]

Prints one JSON object on stdout (progress goes to stderr).

The shop: both sandboxes in this process; `--customers` customers and as many orders (the
  deterministic document generator) bulk-loaded into the commercetools sandbox, loaded once
  through the real API ingest, dbt-built and marked as synced (`reset_state`), so that the
  figures are those of a shop of that size in its steady state (a first sync of every
  purchase at Iterable's rates would take hours at 100 000 customers). When
  `--big-customers` equals `--customers`, both parts share one shop (latency first).

latency: the receiver (the same code as `ctsync serve`, on a loopback port, debounce 0.5 s,
  idle debounce its default) runs while `--changes` customers are renamed in commercetools
  every `--interval` seconds. Each change's CustomerFirstNameSet message is POSTed as a
  Google Pub/Sub push envelope, and the time until the emulator holds the new name is that
  change's latency (p50 / p95 / max). Where the seconds go: the median wait from the POST to
  the start of the run that carried the change (debounce, or a run still busy), the median
  run's stages (ingest / dbt / sync / the job's other work) and the rest (the watcher polls
  every 0.2 s).

incremental_run: `--big-changes` customers of the shop change in the sandbox and one
  incremental `run_job` (ingest → dbt → sync) is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from rich.console import Console  # noqa: E402
from transform import slowest_nodes  # noqa: E402  (bench/transform.py, beside this script)

from ctsync.app.jobs.receiver import Receiver, TokenAuth  # noqa: E402
from ctsync.app.jobs.runner import JobOptions, JobReport, run_job  # noqa: E402
from ctsync.app.jobs.state import ReceiverState  # noqa: E402
from ctsync.app.jobs.trigger import DebouncedTrigger  # noqa: E402
from ctsync.core.warehouse import connect  # noqa: E402
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox  # noqa: E402
from ctsync.sandbox.commercetools.subscriptions import message_notification, pubsub_push  # noqa: E402
from ctsync.sandbox.iterable.emulator import IterableEmulator  # noqa: E402

TOKEN = "bench-token-0123456789"
ERR = Console(stderr=True)
QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the bench


def note(text: str) -> None:
    ERR.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 3)


def configure(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith(("SOURCES__COMMERCETOOLS__", "SYNC__"))]:
        del os.environ[key]
    os.environ.update(env)


def stage_seconds(report: JobReport) -> dict[str, float | None]:
    return {s.name: round(s.seconds, 2) if s.seconds is not None else None for s in report.stages}


@dataclass
class Shop:
    """A shop of `scale` in both sandboxes, loaded, built and marked as sent."""

    sandbox: CommercetoolsSandbox
    emulator: IterableEmulator
    warehouse: Path
    scale: Any
    setup: dict[str, Any]


@contextmanager
def marked_shop(customers: int, folder: Path) -> Iterator[Shop]:
    from ctsync.sandbox.commercetools import documents
    from ctsync.sync.reset import reset_state

    warehouse = folder / "shop.duckdb"
    # No deleted customers: their orders would need historic CustomerDeleted messages.
    scale = documents.Scale(
        customers=customers,
        orders=customers,
        carts=max(10, customers // 50),
        deleted_customer_every=0,
    )
    with CommercetoolsSandbox(project_key="bench-shop") as sandbox, IterableEmulator() as emulator:
        configure({**sandbox.env(), **emulator.env(), "CTSYNC_WAREHOUSE": str(warehouse)})
        note(f"bulk-loading {customers} customers and {scale.orders} orders into the sandbox")
        started = time.monotonic()
        for type_id, stream in (
            ("customer-group", documents.customer_groups(scale)),
            ("store", documents.stores(scale)),
            ("category", documents.categories(scale)),
        ):
            sandbox.bulk_load(type_id, stream)
        sandbox.bulk_load("customer", documents.customers(scale))
        sandbox.bulk_load("order", documents.orders(scale))
        load_seconds = time.monotonic() - started

        def mark_synced(context: Any) -> tuple[str, str, Any]:
            marked = reset_state(context.warehouse, lock_held=True, run_id=context.run_id)
            return "succeeded", f"marked {sum(marked.values())} records as sent", marked

        note("initial load through the API ingest, dbt build, then mark all as sent")
        started = time.monotonic()
        setup = run_job(
            JobOptions(trigger="bench-setup"),
            warehouse=warehouse,
            stages={"sync": mark_synced},
            progress=False,
            console=QUIET,
        )
        setup_seconds = time.monotonic() - started
        if setup.status != "succeeded":
            raise SystemExit(f"setup run failed: {setup.error_message}")
        marked = setup.stage("sync").result
        warmup = settle(sandbox, warehouse)
        yield Shop(
            sandbox,
            emulator,
            warehouse,
            scale,
            {
                "customers": customers,
                "orders": scale.orders,
                "sandbox_bulk_load_seconds": round(load_seconds, 1),
                "initial_run_seconds": round(setup_seconds, 1),
                "initial_stage_seconds": stage_seconds(setup),
                "records_marked_sent": sum(marked.values()),
                "warmup": warmup,
            },
        )


def rename(api: httpx.Client, customer_id: str, first_name: str) -> None:
    """The customer renames themselves in commercetools (a CustomerFirstNameSet message)."""
    customer = api.get(f"/customers/{customer_id}").json()
    api.post(
        f"/customers/{customer_id}",
        json={
            "version": customer["version"],
            "actions": [{"action": "setFirstName", "firstName": first_name}],
        },
    ).raise_for_status()


def settle(sandbox: CommercetoolsSandbox, warehouse: Path) -> dict[str, Any]:
    """Bring a marked shop to its steady state before anything is timed: a shop in use has
    delivered profiles before and read them back from Iterable, and its raw tables already
    have the columns of every message type. One customer is renamed and delivered; then jobs
    run until one changes no raw schema and read Iterable's users back (the export budget is
    4 a minute: after a run whose user export was deferred, the next waits 15 s)."""
    started = time.monotonic()
    with connect(warehouse) as con:
        [(customer_id,)] = con.execute(
            "select min(customer_id) from iterable.iterable__users where customer_id is not null"
        ).fetchall()
    with sandbox.client() as api:
        rename(api, customer_id, "Warmup")
    details = []
    for attempt in range(12):
        report = run_job(
            JobOptions(trigger="bench-setup"), warehouse=warehouse, progress=False, console=QUIET
        )
        if report.status != "succeeded":
            raise SystemExit(f"warm-up run failed: {report.error_message}")
        details.append(report.stage("dbt").detail)
        ingest = report.stage("ingest").detail
        deferred = ingest.split("read-back deferred to the next run: ")[-1].split(", ")
        user_deferred = "read-back deferred" in ingest and "user" in deferred
        if attempt and "raw schema changed" not in report.stage("dbt").detail:
            if not user_deferred:
                break
            time.sleep(15)
    note(f"settled after {len(details)} runs")
    return {"runs": len(details), "seconds": round(time.monotonic() - started, 1), "dbt": details}


def measure_latency(shop: Shop, changes: int, interval: float, folder: Path) -> dict[str, Any]:
    sandbox, emulator, warehouse = shop.sandbox, shop.emulator, shop.warehouse
    reports: list[JobReport] = []
    run_starts: list[float] = []

    def job(resources: frozenset[str], stop: threading.Event) -> None:
        run_starts.append(time.monotonic())
        reports.append(
            run_job(
                JobOptions(resources=sorted(resources), trigger="event"),
                warehouse=warehouse,
                stop=stop,
                progress=False,
                console=QUIET,
            )
        )

    state = ReceiverState(folder / "receiver.sqlite")
    trigger = DebouncedTrigger(job, debounce=0.5, max_wait=10, retry_delay=2, state=state)
    receiver = Receiver(trigger, state, TokenAuth(TOKEN))
    server = uvicorn.Server(
        uvicorn.Config(receiver.app(), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    trigger.start()

    # Customers the models send to Iterable by their own id: a customer they refuse (say, a
    # duplicate email) would never show the rename, however fresh the pipeline. A seeded
    # sample, not the first ones: the generator places its edge cases on index multiples.
    with connect(warehouse) as con:
        known = [
            row[0]
            for row in con.execute(
                "select customer_id from iterable.iterable__users where customer_id is not null "
                "order by customer_id"
            ).fetchall()
        ]
    chosen = random.Random(11).sample(known, min(changes, len(known)))
    pending: dict[str, tuple[str, float]] = {}
    latencies: list[float] = []
    posted: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for user_id, (name, changed_at) in list(pending.items()):
                user = emulator.user(user_id=user_id)
                if user and user["dataFields"].get("firstName") == name:
                    latencies.append(round(time.monotonic() - changed_at, 3))
                    del pending[user_id]
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    note(f"{len(chosen)} changes, one every {interval}s, through {url}")
    with sandbox.client() as api, httpx.Client(timeout=10) as http:
        for i, customer_id in enumerate(chosen):
            name = f"Bench{i}"
            changed_at = time.monotonic()
            rename(api, customer_id, name)
            payload = message_notification(api, sandbox.project_key, customer_id)
            pending[customer_id] = (name, changed_at)
            envelope = pubsub_push(payload, f"bench-{i}")
            http.post(f"{url}/?token={TOKEN}", json=envelope).raise_for_status()
            posted.append(time.monotonic())
            time.sleep(interval)
    deadline = time.monotonic() + 600
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
    done.set()
    server.should_exit = True
    thread.join(10)
    trigger.stop(60)
    state.close()
    runs = list(reports)
    waits = [
        min(start for start in run_starts if start >= at) - at
        for at in posted
        if any(start >= at for start in run_starts)
    ]
    run_seconds = [
        (r.finished_at - r.started_at).total_seconds()
        for r in runs
        if r.started_at is not None and r.finished_at is not None
    ]
    return {
        "customers": shop.setup["customers"],
        "changes": len(chosen),
        "interval_seconds": interval,
        "delivered": len(latencies),
        "p50_seconds": quantile(latencies, 0.5),
        "p95_seconds": quantile(latencies, 0.95),
        "max_seconds": max(latencies) if latencies else None,
        "mean_seconds": round(statistics.mean(latencies), 3) if latencies else None,
        "event_runs": len(runs),
        "event_run_median_stage_seconds": {
            stage: quantile([s for r in runs if (s := stage_seconds(r).get(stage))], 0.5)
            for stage in ("ingest", "dbt", "sync")
        },
        "median_wait_before_run_seconds": quantile(waits, 0.5),
        "event_run_median_seconds": quantile(run_seconds, 0.5),
        "event_run_dbt_details": [r.stage("dbt").detail for r in runs],
        "event_run_ingest_details": [r.stage("ingest").detail for r in runs],
        "samples_seconds": sorted(latencies),
        "setup": shop.setup,
    }


def measure_incremental(shop: Shop, changed: int) -> dict[str, Any]:
    from ctsync.sandbox.commercetools import documents

    big = shop.setup["customers"]
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    # A seeded random sample, not a fixed stride: the generator places its edge cases
    # (duplicate emails, deleted customers, ...) on index multiples, and a stride such as
    # 1000 would pick only those customers, whom the models rightly refuse to send.
    changed_docs = []
    with shop.sandbox.client() as api:
        for index in sorted(random.Random(7).sample(range(big), min(changed, big))):
            document = documents.customer_document(shop.scale, index)
            document["firstName"] = f"Changed{index}"
            # after the latency part, a customer may have moved on: the sandbox's version + 1
            current = api.get(f"/customers/{document['id']}").json()
            document["version"] = int(current.get("version", 1)) + 1
            document["lastModifiedAt"] = stamp
            changed_docs.append(document)
    shop.sandbox.bulk_load("customer", changed_docs)
    note(f"incremental run with {len(changed_docs)} changed customers")
    started = time.monotonic()
    report = run_job(
        JobOptions(trigger="bench"), warehouse=shop.warehouse, progress=False, console=QUIET
    )
    wall = time.monotonic() - started
    result = report.stage("sync").result
    users = result.objects.get("users") if result is not None else None
    in_iterable = len(shop.emulator.users())
    return {
        "customers": big,
        "orders": shop.scale.orders,
        "changes": len(changed_docs),
        "status": report.status,
        "error": report.error_message,
        "wall_seconds": round(wall, 2),
        "stage_seconds": stage_seconds(report),
        "dbt_detail": report.stage("dbt").detail,
        "ingest_detail": report.stage("ingest").detail,
        "dbt_slowest_nodes": slowest_nodes(
            shop.warehouse.parent / ".ctsync" / "dbt" / "target" / "run_results.json", 12
        ),
        "users_sent": getattr(users, "sent", None),
        "sent_by_object": {
            name: getattr(counts, "sent", None)
            for name, counts in (getattr(result, "objects", None) or {}).items()
        },
        "users_in_iterable_after": in_iterable,
        "setup": shop.setup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=12)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--big-customers", type=int, default=100_000)
    parser.add_argument("--big-changes", type=int, default=100)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    import psutil

    output: dict[str, Any] = {
        "benchmark": "freshness",
        "machine": {"cpus": os.cpu_count(), "load_1m": round(psutil.getloadavg()[0], 2)},
    }

    def run(name: str, part: Callable[[], dict[str, Any]]) -> None:
        try:
            output[name] = part()
        except (Exception, SystemExit) as exc:  # report the part, keep the others
            output[name] = {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
        ERR.print(json.dumps({name: output[name]}, indent=2))

    def in_shop(customers: int, parts: dict[str, Callable[[Shop, Path], dict[str, Any]]]) -> None:
        with tempfile.TemporaryDirectory(prefix="ctsync-freshness-") as tmp:
            folder = Path(tmp)
            try:
                with marked_shop(customers, folder) as shop:
                    for name, part in parts.items():
                        run(name, lambda part=part: part(shop, folder))
            except (Exception, SystemExit) as exc:  # the shop's setup failed
                for name in parts:
                    output.setdefault(
                        name, {"error": f"setup: {type(exc).__name__}: {str(exc)[:2000]}"}
                    )

    latency = lambda shop, folder: measure_latency(shop, args.changes, args.interval, folder)  # noqa: E731
    incremental = lambda shop, folder: measure_incremental(shop, args.big_changes)  # noqa: E731
    if not args.skip_latency and not args.skip_big and args.customers == args.big_customers:
        in_shop(args.customers, {"latency": latency, "incremental_run": incremental})
    else:
        if not args.skip_latency:
            in_shop(args.customers, {"latency": latency})
        if not args.skip_big:
            in_shop(args.big_customers, {"incremental_run": incremental})
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
