"""`ctsync plan` and `ctsync sync --dry-run`: what a sync would send, per object, without
sending (counts per operation, held and invalid rows, samples, deletion guards)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson

from ctsync.core.clock import utcnow
from ctsync.core.config import IterableSettings
from ctsync.core.names import ChangeRow, RunMode, RunStatus
from ctsync.core.redact import redact
from ctsync.core.warehouse import connect
from ctsync.sync import guards
from ctsync.sync.audit import ObjectCounts
from ctsync.sync.planner import (
    changes_relation,
    count_changes,
    iter_pages,
    quiet,
    relation_exists,
    validate_objects,
)
from ctsync.sync.result import SyncResult
from ctsync.sync.validation import Validator

# Events before the first sync's backfill window (dbt view): counted by `plan`, never sent.
SKIPPED_EVENTS = "iterable.iterable__events_skipped"


@contextmanager
def _read_only(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if not target.exists():
        raise FileNotFoundError(
            f"warehouse {target} does not exist; build it first (`ctsync build` or `ctsync run`)"
        )
    with connect(target, read_only=True) as con:
        yield quiet(con)


@dataclass
class ObjectPlan:
    object: str
    operations: dict[str, int]
    held: int
    invalid: int
    samples: list[ChangeRow]
    available: bool = True
    guard: guards.GuardDecision | None = None  # set when this object's deletions would stop
    skipped: int = 0
    """Records left out as history before the backfill window (events): never sent."""


def build_plan(
    settings: IterableSettings,
    target: Path,
    objects: Sequence[str],
    full: bool = False,
    sample: int = 3,
    validate: bool = True,
) -> list[ObjectPlan]:
    """What a sync would send, per object: counts per operation, rows held back as already
    rejected, rows that would fail validation (local rules only: no API call), samples."""
    plans = []
    with _read_only(target) as con:
        validator = Validator(settings)
        for obj in validate_objects(list(objects) if objects else None):
            if not relation_exists(con, changes_relation(obj)):
                plans.append(ObjectPlan(obj, {}, 0, 0, [], available=False))
                continue
            counts = count_changes(con, obj, full, settings.project_type)
            held = counts.pop("held", 0)
            invalid = 0
            samples: list[ChangeRow] = []
            if validate or sample:
                for page in iter_pages(
                    con, obj, full, settings.page_size, project_type=settings.project_type
                ):
                    if len(samples) < sample:
                        samples.extend(page[: sample - len(samples)])
                    if not validate:
                        break
                    invalid += sum(1 for row in page if validator.validate(row)[1] is not None)
            skipped = 0
            if obj == "events" and relation_exists(con, SKIPPED_EVENTS):
                row = con.execute(f"select count(*) from {SKIPPED_EVENTS}").fetchone()
                skipped = int(row[0]) if row else 0
            plans.append(ObjectPlan(obj, counts, held, invalid, samples, skipped=skipped))
        chosen = [plan.object for plan in plans if plan.available]
        for decision in guards.evaluate(con, settings, chosen, full):
            if decision.blocked:
                next(plan for plan in plans if plan.object == decision.object).guard = decision
    return plans


def plan_dry_run(
    settings: IterableSettings,
    target: Path,
    objects: list[str],
    full: bool,
    run_id: str,
    trigger: str,
) -> SyncResult:
    result = SyncResult(
        run_id=run_id, mode=RunMode.DRY_RUN, trigger=trigger, status=RunStatus.DRY_RUN
    )
    result.started_at = utcnow()
    for plan in build_plan(settings, target, objects, full, sample=0):
        planned = sum(plan.operations.values())
        result.objects[plan.object] = ObjectCounts(
            planned=planned, rejected=plan.invalid, held=plan.held
        )
    result.finished_at = utcnow()
    return result


def payload_preview(row: ChangeRow, limit: int = 300) -> str:
    """A compact, secret-free preview of a payload for the plan output."""
    try:
        text = orjson.dumps(orjson.loads(row.payload)).decode()
    except orjson.JSONDecodeError:
        text = row.payload
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
