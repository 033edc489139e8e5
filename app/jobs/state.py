"""The receiver's own small state file: message ids already seen and resources awaiting a run.

It is SQLite, not the warehouse, on purpose: a running job holds DuckDB's single-writer lock
for minutes, and the receiver must still record (and acknowledge) deliveries meanwhile.
Persisting both sets means a restart neither re-triggers on redelivered messages nor forgets
a change that was acknowledged but not yet synced.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

DEFAULT_RETENTION_SECONDS = 14 * 24 * 3600
DEFAULT_PRUNE_INTERVAL_SECONDS = 3600


class ReceiverState:
    def __init__(
        self,
        path: Path | str,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        prune_interval_seconds: float = DEFAULT_PRUNE_INTERVAL_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_seconds = retention_seconds
        # A receiver runs for months: prune while running, not only at start-up.
        self.prune_interval_seconds = prune_interval_seconds
        self._pruned_at = 0.0
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")
        self._con.execute(
            "create table if not exists seen (key text primary key, seen_at real not null)"
        )
        self._con.execute(
            "create table if not exists pending (resource text primary key, since real not null)"
        )
        self.prune()

    def record(self, keys: Iterable[str], resources_of: dict[str, set[str]]) -> list[str]:
        """Mark `keys` seen and queue the resources of the new ones, atomically.

        Returns the keys that were new. `resources_of` maps a key to its ingest resources.
        """
        now = time.time()
        if now - self._pruned_at >= self.prune_interval_seconds:
            self.prune()
        new: list[str] = []
        with self._lock:
            self._con.execute("begin immediate")
            try:
                for key in keys:
                    cursor = self._con.execute(
                        "insert or ignore into seen values (?, ?)", (key, now)
                    )
                    if cursor.rowcount == 1:
                        new.append(key)
                queued = (
                    set().union(*(resources_of.get(key, set()) for key in new)) if new else set()
                )
                self._con.executemany(
                    "insert or ignore into pending values (?, ?)",
                    [(r, now) for r in sorted(queued)],
                )
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return new

    def pending(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._con.execute("select resource from pending")}

    def replace_pending(self, resources: Iterable[str]) -> None:
        now = time.time()
        with self._lock:
            self._con.execute("begin immediate")
            self._con.execute("delete from pending")
            self._con.executemany(
                "insert into pending values (?, ?)", [(r, now) for r in sorted(set(resources))]
            )
            self._con.execute("commit")

    def seen_count(self) -> int:
        with self._lock:
            return int(self._con.execute("select count(*) from seen").fetchone()[0])

    def prune(self) -> int:
        """Forget message ids older than the retention; returns how many."""
        now = time.time()
        with self._lock:
            self._pruned_at = now
            cursor = self._con.execute(
                "delete from seen where seen_at < ?", (now - self.retention_seconds,)
            )
            return int(cursor.rowcount)

    def close(self) -> None:
        with self._lock:
            self._con.close()
