"""commercetools pages → Arrow tables: the tables dlt's JSON normalizer made, built page-wise.

dlt normalizes JSON rows one value at a time (flatten, infer, coerce, parse every timestamp
into a pendulum object), after extraction and before loading; that was most of an ingest's
time. Here each page becomes Arrow tables during extraction, while the next page is in
flight, and dlt only writes them as Parquet and copies them into DuckDB.

The tables and columns are the ones the JSON normalizer produced, with the same rules
(``schema.RawTable`` hints, ``max_table_nesting``):

- nested objects flattened with ``__`` into snake_case columns, down to the nesting limit;
  deeper objects, lists past the limit and the hinted ``json_columns`` are JSON;
- lists become child tables ``<parent>__<list>`` with ``_dlt_parent_id``, ``_dlt_list_idx``
  and ``_dlt_root_id``; lists of scalars become a ``value`` column;
- ISO-8601 date-times become ``timestamp with time zone``; other values keep their JSON type.

Two things differ on purpose. Every table (children too) carries ``_dlt_load_id``. A root
row's ``_dlt_id`` is a hash of its table and ``id`` rather than random, so a new version of
a document keeps its ``_dlt_id`` and its children's ``_dlt_root_id``: after a merge,
:func:`prune_replaced_children` removes the previous version's child rows (child tables are
appended, since dlt merges nested tables only when it normalized them itself).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.normalizers.utils import DLT_ID_LENGTH_BYTES
from dlt.common.utils import digest128

from ctsync.ingest.commercetools.columnar import DuckDBFlattener, Unsupported

if TYPE_CHECKING:
    import duckdb

    from ctsync.ingest.commercetools.schema import RawTable

logger = logging.getLogger(__name__)
_NAMING = NamingConvention()
_EMPTY_KEY = "_empty"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
_TIMESTAMP = pa.timestamp("us", tz="UTC")
C_ID, C_PARENT, C_ROOT, C_IDX, C_LOAD = (
    "_dlt_id",
    "_dlt_parent_id",
    "_dlt_root_id",
    "_dlt_list_idx",
    "_dlt_load_id",
)


class _ExpectedHintOverride(logging.Filter):
    """Drops dlt's warning that declared hints (JSON, not-null) differ from Arrow types.

    JSON columns travel as Arrow strings and DuckDB casts them on insert, as intended.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


_FILTER = _ExpectedHintOverride()


def quiet_expected_warnings() -> None:
    dlt_logger = logging.getLogger("dlt")
    if _FILTER not in dlt_logger.filters:
        dlt_logger.addFilter(_FILTER)


@lru_cache(maxsize=4096)
def _ident(key: str) -> str:
    return _NAMING.normalize_path(key) if key and not key.isspace() else _EMPTY_KEY


@lru_cache(maxsize=4096)
def _table_ident(key: str) -> str:
    return _NAMING.normalize_tables_path(key)


@lru_cache(maxsize=4096)
def _join(*parts: str) -> str:
    return _NAMING.shorten_fragments(*parts)


def root_row_id(table: str, document_id: str) -> str:
    """The ``_dlt_id`` of a root row: stable across versions of the same document."""
    return digest128(f"{table}:{document_id}", DLT_ID_LENGTH_BYTES)


class _Columns:
    """Values per column of one table, appended row by row; missing values are None."""

    __slots__ = ("columns", "rows")

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}
        self.rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        columns = self.columns
        rows = self.rows
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * rows
            column.append(value)
        self.rows = rows = rows + 1
        if len(row) != len(columns):
            for column in columns.values():
                if len(column) < rows:
                    column.append(None)


class PageConverter:
    """Turns pages of one resource's documents into Arrow tables, one per raw table.

    Keeps what it learned about columns (JSON, timestamp, text) across pages, so every page
    of a run gives a column the same type.
    """

    def __init__(
        self,
        raw: RawTable,
        known: Mapping[str, Mapping[str, str]] | None = None,
        *,
        flatten_in_duckdb: bool = True,
    ) -> None:
        """``known``: table → column → dlt data type of columns the warehouse already has."""
        quiet_expected_warnings()
        self.raw = raw
        self.root = raw.name
        self.json_columns: dict[str, set[str]] = {self.root: set(raw.json_columns)}
        for path, columns in raw.nested_json_columns.items():
            self.json_columns[_join(self.root, *path.split("__"))] = set(columns)
        self.text_columns: dict[str, set[str]] = {
            self.root: {_ident(f) for f in raw.json_text_fields}
        }
        self.timestamp_columns: dict[str, set[str]] = {self.root: {_ident(raw.cursor_field)}}
        for table_name, known_columns in (known or {}).items():
            if table_name != self.root and not table_name.startswith(f"{self.root}__"):
                continue
            for column, data_type in known_columns.items():
                kind = {
                    "json": self.json_columns,
                    "timestamp": self.timestamp_columns,
                    "text": self.text_columns,
                }.get(data_type)
                if kind is not None:
                    kind.setdefault(table_name, set()).add(column)
        self._names: dict[tuple[tuple[str, ...], str], tuple[str, str, tuple[str, ...]]] = {}
        self.hinted: dict[str, set[str]] = {}
        """Per table, the JSON columns already declared to dlt."""
        self.flattener: DuckDBFlattener | None = (
            DuckDBFlattener(self) if flatten_in_duckdb else None
        )
        self.pages = PageStore(raw)
        """Pages converted ahead of dlt's incremental step (see :class:`PageStore`)."""
        self.pages_walked = 0
        """Pages the flattener refused, walked in Python instead."""

    # --- flattening, as dlt.common.normalizers.json.relational does it ---------------------

    def _flatten(
        self, table: str, row: Mapping[str, Any], level: int
    ) -> tuple[dict[str, Any], dict[tuple[str, ...], list[Any]]]:
        out: dict[str, Any] = {}
        lists: dict[tuple[str, ...], list[Any]] = {}
        json_columns = self.json_columns.setdefault(table, set())
        names = self._names

        def walk(current: Mapping[str, Any], lvl: int, path: tuple[str, ...]) -> None:
            for key, value in current.items():
                try:
                    norm, name, child_path = names[(path, key)]
                except KeyError:
                    norm = _ident(key)
                    name = _join(*path, norm) if path else norm
                    child_path = (*path, norm)
                    names[(path, key)] = (norm, name, child_path)
                kind = type(value)
                if kind is dict:
                    if lvl > 0 and name not in json_columns:
                        walk(value, lvl - 1, child_path)
                        continue
                    json_columns.add(name)
                elif kind is list:
                    if lvl > 0 and name not in json_columns:
                        lists[(*path, _table_ident(key))] = value
                        continue
                    json_columns.add(name)
                out[name] = value

        walk(row, level, ())
        return out, lists

    def _rows(
        self,
        out: dict[str, _Columns],
        table: str,
        row: Mapping[str, Any],
        level: int,
        row_id: str,
        root_id: str | None,
        parent: tuple[str, int] | None,
    ) -> None:
        flat, lists = self._flatten(table, row, level)
        if parent is not None:
            flat[C_PARENT], flat[C_IDX] = parent
            flat[C_ROOT] = root_id
        flat[C_ID] = row_id
        store = out.get(table)
        if store is None:
            store = out[table] = _Columns()
        store.add(flat)
        root = root_id or row_id
        for path, items in lists.items():
            child = _join(table, *path)
            for index, item in enumerate(items):
                child_id = digest128(f"{row_id}_{child}_{index}", DLT_ID_LENGTH_BYTES)
                kind = type(item)
                if kind is dict:
                    self._rows(out, child, item, level - 1, child_id, root, (row_id, index))
                elif kind is list:
                    self._rows(
                        out, child, {"list": item}, level - 2, child_id, root, (row_id, index)
                    )
                else:
                    store = out.get(child)
                    if store is None:
                        store = out[child] = _Columns()
                    store.add(
                        {
                            "value": item,
                            C_PARENT: row_id,
                            C_IDX: index,
                            C_ROOT: root,
                            C_ID: child_id,
                        }
                    )

    def normalize(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, _Columns]:
        """Columns per table (root first), with dlt's linking columns."""
        out: dict[str, _Columns] = {self.root: _Columns()}
        key = self.raw.primary_key
        for document in documents:
            row_id = root_row_id(self.root, str(document[key]))
            self._rows(out, self.root, document, self.raw.max_table_nesting, row_id, None, None)
        return out

    # --- columns --------------------------------------------------------------------------

    def _column(
        self, table: str, name: str, values: list[Any] | pa.Array
    ) -> list[tuple[str, pa.Array]]:
        """The column(s) ``values`` make: none if all null, a ``__v_text`` variant as dlt does
        when a timestamp column gets values that are not date-times."""
        if isinstance(values, pa.Array):  # from DuckDB: JSON columns hold their text already
            if name in self.json_columns.get(table, ()):
                return [(name, values.cast(pa.string()))]
            if values.null_count == len(values):
                return []
            array = values
        elif name in self.json_columns.get(table, ()):
            dumps = orjson.dumps
            encoded = pa.array([None if v is None else dumps(v) for v in values], pa.binary())
            return [(name, encoded.cast(pa.string()))]
        else:
            try:
                array = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                # mixed scalar types in one column: keep them as text, JSON-encoded if not str
                array = pa.array(
                    [
                        None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
                        for v in values
                    ],
                    pa.string(),
                )
        if pa.types.is_null(array.type):
            return []
        if not pa.types.is_string(array.type) or name in self.text_columns.get(table, ()):
            return [(name, array)]
        timestamps = self.timestamp_columns.setdefault(table, set())
        if name in timestamps:
            try:
                return [(name, array.cast(_TIMESTAMP))]
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                matches = pc.fill_null(pc.match_substring_regex(array, _ISO_DATETIME), False)
                stamps = pc.if_else(matches, array, pa.scalar(None, pa.string()))
                others = pc.if_else(matches, pa.scalar(None, pa.string()), array)
                return [(name, stamps.cast(_TIMESTAMP)), (f"{name}__v_text", others)]
        if (
            not name.startswith("_dlt_")
            and pc.all(pc.match_substring_regex(array, _ISO_DATETIME)).as_py()
        ):
            try:
                cast = array.cast(_TIMESTAMP)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            else:
                timestamps.add(name)
                return [(name, cast)]
        self.text_columns.setdefault(table, set()).add(name)
        return [(name, array)]

    def tables(
        self, documents: Iterable[Mapping[str, Any]], load_id: str | None = None
    ) -> Iterator[tuple[str, pa.Table]]:
        """(table name, Arrow table) per raw table the page has rows for, root first.

        DuckDB flattens the page (:mod:`.columnar`); a page it cannot flatten exactly as the
        walk does is walked in Python.
        """
        documents = documents if isinstance(documents, list) else list(documents)
        flattened = None
        if self.flattener is not None and documents:
            try:
                flattened = self.flattener.documents(documents).columns
            except Unsupported as exc:
                self._walked(exc)
        for table, arrow_table in self._arrow(flattened or self._walk(documents)):
            if load_id is not None:
                arrow_table = with_load_id(arrow_table, load_id)
            yield table, arrow_table

    def convert_body(self, content: bytes) -> ConvertedPage:
        """An API response body (``{"results": [...]}``) as Arrow tables, with the storage
        rules of ``schema.prepare_document``; raises ``ValueError`` for a body without a list
        of documents, or for a document ``prepare_document`` refuses."""
        if self.flattener is not None:
            try:
                page = self.flattener.body(content)
            except Unsupported as exc:
                self._walked(exc)
            else:
                return self._page(page.columns, page.ids, page.cursors)
        from ctsync.ingest.commercetools.schema import prepare_document

        body = orjson.loads(content)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise ValueError("the response has no 'results' list")
        key, cursor = self.raw.primary_key, self.raw.cursor_field
        ids = [str(d[key]) if isinstance(d, dict) and key in d else "" for d in results]
        cursors = [d.get(cursor) if isinstance(d, dict) else None for d in results]
        documents = [prepare_document(self.raw, d) for d in results]
        return self._page(self._walk(documents), ids, cursors)

    def _page(
        self,
        columns: Mapping[str, Mapping[str, list[Any] | pa.Array]],
        ids: list[str],
        cursors: list[Any],
    ) -> ConvertedPage:
        tables = dict(self._arrow(columns))
        json_columns = {t: frozenset(self.json_columns.get(t, ())) for t in tables}
        return ConvertedPage(tables, ids, cursors, json_columns)

    def _walked(self, reason: Exception) -> None:
        self.pages_walked += 1
        logger.debug("%s: page walked in Python: %s", self.root, reason)

    def _walk(self, documents: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
        return {t: store.columns for t, store in self.normalize(documents).items() if store.rows}

    def _arrow(
        self, values: Mapping[str, Mapping[str, list[Any] | pa.Array]]
    ) -> Iterator[tuple[str, pa.Table]]:
        for table, columns in values.items():
            arrays: dict[str, pa.Array] = {}
            for name, column in columns.items():
                arrays.update(self._column(table, name, column))
            yield table, pa.table(arrays)

    def new_json_columns(self, table: str, seen: Iterable[str] | None = None) -> set[str]:
        """JSON columns of ``table`` (``seen``: those of the pages at hand; default: all the
        converter knows of) not yet declared to dlt, and now marked declared."""
        seen = set(self.json_columns.get(table, set()) if seen is None else seen)
        declared = self.hinted.setdefault(table, set())
        new = seen - declared
        declared |= new
        return new


@dataclass
class ConvertedPage:
    """One API page as the raw tables' Arrow tables (without ``_dlt_load_id``)."""

    tables: dict[str, pa.Table]
    ids: list[str]
    """The documents' ids, in the page's order."""
    cursors: list[Any]
    """Each document's cursor field as the API sent it (None where missing)."""
    json_columns: dict[str, frozenset[str]]
    """Per table, the columns that hold JSON (for dlt's hints)."""

    def __len__(self) -> int:
        return len(self.ids)


def select_documents(page: ConvertedPage, root: str, indexes: list[int]) -> dict[str, pa.Table]:
    """The page's tables with only the documents at ``indexes`` (and their child rows)."""
    if len(indexes) == len(page):
        return page.tables
    kept = page.tables[root].take(pa.array(indexes, pa.int64()))
    ids = kept[C_ID].combine_chunks()
    tables = {root: kept}
    for name, table in page.tables.items():
        if name != root:
            tables[name] = table.filter(pc.is_in(table[C_ROOT], value_set=ids))
    return tables


def with_load_id(table: pa.Table, load_id: str) -> pa.Table:
    return table.append_column(C_LOAD, pa.array([load_id] * table.num_rows, pa.string()))


PAGE, ROW = "_ctsync_page", "_ctsync_row"
"""Columns of a page's stand-ins (:meth:`PageStore.stand_ins`): its number and the row."""


class PageStore:
    """Converted pages waiting for dlt's incremental step, which sees only their stand-ins.

    A stand-in table has what dlt's incremental reads of a document (its id and its cursor
    value, as the API sent them) and where the document's rows are. The incremental keeps
    its own rules (look-back, the boundary rows already loaded, its state) over whole
    columns, and :meth:`tables` takes the rows of the documents it let through.
    """

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self._pages: dict[int, ConvertedPage] = {}
        self._numbers = itertools.count()

    def stand_ins(self, page: ConvertedPage) -> pa.Table:
        number = next(self._numbers)
        self._pages[number] = page
        rows = len(page)
        cursors = [c if c is None or isinstance(c, str) else str(c) for c in page.cursors]
        return pa.table(
            {
                self.raw.primary_key: pa.array(page.ids, pa.string()),
                self.raw.cursor_field: pa.array(cursors, pa.string()),
                PAGE: pa.array([number] * rows, pa.int64()),
                ROW: pa.array(range(rows), pa.int64()),
            }
        )

    def tables(self, stand_ins: pa.Table) -> Iterator[tuple[str, list[pa.Table], set[str]]]:
        """(table, its Arrow tables, its JSON columns) of the documents ``stand_ins`` (what
        the incremental step left of one or more pages' stand-ins) name."""
        pages: dict[int, list[int]] = {}
        for number, row in zip(
            stand_ins[PAGE].to_pylist(), stand_ins[ROW].to_pylist(), strict=True
        ):
            pages.setdefault(number, []).append(row)
        tables: dict[str, tuple[list[pa.Table], set[str]]] = {}
        for number, rows in pages.items():
            page = self._pages.pop(number)
            for name, arrow_table in select_documents(page, self.raw.name, rows).items():
                if not arrow_table.num_rows:
                    continue
                parts, json_columns = tables.setdefault(name, ([], set()))
                parts.append(arrow_table)
                json_columns.update(page.json_columns.get(name, ()))
        for name, (parts, json_columns) in tables.items():
            yield name, parts, json_columns


def concat_parts(parts: list[pa.Table]) -> list[pa.Table]:
    """One table of the pages' tables where their column types agree; else the parts."""
    if len(parts) == 1:
        return parts
    try:
        return [pa.concat_tables(parts, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return parts


def prune_replaced_children(
    con: duckdb.DuckDBPyConnection, dataset: str, roots: Iterable[str], load_ids: Iterable[str]
) -> dict[str, int]:
    """Delete child rows of documents reloaded in ``load_ids`` that those loads did not write.

    A reloaded document keeps its root ``_dlt_id``; its child rows from an earlier version
    (a removed address, a changed list of line items) still point at it and go here.
    """
    loads = list(load_ids)
    if not loads:
        return {}
    tables = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [dataset]
        ).fetchall()
    }
    removed: dict[str, int] = {}
    for root in roots:
        if root not in tables:
            continue
        for child in sorted(t for t in tables if t.startswith(f"{root}__")):
            row = con.execute(
                f"delete from {dataset}.{child} where {C_LOAD} not in (select unnest(?)) "
                f"and {C_ROOT} in (select {C_ID} from {dataset}.{root} "
                f"where {C_LOAD} in (select unnest(?)))",
                [loads, loads],
            ).fetchone()
            if row and row[0]:
                removed[child] = int(row[0])
    return removed


def has_nested_layout(tables: Mapping[str, Mapping[str, Any]], roots: Iterable[str]) -> list[str]:
    """Roots whose child tables a stored dlt schema still declares as dlt-nested tables.

    Those warehouses were loaded by dlt's JSON normalizer (random root ids); they need one
    full refresh before the Arrow path can merge into them.
    """
    stale = []
    for root in roots:
        if any(t.get("parent") and name.startswith(f"{root}__") for name, t in tables.items()):
            stale.append(root)
    return stale
