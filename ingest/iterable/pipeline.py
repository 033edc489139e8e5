"""Run the Iterable read-back: the dlt pipeline ``ctsync_iterable`` into ``raw_iterable``.

``run_iterable_ingest()`` is what ``ctsync ingest`` and ``ctsync run`` call after the
commercetools load. It needs the sync's Iterable key; without one it is skipped (and the
sync then holds back subscriptions, see ``ctsync.sync.engine``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dlt
import duckdb
import httpx

from ctsync.core.config import ConfigError, IterableSettings, load_settings
from ctsync.core.warehouse import read_back_loaded
from ctsync.ingest.commercetools import schema as commercetools_schema
from ctsync.ingest.iterable.client import IterableReadClient, IterableSourceError
from ctsync.ingest.iterable.source import DATASET_NAME, EVENT_TYPES, iterable_source

log = logging.getLogger("ctsync.ingest.iterable")

PIPELINE_NAME = "ctsync_iterable"
TABLES = ("users", "consent_events", "message_types", "channels", "lists")


@dataclass
class IterableIngestSummary:
    skipped: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    full_refresh: bool = False
    deferred: list[str] = field(default_factory=list)


def _settings() -> tuple[float, tuple[str, ...]]:
    lookback = dlt.config.get("sources.iterable.lookback_seconds", float)
    types: str | None = dlt.config.get("sources.iterable.event_types")
    chosen = tuple(t.strip() for t in str(types).split(",") if t.strip()) if types else EVENT_TYPES
    return (300.0 if lookback is None else float(lookback)), chosen


def has_loaded(con: duckdb.DuckDBPyConnection) -> bool:
    """True once a ``raw_iterable`` load has completed in this warehouse."""
    return read_back_loaded(con)


def run_iterable_ingest(
    warehouse: Path,
    *,
    full_refresh: bool = False,
    settings: IterableSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
) -> IterableIngestSummary:
    """Load what Iterable holds about consent. Raises ``IterableSourceError`` on failure."""
    started = time.perf_counter()
    summary = IterableIngestSummary(full_refresh=full_refresh)
    try:
        settings = settings or load_settings()
    except ConfigError as exc:
        raise IterableSourceError(str(exc)) from None
    if not settings.api_key:
        summary.skipped = "no Iterable API key (SYNC__ITERABLE__API_KEY)"
        return summary
    lookback, event_types = _settings()
    commercetools_schema.disable_intermediate_compression()
    commercetools_schema.truncate_staging_after_load()
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(warehouse.parent / ".ctsync" / "dlt" / f"{warehouse.stem}-iterable"),
    )
    with IterableReadClient(settings, transport=transport) as client:
        source = iterable_source(
            client, settings.project_type, lookback, event_types, now, summary.deferred
        )
        try:
            if full_refresh:
                info = pipeline.run(source, refresh="drop_resources", loader_file_format="jsonl")
            else:
                info = pipeline.run(source, loader_file_format="jsonl")
            info.raise_on_failed_jobs()
        except Exception as exc:
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, IterableSourceError):
                cause = cause.__cause__ or cause.__context__
            if isinstance(cause, IterableSourceError):
                raise cause from None
            raise IterableSourceError(f"{type(exc).__name__}: {exc}") from None
        summary.requests = client.requests
        summary.rate_limited = client.rate_limited
        summary.waited_seconds = round(client.waited_seconds, 3)
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    summary.rows = {name: int(counts.get(name, 0)) for name in TABLES}
    with duckdb.connect(str(warehouse)) as con:
        for name in TABLES:
            try:
                row = con.execute(f"select count(*) from {DATASET_NAME}.{name}").fetchone()
            except duckdb.Error:
                row = (0,)
            summary.totals[name] = int(row[0]) if row else 0
    summary.elapsed_seconds = time.perf_counter() - started
    return summary
