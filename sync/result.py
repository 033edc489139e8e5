"""What a sync run did (``SyncResult``: counts per object, status, exit code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ctsync.core.names import RunMode, RunStatus
from ctsync.sync.audit import ObjectCounts

EXIT_PARTIAL = 5
"""Exit code of a `partial` run: part of it was delivered, the rest (objects whose models did
not build, records that hit transient errors) waits for the next run, which `serve` and
`schedule` start with backoff. Distinct from 1 so that a caller can tell "retry soon" from
"something is broken"."""


@dataclass
class SyncResult:
    run_id: str
    mode: RunMode
    trigger: str
    status: RunStatus
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0

    @property
    def totals(self) -> ObjectCounts:
        total = ObjectCounts()
        for counts in self.objects.values():
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
        return total

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 delivered (rejections are reported, not failures), 1 failed or
        interrupted, 4 Iterable refused the API key, EXIT_PARTIAL (5) some records hit
        transient errors and wait for the next run."""
        if self.status == RunStatus.AUTH_ERROR:
            return 4
        if self.status == RunStatus.PARTIAL:
            return EXIT_PARTIAL
        if self.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            return 1
        return 0


class MassDeletionBlocked(RuntimeError):
    """A run would delete more users than the mass-deletion guard allows."""
