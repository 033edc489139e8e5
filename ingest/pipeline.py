"""Run the commercetools ingest: dlt pipeline wiring, full refresh, and the run summary.

``run_ingest()`` is what ``ctsync ingest`` and the job runner (``ctsync run``) call. The dlt
pipeline keeps its working folder in ``.ctsync/dlt/<warehouse name>`` beside the warehouse
file, so its state (the incremental cursors) travels with the warehouse; dlt also stores the
state in ``raw_commercetools._dlt_pipeline_state`` and restores it when the folder is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb

from ctsync.ingest.commercetools import schema
from ctsync.ingest.commercetools.arrow import has_nested_layout, prune_replaced_children
from ctsync.ingest.commercetools.client import (
    ClientStats,
    CommercetoolsClient,
    CommercetoolsError,
)
from ctsync.ingest.commercetools.source import (
    CommercetoolsSettings,
    ProgressCallback,
    build_source,
    load_settings,
)

logger = logging.getLogger(__name__)

PIPELINE_NAME = "ctsync_commercetools"
SOURCE_NAME = "commercetools"
"""The dlt source, and so the name of its dlt schema."""
SNAPSHOT_SCHEMA = "ctsync_ingest_snapshot"
RECONCILED_TABLE = "reconciled_deletions"
"""Raw table of ids found deleted by id reconciliation (no ``*Deleted`` message)."""


class IngestError(Exception):
    """The ingest failed; the message says why, without secrets."""


@dataclass
class ResourceSummary:
    name: str
    fetched: int = 0
    """Rows the API returned in this run (incremental: only changed rows and the look-back)."""
    new: int = 0
    """Ids that were not in the table before this run."""
    updated: int = 0
    """Ids that existed and came back with a new ``version`` (or without versions at all)."""
    unchanged: int = 0
    """Ids re-read with the same ``version`` (look-back window, full refresh)."""
    removed: int = 0
    """Ids that disappeared: deleted per a ``*Deleted`` message, or gone in a full refresh."""
    total: int = 0
    """Rows in the table after the run."""


@dataclass
class IngestSummary:
    warehouse: Path
    full_refresh: bool
    resources: list[ResourceSummary] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    load_ids: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    token_mints: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    """dlt's own steps (extract includes the HTTP paging, which overlaps it)."""
    deleted_elsewhere: set[str] = field(default_factory=set)
    """Raw tables outside the selected resources that lost rows to a ``*Deleted`` message,
    and ``reconciled_deletions`` when id reconciliation recorded a deletion."""

    @property
    def changed_resources(self) -> list[str]:
        """Raw tables (resources, with their child tables) whose rows this run added, changed
        or removed: what a dbt build after it has to rebuild from."""
        changed = {r.name for r in self.resources if r.new or r.updated or r.removed}
        return sorted(changed | self.deleted_elsewhere)

    @property
    def fetched(self) -> int:
        return sum(r.fetched for r in self.resources)

    def resource(self, name: str) -> ResourceSummary:
        for summary in self.resources:
            if summary.name == name:
                return summary
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "warehouse": str(self.warehouse),
            "full_refresh": self.full_refresh,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "requests": self.requests,
            "retries": self.retries,
            "token_mints": self.token_mints,
            "step_seconds": self.step_seconds,
            "resources": {
                r.name: {
                    "fetched": r.fetched,
                    "new": r.new,
                    "updated": r.updated,
                    "unchanged": r.unchanged,
                    "removed": r.removed,
                    "total": r.total,
                }
                for r in self.resources
            },
        }


def pipelines_dir_for(warehouse: Path) -> Path:
    return warehouse.parent / ".ctsync" / "dlt" / warehouse.stem


def make_pipeline(warehouse: Path, pipelines_dir: Path | None = None) -> dlt.Pipeline:
    schema.disable_intermediate_compression()
    schema.truncate_staging_after_load()
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=schema.DATASET_NAME,
        pipelines_dir=str(pipelines_dir or pipelines_dir_for(warehouse)),
    )


def parse_resources(value: str | Sequence[str] | None) -> list[str] | None:
    """``"customers,orders"`` → ``["customers", "orders"]``; unknown names raise ``ValueError``."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().replace("-", "_") for n in names if n and n.strip()]
    if not names:
        return None
    unknown = [n for n in names if n not in schema.TABLES]
    if unknown:
        raise ValueError(
            f"unknown resource(s): {', '.join(unknown)}; "
            f"choose from {', '.join(schema.RESOURCE_NAMES)}"
        )
    return list(dict.fromkeys(names))


def _existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?",
        [schema.DATASET_NAME],
    ).fetchall()
    return {row[0] for row in rows}


def _snapshot_ids(
    warehouse: Path, names: Sequence[str], loading: dict[str, list[str]] | None = None
) -> None:
    """Copy ids, versions and load ids aside (inside DuckDB, not into Python memory) to count
    changes.

    commercetools bumps ``version`` on every change, so a re-read row (look-back window,
    full refresh, a small resource read whole) whose version is unchanged is told apart from
    a real update.

    With ``loading`` (resource → the Parquet files of the load about to run), only the rows
    of the ids in those files: an incremental load reads a few records, and copying every id
    of every resource cost more than the load. Without it (a full refresh, a reconciliation:
    rows may go without a message), every row.
    """
    with duckdb.connect(str(warehouse)) as con:
        existing = _existing_tables(con)
        con.execute(f"create schema if not exists {SNAPSHOT_SCHEMA}")
        # how many ids each table had: what the load and the deletions removed is the
        # difference, whichever ids the snapshot holds
        con.execute(f"create or replace table {SNAPSHOT_SCHEMA}._ids (name varchar, ids bigint)")
        for name in names:
            if name in existing:
                con.execute(
                    f"insert into {SNAPSHOT_SCHEMA}._ids select ?, count(distinct id) "
                    f"from {schema.DATASET_NAME}.{name}",
                    [name],
                )
            con.execute(f"drop table if exists {SNAPSHOT_SCHEMA}.{name}")
            files = None if loading is None else loading.get(name, [])
            if name in existing and files != []:
                version = "version" if _has_column(con, name, "version") else "null::bigint"
                only = "" if files is None else "where id in (select id from read_parquet(?)) "
                con.execute(
                    f"create table {SNAPSHOT_SCHEMA}.{name} as "
                    f"select id, max({version}) as version, max(_dlt_load_id) as load_id "
                    f"from {schema.DATASET_NAME}.{name} {only}group by id",
                    [] if files is None else [files],
                )
            else:
                con.execute(
                    f"create table {SNAPSHOT_SCHEMA}.{name} "
                    "(id varchar, version bigint, load_id varchar)"
                )


def _take_snapshot(
    warehouse: Path, names: Sequence[str], loading: dict[str, list[str]] | None = None
) -> None:
    try:
        _snapshot_ids(warehouse, names, loading)
    except duckdb.Error as exc:
        raise IngestError(
            f"cannot write the warehouse {warehouse}: {exc}. Only one process may write it "
            f"at a time; is another ctsync or dbt run using it?"
        ) from None


def _files_to_load(pipeline: dlt.Pipeline, names: Sequence[str]) -> dict[str, list[str]] | None:
    """Resource → the Parquet files its rows are loaded from, over every normalized package
    (None when a resource's rows are in another format: its snapshot is then whole)."""
    files: dict[str, list[str]] = {}
    for load_id in pipeline.list_normalized_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
            table = job.job_file_info.table_name
            if table not in names:
                continue
            if job.job_file_info.file_format != "parquet":
                return None
            files.setdefault(table, []).append(job.file_path)
    return files


def _count_changes(
    warehouse: Path, summaries: dict[str, ResourceSummary], load_ids: Sequence[str]
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        existing = _existing_tables(con)
        for name, summary in summaries.items():
            before = con.execute(
                f"select coalesce(sum(ids), 0) from {SNAPSHOT_SCHEMA}._ids where name = ?", [name]
            ).fetchone()
            before_ids = int(before[0]) if before else 0
            if name not in existing:
                summary.removed = before_ids
                continue
            table = f"{schema.DATASET_NAME}.{name}"
            snapshot = f"{SNAPSHOT_SCHEMA}.{name}"
            version = "t.version" if _has_column(con, name, "version") else "null::bigint"
            row = con.execute(
                f"""
                with written as (
                    select t.id, {version} as version from {table} t
                    where t._dlt_load_id in (select unnest(?::varchar[]))
                )
                select
                    (select count(*) from {table}),
                    count(*) filter (where s.id is null),
                    count(*) filter (
                        where s.id is not null
                        and (w.version is null or s.version is distinct from w.version)),
                    count(*) filter (
                        where s.id is not null
                        and w.version is not null and s.version = w.version),
                    (select count(distinct id) from {table})
                from written w
                left join {snapshot} s on s.id = w.id
                """,
                [list(load_ids)],
            ).fetchone()
            assert row is not None
            (summary.total, summary.new, summary.updated, summary.unchanged, after_ids) = row
            # ids before + new ids - ids now: every id a load can write is in the snapshot
            summary.removed = max(before_ids + summary.new - int(after_ids), 0)
            if summary.unchanged and version != "null::bigint":
                # A row re-read with the same version keeps the id of the load that last
                # changed it: the models that rebuild only what changed read "changed since"
                # from these ids (stg_commercetools__record_loads), and a re-read is no change.
                con.execute(
                    f"""
                    update {table} as t
                    set _dlt_load_id = s.load_id
                    from {snapshot} as s
                    where t.id = s.id
                        and t._dlt_load_id in (select unnest(?::varchar[]))
                        and t.version = s.version
                        and s.load_id is not null
                    """,
                    [list(load_ids)],
                )
        con.execute(f"drop schema if exists {SNAPSHOT_SCHEMA} cascade")


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    row = con.execute(
        "select 1 from information_schema.columns "
        "where table_schema = ? and table_name = ? and column_name = ?",
        [schema.DATASET_NAME, table, column],
    ).fetchone()
    return row is not None


def reconcile_deletions(
    con: duckdb.DuckDBPyConnection, api: CommercetoolsClient, names: Sequence[str]
) -> dict[str, int]:
    """Find rows deleted in commercetools without a ``*Deleted`` message (a project with
    Messages disabled, messages expired, or carts, which have no deletion message) by
    comparing ids: every id the raw table holds
    that the API no longer lists is recorded in ``reconciled_deletions`` (with the customer's
    last known identity, so Iterable can still be told) and removed with its child rows.

    Costs one keyset-paged read of the ids per resource. Returns rows removed per table.
    """
    existing = _existing_tables(con)
    con.execute(f"create schema if not exists {schema.DATASET_NAME}")  # a new warehouse
    con.execute(
        f"create table if not exists {schema.DATASET_NAME}.{RECONCILED_TABLE} ("
        "resource_type_id varchar not null, resource_id varchar not null, "
        "customer_number varchar, email varchar, external_id varchar, "
        "detected_at timestamp with time zone not null)"
    )
    removed: dict[str, int] = {}
    for name in names:
        if name not in schema.RECONCILED_RESOURCES or name not in existing:
            continue
        table = schema.TABLES[name]
        live: set[str] = set()
        for page in api.paginate(table.endpoint, params=dict(table.params or {})):
            live.update(str(row["id"]) for row in page)
        root = f"{schema.DATASET_NAME}.{name}"
        held = {row[0] for row in con.execute(f"select id from {root}").fetchall()}
        gone = sorted(held - live)
        removed[name] = len(gone)
        if not gone:
            continue
        type_id = schema.RECONCILED_RESOURCES[name]
        columns = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema.DATASET_NAME, name],
            ).fetchall()
        }
        identity = ", ".join(
            column if name == "customers" and column in columns else "null"
            for column in ("customer_number", "email", "external_id")
        )
        con.execute("begin transaction")
        try:
            con.execute(
                f"insert into {schema.DATASET_NAME}.{RECONCILED_TABLE} "
                f"select ?, id, {identity}, now() from {root} where list_contains(?, id)",
                [type_id, gone],
            )
            for child in sorted(t for t in existing if t.startswith(f"{name}__")):
                con.execute(
                    f"delete from {schema.DATASET_NAME}.{child} where _dlt_root_id in ("
                    f"select _dlt_id from {root} where list_contains(?, id))",
                    [gone],
                )
            con.execute(f"delete from {root} where list_contains(?, id)", [gone])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return removed


def apply_deletions(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> dict[str, int]:
    """Remove rows (and their child rows) that a ``*Deleted`` message in raw messages names.

    Keeps ``raw_commercetools`` a mirror of the project: downstream models then stop
    desiring a deleted customer, which is what makes the sync delete it in Iterable. The
    deletion event itself stays in ``messages``. Returns rows removed per table.
    """
    existing = _existing_tables(con)
    if "messages" not in existing:
        return {}
    removed: dict[str, int] = {}
    con.execute("begin transaction")
    try:
        for name in names:
            if name not in schema.DELETION_MESSAGES or name not in existing:
                continue
            type_id, message_type = schema.DELETION_MESSAGES[name]
            doomed = (
                f"select id from {schema.DATASET_NAME}.messages "
                f"where resource__type_id = ? and type = ? and resource__id = root.id"
            )
            root = f"{schema.DATASET_NAME}.{name}"
            for child in sorted(t for t in existing if t.startswith(f"{name}__")):
                con.execute(
                    f"delete from {schema.DATASET_NAME}.{child} where _dlt_root_id in ("
                    f"select root._dlt_id from {root} root where exists ({doomed}))",
                    [type_id, message_type],
                )
            row = con.execute(
                f"delete from {root} where id in ("
                f"select root.id from {root} root where exists ({doomed}))",
                [type_id, message_type],
            ).fetchone()
            removed[name] = int(row[0]) if row else 0
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return removed


def _tables_loaded_row_by_row(
    pipeline: dlt.Pipeline, schema_name: str, names: Sequence[str]
) -> list[str]:
    """Resources whose stored dlt schema still has dlt-nested child tables (see ``arrow``)."""
    if schema_name not in pipeline.schema_names:
        return []
    return has_nested_layout(pipeline.schemas[schema_name].tables, names)


def _step_seconds(pipeline: dlt.Pipeline) -> dict[str, float]:
    trace = pipeline.last_trace
    if trace is None:
        return {}
    return {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 3)
        for step in trace.steps
        if step.finished_at is not None and step.step in ("extract", "normalize", "load")
    }


def _drop_snapshot(warehouse: Path) -> None:
    try:
        with duckdb.connect(str(warehouse)) as con:
            con.execute(f"drop schema if exists {SNAPSHOT_SCHEMA} cascade")
    except duckdb.Error:
        logger.warning("could not drop %s.* from %s", SNAPSHOT_SCHEMA, warehouse)


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CommercetoolsError):
            return current
        current = current.__cause__ or current.__context__
    return exc


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def run_ingest(
    full_refresh: bool = False,
    resources: Sequence[str] | str | None = None,
    progress: ProgressCallback | None = None,
    *,
    warehouse: Path | str | None = None,
    settings: CommercetoolsSettings | None = None,
    pipelines_dir: Path | str | None = None,
    client: CommercetoolsClient | None = None,
    reconcile: bool = False,
) -> IngestSummary:
    """Load commercetools into ``raw_commercetools`` (incremental unless ``full_refresh``).

    ``full_refresh`` drops the selected tables and their cursors and reloads them, which
    also removes rows deleted in commercetools. ``reconcile`` (implied by ``full_refresh``)
    first compares the raw ids with the API's (see :func:`reconcile_deletions`): deletions are
    then found even when the project's Messages are disabled. Raises :class:`IngestError`
    with a message fit for users (no secrets) when configuration, credentials or the API fail.
    """
    from ctsync.core.warehouse import ensure_private, warehouse_path

    started = time.perf_counter()
    target = ensure_private(
        Path(warehouse).resolve() if warehouse is not None else warehouse_path()
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    names = parse_resources(resources) or list(schema.RESOURCE_NAMES)
    try:
        settings = settings or load_settings()
    except CommercetoolsError as exc:
        raise IngestError(str(exc)) from None

    summaries = {name: ResourceSummary(name) for name in names}

    def count(resource_name: str, rows: int) -> None:
        summaries[resource_name].fetched += rows
        if progress is not None:
            progress(resource_name, rows)

    own_client = client is None
    try:
        api = client or settings.client()
    except CommercetoolsError as exc:
        raise IngestError(str(exc)) from None
    stats_before = _copy_stats(api.stats)
    summary = IngestSummary(warehouse=target, full_refresh=full_refresh)
    try:
        pipeline = make_pipeline(target, Path(pipelines_dir) if pipelines_dir is not None else None)
        # With a reconciliation or a full refresh rows may go without a message: the snapshot
        # holds every id, taken now, before them. Otherwise it holds the ids the load writes,
        # taken between normalize and load; this call then only fails fast (and clearly)
        # when another process holds the file.
        whole_snapshot = reconcile or full_refresh
        _take_snapshot(target, names if whole_snapshot else [])
        if reconcile or full_refresh:
            try:
                with duckdb.connect(str(target)) as con:
                    if any(reconcile_deletions(con, api, names).values()):
                        summary.deleted_elsewhere.add(RECONCILED_TABLE)
            except CommercetoolsError as exc:
                _drop_snapshot(target)
                raise IngestError(_scrub(str(exc), settings.client_secret)) from None
        if not pipeline.schema_names:
            # the working folder is new or lost: take dlt's schema and state from the warehouse
            pipeline.sync_destination()
        known = schema.known_columns(pipeline, SOURCE_NAME)
        source = build_source(settings, api, resources=names, progress=count, known_columns=known)
        relayout = _tables_loaded_row_by_row(pipeline, source.schema.name, names)
        if relayout and not full_refresh:
            logger.warning(
                "raw tables of %s were loaded by an earlier ctsync (dlt-nested child tables); "
                "reloading them in full once",
                ", ".join(relayout),
            )
            if not whole_snapshot:
                _take_snapshot(target, names)
                whole_snapshot = True
            full_refresh = True
            summary.full_refresh = True
        try:
            fmt = schema.LOADER_FILE_FORMAT
            if full_refresh:
                # The tables are dropped and keyset paging reads every id once, so appending
                # gives what a merge would, without the staging copy and the merge queries.
                for resource in source.resources.values():
                    resource.apply_hints(write_disposition="append")
                info = pipeline.run(source, refresh="drop_resources", loader_file_format=fmt)
                summary.step_seconds = _step_seconds(pipeline)
            else:
                # dlt's steps one by one: between normalize and load, the snapshot of the ids
                # this load writes (and of no other)
                steps: dict[str, float] = {}
                clock = time.perf_counter()
                pipeline.extract(source, loader_file_format=fmt)
                steps["extract"] = time.perf_counter() - clock
                clock = time.perf_counter()
                pipeline.normalize()
                steps["normalize"] = time.perf_counter() - clock
                if not whole_snapshot:
                    _take_snapshot(target, names, _files_to_load(pipeline, names))
                clock = time.perf_counter()
                info = pipeline.load()
                steps["load"] = time.perf_counter() - clock
                summary.step_seconds = {step: round(t, 3) for step, t in steps.items()}
            info.raise_on_failed_jobs()
        except Exception as exc:  # dlt wraps everything in PipelineStepFailed
            cause = _root_cause(exc)
            message = (
                str(cause)
                if isinstance(cause, CommercetoolsError)
                else (f"{type(cause).__name__}: {cause}")
            )
            _drop_snapshot(target)
            raise IngestError(_scrub(message, settings.client_secret)) from None
        summary.load_ids = list(info.loads_ids)
        with duckdb.connect(str(target)) as con:
            prune_replaced_children(con, schema.DATASET_NAME, names, summary.load_ids)
            deleted = apply_deletions(con, schema.RESOURCE_NAMES)
        summary.deleted_elsewhere.update(t for t, n in deleted.items() if n and t not in names)
        _count_changes(target, summaries, summary.load_ids)
    finally:
        if own_client:
            api.close()
    summary.resources = list(summaries.values())
    summary.requests = api.stats.requests - stats_before.requests
    summary.retries = api.stats.retries - stats_before.retries
    summary.token_mints = api.stats.token_mints - stats_before.token_mints
    summary.elapsed_seconds = time.perf_counter() - started
    return summary


def _copy_stats(stats: ClientStats) -> ClientStats:
    return ClientStats(
        requests=stats.requests,
        pages=stats.pages,
        rows=stats.rows,
        retries=stats.retries,
        token_mints=stats.token_mints,
        reauthentications=stats.reauthentications,
    )
