"""The run lock: one ingest/dbt/sync writer at a time on a warehouse file.

An advisory ``flock`` on ``<warehouse>.lock``: the kernel releases it when the holder
exits, however it exits (kill -9 included), so a crashed run never leaves a stale lock.
The holder's pid is written into the file so the refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLockHeld(RuntimeError):
    """Another process holds the run lock (CLI exit code 3)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"Another ctsync run ({holder}) holds the lock {path}; "
            "wait for it to finish and try again."
        )


def lock_path_for(warehouse: Path | str) -> Path:
    target = Path(warehouse)
    return target.with_name(target.name + ".lock")


@contextmanager
def run_lock(warehouse: Path | str) -> Iterator[Path]:
    """Hold the run lock for `warehouse` for the duration of the block, or fail fast."""
    path = lock_path_for(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockHeld(path, _read_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
