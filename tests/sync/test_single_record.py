"""Single-record endpoints (trackPurchase, updateCart, ...): a stalled request holds up
neither the other records nor the run's pace, a person's records stay in order, and a
kill -9 while a request is stalled loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from ctsync.core.config import IterableSettings
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync
from ctsync.sync.iterable_client import IterableClient
from ctsync.sync.result import SyncResult

pytestmark = pytest.mark.slow

ITEM = {"id": "sku-1", "name": "Mug", "price": 9.5, "quantity": 1}


def purchase(i: int) -> dict[str, Any]:
    return {
        "id": f"order-{i:03d}",
        "user": {"email": f"buyer{i}@example.com"},
        "items": [ITEM],
        "total": 9.5,
        "createdAt": 1_700_000_000 + i,
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait on `condition`; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def acknowledged(path: Path) -> int:
    """Ledger rows now, read in-process beside the running sync (same DuckDB instance)."""
    con = duckdb.connect(str(path))
    try:
        row = con.execute("select count(*) from ctsync.sync_ledger").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_a_stalled_request_does_not_hold_up_the_others(
    fresh_iterable: IterableEmulator, warehouse
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=20.0)
    n = 40
    warehouse.set_desired("purchases", {f"order-{i:03d}": purchase(i) for i in range(n)})
    settings = IterableSettings(
        api_key=emu.api_key,
        api_url=emu.api_url,
        project_type="hybrid",
        # the stall is the emulator's hold, released by the test, not a timeout
        timeout_seconds=120.0,
        concurrency=4,
    )
    # The first trackPurchase is held without an answer until the faults are set again.
    emu.set_faults("commerce/trackPurchase:times=1,hold=1")
    results: list[SyncResult] = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_sync(settings, warehouse.path, objects=["purchases"], progress=False)
        )
    )
    runner.start()
    try:
        wait_for(lambda: emu.held() == 1, "held trackPurchase")
        # every other purchase gets through while that one is stalled ...
        wait_for(lambda: len(emu.purchases()) == n - 1, f"{n - 1} purchases past the stall")
        # ... and is acknowledged: the ledger does not wait for the stalled request either
        wait_for(lambda: acknowledged(warehouse.path) == n - 1, f"{n - 1} acknowledgements")
        assert runner.is_alive() and emu.held() == 1
    finally:
        emu.set_faults("")  # releases the held request
        runner.join(timeout=120)
    [result] = results
    assert result.status == "succeeded", result.error_message
    assert result.objects["purchases"].succeeded == n
    assert sorted(p["id"] for p in emu.purchases()) == [f"order-{i:03d}" for i in range(n)]
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == n
    assert warehouse.changes("purchases") == []


def test_a_persons_records_go_out_in_order_while_others_flow(warehouse, tmp_path: Path) -> None:
    """Two cart writes for one person: the second waits for the answer to the first (a cart
    write replaces the cart); everyone else's go out meanwhile."""
    first_started = threading.Event()
    release = threading.Event()
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/users/getFields":
            return httpx.Response(200, json={"fields": {}})
        body = orjson.loads(request.content)
        who, count = body["user"]["email"], len(body["items"])
        with lock:
            seen.append((who, count))
        if who == "a@example.com" and count == 1:
            first_started.set()
            assert release.wait(60)
        return httpx.Response(200, json={"code": "Success", "msg": ""})

    two = {**ITEM, "quantity": 2}
    carts = {
        "cart:a-1": {"user": {"email": "a@example.com"}, "items": [ITEM]},
        "cart:a-2": {"user": {"email": "a@example.com"}, "items": [ITEM, two]},
        **{
            f"cart:b{i:02d}": {"user": {"email": f"b{i}@example.com"}, "items": [ITEM]}
            for i in range(12)
        },
    }
    warehouse.set_desired("carts", carts)
    settings = IterableSettings(
        api_key="unit-test-key-123",
        api_url="https://api.iterable.test",
        rate_scale=100.0,
        concurrency=2,
    )
    results: list[SyncResult] = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_sync(
                settings,
                warehouse.path,
                objects=["carts"],
                progress=False,
                transport=httpx.MockTransport(handler),
            )
        )
    )
    runner.start()
    try:
        assert first_started.wait(60)
        others = {f"b{i}@example.com" for i in range(12)}
        wait_for(lambda: others <= {who for who, _ in list(seen)}, "the other people's cart writes")
        # the person's second write has not gone out while the first is unanswered
        assert ("a@example.com", 2) not in seen
    finally:
        release.set()
        runner.join(timeout=60)
    [result] = results
    assert result.status == "succeeded", result.error_message
    mine = [count for who, count in seen if who == "a@example.com"]
    assert mine == [1, 2]


def test_kill_9_while_purchases_are_stalled_then_rerun(
    fresh_iterable: IterableEmulator, warehouse
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=20.0)
    n = 60
    warehouse.set_desired("purchases", {f"order-{i:03d}": purchase(i) for i in range(n)})
    # after 10 purchases, one request in five is held: the run is certainly mid-way, with
    # stalled requests on the wire and others answered, when it is killed
    emu.set_faults("commerce/trackPurchase:after=10,hold=0.2;*:seed=7")
    env = {
        **os.environ,
        **emu.env(),
        "CTSYNC_WAREHOUSE": str(warehouse.path),
        "SYNC__ITERABLE__TIMEOUT_SECONDS": "120",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ctsync")), "sync", "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def mid_run() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"ctsync exited ({proc.returncode}) before the kill")
            return emu.held() >= 2 and len(emu.purchases()) >= 20

        wait_for(mid_run, "stalled purchases while others are applied")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        emu.set_faults("")  # the held requests proceed (as a late answer would)
    assert proc.returncode == -signal.SIGKILL
    acknowledged = warehouse.scalar("select count(*) from ctsync.sync_ledger")
    assert acknowledged < n
    assert warehouse.scalar("select status from ctsync.sync_runs") == "running"

    settings = IterableSettings(api_key=emu.api_key, api_url=emu.api_url, rate_scale=20.0)
    rerun = run_sync(settings, warehouse.path, objects=["purchases"], progress=False)
    assert rerun.status == "succeeded", rerun.error_message
    # what was acknowledged is never sent again, the rest is (a request applied but not
    # acknowledged is sent again with its id: Iterable keeps one purchase per id)
    assert rerun.totals.sent == n - acknowledged
    assert sorted(p["id"] for p in emu.purchases()) == [f"order-{i:03d}" for i in range(n)]
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == n
    assert warehouse.changes("purchases") == []


def test_a_429_slows_only_its_endpoint_and_the_pace_recovers() -> None:
    answers = {"track_purchase": [429, 429, 200, 200], "update_cart": [200, 200, 200, 200]}
    paths = {
        "/api/commerce/trackPurchase": "track_purchase",
        "/api/commerce/updateCart": "update_cart",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers[paths[request.url.path]].pop(0)
        return httpx.Response(status, json={"code": "Success" if status == 200 else "RateLimit"})

    settings = IterableSettings(
        api_key="unit-test-key-123",
        api_url="https://api.iterable.test",
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.002,
        rate_limits={"track_purchase": 1000.0, "update_cart": 1000.0},
    )
    with IterableClient(settings, transport=httpx.MockTransport(handler)) as client:
        client.call("track_purchase", "POST", "/api/commerce/trackPurchase", {})
        slowed = client.limiters.get("track_purchase").current_rate
        assert slowed < 1000.0 / 2  # two 429s: halved twice, one success gave a little back
        client.call("update_cart", "POST", "/api/commerce/updateCart", {})
        assert client.limiters.get("update_cart").current_rate == 1000.0
        client.call("track_purchase", "POST", "/api/commerce/trackPurchase", {})
        assert client.limiters.get("track_purchase").current_rate > slowed


def test_single_record_endpoints_have_their_own_timeout() -> None:
    settings = IterableSettings(timeout_seconds=30.0, timeouts={"update_cart": 4.0})
    assert settings.timeout_for("track_purchase") == 10.0
    assert settings.timeout_for("update_cart") == 4.0
    assert settings.timeout_for("bulk_update") == 30.0
    assert IterableSettings(timeout_seconds=5.0).timeout_for("track_purchase") == 5.0


def test_a_stalled_purchase_is_abandoned_at_its_endpoints_timeout(
    fresh_iterable: IterableEmulator, warehouse
) -> None:
    """trackPurchase's own timeout (not the 120 s one of every other endpoint) abandons a
    request that never answers; it is sent again and the run completes."""
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=20.0)
    n = 10
    warehouse.set_desired("purchases", {f"order-{i:03d}": purchase(i) for i in range(n)})
    # the first trackPurchase is applied, then never answered (held 90 s, then dropped)
    emu.set_faults("commerce/trackPurchase:times=1,hang=1,hang_s=90")
    settings = IterableSettings(
        api_key=emu.api_key,
        api_url=emu.api_url,
        timeout_seconds=120.0,
        timeouts={"track_purchase": 1.0},
        backoff_base_seconds=0.01,
    )
    results: list[SyncResult] = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_sync(settings, warehouse.path, objects=["purchases"], progress=False)
        )
    )
    runner.start()
    # bounds a broken run only: with the 120 s timeout the run would still be waiting
    runner.join(timeout=60)
    try:
        assert not runner.is_alive(), "the stalled purchase was not abandoned at 1 s"
    finally:
        emu.set_faults("")
        runner.join(timeout=300)
    [result] = results
    assert result.status == "succeeded", result.error_message
    assert result.retries >= 1
    assert sorted(p["id"] for p in emu.purchases()) == [f"order-{i:03d}" for i in range(n)]
    assert warehouse.scalar("select count(*) from ctsync.sync_ledger") == n
