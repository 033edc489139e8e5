"""The commercetools seeder when things go wrong (throttling, expired tokens, 500s, wrong
credentials, bad arguments), and the `ctsync sandbox commercetools` command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seeder import SeedError, apply_changes, seed

from ._seeding import fetch_all

pytestmark = pytest.mark.slow


# -- failure behaviour ---------------------------------------------------------------------


def test_seeding_rides_out_throttling_and_overload(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    ct.set_faults(status_429=0.05, status_503=0.05, retry_after_seconds=0, seed=3)
    summary = ct.seed(customers=25, seed=5)
    ct.clear_faults()
    assert summary.retries > 0
    with ct.client() as client:
        assert len(fetch_all(client, "customers")) == summary.customers == 25
        assert len(fetch_all(client, "orders")) == summary.orders


def test_an_expired_token_is_reminted(fresh_commercetools: CommercetoolsSandbox) -> None:
    ct = fresh_commercetools
    ct.reset_stats()
    ct.set_faults(sequence=[401])  # the first API request finds its token rejected
    summary = ct.seed(customers=12, seed=6)
    assert ct.stats()["tokens_issued"] == 2
    with ct.client() as client:
        assert len(fetch_all(client, "customers")) == summary.customers

    ct.reset()
    ct.set_faults(sequence=[401, 401])  # a fresh token refused too: give up, say why
    with pytest.raises(SeedError, match="HTTP 401"):
        ct.seed(customers=2, seed=6)


def test_writes_are_not_resent_after_a_500_but_reads_are(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    ct.set_faults(sequence=[500], paths=f"^/{ct.project_key}/carts$")  # only ever POSTed
    with pytest.raises(SeedError, match=r"customer cust-\d+ .*POST /carts .*HTTP 500"):
        ct.seed(customers=4, seed=2)
    ct.reset()
    ct.seed(customers=4, seed=2)
    ct.set_faults(sequence=[500, 504], paths=f"^/{ct.project_key}/customers$")
    changes = ct.apply_changes(fraction=0.25, seed=2)  # starts with GET /customers
    assert changes.email_changed
    assert ct.faults()["sequence"] == []


def test_seeding_twice_is_refused_with_a_clear_error(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    fresh_commercetools.seed(customers=3, seed=1)
    with pytest.raises(SeedError, match="already holds stores: seed an empty project"):
        fresh_commercetools.seed(customers=3, seed=1)


def test_wrong_credentials_fail_without_revealing_the_secret(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    ct = fresh_commercetools
    secret = "wrong-secret-a1b2c3d4e5"
    with pytest.raises(SeedError) as caught:
        seed(ct.api_url, ct.auth_url, ct.project_key, ct.client_id, secret, customers=2)
    assert "oauth/token" in str(caught.value) and "401" in str(caught.value)
    assert secret not in str(caught.value) and ct.client_secret not in str(caught.value)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(SeedError, match="customers must be at least 1"):
        seed("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", customers=0)
    with pytest.raises(SeedError, match="concurrency must be at least 1"):
        seed("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", concurrency=0)
    with pytest.raises(SeedError, match="fraction"):
        apply_changes("http://127.0.0.1:9", "http://127.0.0.1:9", "p", "i", "s", fraction=0)


# -- the command ---------------------------------------------------------------------------


def test_cli_seeds_prints_exports_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ctsync.app.cli import main; main()",
            "sandbox",
            "commercetools",
            "--customers",
            "6",
            "--seed",
            "4",
            "--project-key",
            "cli-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while len(exports) < 5 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = value
        assert set(exports) == {
            "SOURCES__COMMERCETOOLS__PROJECT_KEY",
            "SOURCES__COMMERCETOOLS__API_URL",
            "SOURCES__COMMERCETOOLS__AUTH_URL",
            "SOURCES__COMMERCETOOLS__CLIENT_ID",
            "SOURCES__COMMERCETOOLS__CLIENT_SECRET",
        }
        assert exports["SOURCES__COMMERCETOOLS__PROJECT_KEY"] == "cli-test"
        token = httpx.post(
            exports["SOURCES__COMMERCETOOLS__AUTH_URL"] + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(
                exports["SOURCES__COMMERCETOOLS__CLIENT_ID"],
                exports["SOURCES__COMMERCETOOLS__CLIENT_SECRET"],
            ),
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"{exports['SOURCES__COMMERCETOOLS__API_URL']}/cli-test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            assert len(fetch_all(client, "customers")) == 6
            assert fetch_all(client, "orders")
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("node" in child.name() for child in children)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, "the node server outlived the command"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
