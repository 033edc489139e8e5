"""What the dbt stage of an incremental run plans to build, decided on a real DuckDB file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from ctsync.app.jobs import selection
from ctsync.app.jobs.selection import IngestChanges, plan_build, record_build
from ctsync.core.warehouse import ensure_audit_tables

FINGERPRINT = "project-1"
NOON = datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """After one successful full build: one sync has run, one cart turns abandoned at noon."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_audit_tables(con)
        con.execute(
            "insert into ctsync.sync_runs (run_id, trigger, mode, status, started_at) "
            "values ('r0', 'manual', 'incremental', 'succeeded', '2026-11-30 08:00')"
        )
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_carts__enriched as select true as is_open_with_items, "
            "false as is_abandoned, timestamp '2026-12-01 12:00' as abandoned_at"
        )
        con.execute("create schema raw_commercetools")
        con.execute("create table raw_commercetools._dlt_loads (load_id varchar)")
        con.execute("insert into raw_commercetools._dlt_loads values ('1700000000.1')")
    first = plan_build(path, FINGERPRINT, IngestChanges(["customers"], ["1700000000.1"]))
    assert (first.kind, first.reason) == ("full", "full build: first build of this warehouse")
    record_build(path, "r1", first, True, 1.0)
    return path


def test_nothing_changed_builds_nothing(warehouse: Path) -> None:
    plan = plan_build(warehouse, FINGERPRINT, IngestChanges(), now=NOON.replace(hour=11))
    assert (plan.kind, plan.select) == ("none", [])


def test_changed_tables_select_their_models_and_child_tables(warehouse: Path) -> None:
    plan = plan_build(
        warehouse, FINGERPRINT, IngestChanges(["customers"]), now=NOON.replace(hour=11)
    )
    assert plan.kind == "selective"
    # and the lists of what changed, which incremental models read: always recomputed
    assert plan.select == [
        "source:commercetools.customers+",
        "source:commercetools.customers__*+",
        selection.CHANGE_LISTS,
    ]
    # views depend on the project and the raw columns, not on rows: left as they are
    # as are the data tests of the whole base (full builds run them)
    assert (plan.exclude, plan.full_refresh) == (
        [*selection.VIEWS, selection.FULL_BUILD_ONLY],
        False,
    )
    assert "config.materialized:view,path:models/staging" in plan.exclude


def test_a_new_raw_column_re_creates_the_views(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        # dlt records every schema change (a new column or child table) as a new version
        con.execute(
            "create table raw_commercetools._dlt_version as "
            "select 2 as version, timestamp '2026-12-01 11:00' as inserted_at"
        )
    plan = plan_build(
        warehouse, FINGERPRINT, IngestChanges(["customers"]), now=NOON.replace(hour=11)
    )
    assert plan.kind == "selective" and plan.exclude == [selection.FULL_BUILD_ONLY], plan
    assert "a raw schema changed" in plan.reason


def test_the_clock_passing_a_carts_abandonment_rebuilds_the_carts(warehouse: Path) -> None:
    plan = plan_build(warehouse, FINGERPRINT, IngestChanges(), now=NOON)
    assert (plan.kind, plan.select) == (
        "selective",
        ["int_carts__enriched+", selection.CHANGE_LISTS],
    )


def test_a_sync_writing_the_ledger_rebuilds_what_reads_it(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into ctsync.sync_ledger values "
            "('users', 'c1', 'upsert', 'h', null, 'r2', '2026-12-01 10:00')"
        )
    plan = plan_build(warehouse, FINGERPRINT, IngestChanges(), now=NOON.replace(hour=11))
    assert plan.select == [
        "source:ctsync.sync_ledger+",
        selection.CHANGE_LISTS,
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("project", "full build: the dbt project or its vars changed"),
        ("failed", "full build: the last build did not succeed"),
        ("loaded", "full build: commercetools data was loaded outside a job since"),
        ("unknown", "full build: what the ingest changed is unknown"),
    ],
)
def test_what_a_selection_cannot_know_builds_everything(
    warehouse: Path, change: str, reason: str
) -> None:
    fingerprint, changes = FINGERPRINT, IngestChanges(["customers"], ["1700000002.1"])
    if change == "project":
        fingerprint = "project-2"
    elif change == "failed":
        failed = plan_build(warehouse, FINGERPRINT, IngestChanges(), now=NOON.replace(hour=11))
        record_build(warehouse, "r2", failed, False, 1.0)
    with duckdb.connect(str(warehouse)) as con:
        # this job's own load, and (for "loaded") one by a `ctsync ingest` in between
        con.execute("insert into raw_commercetools._dlt_loads values ('1700000002.1')")
        if change == "loaded":
            con.execute("insert into raw_commercetools._dlt_loads values ('1700000001.5')")
    plan = plan_build(
        warehouse, fingerprint, None if change == "unknown" else changes, now=NOON.replace(hour=11)
    )
    assert (plan.kind, plan.reason) == ("full", reason)
    assert plan.exclude == []
    # incremental models keep rows the old logic built unless a project change refreshes them
    assert plan.full_refresh is (change == "project")
