"""What to send: change rows streamed from the warehouse, one object at a time.

Reads ``iterable.iterable__<object>_changes`` (or, for a full resync, the desired-state
table ``iterable.iterable__<object>`` plus the pending deletes) with one query per object,
fetched in pages, so Python memory stays bounded by the page size whatever the table
size, and the view is evaluated once rather than once per page.

Objects go in the contract's order, so users exist in Iterable before their
subscriptions, purchases, carts and events refer to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import duckdb

from ctsync.core.config import audit_schema
from ctsync.core.dbt_sql import render
from ctsync.core.names import OBJECTS, TRANSIENT_REASONS, ChangeRow
from ctsync.core.paths import MODELS_DIR

ITERABLE_SCHEMA = "iterable"


def changes_sql(obj: str, *, project_type: str, full: bool = False) -> str:
    """The query of ``iterable.iterable__<obj>_changes`` exactly as dbt builds it (the model
    and ``macros/ctsync_iterable.sql``); ``full``: the same rule without the ledger
    comparison, so every desired row is an upsert and removals and moves stay as they are
    (a full resync)."""
    model = MODELS_DIR / "iterable" / f"iterable__{obj}_changes.sql"
    variables = {
        "iterable_project_type": project_type,
        "ctsync_audit_schema": audit_schema(),
        "ctsync_full_resync": full,
    }
    return render(model.read_text(), variables)


def sql_list(values: Iterable[str]) -> str:
    """SQL string literals, quotes doubled: `'move', 'o''neil'`."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def changes_relation(obj: str) -> str:
    return f"{ITERABLE_SCHEMA}.iterable__{obj}_changes"


def desired_relation(obj: str) -> str:
    return f"{ITERABLE_SCHEMA}.iterable__{obj}"


def validate_objects(objects: list[str] | tuple[str, ...] | None) -> list[str]:
    """The requested objects in delivery order; unknown names raise ValueError."""
    if not objects:
        return list(OBJECTS)
    unknown = [obj for obj in objects if obj not in OBJECTS]
    if unknown:
        raise ValueError(
            f"unknown object(s) {', '.join(unknown)}; choose from {', '.join(OBJECTS)}"
        )
    return [obj for obj in OBJECTS if obj in objects]


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Turn off DuckDB's own progress bar for long queries on `con` (it would print into
    the middle of the rich progress bars and summary)."""
    con.execute("set enable_progress_bar = false")
    return con


def relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def _source_sql(
    con: duckdb.DuckDBPyConnection, obj: str, full: bool, project_type: str | None
) -> str:
    changes = changes_relation(obj)
    if not full:
        return (
            "select record_key, operation, payload, payload_hash, idempotency_key, "
            f"source_updated_at from {changes}"
        )
    desired = desired_relation(obj)
    if not relation_exists(con, desired):
        raise LookupError(f"{desired} does not exist: build the dbt models before a full resync")
    if project_type is None:
        raise ValueError("a full resync renders the changes models: pass the project type")
    return changes_sql(obj, project_type=project_type, full=True)


def _held_condition(obj: str) -> str:
    """True for a change row (alias `c`) whose identical payload already has an open,
    non-transient rejection that nobody asked to replay: resending it would only fail the
    same way."""
    return (
        f"exists (select 1 from {audit_schema()}.sync_rejections as r "
        f"where r.object = '{obj}' and r.record_key = c.record_key "
        "and r.resolved_at is null and r.replay_requested_at is null "
        f"and r.reason_code not in ({sql_list(TRANSIENT_REASONS)}) "
        "and r.payload_hash is not distinct from c.payload_hash "
        "and c.operation <> 'delete')"
    )


def _pending_sql(
    con: duckdb.DuckDBPyConnection, obj: str, full: bool, project_type: str | None
) -> str:
    """Change rows minus the held ones (`_held_condition`). A full resync holds nothing back."""
    if full:
        return _source_sql(con, obj, full, project_type)
    return (
        f"select c.* from ({_source_sql(con, obj, full, project_type)}) as c "
        f"where not {_held_condition(obj)}"
    )


def count_changes(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    full: bool = False,
    project_type: str | None = None,
) -> dict[str, int]:
    """Rows to send per operation, plus ``held`` (identical payloads already rejected).
    One query: the changes view is computed once (it compares the whole desired table with
    the ledger)."""
    held = "false" if full else _held_condition(obj)
    rows = con.execute(
        f"select operation, {held} as is_held, count(*) "
        f"from ({_source_sql(con, obj, full, project_type)}) as c group by all"
    ).fetchall()
    counts: dict[str, int] = {"held": 0}
    for operation, is_held, n in rows:
        if is_held:
            counts["held"] += int(n)
        else:
            counts[str(operation)] = counts.get(str(operation), 0) + int(n)
    return counts


def iter_pages(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    full: bool = False,
    page_size: int = 2000,
    only: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    project_type: str | None = None,
) -> Iterator[list[ChangeRow]]:
    """Pages of change rows for `obj`, ordered by record_key, `page_size` rows at a time.

    One query on a cursor of its own, fetched chunk by chunk: Python holds one page at a
    time, the warehouse scans the view once, and the caller's connection stays free to
    write acknowledgements meanwhile (the read sees the snapshot it started with).
    ``only`` / ``skip`` restrict the rows to some operations; a full resync (``full``)
    needs the ``project_type`` the changes models are rendered for.
    """
    where = ""
    if only:
        where = f" where p.operation in ({sql_list(only)})"
    elif skip:
        where = f" where p.operation not in ({sql_list(skip)})"
    cursor = quiet(con.cursor())
    try:
        cursor.execute(
            f"select * from ({_pending_sql(con, obj, full, project_type)}) as p{where} "
            "order by record_key"
        )
        while True:
            rows = cursor.fetchmany(page_size)
            if not rows:
                return
            yield [ChangeRow(obj, str(r[0]), str(r[1]), r[2] or "", r[3], r[4], r[5]) for r in rows]
    finally:
        cursor.close()
