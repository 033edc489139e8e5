"""Benchmark: a full ``ctsync ingest`` against a bare httpx keyset-paging loop.

    .venv/bin/python bench/ingest.py [--customers 100000] [--orders-per-customer 1.0]

Starts the commercetools sandbox, stores ``--customers`` customers and their orders
(deterministic documents from ``ctsync.sandbox.commercetools.documents``, stored through the
sandbox's bulk endpoint: seeding 100 000 customers through the public API would take hours
on a small machine), then, over the same server:

1. a bare httpx loop that pages every resource the ingest reads with exactly the ingest's
   queries (``sort=id asc``, ``where=id > :lastId``, the ``lastModifiedAt`` window,
   ``withTotal=false``, ``limit=500``) and
   only parses the JSON: the floor any client pays for the server and the transfer;
2. a full ingest (``run_ingest(full_refresh=True)``) into a fresh DuckDB file: paging,
   dlt normalization and loading.

Prints one JSON object: rows, seconds, rows/s and the client process's CPU seconds of both,
their ratio, and the machine's cores and load average (the sandbox server is a separate
process: on a shared machine the wall-clock figures move with the load).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from ctsync.ingest.commercetools import schema  # noqa: E402
from ctsync.ingest.commercetools.source import (  # noqa: E402
    DEFAULT_START,
    load_settings,
    normalize_start_date,
)
from ctsync.ingest.pipeline import run_ingest  # noqa: E402
from ctsync.sandbox.commercetools import documents  # noqa: E402
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox  # noqa: E402


def bare_keyset_loop(ct: CommercetoolsSandbox, endpoints: list[tuple[str, dict[str, str]]]) -> int:
    """Page every endpoint as the ingest does, parse, count; nothing else."""
    rows = 0
    until = normalize_start_date(datetime.now(UTC))
    with httpx.Client(
        base_url=f"{ct.api_url}/{ct.project_key}",
        headers={"Authorization": f"Bearer {ct.token()}"},
        timeout=120,
    ) as http:
        for endpoint, extra, cursor in endpoints:
            last_id: str | None = None
            while True:
                params: list[tuple[str, str]] = [
                    ("limit", "500"),
                    ("withTotal", "false"),
                    ("sort", "id asc"),
                    *extra.items(),
                    ("where", f"{cursor} >= :since"),
                    ("where", f"{cursor} < :until"),
                    ("var.since", DEFAULT_START),
                    ("var.until", until),
                ]
                if last_id is not None:
                    params += [("where", "id > :lastId"), ("var.lastId", last_id)]
                response = http.get(endpoint, params=params)
                response.raise_for_status()
                results = response.json()["results"]
                rows += len(results)
                if results:
                    last_id = results[-1]["id"]
                if len(results) < 500:
                    break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders-per-customer", type=float, default=1.0)
    args = parser.parse_args()

    scale = documents.Scale(
        customers=args.customers,
        orders=int(args.customers * args.orders_per_customer),
        carts=0,
    )
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "customers_requested": args.customers,
        "orders_requested": scale.orders,
    }
    with CommercetoolsSandbox(project_key="bench") as ct, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        stored = {
            "customers": ct.bulk_load("customer", documents.customers(scale)),
            "orders": ct.bulk_load("order", documents.orders(scale)),
        }
        result["seed_seconds"] = round(time.perf_counter() - started, 2)
        result["stored"] = stored

        endpoints = [
            (raw.endpoint, dict(raw.params), raw.cursor_field) for raw in schema.TABLES.values()
        ]
        load_before = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        bare_rows = bare_keyset_loop(ct, endpoints)
        bare_seconds = time.perf_counter() - started
        bare_cpu = time.process_time() - cpu

        settings = load_settings(
            project_key=ct.project_key,
            client_id=ct.client_id,
            client_secret=ct.client_secret,
            api_url=ct.api_url,
            auth_url=ct.auth_url,
        )
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_ingest(
            full_refresh=True, warehouse=Path(tmp) / "bench.duckdb", settings=settings
        )
        ingest_seconds = time.perf_counter() - started
        ingest_cpu = time.process_time() - cpu
        load_after = os.getloadavg()[0]
        ingest_rows = summary.fetched
        loaded = {r.name: r.total for r in summary.resources if r.total}

    result.update(
        {
            "bare_httpx": {
                "rows": bare_rows,
                "seconds": round(bare_seconds, 2),
                "rows_per_second": round(bare_rows / bare_seconds, 1),
                "client_cpu_seconds": round(bare_cpu, 2),
            },
            "ctsync_ingest": {
                "rows": ingest_rows,
                "rows_loaded": loaded,
                "requests": summary.requests,
                "dlt_step_seconds": summary.step_seconds,
                "seconds": round(ingest_seconds, 2),
                "rows_per_second": round(ingest_rows / ingest_seconds, 1),
                "client_cpu_seconds": round(ingest_cpu, 2),
            },
            "machine": {
                "cores": os.cpu_count(),
                "load_average_1m": [round(load_before, 2), round(load_after, 2)],
            },
            "ingest_vs_bare_ratio": round(
                (ingest_rows / ingest_seconds) / (bare_rows / bare_seconds), 3
            ),
        }
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
