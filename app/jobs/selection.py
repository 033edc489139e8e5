"""What the dbt stage of an incremental run builds: only the models downstream of what changed.

A model's inputs are the raw tables (commercetools, Iterable's read-back), the sync's own
audit tables, the clock, and the project itself (files, vars, dbt). Since the last build
that succeeded:

- the project changed (another fingerprint), or there is no such build → a full build;
- commercetools raw tables the ingest changed → ``source:commercetools.<table>+`` (child
  tables included);
- Iterable's read-back tables whose content changed → ``source:iterable.<table>+``;
- the sync's tables changed (it acknowledged, rejected or remembered profiles after that
  build) → ``source:ctsync.<table>+``; a marker per table (row count, newest write) tells;
- the clock crossed a cart's abandonment time → ``int_carts__enriched+`` (``is_abandoned``
  is the one clock-relative fact that reaches Iterable; payloads carry none, a dbt test checks).

Nothing changed → no build at all. A selective build runs the data tests of the models it
builds; the full suite runs in full builds. A selective build leaves views alone but the
``_changes`` views (the sync's input, whose tests protect Iterable): a view's SQL depends on
the project and on the raw tables' columns, not on their rows, so staging, intermediate and
audit views are re-created only when dlt changed a raw schema (a new column or child table),
and their tests, which read every row, run in full builds. A project change
rebuilds with ``--full-refresh``: incremental models keep rows built by the old logic
otherwise. Each build is recorded in ``<audit schema>.sync_dbt_builds``, in the warehouse, so
the state travels with the data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctsync.core.clock import utcnow
from ctsync.core.config import audit_schema
from ctsync.core.warehouse import connect

if TYPE_CHECKING:
    from ctsync.app.transform import BuildResult

BUILDS_TABLE = "sync_dbt_builds"

# The sync's tables that tables (not views: those read live) are built from, with a marker
# that moves whenever the rows a model reads do. The ledger and the profiles stamp every
# write; the changelog only grows; of the runs, the backfill window reads the first sync.
_SYNC_MARKERS = {
    "sync_ledger": "select count(*), max(acknowledged_at) from {schema}.sync_ledger",
    "sync_user_profiles": "select count(*), max(acknowledged_at) from {schema}.sync_user_profiles",
    "sync_changelog": "select count(*), max(attempted_at) from {schema}.sync_changelog",
    "sync_runs": (
        "select min(started_at) filter (where mode in ('incremental', 'full', 'full_refresh')) "
        "from {schema}.sync_runs"
    ),
}
_CLOCK_MODEL = "int_carts__enriched"
_LOADS = "commercetools._dlt_loads"
"""The newest dlt load of the commercetools raw tables a build saw (not a dbt source)."""
_SCHEMAS = "schemas"
"""The dlt schema versions of the raw datasets a build saw (not a dbt source): the columns
the staging views select."""
VIEWS = [
    *(
        f"config.materialized:view,path:models/{folder}"
        for folder in ("staging", "intermediate", "marts", "audit")
    ),
    "iterable__events_skipped",
    "iterable__rejections",
]
"""Views a selective build leaves as they are (with their tests): all but the `_changes` ones."""
FULL_BUILD_ONLY = "tag:full_build_only"
"""Data tests of the whole base (every record has an outcome, totals reconcile to raw money)
or of the project's code (no payload carries a clock-relative field): full builds run them; a
selective build's tests check the rows it rebuilt."""
CHANGE_LISTS = "tag:ctsync_changes"
"""The tables listing what changed since the last build (int_changes__customers, ...): every
selective build recomputes them first, so an incremental model never reads an older list."""


@dataclass(frozen=True)
class IngestChanges:
    """What the job's ingest did: the commercetools raw tables it changed
    (``IngestSummary.changed_resources``) and its dlt load ids."""

    tables: Sequence[str] = ()
    load_ids: Sequence[str] = ()


@dataclass
class BuildPlan:
    kind: str  # full | selective | none
    reason: str
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    full_refresh: bool = False
    fingerprint: str = ""
    markers: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "selective":
            return f"only what changed ({self.reason})"
        return self.reason


def plan_build(
    warehouse: Path,
    fingerprint: str,
    changed: IngestChanges | None,
    *,
    full_refresh: bool = False,
    now: datetime | None = None,
) -> BuildPlan:
    """Decide what the dbt stage builds. ``changed`` None: the ingest did not say (a stage
    replaced in a test), so everything is built."""
    with connect(warehouse) as con:
        _ensure_table(con)
        markers = _markers(con)
        last = con.execute(
            f"select fingerprint, succeeded, markers from {audit_schema()}.{BUILDS_TABLE} "
            "order by built_at desc limit 1"
        ).fetchone()
        plan = BuildPlan("full", "", fingerprint=fingerprint, markers=markers)
        if full_refresh:
            plan.reason = "full refresh"
            plan.full_refresh = True
        elif changed is None:
            plan.reason = "full build: what the ingest changed is unknown"
        elif last is None:
            plan.reason = "full build: first build of this warehouse"
        elif last[0] != fingerprint:
            plan.reason = "full build: the dbt project or its vars changed"
            plan.full_refresh = True
        elif not last[1]:
            plan.reason = "full build: the last build did not succeed"
        elif _loaded_elsewhere(con, json.loads(last[2] or "{}").get(_LOADS), changed.load_ids):
            plan.reason = "full build: commercetools data was loaded outside a job since"
        else:
            previous = json.loads(last[2] or "{}")
            reasons: list[str] = []
            for table in sorted(changed.tables):
                plan.select += [
                    f"source:commercetools.{table}+",
                    f"source:commercetools.{table}__*+",
                ]
            if changed.tables:
                reasons.append(f"commercetools: {', '.join(sorted(changed.tables))}")
            moved = [
                name
                for name, value in markers.items()
                if name not in (_LOADS, _SCHEMAS) and (value is None or previous.get(name) != value)
            ]
            plan.select += [f"source:{name}+" for name in moved]
            if moved:
                reasons.append(f"changed: {', '.join(moved)}")
            if _clock_crossed(con, now or utcnow()):
                plan.select.append(f"{_CLOCK_MODEL}+")
                reasons.append("carts became abandoned")
            if markers.get(_SCHEMAS) != previous.get(_SCHEMAS):
                reasons.append("a raw schema changed: views re-created")
            elif plan.select:
                plan.exclude += VIEWS
            if plan.select:
                plan.select.append(CHANGE_LISTS)
                plan.exclude.append(FULL_BUILD_ONLY)
                plan.kind, plan.reason = "selective", "; ".join(reasons)
            else:
                plan.kind, plan.reason = "none", "nothing changed since the last build"
    return plan


def build_what_changed(
    warehouse: Path,
    run_id: str,
    changed: IngestChanges | None,
    *,
    full_refresh: bool = False,
    exclude: Sequence[str] = (),
    on_node_finished: Callable[[str, str], None] | None = None,
    target_path: Path | None = None,
) -> tuple[BuildPlan, BuildResult | None]:
    """Plan the build (:func:`plan_build`), run it and record it. The result is None when
    nothing changed and dbt did not run."""
    from ctsync.app.transform import build_fingerprint, run_dbt_build

    plan = plan_build(warehouse, build_fingerprint(warehouse), changed, full_refresh=full_refresh)
    if plan.kind == "none":
        record_build(warehouse, run_id, plan, True, 0.0)
        return plan, None
    result = run_dbt_build(
        warehouse=warehouse,
        full_refresh=plan.full_refresh,
        select=plan.select or None,
        exclude=[*exclude, *plan.exclude],
        on_node_finished=on_node_finished,
        target_path=target_path,
    )
    record_build(warehouse, run_id, plan, result.success, result.elapsed_seconds)
    return plan, result


def record_build(
    warehouse: Path, run_id: str, plan: BuildPlan, succeeded: bool, seconds: float
) -> None:
    with connect(warehouse) as con:
        _ensure_table(con)
        con.execute(
            f"insert into {audit_schema()}.{BUILDS_TABLE} (run_id, built_at, kind, selection, "
            "reason, fingerprint, markers, succeeded, seconds) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                utcnow(),
                plan.kind,
                " ".join(plan.select) or None,
                plan.reason[:4000],
                plan.fingerprint,
                json.dumps(plan.markers),
                succeeded,
                seconds,
            ],
        )


def _ensure_table(con: Any) -> None:
    from ctsync.core.warehouse import ensure_audit_tables

    ensure_audit_tables(con)  # sync_dbt_builds is one of them (macros/ctsync_audit_tables.sql)


def _markers(con: Any) -> dict[str, Any]:
    """Per dbt source (``ctsync.<table>``, ``iterable.<table>``): a value that changes when
    the rows models read change. None: unknown, so rebuild."""
    markers: dict[str, Any] = {}
    existing = _tables(con, audit_schema())
    for name, query in _SYNC_MARKERS.items():
        key = f"ctsync.{name}"
        if name not in existing:
            markers[key] = None
            continue
        row = con.execute(query.format(schema=audit_schema())).fetchone()
        values = [str(value) if value is not None else None for value in row or ()]
        # sync_runs without a sync yet: the backfill window is relative to now
        markers[key] = None if all(value is None for value in values) else values
    from ctsync.ingest.commercetools.schema import DATASET_NAME as RAW

    raw_tables = _tables(con, RAW)
    if "_dlt_loads" in raw_tables:
        row = con.execute(f"select max(load_id) from {RAW}._dlt_loads").fetchone()
        markers[_LOADS] = row[0] if row else None
    from ctsync.ingest.iterable.pipeline import TABLES
    from ctsync.ingest.iterable.source import DATASET_NAME

    iterable_tables = _tables(con, DATASET_NAME)
    schemas: dict[str, Any] = {}
    for dataset, tables in ((RAW, raw_tables), (DATASET_NAME, iterable_tables)):
        if "_dlt_version" in tables:
            row = con.execute(
                f"select count(*), max(version), max(inserted_at) from {dataset}._dlt_version"
            ).fetchone()
            schemas[dataset] = [str(value) for value in row or ()]
    markers[_SCHEMAS] = schemas
    # Iterable's read-back replaces some tables every run and re-reads a window of users:
    # what it loaded says little, the content says whether anything changed (small tables).
    for name in TABLES:
        if name not in iterable_tables:
            continue  # the source reads an empty stand-in until the first load
        columns = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? and column_name not like '\\_dlt%' "
                "escape '\\' order by column_name",
                [DATASET_NAME, name],
            ).fetchall()
        ]
        quoted = ", ".join(f'"{column}"' for column in columns)
        row = con.execute(
            f"select count(*), bit_xor(hash({quoted})) from {DATASET_NAME}.{name}"
        ).fetchone()
        markers[f"iterable.{name}"] = [str(value) for value in row or ()]
    return markers


def _loaded_elsewhere(con: Any, seen: str | None, own: Sequence[str]) -> bool:
    """Did anything but this job's ingest load commercetools data since the last build (a
    `ctsync ingest` run by hand)? Its changes are not in ``IngestChanges``."""
    from ctsync.ingest.commercetools.schema import DATASET_NAME as RAW

    if "_dlt_loads" not in _tables(con, RAW):
        return False
    row = con.execute(
        f"select count(*) from {RAW}._dlt_loads where load_id > coalesce(?, '') "
        "and not list_contains(?::varchar[], load_id)",
        [seen, list(own)],
    ).fetchone()
    return bool(row and row[0])


def _clock_crossed(con: Any, now: datetime) -> bool:
    """Did a cart that was open with items when the cart model was built become abandoned?"""
    relation = _relation(con, _CLOCK_MODEL)
    if relation is None:
        return True
    row = con.execute(
        f"select count(*) from {relation} where is_open_with_items and not is_abandoned "
        "and abandoned_at <= ?",
        [now],
    ).fetchone()
    return bool(row and row[0])


def _relation(con: Any, name: str) -> str | None:
    row = con.execute(
        "select table_schema from information_schema.tables where table_name = ? "
        "and table_type = 'BASE TABLE' order by table_schema limit 1",
        [name],
    ).fetchone()
    return f'"{row[0]}"."{name}"' if row else None


def _tables(con: Any, schema: str) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [schema]
    ).fetchall()
    return {row[0] for row in rows}
