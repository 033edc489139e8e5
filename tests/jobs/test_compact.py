"""`ctsync compact`: the warehouse file without its free blocks, and nothing else changed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ctsync.app.cli import app
from ctsync.core.lock import run_lock
from ctsync.core.warehouse import compact, connect, free_bytes


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
