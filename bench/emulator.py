"""Benchmark the Iterable emulator with its rate limits lifted; prints one JSON object.

    .venv/bin/python bench/emulator.py [--seconds 5] [--clients 2] [--connections 16]

The load comes from separate processes speaking plain HTTP/1.1 keep-alive over asyncio
streams (no client library), so the figures measure the emulator rather than the client.
Targets on a 2-core machine: ≥ 2000 small requests/s, ≥ 20 bulkUpdate/s of 1000 users.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import time
from typing import Any

import psutil  # noqa: E402

from ctsync.sandbox.iterable import IterableEmulator  # noqa: E402


def _request(host: str, port: int, key: str, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nApi-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(
    port: int,
    requests: list[bytes],
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.perf_counter() < deadline:
            payload = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def _client(
    port: int, requests: list[bytes], seconds: float, connections: int, start_at: float, out: Any
) -> None:
    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        await asyncio.gather(
            *(
                _connection(port, requests, deadline, latencies, statuses)
                for _ in range(connections)
            )
        )
        out.put({"latencies": latencies, "statuses": statuses})

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _run(
    port: int,
    requests: list[bytes],
    seconds: float,
    clients: int,
    connections: int,
    server: psutil.Process,
) -> dict[str, Any]:
    queue: Any = multiprocessing.get_context("fork").Queue()
    start_at = time.time() + 0.5
    procs = [
        multiprocessing.get_context("fork").Process(
            target=_client, args=(port, requests, seconds, connections, start_at, queue)
        )
        for _ in range(clients)
    ]
    cpu_before = sum(server.cpu_times()[:2])
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    server_cpu_s = sum(server.cpu_times()[:2]) - cpu_before
    latencies = sorted(x for r in results for x in r["latencies"])
    statuses: dict[str, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    count = len(latencies)
    return {
        "requests": count,
        "requests_per_s": round(count / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(count * 0.99) - 1] * 1000, 2) if latencies else None,
        "statuses": statuses,
        # CPU the server spent per request: on a shared machine wall-clock rates depend on
        # the neighbours, this does not; 1000 / ms = requests/s one free core sustains.
        "server_cpu_ms_per_request": round(server_cpu_s * 1000 / count, 3) if count else None,
        "requests_per_free_core_s": round(count / server_cpu_s, 1) if server_cpu_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--connections", type=int, default=16, help="connections per process")
    parser.add_argument("--bulk-connections", type=int, default=2)
    args = parser.parse_args()

    with IterableEmulator(project_type="hybrid", rate_scale=math.inf) as emu:
        key, port = emu.api_key, emu.port
        assert emu._proc is not None
        server = psutil.Process(emu._proc.pid)
        track = [
            _request(
                "127.0.0.1",
                port,
                key,
                "/api/events/track",
                json.dumps(
                    {
                        "email": f"bench{i}@example.com",
                        "eventName": "productViewed",
                        "id": f"bench-{i}",
                        "createdAt": 1_700_000_000 + i,
                        "dataFields": {"sku": f"SKU-{i % 50}", "price": 9.99, "qty": i % 5},
                    }
                ).encode(),
            )
            for i in range(500)
        ]
        update = [
            _request(
                "127.0.0.1",
                port,
                key,
                "/api/users/update",
                json.dumps(
                    {
                        "email": f"bench{i}@example.com",
                        "userId": f"u-{i}",
                        "dataFields": {"firstName": "Ada", "ltv": 12.5 + i, "orders": i % 9},
                    }
                ).encode(),
            )
            for i in range(500)
        ]
        bulk = []
        for batch in range(16):
            users = [
                {
                    "email": f"b{batch}-{i}@example.com",
                    "userId": f"b{batch}-{i}",
                    "dataFields": {
                        "firstName": "Grace",
                        "lastName": "Hopper",
                        "ltv": 100.0 + i,
                        "orderCount": i % 17,
                        "loyaltyTier": "gold",
                        "lastPurchaseAt": "2026-01-02 03:04:05 +00:00",
                        "affinity": {"category": "shoes", "score": 0.75},
                    },
                    "preferUserId": True,
                    "mergeNestedObjects": True,
                }
                for i in range(1000)
            ]
            bulk.append(
                _request(
                    "127.0.0.1",
                    port,
                    key,
                    "/api/users/bulkUpdate",
                    json.dumps({"users": users}).encode(),
                )
            )
        bulk_body_bytes = len(bulk[0])

        result: dict[str, Any] = {
            "benchmark": "iterable_emulator",
            "cpu_count": os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
            "seconds_per_phase": args.seconds,
            "events_track": _run(port, track, args.seconds, args.clients, args.connections, server),
            "users_update": _run(
                port, update, args.seconds, args.clients, args.connections, server
            ),
            "users_bulkUpdate_1000": {
                **_run(port, bulk, args.seconds, 1, args.bulk_connections, server),
                "body_bytes": bulk_body_bytes,
                "users_per_request": 1000,
            },
            "stored_users": len(emu.users()),
        }
        result["targets"] = {
            "small_requests_per_s": 2000,
            "bulk_update_requests_per_s": 20,
            "small_met": min(
                result["events_track"]["requests_per_s"], result["users_update"]["requests_per_s"]
            )
            >= 2000,
            "bulk_met": result["users_bulkUpdate_1000"]["requests_per_s"] >= 20,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
