"""DuckDB's flattening (``columnar``) gives the raw tables the Python walk gives, or walks.

The walk (``PageConverter.normalize``) is the reference: it applies dlt's normalizer rules
one value at a time. Every page DuckDB flattens must come out the same, column by column;
a page it cannot reproduce exactly must go the walk's way instead of coming out different.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from ctsync.ingest.commercetools import columnar, schema
from ctsync.ingest.commercetools.arrow import PageConverter
from ctsync.ingest.commercetools.source import load_settings
from ctsync.ingest.pipeline import run_ingest

pytestmark = pytest.mark.slow


def _walk_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise columnar.Unsupported("walk only")

    monkeypatch.setattr(columnar.DuckDBFlattener, "body", refuse)
    monkeypatch.setattr(columnar.DuckDBFlattener, "documents", refuse)


def _tables(warehouse: Path) -> dict[str, tuple[list[tuple[str, str]], list[tuple[Any, ...]]]]:
    """Per raw table: its columns (name, type) by name, and its rows without the load id."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw_commercetools' and table_name not like '_dlt%'"
            ).fetchall()
        ]
        for name in names:
            columns = sorted(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'raw_commercetools' and table_name = ?",
                    [name],
                ).fetchall()
            )
            selected = ", ".join(f'"{c}"' for c, _ in columns if c != "_dlt_load_id")
            rows = con.execute(
                f"select {selected} from raw_commercetools.{name} order by _dlt_id"
            ).fetchall()
            out[name] = (columns, rows)
    return out


@pytest.fixture(scope="module")
def shop(commercetools_sandbox) -> Iterator[Any]:
    commercetools_sandbox.reset()
    commercetools_sandbox.seed(customers=30, seed=11)
    yield commercetools_sandbox


def test_a_seeded_shop_loads_the_same_tables_as_the_walk_gives(shop, tmp_path, monkeypatch) -> None:
    for name, value in shop.env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    walked: list[str] = []
    original = PageConverter._walked

    def count(self: PageConverter, reason: Exception) -> None:
        walked.append(f"{self.root}: {reason}")
        original(self, reason)

    monkeypatch.setattr(PageConverter, "_walked", count)
    fast = run_ingest(warehouse=tmp_path / "fast.duckdb", settings=settings)
    # messages store fields as JSON text, which only the walk does; every other page is DuckDB's
    assert walked and all(w.startswith("messages:") for w in walked), walked
    assert {r.name for r in fast.resources if r.total} >= {"customers", "orders", "products"}

    _walk_only(monkeypatch)
    walk = run_ingest(warehouse=tmp_path / "walk.duckdb", settings=settings)
    assert fast.fetched == walk.fetched

    fast_tables, walk_tables = _tables(tmp_path / "fast.duckdb"), _tables(tmp_path / "walk.duckdb")
    assert sorted(fast_tables) == sorted(walk_tables)
    for name in walk_tables:
        assert fast_tables[name][0] == walk_tables[name][0], name
        assert fast_tables[name][1] == walk_tables[name][1], name
    with duckdb.connect(str(tmp_path / "fast.duckdb"), read_only=True) as con:
        columns = con.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = 'raw_commercetools' and column_name = 'password'"
        ).fetchone()
    assert columns == (0,)


def _both(raw: schema.RawTable, documents: list[dict[str, Any]]) -> tuple[dict, dict, int]:
    """The page as DuckDB converts its body, as the walk converts it, and pages walked."""
    body = orjson.dumps({"limit": 500, "count": len(documents), "results": documents})
    fast = PageConverter(raw)
    page = fast.convert_body(body)
    walk = PageConverter(raw, flatten_in_duckdb=False).convert_body(body)

    def by_name(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        return {n: t.select(sorted(t.column_names)) for n, t in tables.items()}

    return by_name(page.tables), by_name(walk.tables), fast.pages_walked


CUSTOMER = {
    "id": "c1",
    "version": 3,
    "email": "a@example.com",
    "password": "HASH",
    "lastModifiedAt": "2024-05-01T12:00:00.000Z",
    "addresses": [{"id": "a1", "country": "DE"}, {"id": "a2", "country": "NL"}],
    "custom": {"type": {"id": "t"}, "fields": {"optIn": True, "tags": ["x", "y"]}},
    "stores": [],
}


@pytest.mark.parametrize(
    ("change", "walks"),
    [
        ({}, False),
        ({"auth": {"password": "nested HASH", "mode": "Password"}}, False),
        ({"score": 1.5}, False),  # an integer column of the first document becomes double
        ({"score": "high"}, True),  # mixed JSON types: the walk keeps them as text
        ({"custom": {"fields": {}}}, False),
        ({"nested": {}}, True),  # always empty: no column, as the walk does
        ({"big": 2**63}, True),  # beyond BIGINT: the walk keeps it as text
        ({"matrix": [[1, 2], [3]]}, True),
        ({"addresses": [{"id": "a3", "lines": ["l1", None]}]}, False),
        ({"stores": [{"key": "s", "name": {"en": "Shop", "de-DE": "Laden"}}]}, False),
    ],
)
def test_pages_duckdb_flattens_equal_the_walk_or_are_walked(
    change: dict[str, Any], walks: bool
) -> None:
    first = {**CUSTOMER, "score": 1}
    second = {**CUSTOMER, "id": "c2", **change}
    fast, walk, walked = _both(schema.table("customers"), [first, second])
    assert walked == (1 if walks else 0)
    assert sorted(fast) == sorted(walk)
    for name, table in walk.items():
        assert fast[name].schema == table.schema, name
        assert fast[name].equals(table), name
    assert "password" not in fast["customers"].column_names
    assert not any("password" in c for c in fast["customers"].column_names)


def test_a_document_without_id_is_refused_as_before() -> None:
    body = orjson.dumps({"results": [{**CUSTOMER}, {"email": "x@example.com"}]})
    with pytest.raises(ValueError, match="customers: record without 'id'"):
        PageConverter(schema.table("customers")).convert_body(body)
