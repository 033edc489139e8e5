"""Benchmark the dbt transform at scale; prints one JSON object on stdout.

    .venv/bin/python bench/transform.py [--customers 1000000] [--orders 3000000]
                                        [--template-customers 2000] [--workdir DIR]

No API: a template of commercetools documents (sandbox/commercetools/documents/) is loaded
through the ingest helper (dlt, the real raw schema), then multiplied inside DuckDB to the
target scale with new ids, emails and numbers, so the shape is exactly a real ingest's. Then:

1. a full ``dbt build`` (models, seeds, every data and unit test);
2. everything the build wants to send is acknowledged in the ledger, as a sync would, and
   the build after that first sync runs (it rebuilds what the sync wrote: timed apart as
   ``settle_build``), then what it wants to send is acknowledged too;
3. 0.1% of customers and orders change (names, consent, order states), and the dbt stage
   of an incremental ``ctsync run`` runs (``build_what_changed``: the models downstream of
   the changed customers and orders and of the ledger the acknowledgement wrote, with their
   data tests, no unit tests); the `_changes` views then hold only what changed.

Each of the three ends as a job's run does (app/jobs/runner.py): the warehouse is compacted
when its free blocks are due under the configured thresholds (``compactions``).

Progress goes to stderr; the JSON (timings, row counts, changes after each build) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb  # noqa: E402

from ctsync.app.jobs.selection import (
    IngestChanges,
    build_what_changed,
    plan_build,
    record_build,
)
from ctsync.app.transform import build_fingerprint, run_dbt_build  # noqa: E402
from ctsync.core.clock import utcnow
from ctsync.core.config import DEFAULT_BATCH_SIZES, audit_schema
from ctsync.core.names import OBJECTS
from ctsync.core.warehouse import (  # noqa: E402
    compact_if_due,
    ensure_audit_tables,
    free_bytes,
    load_compaction_settings,
)
from ctsync.sandbox.commercetools.documents import Scale, load_raw  # noqa: E402
from ctsync.sync import audit  # noqa: E402

RAW = "raw_commercetools"
# Tables copied once per multiple; everything else (products, categories, stores, ...) is
# reference data shared by all copies.
MULTIPLIED = (
    "customers",
    "customers__addresses",
    "customers__stores",
    "orders",
    "orders__line_items",
    "orders__return_info",
    "orders__return_info__items",
    "carts",
    "carts__line_items",
    "messages",
)
# Columns holding ids of multiplied records: each copy gets its own suffix.
ID_COLUMNS = {
    "id",
    "_dlt_id",
    "_dlt_parent_id",
    "_dlt_root_id",
    "customer_id",
    "cart__id",
    "line_item_id",
    "resource__id",
    "anonymous_id",
    "key",
    "customer_number",
    "external_id",
    "order_number",
    "return_tracking_id",
    "resource_user_provided_identifiers__key",
    "resource_user_provided_identifiers__customer_number",
    "resource_user_provided_identifiers__order_number",
}
EMAIL_COLUMNS = {"email", "customer_email", "old_email"}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def multiply(con: duckdb.DuckDBPyConnection, factor: int) -> None:
    """Replace each multiplied table by `factor` copies of itself with distinct ids/emails."""
    existing = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [RAW]
        ).fetchall()
    }
    for table in MULTIPLIED:
        if table not in existing:
            continue
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [RAW, table],
        ).fetchall()
        select = []
        for name, data_type in columns:
            quoted = f'"{name}"'
            if name in ID_COLUMNS and data_type == "VARCHAR":
                select.append(
                    f"case when copy = 0 then {quoted} "
                    f"else {quoted} || '-c' || copy end as {quoted}"
                )
            elif name in EMAIL_COLUMNS and data_type == "VARCHAR":
                select.append(
                    f"case when copy = 0 then {quoted} "
                    f"else replace({quoted}, '@', '+c' || copy || '@') end as {quoted}"
                )
            else:
                select.append(quoted)
        con.execute(f"alter table {RAW}.{table} rename to {table}__template")
        con.execute(
            f"create table {RAW}.{table} as select {', '.join(select)} "
            f"from {RAW}.{table}__template cross join range({factor}) as copies(copy)"
        )
        con.execute(f"drop table {RAW}.{table}__template")


def counts(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def change_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for name in OBJECTS:
        rows = con.execute(
            f"select operation, count(*) from iterable.iterable__{name}_changes group by operation"
        ).fetchall()
        result[name] = {operation: count for operation, count in rows}
    return result


def acknowledge_everything(con: duckdb.DuckDBPyConnection, run_id: str = "bench") -> None:
    """What a sync run `run_id` that delivered every change would leave: per record a
    changelog row and a ledger row with the payload reduced as the sync reduces it
    (`ctsync.sync.privacy`), and the run itself (the first anchors the backfill window)."""
    now = utcnow()
    con.execute(
        f"insert into {audit_schema()}.sync_runs (run_id, trigger, mode, status, started_at) "
        "values (?, 'bench', 'incremental', 'succeeded', now())",
        [run_id],
    )
    for name in OBJECTS:
        # the changes view computed once; its rows acknowledged as reset-state marks them
        con.execute(
            f"create or replace temporary table acknowledged as select * "
            f"from iterable.iterable__{name}_changes where operation = 'upsert'"
        )
        # changelog ids as the sync writes them: a prefix per request group of the object's
        # batch size, then the row's position in its group
        group = DEFAULT_BATCH_SIZES.get(name, 100)
        [[rows]] = con.execute("select count(*) from acknowledged").fetchall()
        prefixes = [audit.changelog_id_prefix() for _ in range(rows // group + 1)]
        con.execute(
            f"""
            insert into {audit_schema()}.sync_changelog
            select list_extract($prefixes, (position // {group} + 1)::integer)
                    || (position % {group}),
                '{run_id}', '{name}', record_key,
                operation, idempotency_key, payload_hash, 'bench', 200, 'succeeded', null,
                source_updated_at, now()
            from (select *, row_number() over () - 1 as position from acknowledged)
            """,
            {"prefixes": prefixes},
        )
        audit.mark_acknowledged(con, name, "acknowledged", run_id, now)


def change_a_little(con: duckdb.DuckDBPyConnection, fraction: float) -> dict[str, Any]:
    """Touch `fraction` of customers (name, consent) and orders (state) as an ingest would:
    a new dlt load in ``_dlt_loads``, and its id on every row it merged."""
    [(newest,)] = con.execute(f"select max(load_id) from {RAW}._dlt_loads").fetchall()
    load_id = f"{int(float(newest)) + 60}.0"
    con.execute(
        f"insert into {RAW}._dlt_loads (load_id, schema_name, status, inserted_at) "
        "values (?, 'ctsync_raw_documents', 0, now())",
        [load_id],
    )
    customers = con.execute(
        f"""
        update {RAW}.customers
        set first_name = first_name || ' Jr',
            custom__fields__email_opt_in = not coalesce(custom__fields__email_opt_in, false),
            custom__fields__email_opt_in_at = coalesce(custom__fields__email_opt_in_at, now()),
            last_modified_at = now(),
            _dlt_load_id = ?
        where hash(id) % {round(1 / fraction)} = 0
        """,
        [load_id],
    ).fetchone()
    orders = con.execute(
        f"""
        update {RAW}.orders
        set order_state = 'Complete', shipment_state = 'Delivered', last_modified_at = now(),
            _dlt_load_id = ?
        where hash(id) % {round(1 / fraction)} = 1
        """,
        [load_id],
    ).fetchone()
    return {
        "customers": customers[0] if customers else 0,
        "orders": orders[0] if orders else 0,
        "load_id": load_id,
    }


def file_mb(warehouse: Path) -> dict[str, float]:
    """The warehouse file's MB, of which in free blocks (a DuckDB file never shrinks: its
    size is the most the data ever needed at once)."""
    free, total = free_bytes(warehouse)
    return {"file": round(total / 1e6, 1), "free": round(free / 1e6, 1)}


def end_of_job(warehouse: Path, job: str, figures: dict[str, Any]) -> None:
    """What a job does after its run (app/jobs/runner.py): compact the warehouse when its
    free blocks are due, under the configured thresholds."""
    done, detail = compact_if_due(warehouse, load_compaction_settings())
    figures.setdefault("compactions", {})[job] = {
        "compacted": done is not None,
        "seconds": round(done.seconds, 1) if done else 0.0,
        "detail": detail,
    }
    if done is not None:
        log(f"{job}: compacted, {detail}")
        figures["file_mb_after"][f"{job}'s compaction"] = file_mb(warehouse)


def slowest_nodes(run_results: Path, top: int = 8) -> dict[str, float]:
    """The nodes that took longest in the last dbt invocation (from dbt's run_results.json)."""
    if not run_results.exists():
        return {}
    results = json.loads(run_results.read_text())["results"]
    results.sort(key=lambda r: -r["execution_time"])
    return {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in results[:top]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=3_000_000)
    parser.add_argument("--template-customers", type=int, default=2_000)
    parser.add_argument("--change-fraction", type=float, default=0.001)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--reuse-raw",
        action="store_true",
        help="keep the raw tables an earlier run left in --workdir (skip generating them)",
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ctsync-bench-transform-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "warehouse.duckdb"
    reuse = args.reuse_raw and warehouse.exists()
    if not reuse:
        for stale in (warehouse, workdir / "warehouse.duckdb.wal"):
            stale.unlink(missing_ok=True)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

    factor = max(1, round(args.customers / args.template_customers))
    template = Scale(
        customers=args.template_customers,
        orders=round(args.orders / factor),
        carts=max(1, round(args.template_customers * 0.4)),
        products=200,
        seed=1,
        now=datetime.now(UTC).replace(microsecond=0),
    )
    figures: dict[str, Any] = {"target": {"customers": args.customers, "orders": args.orders}}

    if reuse:
        log(f"reusing the raw tables in {warehouse}")
        with duckdb.connect(str(warehouse)) as con:
            # only the raw tables: what dbt and the acknowledgement made starts again
            for (schema,) in con.execute(
                "select schema_name from information_schema.schemata "
                "where catalog_name = current_database() "
                "and schema_name not in (?, 'main', 'information_schema', 'pg_catalog')",
                [RAW],
            ).fetchall():
                con.execute(f'drop schema "{schema}" cascade')
    else:
        log(
            f"loading a template of {template.customers} customers / "
            f"{template.orders} orders via dlt"
        )
        started = time.monotonic()
        load_raw(warehouse, template)
        figures["template_load_seconds"] = round(time.monotonic() - started, 1)
        log(f"multiplying the template x{factor} in DuckDB")
        started = time.monotonic()
        with duckdb.connect(str(warehouse)) as con:
            multiply(con, factor)
        figures["multiply_seconds"] = round(time.monotonic() - started, 1)
    with duckdb.connect(str(warehouse)) as con:
        figures["raw_rows"] = counts(con, [f"{RAW}.{t}" for t in MULTIPLIED])
    # where the file grows, and by how much is free: after each step below
    figures["file_mb_after"] = {"raw load": file_mb(warehouse)}

    log("full dbt build")
    full = run_dbt_build(warehouse=warehouse, target_path=workdir / "dbt", full_refresh=True)
    figures["full_build"] = {
        "seconds": round(full.elapsed_seconds, 1),
        "success": full.success,
        "failures": [f"{p.resource_type} {p.name}: {p.message[:200]}" for p in full.failures],
        "nodes": {kind: dict(counter) for kind, counter in full.counts.items()},
    }
    figures["slowest_nodes"] = slowest_nodes(workdir / "dbt" / "target" / "run_results.json")
    if not full.success:
        print(json.dumps(figures, indent=2))
        sys.exit(1)
    # the full build as a job's first build, so the next one builds only what changed
    first = plan_build(warehouse, build_fingerprint(warehouse), None)
    record_build(warehouse, "bench-full", first, True, full.elapsed_seconds)
    figures["file_mb_after"]["full build"] = file_mb(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        figures["desired_rows"] = counts(con, [f"iterable.iterable__{o}" for o in OBJECTS])
        log("acknowledging everything in the ledger")
        started = time.monotonic()
        ensure_audit_tables(con)
        acknowledge_everything(con)
        figures["acknowledge_seconds"] = round(time.monotonic() - started, 1)
        figures["changes_after_acknowledging"] = change_counts(con)
    figures["file_mb_after"]["acknowledge"] = file_mb(warehouse)
    end_of_job(warehouse, "first job", figures)
    # The first build after the first sync rebuilds what that sync wrote (every person's
    # consent, every profile) and what its start anchored (the backfill windows): a job's
    # second run, once. Timed apart; the incremental build below is a steady state's.
    log("dbt build after the first sync (settling)")
    plan, settle = build_what_changed(
        warehouse,
        "bench-settle",
        IngestChanges([], []),
        exclude=["resource_type:unit_test"],
        target_path=workdir / "dbt",
    )
    figures["settle_build"] = {
        "seconds": round(settle.elapsed_seconds, 1) if settle else 0.0,
        "selection": plan.reason,
        "success": settle.success if settle else True,
    }
    figures["file_mb_after"]["settling build"] = file_mb(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        acknowledge_everything(con, "bench-settle")
    end_of_job(warehouse, "settling job", figures)
    with duckdb.connect(str(warehouse)) as con:
        figures["changed_raw_rows"] = change_a_little(con, args.change_fraction)

    log("dbt build of an incremental run after 0.1% changes")
    plan, incremental = build_what_changed(
        warehouse,
        "bench-incremental",
        IngestChanges(["customers", "orders"], [figures["changed_raw_rows"]["load_id"]]),
        exclude=["resource_type:unit_test"],
        target_path=workdir / "dbt",
    )
    assert incremental is not None, plan.reason
    figures["incremental_build"] = {
        "seconds": round(incremental.elapsed_seconds, 1),
        "selection": plan.reason,
        "nodes": {kind: dict(counter) for kind, counter in incremental.counts.items()},
        "success": incremental.success,
        "failures": [
            f"{p.resource_type} {p.name}: {p.message[:200]}" for p in incremental.failures
        ],
    }
    figures["incremental_slowest_nodes"] = slowest_nodes(
        workdir / "dbt" / "target" / "run_results.json"
    )
    with duckdb.connect(str(warehouse)) as con:
        figures["changes_after_incremental"] = change_counts(con)
    figures["file_mb_after"]["incremental build"] = file_mb(warehouse)
    end_of_job(warehouse, "incremental job", figures)
    figures["warehouse_mb"] = round(warehouse.stat().st_size / 1e6)
    figures["workdir"] = str(workdir)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
