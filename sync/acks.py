"""The acknowledgement writer: a sync run's outcomes go to the warehouse on a thread
of their own, ledger and changelog in one transaction per batch."""

from __future__ import annotations

import queue
import threading

import duckdb

from ctsync.core.names import Outcome
from ctsync.sync import audit
from ctsync.sync.planner import (
    quiet,
)


class AckWriter:
    """Acknowledgements written on their own thread and DuckDB connection.

    The main thread reads pages and validates (Python work) while this thread commits
    outcome groups (DuckDB work), so neither waits for the other on large runs. All other
    writes of a run happen on the main thread only after `drain()`, so the warehouse never
    sees two writers at once.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        self._con = quiet(con.cursor())
        self._run_id = run_id
        self._queue: queue.Queue[tuple[list[Outcome], bool] | None] = queue.Queue(maxsize=16)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ctsync-ack", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            # Groups that queued up meanwhile (many small answers of single-record
            # endpoints) are committed together: one transaction, same atomicity per record.
            outcomes, resolve = list(item[0]), item[1]
            taken, stop = 1, False
            keys = {o.row.record_key for o in outcomes}
            while True:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if following is None:
                    stop = True
                    break
                if (
                    outcomes
                    and following[0]
                    and (
                        following[0][0].row.object != outcomes[0].row.object
                        or keys.intersection(o.row.record_key for o in following[0])
                    )
                ):
                    self._write(outcomes, resolve)
                    outcomes, resolve, keys = [], False, set()
                outcomes += following[0]
                resolve = resolve or following[1]
                keys.update(o.row.record_key for o in following[0])
            self._write(outcomes, resolve)
            for _ in range(taken):
                self._queue.task_done()
            if stop:
                return

    def _write(self, outcomes: list[Outcome], resolve: bool) -> None:
        try:
            if self._error is None and outcomes:
                audit.record_outcomes(self._con, self._run_id, outcomes, resolve=resolve)
        except BaseException as exc:  # surfaced on the main thread by put/drain
            self._error = exc

    def put(self, outcomes: list[Outcome], resolve: bool) -> None:
        self._check()
        self._queue.put((outcomes, resolve))

    def drain(self) -> None:
        self._queue.join()
        self._check()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._con.close()

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing acknowledgements failed: {self._error}") from self._error
