"""Fixtures for the jobs tests: a warehouse holding a small, known audit history."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ctsync.core.names import PROJECT_TYPES
from ctsync.core.warehouse import ensure_audit_tables

BASE = datetime(2026, 11, 20, 8, 0, 0)
HOSTILE_REASON = "<script>document.title='pwned'</script>"


@pytest.fixture(params=PROJECT_TYPES)
def project_type(request: pytest.FixtureRequest) -> str:
    """Each Iterable project type in turn (the tests that use it run once per type)."""
    return str(request.param)


@pytest.fixture
def hostile_reason() -> str:
    """A reason code that would run script if the report did not escape it."""
    return HOSTILE_REASON


@pytest.fixture
def audit_warehouse(tmp_path: Path) -> Path:
    """Three runs (succeeded, failed in dbt, partial), changelog rows with known latencies,
    open and resolved rejections, and ledger rows."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    ensure_audit_tables(con)
    runs = [
        ("run-aaaa-1", "schedule", "incremental", "succeeded", 0, 40, 5, 5, 5, 0),
        ("run-bbbb-2", "event", "incremental", "failed", 1, 3, 0, 0, 0, 0),
        ("run-cccc-3", "manual", "incremental", "partial", 2, 25, 6, 6, 3, 3),
    ]
    for run_id, trigger, mode, status, hour, seconds, planned, sent, ok, rejected in runs:
        started = BASE + timedelta(hours=hour)
        con.execute(
            "insert into ctsync.sync_runs values (?, ?, ?, null, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            [
                run_id,
                trigger,
                mode,
                status,
                started,
                started + timedelta(seconds=seconds),
                planned,
                sent,
                ok,
                rejected,
                "dbt failed: model x" if status == "failed" else None,
            ],
        )
        for i, stage in enumerate(("ingest", "dbt", "sync")):
            stage_status = "failed" if (status == "failed" and stage == "dbt") else "succeeded"
            if status == "failed" and stage == "sync":
                continue
            con.execute(
                "insert into ctsync.sync_run_stages values (?, ?, ?, ?, ?, null)",
                [
                    run_id,
                    stage,
                    stage_status,
                    started + timedelta(seconds=i),
                    started + timedelta(seconds=i + 1),
                ],
            )
    latencies = [1.5, 2.5, 4.0, 8.0, 20.0]
    for i, latency in enumerate(latencies):
        attempted = BASE + timedelta(minutes=i)
        con.execute(
            "insert into ctsync.sync_changelog values (?, 'run-aaaa-1', ?, ?, 'upsert', ?, 'h', "
            "'bulk_update', 200, 'succeeded', null, ?, ?)",
            [
                f"c{i}",
                "users" if i < 3 else "purchases",
                f"key-{i}",
                f"idem-{i}",
                attempted - timedelta(seconds=latency),
                attempted,
            ],
        )
        con.execute(
            "insert into ctsync.sync_ledger values (?, ?, 'upsert', 'h', '{}', 'run-aaaa-1', ?)",
            ["users" if i < 3 else "purchases", f"key-{i}", attempted],
        )
    for i, (obj, reason, resolved) in enumerate(
        [
            ("users", "invalid_email", None),
            ("users", "invalid_email", None),
            ("events", HOSTILE_REASON, None),
            ("users", "invalid_email", BASE),
        ]
    ):
        con.execute(
            "insert into ctsync.sync_changelog values (?, 'run-cccc-3', ?, ?, 'upsert', null, "
            "'h', 'bulk_update', 400, 'rejected', ?, null, ?)",
            [f"r{i}", obj, f"bad-{i}", reason, BASE + timedelta(hours=2)],
        )
        con.execute(
            "insert into ctsync.sync_rejections values (?, ?, ?, 'detail', '{}', 'h', 1, ?, ?, "
            "'run-cccc-3', null, ?)",
            [obj, f"bad-{i}", reason, BASE, BASE + timedelta(hours=2), resolved],
        )
    con.close()
    return path
