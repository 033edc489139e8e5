"""The project's generic data tests (macros/ctsync_tests.sql) find what they promise.

The contract test of the `_changes` views (`change_contract`) finds every kind of violation
in one query, one row each, saying which; `primary_key` finds duplicated and null keys (of
one column or several); `is_json` finds invalid JSON, and nulls when they are not allowed.
The rows a data test of an incremental model reads by row id are those of the plain filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from ctsync.core.paths import DBT_PROJECT_DIR as PROJECT_DIR

pytestmark = pytest.mark.slow

ROWS = (
    "(select * from (values "
    "('a', 'upsert', 'k1'), ('a', 'upsert', 'k2'), ('b', 'oops', 'k3'), ('c', 'delete', null), "
    "('d', 'upsert', 'k1'), ('e', 'delete', 'k5'), (null, 'upsert', 'k6')"
    ") as t(record_key, operation, idempotency_key))"
)


def _show(
    sql: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int = 100
) -> list[tuple[object, ...]]:
    """Rows of `sql` (Jinja: the project's macros) run by `dbt show` on an empty warehouse."""
    monkeypatch.setenv("CTSYNC_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    result = dbtRunner().invoke(
        [
            "show",
            "--inline",
            sql,
            "--limit",
            str(limit),
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--log-level",
            "none",
        ]
    )
    assert result.success, result.exception
    return [tuple(row) for row in result.result.results[0].agate_table.rows]


def test_change_contract_names_each_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = f'{{{{ ctsync.test_change_contract(model="{ROWS}", operations=["upsert", "delete"]) }}}}'
    rows = _show(sql, tmp_path, monkeypatch)
    problems = sorted((str(row[0] or ""), row[1]) for row in rows)
    assert problems == [
        ("", "record_key is null"),
        ("a", "idempotency_key is not unique"),
        ("a", "record_key is not unique"),
        ("b", "operation is not one of upsert, delete"),
        ("c", "idempotency_key is null"),
    ]


KEYS = "(select * from (values ('a'), ('b'), ('b'), (null), (null), ('c')) as t(k))"
DOCUMENTS = "(select * from (values ('[1, {}]'), ('true'), ('[1,'), (null), ('nope')) as t(doc))"


def test_primary_key_and_is_json_find_what_they_promise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = (
        "select 'primary_key' as test, cast(key_value as varchar) as value, row_count from ("
        f'{{{{ ctsync.test_primary_key(model="{KEYS}", column_name="k") }}}}) as p '
        "union all select 'is_json', doc, null from ("
        f'{{{{ ctsync.test_is_json(model="{DOCUMENTS}", column_name="doc") }}}}) as j '
        "union all select 'is_json not null', doc, null from ("
        f'{{{{ ctsync.test_is_json(model="{DOCUMENTS}", column_name="doc", allow_null=false) }}}}'
        ") as n"
    )
    rows = sorted(_show(sql, tmp_path, monkeypatch), key=lambda row: (str(row[0]), str(row[1])))
    assert rows == [
        ("is_json", "[1,", None),
        ("is_json", "nope", None),
        ("is_json not null", None, None),
        ("is_json not null", "[1,", None),
        ("is_json not null", "nope", None),
        ("primary_key", None, 2),
        ("primary_key", "b", 2),
    ]


PAIRS = (
    "(select * from (values ('c1', 'EUR'), ('c1', 'USD'), ('c2', 'EUR'), ('c2', 'EUR'), "
    "('c3', null), (null, 'EUR')) as t(customer_id, currency_code))"
)


def test_a_primary_key_of_several_columns_finds_duplicated_pairs_and_nulls_in_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = (
        f'{{{{ ctsync.test_primary_key(model="{PAIRS}", '
        'columns=["customer_id", "currency_code"]) }}'
    )
    rows = sorted(_show(sql, tmp_path, monkeypatch), key=lambda row: (str(row[0]), str(row[1])))
    assert rows == [(None, "EUR", 1), ("c2", "EUR", 2), ("c3", None, 1)]


def test_the_rows_a_data_test_reads_by_row_id_are_the_rows_of_the_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data test of an incremental model reads the changed rows by row id on DuckDB
    (`ctsync_table_rows_where`): the same rows, every column, as the plain filter."""
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "create table main.purchases as select 'k' || i as record_key, "
            "'{\"n\":' || i || '}' as payload, i % 7 = 0 as flagged from range(5000) t(i)"
        )
        con.execute(
            "create table main.changed as select 'k' || i as record_key from range(0, 5000, 9) t(i)"
        )
    condition = "record_key in (select record_key from main.changed) and not flagged"
    sql = (
        "select 'by row id' as way, * from "
        f"{{{{ ctsync.duckdb__ctsync_table_rows_where('main.purchases', \"{condition}\") }}}} as a "
        "union all select 'plain', * from "
        f"{{{{ ctsync.default__ctsync_table_rows_where('main.purchases', \"{condition}\") }}}} as b"
    )
    rows = _show(sql, tmp_path, monkeypatch, limit=10_000)
    by_row_id = sorted(row[1:] for row in rows if row[0] == "by row id")
    plain = sorted(row[1:] for row in rows if row[0] == "plain")
    assert by_row_id == plain
    assert len(plain) == len(range(0, 5000, 9)) - len(range(0, 5000, 63))
    assert all(str(payload).startswith('{"n":') for _, payload, _ in plain)
