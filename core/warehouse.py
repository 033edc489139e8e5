"""The warehouse, seen from the sync: one small interface over the DuckDB file.

The audit/state tables are defined once, in ``macros/ctsync_audit_tables.sql``; this module
renders that dbt macro (``ctsync.core.dbt_sql``) so dbt and the sync can never disagree on a column.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ctsync.core.config import WAREHOUSE_ENV, audit_schema
from ctsync.core.dbt_sql import render

DEFAULT_WAREHOUSE = "warehouse.duckdb"


def warehouse_path() -> Path:
    """Path of the DuckDB file: ``CTSYNC_WAREHOUSE`` or ``warehouse.duckdb`` in the cwd."""
    return Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE).resolve()


def audit_ddl() -> tuple[str, ...]:
    """The audit DDL statements, in the configured audit schema."""
    return _audit_ddl(audit_schema())


@functools.cache
def _audit_ddl(schema: str) -> tuple[str, ...]:
    """Rendered from the dbt macro once per process and schema."""
    sql = render("{{ ctsync_audit_ddl(schema) }}", schema=schema)
    return tuple(statement.strip() for statement in sql.split(";") if statement.strip())


def ensure_audit_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in audit_ddl():
        con.execute(statement)
    drop_ledger_index(con)


def drop_ledger_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Re-create a ledger that still has the primary key of earlier versions without it
    (macros/ctsync_audit_tables.sql says why), keeping every row, in one transaction. True
    when it did; a ledger without the key costs one catalog lookup."""
    schema = audit_schema()
    row = con.execute(
        "select count(*) from duckdb_constraints() where database_name = current_database() "
        "and schema_name = ? and table_name = 'sync_ledger' and constraint_type = 'PRIMARY KEY'",
        [schema],
    ).fetchone()
    if not row or not row[0]:
        return False
    [ddl] = [statement for statement in audit_ddl() if f"{schema}.sync_ledger (" in statement]
    columns = "object, record_key, operation, payload_hash, payload, run_id, acknowledged_at"
    con.execute("begin transaction")
    try:
        con.execute(f"alter table {schema}.sync_ledger rename to sync_ledger__indexed")
        con.execute(ddl)
        con.execute(
            f"insert into {schema}.sync_ledger ({columns}) "
            f"select {columns} from {schema}.sync_ledger__indexed"
        )
        con.execute(f"drop table {schema}.sync_ledger__indexed")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True


def ensure_private(path: Path | str) -> Path:
    """Create the warehouse file if missing and make it readable by its owner only (0600):
    it holds customers' personal data."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(target)).close()
    for candidate in (target, target.with_name(target.name + ".wal")):
        if candidate.exists() and candidate.stat().st_mode & 0o777 != 0o600:
            candidate.chmod(0o600)
    return target


@contextmanager
def connect(
    path: Path | str | None = None, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating the audit tables when writable) and close it afterwards."""
    target = Path(path) if path is not None else warehouse_path()
    if not read_only:
        ensure_private(target)
    con = duckdb.connect(str(target), read_only=read_only)
    try:
        if not read_only:
            ensure_audit_tables(con)
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class Compaction:
    """What `compact` did: the file's bytes before and after, and how long it took."""

    before_bytes: int
    after_bytes: int
    seconds: float
    tables: int


def free_bytes(path: Path | str) -> tuple[int, int]:
    """(bytes in free blocks, bytes of the file) of the warehouse at `path`, read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(
            "select free_blocks * block_size, total_blocks * block_size "
            "from pragma_database_size() where database_name = current_database()"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def compact(path: Path | str) -> Compaction:
    """Rewrite the warehouse file without its free blocks.

    A DuckDB file never shrinks: the blocks of dropped tables and rewritten row groups are
    reused, not returned (a full refresh or the first sync leaves hundreds of MB free). This
    copies every schema, table, view and constraint into a new file (`COPY FROM DATABASE`),
    checks that every table has the same rows, and puts the new file in the old one's place
    (one rename: a reader sees the old file or the new one). The caller holds the run lock.
    """
    target = Path(path)
    copy = target.with_name(target.name + ".compact")
    leftovers = (copy, copy.with_name(copy.name + ".wal"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    started = time.monotonic()
    before = target.stat().st_size
    try:
        with duckdb.connect() as con:
            con.execute("set enable_progress_bar = false")
            # the source keeps its own name (the file's stem): the views name tables by it
            con.execute("attach ? (read_only)", [str(target)])
            source = con.execute(
                "select database_name from duckdb_databases() where path = ?", [str(target)]
            ).fetchone()
            assert source is not None
            name = source[0]
            con.execute("attach ? as ctsync_compact", [str(copy)])
            con.execute(f'copy from database "{name}" to ctsync_compact')
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = ?",
                [name],
            ).fetchall()
            for schema, table in tables:
                counts = [
                    con.execute(f'select count(*) from {db}."{schema}"."{table}"').fetchone()
                    for db in (f'"{name}"', "ctsync_compact")
                ]
                if counts[0] != counts[1]:
                    raise RuntimeError(f"compaction lost rows of {schema}.{table}: {counts}")
            con.execute("checkpoint ctsync_compact")
    except BaseException:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        raise
    copy.chmod(0o600)
    os.replace(copy, target)
    return Compaction(before, target.stat().st_size, time.monotonic() - started, len(tables))


READ_BACK_SCHEMA = "raw_iterable"


def read_back_loaded(con: duckdb.DuckDBPyConnection) -> bool:
    """True once a load of Iterable's state (``raw_iterable``, by ``ingest/iterable``) has
    completed in this warehouse."""
    row = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = ? and table_name = '_dlt_loads'",
        [READ_BACK_SCHEMA],
    ).fetchone()
    if not row or not row[0]:
        return False
    done = con.execute(
        f"select count(*) from {READ_BACK_SCHEMA}._dlt_loads where status = 0"
    ).fetchone()
    return bool(done and done[0])
