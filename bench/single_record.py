"""Single-record endpoints benchmark: trackPurchase records/s against the configured rate,
without stalls and with a share of stalled requests.

Starts the Iterable emulator, builds a DuckDB warehouse with N desired purchases and the
changes view rendered from the project's diff rule (as `bench/sync.py` does), and runs
`run_sync` twice with the shipped settings (trackPurchase at its configured rate, its own timeout):

1. every request answered after ``--latency-ms`` (a real API's round trip);
2. the same, and a ``--stall-fraction`` of requests applied and then never answered
   (the emulator's ``hang`` fault, held ``--stall-seconds``): the client abandons each
   at the endpoint's timeout and sends it again.

Records/s is counted from the first trackPurchase on the wire to the end of `run_sync`
(the timeout of the last stalled requests and the last acknowledgements included; the
run's fixed start-up, planning and getFields, excluded and reported apart), so the stall
figure rises with N towards its steady state. Prints one JSON object.

    .venv/bin/python bench/single_record.py [--records 3000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dlt  # noqa: E402, F401  (loaded by `ctsync sync` before it sends; not timed here)

from ctsync.core.config import IterableSettings, audit_schema  # noqa: E402
from ctsync.core.warehouse import connect  # noqa: E402
from ctsync.sandbox.iterable.emulator import IterableEmulator  # noqa: E402
from ctsync.sync.engine import run_sync  # noqa: E402
from ctsync.sync.planner import changes_sql  # noqa: E402


def build_warehouse(path: Path, n: int) -> None:
    with connect(path) as con:
        con.execute("create schema if not exists iterable")
        con.execute(
            "create or replace table iterable.iterable__purchases as "
            "select record_key, payload, md5(payload) as payload_hash, "
            "timestamp '2026-01-01' as source_updated_at from ("
            "select 'order-' || lpad(i::varchar, 7, '0') as record_key, json_object("
            "'id', 'order-' || lpad(i::varchar, 7, '0'), "
            "'user', json_object('email', 'buyer' || i || '@example.com'), "
            "'items', [json_object('id', 'sku-' || (i % 50), 'name', 'Mug', "
            "'price', 9.5, 'quantity', 1 + i % 3)], "
            "'total', 9.5 * (1 + i % 3), 'createdAt', 1700000000 + i)::varchar as payload "
            f"from range({n}) as t(i))"
        )
        # the purchases changes view as dbt builds it (the project's diff rule, rendered)
        con.execute(
            "create or replace view iterable.iterable__purchases_changes as "
            + changes_sql("purchases", project_type="hybrid")
        )


def one_run(
    emu: IterableEmulator, settings: IterableSettings, warehouse: Path, faults: str, n: int
) -> dict[str, Any]:
    with connect(warehouse) as con:
        con.execute(f"delete from {audit_schema()}.sync_ledger where object = 'purchases'")
    emu.reset(project_type="hybrid", capture=False)
    emu.set_faults(faults)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = run_sync(settings, warehouse, objects=["purchases"], progress=False)
    seconds = time.perf_counter() - started
    ended_at = time.time()
    emu.set_faults("")
    sent = emu.requests(endpoint="commerce/trackPurchase")
    first_sent = min(r["at"] - r["ms"] / 1000 for r in sent)
    sending = ended_at - first_sent
    counts = result.objects["purchases"]
    rate = settings.rate_for("track_purchase")
    per_second = counts.succeeded / sending
    return {
        "status": result.status,
        "faults": faults,
        "records": n,
        "records_succeeded": counts.succeeded,
        "run_seconds": round(seconds, 2),
        "start_up_seconds": round(seconds - sending, 2),
        "sending_seconds": round(sending, 2),
        "records_per_second": round(per_second, 1),
        "run_records_per_second": round(counts.succeeded / seconds, 1),
        "configured_rate": rate,
        "fraction_of_rate": round(per_second / rate, 3),
        "requests": result.requests,
        "retries": result.retries,
        "machine_load_average_1m_at_start": round(load, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--stall-fraction", type=float, default=0.02)
    parser.add_argument("--stall-seconds", type=float, default=30.0)
    args = parser.parse_args()

    warehouse = Path(tempfile.mkdtemp(prefix="ctsync-bench-single-")) / "warehouse.duckdb"
    build_warehouse(warehouse, args.records)
    with IterableEmulator(project_type="hybrid") as emu:
        # The shipped defaults: trackPurchase's configured rate and timeout.
        settings = IterableSettings(api_key=emu.api_key, api_url=emu.api_url)
        latency = f"*:latency_ms={args.latency_ms:g},seed=1"
        clean = one_run(emu, settings, warehouse, latency, args.records)
        stalls = one_run(
            emu,
            settings,
            warehouse,
            f"commerce/trackPurchase:hang={args.stall_fraction:g},"
            f"hang_s={args.stall_seconds:g};{latency}",
            args.records,
        )
    print(
        json.dumps(
            {
                "benchmark": "single_record",
                "endpoint": "track_purchase",
                "timeout_seconds": settings.timeout_for("track_purchase"),
                "max_inflight": settings.max_inflight,
                "latency_ms": args.latency_ms,
                "no_stalls": clean,
                "stalls": {**stalls, "stall_fraction": args.stall_fraction},
                "machine_cores": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
