"""What fills the warehouse file: bytes per schema, per table and per column; prints JSON.

    .venv/bin/python bench/warehouse_size.py --warehouse PATH [--top 25] [--columns 5] [--compact]
    .venv/bin/python bench/warehouse_size.py --customers 100000 --orders 300000

With ``--warehouse`` it reads an existing DuckDB file (read-only). Without it, it builds one
the way ``bench/transform.py`` does (template loaded through dlt, multiplied to the scale,
a full ``dbt build``, everything acknowledged in the ledger, 0.1 % changed and rebuilt) and
measures that.

Figures:

- ``file_bytes`` (the file on disk) and DuckDB's ``pragma database_size`` (used and free
  blocks, WAL);
- per table: rows and an estimate of its bytes from ``pragma_storage_info``. Each persistent
  column segment is charged from its offset to the next segment in the same block (or the
  block's end), plus its overflow blocks; summed per column, table and schema. What no
  segment claims (catalog, free lists, ART indexes of primary keys) is ``unattributed``;
- with ``--compact``, afterwards: ``ctsync compact`` of that file (it rewrites the file in
  place: use it on a bench's own warehouse), its size after and its seconds (``compacted``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def _mb(value: float) -> float:
    return round(value / 1e6, 2)


def measure(warehouse: Path, top: int = 25, columns: int = 5) -> dict[str, Any]:
    """Bytes per schema, table and (for the ``top`` largest tables) column of ``warehouse``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        size_row = con.execute("pragma database_size").fetchone()
        assert size_row is not None
        names = [d[0] for d in con.description or ()]
        size = dict(zip(names, size_row, strict=False))
        block_size = int(size["block_size"])
        tables = con.execute(
            "select schema_name, table_name, estimated_size from duckdb_tables() "
            "where database_name = current_database() order by 1, 2"
        ).fetchall()
        # (block id, offset) → (schema, table, column) for every persistent segment
        segments: dict[int, list[tuple[int, tuple[str, str, str]]]] = defaultdict(list)
        overflow: dict[tuple[str, str, str], int] = defaultdict(int)
        rows: dict[tuple[str, str], int] = {}
        for schema, table, _estimate in tables:
            qualified = f'"{schema}"."{table}"'
            count = con.execute(f"select count(*) from {qualified}").fetchone()
            rows[(schema, table)] = int(count[0]) if count else 0
            for column, block_id, offset, extra in con.execute(
                "select column_name, block_id, block_offset, additional_block_ids "
                "from pragma_storage_info(?) where persistent and block_id >= 0",
                [qualified],
            ).fetchall():
                key = (schema, table, column)
                segments[int(block_id)].append((int(offset), key))
                overflow[key] += len(extra or ()) * block_size
    per_column: dict[tuple[str, str, str], int] = defaultdict(int, overflow)
    for in_block in segments.values():
        in_block.sort()
        for index, (offset, key) in enumerate(in_block):
            end = in_block[index + 1][0] if index + 1 < len(in_block) else block_size
            per_column[key] += max(end - offset, 0)
    per_table: dict[tuple[str, str], int] = defaultdict(int)
    table_columns: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (schema, table, column), used in per_column.items():
        per_table[(schema, table)] += used
        table_columns[(schema, table)][column] = used
    per_schema: dict[str, int] = defaultdict(int)
    for (schema, _table), used in per_table.items():
        per_schema[schema] += used
    for schema, _table in rows:
        per_schema.setdefault(schema, 0)
    used_bytes = int(size["used_blocks"]) * block_size
    attributed = sum(per_table.values())
    ranked = sorted(rows, key=lambda key: per_table.get(key, 0), reverse=True)
    return {
        "warehouse": str(warehouse),
        "file_bytes": warehouse.stat().st_size,
        "file_mb": _mb(warehouse.stat().st_size),
        "database_size": {
            "block_size": block_size,
            "total_blocks": int(size["total_blocks"]),
            "used_blocks": int(size["used_blocks"]),
            "free_blocks": int(size["free_blocks"]),
            "used_mb": _mb(used_bytes),
            "free_mb": _mb(int(size["free_blocks"]) * block_size),
            "wal_size": size["wal_size"],
        },
        "attributed_mb": _mb(attributed),
        "unattributed_mb": _mb(max(used_bytes - attributed, 0)),
        "schemas_mb": {
            schema: _mb(used)
            for schema, used in sorted(per_schema.items(), key=lambda kv: kv[1], reverse=True)
        },
        "tables": [
            {
                "table": f"{schema}.{table}",
                "rows": rows[(schema, table)],
                "mb": _mb(per_table.get((schema, table), 0)),
                "share": round(per_table.get((schema, table), 0) / attributed, 3)
                if attributed
                else 0.0,
                "largest_columns_mb": {
                    column: _mb(used)
                    for column, used in sorted(
                        table_columns[(schema, table)].items(), key=lambda kv: kv[1], reverse=True
                    )[:columns]
                },
            }
            for schema, table in ranked[:top]
        ],
    }


def compacted(warehouse: Path) -> dict[str, Any]:
    """``ctsync compact`` of ``warehouse`` (in place): the file's size after, and the time."""
    from ctsync.core.warehouse import compact

    done = compact(warehouse)
    return {"file_mb": _mb(done.after_bytes), "seconds": round(done.seconds, 1)}


def build(workdir: Path, customers: int, orders: int) -> Path:
    """A warehouse as ``bench/transform.py`` leaves it (its JSON goes to stderr)."""
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "transform.py"),
            "--customers",
            str(customers),
            "--orders",
            str(orders),
            "--template-customers",
            str(min(2000, customers)),
            "--workdir",
            str(workdir),
        ],
        check=True,
        stdout=sys.stderr,
    )
    return workdir / "warehouse.duckdb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--top", type=int, default=25, help="tables listed")
    parser.add_argument("--columns", type=int, default=5, help="columns listed per table")
    parser.add_argument(
        "--compact", action="store_true", help="then compact the file (ctsync compact) and measure"
    )
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if args.warehouse is not None:
        result = measure(args.warehouse, args.top, args.columns)
        if args.compact:
            result["compacted"] = compacted(args.warehouse)
    else:
        with tempfile.TemporaryDirectory(prefix="ctsync-bench-size-") as tmp:
            warehouse = build(Path(tmp), args.customers, args.orders)
            result = measure(warehouse, args.top, args.columns)
            result["built"] = {"customers": args.customers, "orders": args.orders}
    print(json.dumps({"benchmark": "warehouse_size", **result}, indent=2))


if __name__ == "__main__":
    main()
