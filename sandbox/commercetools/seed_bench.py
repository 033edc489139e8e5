"""Benchmark the seeder: ``python -m sandbox.commercetools.seed_bench --customers 10000``.

Starts its own sandbox server, seeds it, applies one round of changes and prints one JSON
object on stdout (wall time, request rates, CPU of this process and of the Node server).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import psutil

from sandbox.commercetools.launcher import CommercetoolsSandbox
from sandbox.commercetools.seeder import apply_changes, seed


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run(customers: int, seed_value: int, concurrency: int, fraction: float) -> dict[str, Any]:
    with CommercetoolsSandbox(project_key="bench") as ct:
        assert ct._process is not None  # started by the context manager
        node = psutil.Process(ct._process.pid)
        me = psutil.Process()
        node_cpu, my_cpu = _cpu(node), _cpu(me)
        started = time.monotonic()
        summary = seed(
            ct.api_url,
            ct.auth_url,
            ct.project_key,
            ct.client_id,
            ct.client_secret,
            customers=customers,
            seed=seed_value,
            concurrency=concurrency,
        )
        seed_seconds = time.monotonic() - started
        node_seed_cpu, my_seed_cpu = _cpu(node) - node_cpu, _cpu(me) - my_cpu
        changes = apply_changes(
            ct.api_url,
            ct.auth_url,
            ct.project_key,
            ct.client_id,
            ct.client_secret,
            fraction=fraction,
            seed=seed_value,
            concurrency=concurrency,
        )
    return {
        "benchmark": "commercetools_seed",
        "customers": summary.customers,
        "guests": summary.guests,
        "orders": summary.orders,
        "carts": summary.carts,
        "concurrency": concurrency,
        "seed_seconds": round(seed_seconds, 2),
        "seed_requests": summary.requests,
        "seed_retries": summary.retries,
        "requests_per_second": round(summary.requests / seed_seconds, 1),
        "customers_per_second": round(summary.customers / seed_seconds, 1),
        "seeder_cpu_seconds": round(my_seed_cpu, 2),
        "server_cpu_seconds": round(node_seed_cpu, 2),
        "machine_load_1m": round(psutil.getloadavg()[0], 2),
        "changes_fraction": fraction,
        "changes_applied": changes.total,
        "changes_seconds": changes.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--fraction", type=float, default=0.01)
    args = parser.parse_args()
    print(json.dumps(run(args.customers, args.seed, args.concurrency, args.fraction)))


if __name__ == "__main__":
    main()
