"""The warehouse, seen from the sync: one small interface over the DuckDB file.

The audit/state tables are defined once, in ``macros/ctsync_audit_tables.sql``; this module
renders that dbt macro (``ctsync.core.dbt_sql``) so dbt and the sync can never disagree on a column.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    drop_unneeded_primary_keys(con)


UNINDEXED_TABLES = ("sync_ledger", "sync_user_profiles")
"""Audit tables created with a primary key by earlier versions and without one now
(macros/ctsync_audit_tables.sql says why)."""


def drop_unneeded_primary_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Re-create each of `UNINDEXED_TABLES` that still has its primary key without it,
    keeping every row, in one transaction per table (DuckDB cannot drop a primary key).
    Returns the tables re-created; tables without the key cost one catalog lookup."""
    schema = audit_schema()
    keyed = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_constraints() where database_name = "
            "current_database() and schema_name = ? and constraint_type = 'PRIMARY KEY' "
            "and table_name in (select unnest(?))",
            [schema, list(UNINDEXED_TABLES)],
        ).fetchall()
    }
    recreated = []
    for table in UNINDEXED_TABLES:
        if table not in keyed:
            continue
        [ddl] = [statement for statement in audit_ddl() if f"{schema}.{table} (" in statement]
        old = f"{table}__indexed"
        con.execute("begin transaction")
        try:
            con.execute(f"alter table {schema}.{table} rename to {old}")
            con.execute(ddl)
            columns = ", ".join(
                f'"{row[0]}"'
                for row in con.execute(
                    "select column_name from duckdb_columns() where database_name = "
                    "current_database() and schema_name = ? and table_name = ? "
                    "order by column_index",
                    [schema, table],
                ).fetchall()
            )
            con.execute(
                f"insert into {schema}.{table} ({columns}) select {columns} from {schema}.{old}"
            )
            con.execute(f"drop table {schema}.{old}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        recreated.append(table)
    return recreated


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
        return file_blocks(con)


def file_blocks(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(bytes in free blocks, bytes of the file) of the database `con` is connected to."""
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


@dataclass(frozen=True)
class CompactionSettings:
    """When a job compacts the warehouse after its run (`warehouse.*`, env
    `WAREHOUSE__AUTO_COMPACT`, ...): free blocks at least `free_share` of the file and at
    least `min_free_mb`. The once-per-warehouse build after the first sync, a full refresh or
    a large purge leave that much; an incremental run leaves a few MB, which DuckDB reuses."""

    auto_compact: bool = True
    free_share: float = 0.15
    min_free_mb: float = 64.0


def load_compaction_settings() -> CompactionSettings:
    """`warehouse.auto_compact`, `warehouse.compact_free_share` (0 to 1),
    `warehouse.compact_min_free_mb`, from dlt's providers."""
    import dlt

    values: dict[str, Any] = {}
    enabled: Any = dlt.config.get("warehouse.auto_compact")
    if enabled is not None and str(enabled).strip() != "":
        text = str(enabled).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError("warehouse.auto_compact must be true or false")
        values["auto_compact"] = text in ("true", "1", "yes", "on")
    for key, name, low, high in (
        ("free_share", "compact_free_share", 0.0, 1.0),
        ("min_free_mb", "compact_min_free_mb", 0.0, None),
    ):
        value: Any = dlt.config.get(f"warehouse.{name}")
        if value is None or str(value).strip() == "":
            continue
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"warehouse.{name} must be a number") from None
        if number < low or (high is not None and number > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise ValueError(f"warehouse.{name} must be {bound}")
        values[key] = number
    return CompactionSettings(**values)


def compaction_due(free: int, total: int, settings: CompactionSettings) -> bool:
    """Are `free` bytes of a `total`-byte file worth a compaction under `settings`?"""
    return (
        settings.auto_compact
        and total > 0
        and free >= settings.free_share * total
        and free >= settings.min_free_mb * 1e6
    )


def compact_if_due(
    path: Path | str, settings: CompactionSettings, blocks: tuple[int, int] | None = None
) -> tuple[Compaction | None, str]:
    """Compact the warehouse when its free blocks are due (:func:`compaction_due`) and the
    disk has room for the copy. `blocks`: the file's free and total bytes when the caller has
    just read them (:func:`file_blocks`), else read here. Returns what was done (None:
    nothing) and why, in words. The caller holds the run lock."""
    target = Path(path)
    free, total = blocks if blocks is not None else free_bytes(target)
    share = (
        f"{free / 1e6:,.1f} MB of {total / 1e6:,.1f} MB free ({free / total:.0%})" if total else ""
    )
    if not compaction_due(free, total, settings):
        return None, f"not needed: {share or 'empty file'}"
    room = shutil.disk_usage(target.parent).free
    needed = int((total - free) * 1.1)
    if room < needed:
        return None, (
            f"skipped: {share}, but the disk has {room / 1e6:,.1f} MB free and the copy needs "
            f"about {needed / 1e6:,.1f} MB"
        )
    done = compact(target)
    return done, (
        f"{share}: {done.before_bytes / 1e6:,.1f} MB -> {done.after_bytes / 1e6:,.1f} MB "
        f"in {done.seconds:.1f} s"
    )


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
