"""`ctsync run` end to end: real commercetools sandbox → dlt → DuckDB → dbt → Iterable emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox.commercetools.launcher import CommercetoolsSandbox
from sandbox.commercetools.seeder import apply_changes, seed
from sandbox.iterable.emulator import IterableEmulator
from sync.lock import run_lock

CTSYNC = Path(sys.executable).parent / "ctsync"
CONFIG_PREFIXES = ("SOURCES__COMMERCETOOLS__", "SYNC__ITERABLE__", "CTSYNC_")

pytestmark = pytest.mark.slow


def ctsync(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    return subprocess.run(
        [str(CTSYNC), *args],
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_run_twice_sends_everything_then_only_the_changes(
    fresh_commercetools: CommercetoolsSandbox, fresh_iterable: IterableEmulator, tmp_path: Path
) -> None:
    sandbox, emulator = fresh_commercetools, fresh_iterable
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**sandbox.env(), **emulator.env(), "CTSYNC_WAREHOUSE": str(warehouse)}
    seeded = seed(
        sandbox.api_url,
        sandbox.auth_url,
        sandbox.project_key,
        sandbox.client_id,
        sandbox.client_secret,
        customers=30,
        seed=7,
    )

    first = ctsync(env, tmp_path, "run", "--no-progress")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    [(run_id, trigger, status, sent)] = query(
        warehouse, "select run_id, trigger, status, sent_count from ctsync.sync_runs"
    )
    assert trigger == "manual" and status in ("succeeded", "succeeded_with_rejections")
    assert query(
        warehouse,
        "select stage, status from ctsync.sync_run_stages where run_id = ? order by started_at",
        [run_id],
    ) == [
        ("ingest", "succeeded"),
        ("dbt", "succeeded"),
        ("sync", "succeeded" if status == "succeeded" else status),
    ]
    assert query(warehouse, "select count(distinct run_id) from ctsync.sync_changelog") == [(1,)]
    users_in_iterable = len(emulator.users())
    assert users_in_iterable >= seeded.customers - seeded.customers_malformed_email - 5
    assert len(emulator.purchases()) > 0
    assert run_id[:8] in first.stdout and "records per Iterable object" in first.stdout

    changes = apply_changes(
        sandbox.api_url,
        sandbox.auth_url,
        sandbox.project_key,
        sandbox.client_id,
        sandbox.client_secret,
        fraction=0.1,
        seed=3,
    )
    assert changes.total > 0
    second = ctsync(env, tmp_path, "run", "--no-progress")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    [(second_id, second_sent)] = query(
        warehouse, "select run_id, sent_count from ctsync.sync_runs where run_id <> ?", [run_id]
    )
    assert 0 < second_sent < sent / 2
    # Every user the second run touched was changed in commercetools (directly or by an order).
    touched = {
        key
        for (key,) in query(
            warehouse,
            "select record_key from ctsync.sync_changelog where run_id = ? and object = 'users'",
            [second_id],
        )
    }
    assert touched, "the changed emails/consent should reach Iterable"
    assert len(touched) <= len(changes.email_changed) + len(changes.consent_changed) + len(
        changes.customers_deleted
    ) + len(changes.order_state_changed) + len(changes.returns_added)
    deleted = set(changes.customers_deleted)
    with sandbox.client() as api:
        new_emails = [
            api.get(f"/customers/{customer_id}").json()["email"]
            for customer_id in changes.email_changed
            if customer_id not in deleted
        ]
    assert new_emails
    assert any(emulator.user(email=email) is not None for email in new_emails)

    # Nothing changed since: a dry run plans zero records and sends nothing.
    requests_before = sum(sum(v.values()) for v in emulator.counters().values())
    plan = ctsync(env, tmp_path, "run", "--no-progress", "--dry-run")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    assert "would send 0" in plan.stdout.replace("\n", " ") or "would send 0" in plan.stderr
    requests_after = sum(sum(v.values()) for v in emulator.counters().values())
    assert requests_after - requests_before <= 1  # at most the field-type lookup


def test_run_refuses_when_another_run_holds_the_lock(
    commercetools_sandbox: CommercetoolsSandbox, iterable_emulator: IterableEmulator, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        **commercetools_sandbox.env(),
        **iterable_emulator.env(),
        "CTSYNC_WAREHOUSE": str(warehouse),
    }
    with run_lock(warehouse):
        result = ctsync(env, tmp_path, "run", "--no-progress")
    assert result.returncode == 3
    assert "holds the lock" in result.stderr


def test_run_without_configuration_fails_before_ingesting(tmp_path: Path) -> None:
    result = ctsync({"CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb")}, tmp_path, "run")
    assert result.returncode == 1
    assert "configuration error" in result.stderr
    assert "SYNC__ITERABLE__API_KEY" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    env = {"CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb")}
    assert ctsync(env, tmp_path, "run", "--objects", "unicorns").returncode == 2
    assert ctsync(env, tmp_path, "run", "--resources", "unicorns").returncode == 2
    bad_every = ctsync(env, tmp_path, "schedule", "--every", "soon")
    assert bad_every.returncode == 2 and "--every" in bad_every.stderr
    bad_cron = ctsync(env, tmp_path, "schedule", "--cron", "every minute")
    assert bad_cron.returncode == 2 and "cron" in bad_cron.stderr
    no_token = ctsync(env, tmp_path, "serve", "--port", "0")
    assert no_token.returncode == 2 and "SYNC__RECEIVER__TOKEN" in no_token.stderr
