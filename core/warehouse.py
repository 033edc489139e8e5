"""The warehouse, seen from the sync: one small interface over the DuckDB file.

The audit/state tables are defined once, in ``macros/ctsync_audit_tables.sql``; this module
renders that dbt macro (``ctsync.core.dbt_sql``) so dbt and the sync can never disagree on a column.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
