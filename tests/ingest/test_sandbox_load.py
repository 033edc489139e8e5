"""Full loads against the commercetools sandbox over HTTP, seeded by the seeder.

One seeded project serves every test of this module (they only read from it); faults set
by a test are cleared in ``finally``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from ctsync.app.cli import app
from ctsync.ingest.commercetools import schema
from ctsync.ingest.commercetools.source import CommercetoolsSettings, load_settings
from ctsync.ingest.pipeline import IngestError, make_pipeline, run_ingest
from ctsync.sandbox.commercetools.seeder import SeedSummary, seed

pytestmark = pytest.mark.slow

CUSTOMERS = 40


@pytest.fixture(scope="module")
def seeded(commercetools_sandbox) -> Iterator[tuple[Any, SeedSummary]]:
    ct = commercetools_sandbox
    ct.reset()
    summary = seed(
        ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret,
        customers=CUSTOMERS, seed=7,
    )  # fmt: skip
    yield ct, summary
    ct.clear_faults()


def _settings(ct: Any, **overrides: Any) -> CommercetoolsSettings:
    connection = {
        "project_key": ct.project_key,
        "client_id": ct.client_id,
        "client_secret": ct.client_secret,
        "api_url": ct.api_url,
        "auth_url": ct.auth_url,
    }
    return load_settings(**{**connection, **overrides})


def _counts(warehouse: Path) -> dict[str, int]:
    """Rows per raw table that exists; fails on duplicate ids."""
    counts = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        existing = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw_commercetools'"
            ).fetchall()
        }
        for name in schema.RESOURCE_NAMES:
            if name in existing:
                row = con.execute(
                    f"select count(*), count(distinct id) from raw_commercetools.{name}"
                ).fetchone()
                assert row is not None and row[0] == row[1], f"duplicate ids in {name}"
                counts[name] = row[0]
    return counts


def _server_total(ct: Any, path: str) -> int:
    with ct.client() as http:
        response = http.get(path, params={"limit": 1, "withTotal": "true"})
        response.raise_for_status()
        return int(response.json()["total"])


def test_full_load_counts_equal_the_seeded_counts(seeded, tmp_path: Path) -> None:
    ct, seeded_summary = seeded
    ct.reset_stats()
    warehouse = tmp_path / "wh.duckdb"
    summary = run_ingest(warehouse=warehouse, settings=_settings(ct))

    expected = {
        "customers": seeded_summary.customers,
        "orders": seeded_summary.orders,
        "carts": seeded_summary.carts,
        "products": seeded_summary.products,
        "categories": seeded_summary.categories,
        "customer_groups": seeded_summary.customer_groups,
        "stores": seeded_summary.stores,
        "types": seeded_summary.types,
        "messages": _server_total(ct, "messages"),
    }
    assert _counts(warehouse) == expected
    for name, count in expected.items():
        resource = summary.resource(name)
        assert (resource.fetched, resource.new, resource.updated, resource.total) == (
            count, count, 0, count,
        ), name  # fmt: skip
    with duckdb.connect(str(warehouse), read_only=True) as con:
        lines = con.execute("select count(*) from raw_commercetools.orders__line_items")
        assert lines.fetchone() == (seeded_summary.order_lines,)
        opted_in = con.execute(
            "select count(*) from raw_commercetools.customers where custom__fields__email_opt_in"
        ).fetchone()
        assert opted_in == (seeded_summary.customers_opted_in,)
    stats = ct.stats()
    assert stats["max_offset"] in (None, 0)
    assert stats["max_limit"] == 500


def test_a_second_run_without_changes_writes_nothing_new(seeded, tmp_path: Path) -> None:
    ct, _ = seeded
    warehouse = tmp_path / "wh.duckdb"
    settings = _settings(ct, lookback_seconds=0)
    run_ingest(warehouse=warehouse, settings=settings, resources=["customers", "orders"])
    again = run_ingest(warehouse=warehouse, settings=settings, resources=["customers", "orders"])
    for name in ("customers", "orders"):
        resource = again.resource(name)
        assert resource.new == 0 and resource.updated == 0 and resource.removed == 0
        # only rows sharing the previous cursor's timestamp are re-read
        assert resource.fetched < 5
    # A look-back window re-reads rows; their unchanged version keeps them out of "updated".
    wide = run_ingest(
        warehouse=warehouse, settings=_settings(ct, lookback_seconds=10 * 365 * 86400),
        resources=["customers"],
    )  # fmt: skip
    customers = wide.resource("customers")
    assert customers.fetched == customers.total
    assert customers.new == 0 and customers.updated == 0
    assert 0 < customers.unchanged <= customers.fetched
    # The cursor travels with the warehouse: a fresh pipelines folder restores it from DuckDB.
    fresh = run_ingest(
        warehouse=warehouse, settings=settings, resources=["customers"],
        pipelines_dir=tmp_path / "elsewhere",
    )  # fmt: skip
    assert fresh.resource("customers").fetched < 5


def test_injected_429_and_503_are_retried(seeded, tmp_path: Path) -> None:
    ct, seeded_summary = seeded
    ct.reset_stats()
    ct.set_faults(status_429=0.2, status_503=0.2, retry_after_seconds=0, seed=5)
    try:
        summary = run_ingest(
            warehouse=tmp_path / "wh.duckdb",
            settings=_settings(ct, backoff_base=0.02, max_attempts=10, page_size=25),
            resources=["customers", "orders"],
        )
    finally:
        ct.clear_faults()
    stats = ct.stats()
    injected = stats["faults_injected"]
    assert injected.get("429", 0) > 0 and injected.get("503", 0) > 0
    assert summary.retries == sum(injected.values())
    counts = _counts(tmp_path / "wh.duckdb")
    assert counts["customers"] == seeded_summary.customers
    assert counts["orders"] == seeded_summary.orders


def test_an_expired_token_is_reminted(seeded, tmp_path: Path) -> None:
    ct, seeded_summary = seeded
    settings = _settings(ct, page_size=50)
    client = settings.client()
    client.token()  # a long-lived token, as a real run starts with
    ct.reset_stats()
    ct.set_faults(token_ttl_seconds=1)
    try:
        time.sleep(1.2)
        run_ingest(
            warehouse=tmp_path / "wh.duckdb", settings=settings, client=client,
            resources=["customers"],
        )  # fmt: skip
    finally:
        ct.clear_faults()
        client.close()
    assert ct.stats()["expired_token_rejections"] >= 1
    assert client.stats.reauthentications >= 1
    assert _counts(tmp_path / "wh.duckdb")["customers"] == seeded_summary.customers


def test_the_client_secret_reaches_no_log_trace_error_or_file(
    seeded, tmp_path: Path, caplog, capfd
) -> None:
    ct, _ = seeded
    caplog.set_level(logging.DEBUG)
    warehouse = tmp_path / "wh.duckdb"
    settings = _settings(ct)
    ct.set_faults(status_503=0.3, seed=3)
    try:
        run_ingest(
            warehouse=warehouse, settings=_settings(ct, backoff_base=0.01, max_attempts=10),
            resources=["customers", "messages"],
        )  # fmt: skip
    finally:
        ct.clear_faults()
    trace = make_pipeline(warehouse).last_trace
    assert trace is not None
    with pytest.raises(IngestError) as wrong:
        run_ingest(
            warehouse=warehouse,
            settings=_settings(ct, client_secret=ct.client_secret[::-1]),
            resources=["customers"],
        )
    secret = settings.client_secret
    texts = {
        "logs": caplog.text,
        "captured output": "".join(capfd.readouterr()),
        "trace": json.dumps(trace.asdict(), default=str) + str(trace),
        "error": str(wrong.value) + repr(wrong.value),
        "settings": repr(settings),
    }
    assert "503" in caplog.text  # the retries were logged, so the logs were really captured
    assert "refused the client credentials" in texts["error"]
    for where, text in texts.items():
        assert secret not in text, where
        assert ct.client_secret[::-1] not in text, where
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_cli_ingest_prints_a_summary_and_fails_cleanly(seeded, tmp_path: Path, monkeypatch) -> None:
    ct, seeded_summary = seeded
    for key, value in ct.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CTSYNC_WAREHOUSE", str(tmp_path / "cli.duckdb"))
    runner = CliRunner()
    ok = runner.invoke(app, ["ingest", "--resources", "customers,stores"])
    assert ok.exit_code == 0, ok.output
    assert "customers" in ok.output and "stores" in ok.output
    assert f"{seeded_summary.customers:,}" in ok.output
    assert _counts_of(tmp_path / "cli.duckdb", "stores") == seeded_summary.stores

    again = runner.invoke(app, ["ingest", "--resources", "stores", "--full-refresh"])
    assert again.exit_code == 0, again.output
    assert "full refresh" in again.output
    assert _counts_of(tmp_path / "cli.duckdb", "stores") == seeded_summary.stores

    usage = runner.invoke(app, ["ingest", "--resources", "customers,payments"])
    assert usage.exit_code == 2 and "payments" in usage.output

    monkeypatch.setenv("SOURCES__COMMERCETOOLS__CLIENT_SECRET", "wrong-" + ct.client_secret)
    denied = runner.invoke(app, ["ingest", "--resources", "customers"])
    assert denied.exit_code == 1
    assert "refused the client credentials" in denied.output
    assert ct.client_secret not in denied.output

    monkeypatch.setenv("SOURCES__COMMERCETOOLS__CLIENT_SECRET", ct.client_secret)
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__BACKOFF_BASE", "0.01")
    unreachable = runner.invoke(app, ["ingest", "--resources", "customers"])
    assert unreachable.exit_code == 1
    assert "unreachable" in unreachable.output and "ConnectError" in unreachable.output
    assert ct.client_secret not in unreachable.output


def _counts_of(warehouse: Path, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(f"select count(*) from raw_commercetools.{table}").fetchone()
    return int(row[0]) if row else 0
