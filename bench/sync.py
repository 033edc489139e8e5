"""Sync benchmark: backfill users at Iterable's real limits, then a 1% delta.

Starts the Iterable emulator with its published rate limits (bulkUpdate 5 requests/s),
builds a DuckDB warehouse with N desired users and a contract-shaped changes view, and
runs `run_sync` twice: the backfill, then after changing 1% of the users. Prints one JSON
object: throughput as a fraction of the ceiling (5 requests/s x 1000 records), records
sent / records changed, requests made, peak memory.

    .venv/bin/python bench/sync.py [--users 200000] [--rate-scale 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import psutil

from ctsync.core.config import IterableSettings  # noqa: E402
from ctsync.core.warehouse import connect  # noqa: E402
from ctsync.sandbox.iterable.emulator import IterableEmulator  # noqa: E402
from ctsync.sync.engine import run_sync  # noqa: E402
from ctsync.sync.planner import changes_sql  # noqa: E402

BULK_UPDATE_RATE = 5.0
RECORDS_PER_REQUEST = 1000


def build_warehouse(path: Path, n: int) -> None:
    """Desired users generated in SQL, and the users changes view dbt would build."""
    with connect(path) as con:
        con.execute("create schema if not exists iterable")
        con.execute(
            "create or replace table iterable.iterable__users as "
            "select record_key, payload, md5(payload) as payload_hash, "
            "timestamp '2026-01-01' as source_updated_at, "
            "null::varchar as email_hash, null::varchar as customer_id from ("
            "select 'cust-' || lpad(i::varchar, 7, '0') as record_key, json_object("
            "'email', 'user' || i || '@example.com', 'userId', 'cust-' || i, "
            "'dataFields', json_object("
            "'firstName', 'First' || i, 'lastName', 'Last' || i, 'orderCount', i % 17, "
            "'lifetimeValue', (i % 997) * 1.5 + 0.25, "
            "'loyaltyTier', ['bronze', 'silver', 'gold'][1 + i % 3], 'country', 'DE', "
            "'signupDate', '2024-0' || (1 + i % 9) || '-15'))::varchar as payload "
            f"from range({n}) as t(i))"
        )
        # the users changes view as dbt builds it; no user deletions
        con.execute(
            "create or replace table iterable.iterable__user_deletions (record_key varchar)"
        )
        con.execute(
            "create or replace view iterable.iterable__users_changes as "
            + changes_sql("users", project_type="hybrid")
        )


def change_one_percent(path: Path, n: int) -> int:
    step = 100
    with connect(path) as con:
        con.execute(
            "update iterable.iterable__users set "
            'payload = replace(payload, \'"country":"DE"\', \'"country":"AT"\') '
            f"where cast(substr(record_key, 6) as bigint) % {step} = 0"
        )
        con.execute("update iterable.iterable__users set payload_hash = md5(payload)")
    return len(range(0, n, step))


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(os.getpid())
        self.peak = self.process.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--rate-scale", type=float, default=1.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ctsync-bench-sync-"))
    warehouse = workdir / "warehouse.duckdb"
    build_warehouse(warehouse, args.users)
    baseline_rss = psutil.Process(os.getpid()).memory_info().rss

    with IterableEmulator(project_type="hybrid", rate_scale=args.rate_scale) as emu:
        settings = IterableSettings(
            api_key=emu.api_key,
            api_url=emu.api_url,
            project_type="hybrid",
            rate_scale=args.rate_scale,
            timeout_seconds=60.0,
        )
        # Process RSS (Python + DuckDB buffers) is sampled throughout. tracemalloc (Python
        # heap only) slows allocation-heavy code several-fold, so it runs on the delta
        # only, where it cannot distort the throughput figure.
        sampler = RssSampler()
        sampler.start()
        load_before = os.getloadavg()[0]
        cpu_before = sum(psutil.Process(os.getpid()).cpu_times()[:2])
        started = time.perf_counter()
        backfill = run_sync(settings, warehouse, objects=["users"], progress=False)
        backfill_seconds = time.perf_counter() - started
        backfill_rss = sampler.peak
        backfill_cpu = sum(psutil.Process(os.getpid()).cpu_times()[:2]) - cpu_before

        changed = change_one_percent(warehouse, args.users)
        emu.reset(project_type="hybrid", rate_scale=args.rate_scale, capture=False)
        tracemalloc.start()
        started = time.perf_counter()
        delta = run_sync(settings, warehouse, objects=["users"], progress=False)
        delta_seconds = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sampler.running = False
        sampler.join()
        emu.flush()
        stored_after_delta = len(emu.users())

    ceiling = BULK_UPDATE_RATE * args.rate_scale * RECORDS_PER_REQUEST
    users = backfill.objects["users"]
    throughput = users.succeeded / backfill_seconds
    print(
        json.dumps(
            {
                "benchmark": "sync",
                "users": args.users,
                "rate_scale": args.rate_scale,
                "backfill": {
                    "status": backfill.status,
                    "records_succeeded": users.succeeded,
                    "seconds": round(backfill_seconds, 2),
                    "records_per_second": round(throughput, 1),
                    "ceiling_records_per_second": ceiling,
                    "fraction_of_ceiling": round(throughput / ceiling, 3),
                    "requests": backfill.requests,
                    "rate_limited_429": backfill.rate_limited,
                    "retries": backfill.retries,
                    "sync_process_cpu_seconds": round(backfill_cpu, 1),
                    "cpu_microseconds_per_record": round(
                        backfill_cpu / max(users.succeeded, 1) * 1e6
                    ),
                    "machine_load_average_1m_at_start": round(load_before, 1),
                    "machine_cores": os.cpu_count(),
                },
                "delta_1_percent": {
                    "status": delta.status,
                    "records_changed": changed,
                    "records_sent": delta.objects["users"].sent,
                    "sent_per_changed": round(delta.objects["users"].sent / changed, 3),
                    "requests": delta.requests,
                    "users_received_by_iterable": stored_after_delta,
                    "seconds": round(delta_seconds, 2),
                },
                "memory": {
                    "baseline_rss_mb": round(baseline_rss / 2**20, 1),
                    "peak_rss_backfill_mb": round(backfill_rss / 2**20, 1),
                    "peak_rss_mb": round(sampler.peak / 2**20, 1),
                    "python_heap_peak_delta_mb": round(traced_peak / 2**20, 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
