"""`ctsync compact`, and a job's compaction after its run: the warehouse file without its free
blocks, and nothing else changed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from ctsync.app.cli import app
from ctsync.app.jobs.runner import JobOptions, StageContext, run_job
from ctsync.core.lock import run_lock
from ctsync.core.warehouse import (
    CompactionSettings,
    compact,
    compaction_due,
    connect,
    free_bytes,
    load_compaction_settings,
)


def _warehouse_with_free_blocks(path: Path) -> None:
    """Audit tables (primary keys, a ZSTD column), a view over them, rows in the ledger, and
    a large table dropped again: its blocks stay in the file, free."""
    with connect(path) as con:
        con.execute(
            "insert into ctsync.sync_ledger select 'users', 'u' || i, 'upsert', md5(i::varchar), "
            "'{\"email\":\"u' || i || '@example.com\"}', 'run-1', timestamp '2026-01-01' "
            "from range(20000) t(i)"
        )
        con.execute(
            "insert into ctsync.sync_runs (run_id, trigger, mode, status, started_at) "
            "values ('run-1', 'test', 'incremental', 'succeeded', timestamp '2026-01-01')"
        )
        con.execute("create schema audit")
        con.execute(
            "create view audit.ledger_users as "
            "select record_key from ctsync.sync_ledger where object = 'users'"
        )
        con.execute(
            "create table main.scratch as select repeat('x', 200) || i as t from range(300000) r(i)"
        )
        con.execute("checkpoint")
        con.execute("drop table main.scratch")
        con.execute("checkpoint")


def _describe(path: Path) -> tuple[object, ...]:
    with duckdb.connect(str(path), read_only=True) as con:
        return (
            con.execute(
                "select count(*), min(payload), max(payload) from ctsync.sync_ledger"
            ).fetchall(),
            con.execute("select count(*) from audit.ledger_users").fetchall(),
            con.execute(
                "select table_name, sql from duckdb_tables() "
                "where schema_name = 'ctsync' order by 1"
            ).fetchall(),
            con.execute(
                "select table_name, constraint_type, constraint_column_names "
                "from duckdb_constraints() order by all"
            ).fetchall(),
        )


def test_compact_drops_free_blocks_and_keeps_rows_views_keys_and_compression(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "shop.duckdb"
    _warehouse_with_free_blocks(warehouse)
    free, total = free_bytes(warehouse)
    assert free > total // 2, (free, total)
    before = _describe(warehouse)
    (tmp_path / "shop.duckdb.compact").write_text("left by a crashed compaction")

    done = compact(warehouse)

    assert done.after_bytes < done.before_bytes - free // 2, done
    assert free_bytes(warehouse)[0] < free // 10
    assert _describe(warehouse) == before
    assert not (tmp_path / "shop.duckdb.compact").exists()
    with duckdb.connect(str(warehouse)) as con:
        assert "payload VARCHAR USING COMPRESSION ZSTD" in str(before[2])
        segments = con.execute(
            "select distinct compression from pragma_storage_info('ctsync.sync_ledger') "
            "where column_name = 'payload' and segment_type = 'VARCHAR'"
        ).fetchall()
        assert segments == [("ZSTD",)]
        with pytest.raises(duckdb.ConstraintException):  # a primary key still holds
            con.execute(
                "insert into ctsync.sync_runs (run_id, trigger, mode, status, started_at) "
                "values ('run-1', 'test', 'full', 'failed', timestamp '2026-01-02')"
            )


def test_the_command_waits_for_no_one_and_reports_the_sizes(tmp_path: Path) -> None:
    warehouse = tmp_path / "shop.duckdb"
    _warehouse_with_free_blocks(warehouse)
    runner = CliRunner()

    with run_lock(warehouse, "ctsync run"):
        held = runner.invoke(app, ["compact", "--warehouse", str(warehouse)])
    assert held.exit_code == 3, held.output
    assert free_bytes(warehouse)[0] > 0  # untouched while another run held the lock

    result = runner.invoke(app, ["compact", "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    assert "compacted" in result.output and "MB ->" in result.output
    assert free_bytes(warehouse)[0] == 0

    missing = runner.invoke(app, ["compact", "--warehouse", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 1


# -- a job compacts after its run when the free blocks are due ------------------------------


def _stages(leave_free: bool) -> dict[str, Any]:
    """Stand-in stages (our own code): the dbt stage writes a large table and drops it, as a
    full rebuild of a model does, so its blocks are free when the run ends."""

    def ingest(context: StageContext) -> tuple[str, str, Any]:
        return "succeeded", "ingest done", None

    def dbt(context: StageContext) -> tuple[str, str, Any]:
        with connect(context.warehouse) as con:
            con.execute(
                "create or replace table main.model as "
                "select 'row ' || i as id from range(1000) t(i)"
            )
            if leave_free:
                con.execute(
                    "create table main.rebuilt as "
                    "select repeat('x', 200) || i as t from range(300000) r(i)"
                )
                con.execute("checkpoint")
                con.execute("drop table main.rebuilt")
                con.execute("checkpoint")
        return "succeeded", "dbt done", None

    def sync(context: StageContext) -> tuple[str, str, Any]:
        return "succeeded", "planned 0", None

    return {"ingest": ingest, "dbt": dbt, "sync": sync}


def _stage_rows(warehouse: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select stage, status, detail from ctsync.sync_run_stages order by started_at"
        ).fetchall()


def test_a_run_that_leaves_free_blocks_compacts_the_warehouse_under_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE__COMPACT_MIN_FREE_MB", "1")
    warehouse = tmp_path / "shop.duckdb"
    console = Console(file=io.StringIO(), width=120)

    report = run_job(JobOptions(), warehouse=warehouse, stages=_stages(True), console=console)

    assert report.status == "succeeded"
    assert [s.name for s in report.stages] == ["ingest", "dbt", "sync", "compact"]
    compact_stage = report.stage("compact")
    assert compact_stage.status == "succeeded", compact_stage.detail
    assert compact_stage.result.after_bytes < compact_stage.result.before_bytes // 2
    free, total = free_bytes(warehouse)
    assert free < total // 10, (free, total)
    rows = _stage_rows(warehouse)
    assert [r[:2] for r in rows] == [
        ("ingest", "succeeded"),
        ("dbt", "succeeded"),
        ("sync", "succeeded"),
        ("compact", "succeeded"),
    ]
    assert "MB ->" in rows[-1][2]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main.model").fetchone() == (1000,)
        assert con.execute("select status from ctsync.sync_runs").fetchall() == [("succeeded",)]

    # the next run finds the file compact: nothing to do, no stage
    again = run_job(JobOptions(), warehouse=warehouse, stages=_stages(False), console=console)
    assert [s.name for s in again.stages] == ["ingest", "dbt", "sync"]


@pytest.mark.parametrize(
    ("env", "options"),
    [
        ({"WAREHOUSE__COMPACT_MIN_FREE_MB": "100000"}, JobOptions()),  # too little to be worth it
        ({"WAREHOUSE__COMPACT_FREE_SHARE": "0.99"}, JobOptions()),
        (
            {"WAREHOUSE__COMPACT_MIN_FREE_MB": "1", "WAREHOUSE__AUTO_COMPACT": "false"},
            JobOptions(),
        ),
        ({"WAREHOUSE__COMPACT_MIN_FREE_MB": "1"}, JobOptions(dry_run=True)),
    ],
)
def test_no_compaction_below_the_thresholds_when_switched_off_or_in_a_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], options: JobOptions
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "shop.duckdb"

    report = run_job(
        options, warehouse=warehouse, stages=_stages(True), console=Console(file=io.StringIO())
    )

    assert "compact" not in [s.name for s in report.stages]
    assert "compact" not in [r[0] for r in _stage_rows(warehouse)]
    free, total = free_bytes(warehouse)
    assert free > total // 2, (free, total)  # the dropped table's blocks are still there


def test_compaction_due_and_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = CompactionSettings(free_share=0.15, min_free_mb=64)
    assert compaction_due(200_000_000, 1_000_000_000, settings)
    assert not compaction_due(140_000_000, 1_000_000_000, settings)  # 14 % of the file
    assert not compaction_due(60_000_000, 100_000_000, settings)  # 60 %, but only 60 MB
    assert not compaction_due(0, 0, settings)
    assert not compaction_due(200_000_000, 1_000_000_000, CompactionSettings(auto_compact=False))

    assert load_compaction_settings() == CompactionSettings()
    monkeypatch.setenv("WAREHOUSE__COMPACT_FREE_SHARE", "0.3")
    monkeypatch.setenv("WAREHOUSE__COMPACT_MIN_FREE_MB", "10")
    monkeypatch.setenv("WAREHOUSE__AUTO_COMPACT", "off")
    assert load_compaction_settings() == CompactionSettings(False, 0.3, 10.0)
    for name, value, message in (
        ("WAREHOUSE__COMPACT_FREE_SHARE", "1.5", "between 0 and 1"),
        ("WAREHOUSE__COMPACT_MIN_FREE_MB", "lots", "must be a number"),
        ("WAREHOUSE__AUTO_COMPACT", "maybe", "true or false"),
    ):
        with monkeypatch.context() as patched:
            patched.setenv(name, value)
            with pytest.raises(ValueError, match=message):
                load_compaction_settings()
