"""The names every layer shares, defined once: Iterable objects, change operations, record
outcomes, run statuses, Iterable project types, and the two rows the sync passes along
(``ChangeRow`` in, ``Outcome`` out).

The enums are ``StrEnum``: a member equals its text (``Operation.DELETE == "delete"``), so
it goes into SQL, JSON and the audit tables as it is.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class IterableObject(StrEnum):
    """What the sync sends to Iterable, in the order it sends them: deletions first, so a
    live customer who shares a deleted customer's email is created in the same run."""

    USER_DELETIONS = "user_deletions"
    USERS = "users"
    SUBSCRIPTIONS = "subscriptions"
    PURCHASES = "purchases"
    CARTS = "carts"
    EVENTS = "events"
    CATALOG_ITEMS = "catalog_items"


OBJECTS: tuple[str, ...] = tuple(member.value for member in IterableObject)


class Operation(StrEnum):
    """A change row's operation (the ``operation`` column of ``iterable.*_changes``)."""

    UPSERT = "upsert"
    UPDATE = "update"  # users in userId/hybrid projects whose email changed
    MOVE = "move"  # users in email projects: updateEmail to the new email
    DELETE = "delete"


class RecordOutcome(StrEnum):
    """What became of one record's attempt (``sync_changelog.outcome``)."""

    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"  # transient: not acknowledged, sent again on the next run


class RunStatus(StrEnum):
    """A run's or a stage's status (``sync_runs.status``, ``sync_run_stages.status``)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SUCCEEDED_WITH_REJECTIONS = "succeeded_with_rejections"
    DRY_RUN = "dry_run"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    AUTH_ERROR = "auth_error"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"  # left `running` by a process that died; set by the next run


OK_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.SUCCEEDED,
    RunStatus.SUCCEEDED_WITH_REJECTIONS,
    RunStatus.DRY_RUN,
)
"""Statuses of a run that did its job (exit code 0)."""

FAILED_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.FAILED,
    RunStatus.PARTIAL,
    RunStatus.AUTH_ERROR,
    RunStatus.INTERRUPTED,
)
"""Statuses of a finished run that did not do all of its job (non-zero exit code)."""


class RunMode(StrEnum):
    """What kind of run it was (``sync_runs.mode``)."""

    INCREMENTAL = "incremental"
    FULL = "full"
    DRY_RUN = "dry_run"
    RESET_STATE = "reset_state"


class ProjectType(StrEnum):
    """How an Iterable project identifies users."""

    EMAIL = "email"
    USER_ID = "userId"
    HYBRID = "hybrid"


PROJECT_TYPES: tuple[str, ...] = tuple(member.value for member in ProjectType)


class ChangeRow(NamedTuple):
    """One row of a changes view (a NamedTuple: cheap to build by the hundred thousand)."""

    object: str
    record_key: str
    operation: str
    payload: str
    payload_hash: str | None
    idempotency_key: str | None
    source_updated_at: datetime | None


class Outcome(NamedTuple):
    """What Iterable made of one change row."""

    row: ChangeRow
    outcome: RecordOutcome
    endpoint: str | None
    http_status: int | None = None
    reason_code: str | None = None
    detail: str | None = None


# Rejection reason codes that say "try again later" rather than "this payload is wrong":
# rows with an open rejection of these kinds are re-sent on the next run automatically, and
# the audit shows them as pending, not rejected (dbt reads them as the var
# `ctsync_transient_reasons`, passed by `core.config.dbt_vars`).
# `email_change_pending`: a new email's upsert waits for its profile's move, and goes as
# soon as the move does (checked locally each run, no request while the move is refused).
TRANSIENT_REASONS: tuple[str, ...] = (
    "daily_quota_exhausted",
    "email_change_pending",
    "transient_error",
)
TRANSIENT_REASONS_VAR = "ctsync_transient_reasons"
