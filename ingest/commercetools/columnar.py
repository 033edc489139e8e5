"""The fast path of :class:`~ctsync.ingest.commercetools.arrow.PageConverter`: DuckDB
flattens a page.

The converter's Python walk visits every value of every document while holding the GIL, so
it competed with the HTTP paging for the one Python core. Here DuckDB does the same work in
C++ with the GIL released: it reads the page's JSON, reports the union of its structure
(``json_structure``), and converts every document to one nested struct whose shape says
which values become columns, which stay JSON (``from_json`` with ``"JSON"`` leaves keeps
their text) and which lists become child tables. Arrow then unnests the lists; Python only
hashes the child rows' ids.

The rules are the converter's own (nesting limit, JSON columns, names): :func:`plan` reads
them from the converter and adds the JSON columns it discovers to it, as the walk does.
A page whose structure the walk would read differently (a field with values of several
JSON types, an object that is always empty, a list of lists, two keys with one name) is
refused with :class:`Unsupported`, and the converter walks it in Python instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.utils import DLT_ID_LENGTH_BYTES
from dlt.common.utils import digest128

if TYPE_CHECKING:
    from ctsync.ingest.commercetools.arrow import PageConverter

_SCALARS = {
    "VARCHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "BIGINT": "BIGINT",
    "UBIGINT": "UBIGINT",
    "HUGEINT": "HUGEINT",
}
"""``json_structure`` type → the type ``from_json`` reads. Integers are read as wide as the
page needs them and then narrowed to BIGINT (a page with an integer beyond it is walked,
which keeps it as text): ``from_json`` would make an out-of-range value NULL silently."""


def _narrow(array: pa.Array) -> pa.Array:
    if pa.types.is_uint64(array.type) or pa.types.is_decimal(array.type):
        try:
            return array.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise Unsupported("an integer beyond BIGINT") from None
    return array


class Unsupported(Exception):
    """The page has a shape the fast path does not reproduce exactly; walk it in Python."""


@dataclass
class TablePlan:
    """How one raw table's rows come out of the nested struct of its parent rows."""

    name: str
    level: int
    columns: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """Column name and the key path to its value inside a row."""
    children: list[tuple[tuple[str, ...], TablePlan]] = field(default_factory=list)
    """Key path to a list inside a row, and the plan of the child table it makes."""
    scalar_items: bool = False
    """Rows of this table are list items that are not objects (a ``value`` column)."""


def plan(converter: PageConverter, structure: Any) -> tuple[Any, TablePlan]:
    """``from_json`` type spec of one document and the root table's plan, from the page's
    ``json_structure`` (one document's shape, the union over the page).

    Secret fields (``schema.DROPPED_FIELDS``) are left out where ``schema.prepare_document``
    removes them: at the top and in the objects one level down.
    """
    root = TablePlan(converter.root, converter.raw.max_table_nesting)
    if not isinstance(structure, dict):
        raise Unsupported("documents are not objects")
    spec = _object(converter, root, structure, root.level, ())
    return spec, root


def _secret(converter: PageConverter, table: TablePlan, keys: tuple[str, ...]) -> bool:
    from ctsync.ingest.commercetools.schema import DROPPED_FIELDS

    return (
        converter.raw.drops_secrets
        and table.name == converter.root
        and len(keys) <= 2
        and keys[-1] in DROPPED_FIELDS
    )


def _object(
    converter: PageConverter,
    table: TablePlan,
    node: Mapping[str, Any],
    lvl: int,
    path: tuple[str, ...],
    keys: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Spec of an object found ``path`` (normalized names) below a row of ``table``; ``keys``
    are the API keys leading to it. Adds its columns and child tables to ``table``."""
    from ctsync.ingest.commercetools.arrow import _ident, _join, _table_ident

    json_columns = converter.json_columns.setdefault(table.name, set())
    names = {name for name, _ in table.columns}
    spec: dict[str, Any] = {}
    for key, value in node.items():
        norm = _ident(key)
        name = _join(*path, norm) if path else norm
        key_path = (*keys, key)
        if _secret(converter, table, key_path):
            continue
        if name in names:
            raise Unsupported(f"two keys make the column {name}")
        if value == "NULL":
            # only nulls: the walk's column is all null and dropped, unless it is JSON
            if name in json_columns:
                spec[key] = "JSON"
                table.columns.append((name, key_path))
                names.add(name)
            continue
        if isinstance(value, dict) and lvl > 0 and name not in json_columns:
            spec[key] = _object(converter, table, value, lvl - 1, (*path, norm), key_path)
            names = {name for name, _ in table.columns}
            continue
        if isinstance(value, list) and lvl > 0 and name not in json_columns:
            child = TablePlan(_join(table.name, *path, _table_ident(key)), table.level - 1)
            spec[key] = [_item(converter, child, value[0])]
            table.children.append((key_path, child))
            continue
        if isinstance(value, dict | list):
            json_columns.add(name)
            if isinstance(value, dict) and any(
                _secret(converter, table, (*key_path, k)) for k in value
            ):
                raise Unsupported(f"{name} is JSON with a secret field in it")
        elif name not in json_columns:
            if value not in _SCALARS:
                raise Unsupported(f"{name} has values of several JSON types ({value})")
            spec[key] = _SCALARS[value]
            table.columns.append((name, key_path))
            names.add(name)
            continue
        spec[key] = "JSON"
        table.columns.append((name, key_path))
        names.add(name)
    return spec


def _item(converter: PageConverter, child: TablePlan, node: Any) -> Any:
    if isinstance(node, dict):
        return _object(converter, child, node, child.level, ())
    if isinstance(node, list):
        raise Unsupported(f"{child.name} is a list of lists")
    child.scalar_items = True
    child.columns.append(("value", ()))
    if node == "NULL":
        return "JSON"  # empty lists (no rows), or items that are all null (null values)
    if node not in _SCALARS:
        raise Unsupported(f"{child.name} has items of several JSON types")
    return _SCALARS[node]


_DATABASE: duckdb.DuckDBPyConnection | None = None
_DATABASE_LOCK = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own to the process's one in-memory database (opened once: a new
    database costs tens of milliseconds; a cursor on it almost nothing)."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect(":memory:", config={"threads": 1})
        return _DATABASE.cursor()


@dataclass
class Flattened:
    """A page as columns: table → column name → values (root first), and per document its
    ``id`` and its cursor value as the API wrote it (for keyset paging and the cursor)."""

    columns: dict[str, dict[str, pa.Array]]
    ids: list[str]
    cursors: list[str | None]


class DuckDBFlattener:
    """Flattens pages of one resource with DuckDB; pages of several resources may be
    flattened at once, in threads of their own."""

    def __init__(self, converter: PageConverter) -> None:
        self.converter = converter

    def documents(self, documents: list[Mapping[str, Any]]) -> Flattened:
        """Documents (already through ``schema.prepare_document``) as columns."""
        return self._flatten(orjson.dumps({"results": documents}).decode())

    def body(self, content: bytes) -> Flattened:
        """The documents of an API response body (``{"results": [...], ...}``) as columns,
        without secret fields; raises :class:`Unsupported` for a body
        ``schema.prepare_document`` has to read (a document without id, a field whose
        storage rule hints cannot express)."""
        if self.converter.raw.json_text_fields:
            raise Unsupported("fields stored as JSON text")
        return self._flatten(content.decode())

    def _flatten(self, body: str) -> Flattened:
        raw = self.converter.raw
        cursor = _cursor()
        try:
            # the body crosses into DuckDB once (binding a large string costs GIL time)
            cursor.execute("create temp table page as select $body as b", {"body": body})
            ((shape,),) = cursor.sql("select json_structure(b) from page").fetchall()
            structure = orjson.loads(shape)
            results = structure.get("results") if isinstance(structure, dict) else None
            if not isinstance(results, list):
                raise Unsupported("no list of documents")
            if results == ["NULL"]:  # no documents, or nulls
                ((count,),) = cursor.sql(
                    "select json_array_length(b, '$.results') from page"
                ).fetchall()
                if count:
                    raise Unsupported("documents that are not objects")
                return Flattened({}, [], [])
            spec, root = plan(self.converter, results[0])
            if spec.get(raw.primary_key) != "VARCHAR":
                raise Unsupported(f"{raw.primary_key} is not text in every document")
            if spec.get(raw.cursor_field, "VARCHAR") != "VARCHAR":
                raise Unsupported(f"{raw.cursor_field} is not text")
            result = cursor.sql(
                "select unnest(from_json(b, $spec).results) from page",
                params={"spec": orjson.dumps({"results": [spec]}).decode()},
            ).to_arrow_table()
        except duckdb.Error as exc:
            raise Unsupported(f"DuckDB: {exc}") from None
        finally:
            cursor.close()
        rows = result.column(0).combine_chunks()
        ids = pc.struct_field(rows, [raw.primary_key]).to_pylist()
        if not all(ids):
            raise Unsupported(f"a document without {raw.primary_key}")
        cursors = (
            pc.struct_field(rows, [raw.cursor_field]).to_pylist()
            if raw.cursor_field in spec
            else [None] * len(ids)
        )
        from ctsync.ingest.commercetools.arrow import root_row_id

        row_ids = [root_row_id(root.name, str(i)) for i in ids]
        out: dict[str, dict[str, pa.Array]] = {}
        flatten(root, rows, row_ids, None, None, out)
        return Flattened(out, ids, cursors)


def flatten(
    table: TablePlan,
    rows: pa.Array,
    row_ids: list[str],
    root_ids: list[str] | None,
    parents: tuple[pa.Array, pa.Array] | None,
    out: dict[str, dict[str, pa.Array]],
) -> None:
    """Columns of ``table`` from its ``rows`` (a struct array, or scalars for list items);
    ``parents``: (parent ids, list positions) of child rows."""
    from ctsync.ingest.commercetools.arrow import C_ID, C_IDX, C_PARENT, C_ROOT

    columns = out.setdefault(table.name, {})
    for name, key_path in table.columns:
        columns[name] = _narrow(rows if not key_path else pc.struct_field(rows, list(key_path)))
    if parents is not None:
        assert root_ids is not None
        columns[C_PARENT], columns[C_IDX] = parents
        columns[C_ROOT] = pa.array(root_ids, pa.string())
    columns[C_ID] = pa.array(row_ids, pa.string())
    for key_path, child in table.children:
        lists = pc.struct_field(rows, list(key_path))
        items = pc.list_flatten(lists)
        if not len(items):
            continue
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_pylist()
        owners = [owner for owner, length in enumerate(lengths) for _ in range(length)]
        positions = [index for length in lengths for index in range(length)]
        child_ids = [
            digest128(f"{row_ids[owner]}_{child.name}_{index}", DLT_ID_LENGTH_BYTES)
            for owner, index in zip(owners, positions, strict=True)
        ]
        roots = root_ids if root_ids is not None else row_ids
        child_roots = [roots[owner] for owner in owners]
        parent_ids = pa.array(row_ids, pa.string()).take(pa.array(owners, pa.int64()))
        flatten(
            child, items, child_ids, child_roots, (parent_ids, pa.array(positions, pa.int64())), out
        )
