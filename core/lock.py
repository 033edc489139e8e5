"""The run lock: one ingest/dbt/sync writer at a time on a warehouse file.

An advisory ``flock`` on ``<warehouse>.lock``: the kernel releases it when the holder
exits, however it exits (kill -9 included), so a crashed run never leaves a stale lock.
The holder's pid and command are written into the file so the refusal can name them.
Every command that writes the warehouse takes it: `ingest`, `build`, `sync`, `run`,
`replay`, `reset-state` (and `schedule`/`serve` through `run`).
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLockHeld(RuntimeError):
    """Another process holds the run lock (CLI exit code 3)."""

    def __init__(self, path: Path, pid: int | None, command: str | None = None) -> None:
        self.path = path
        self.pid = pid
        self.command = command
        holder = f"process {pid}" if pid else "another process"
        if command:
            holder += f", `{command}`"
        super().__init__(
            f"Another ctsync run ({holder}) holds the lock {path}; "
            "wait for it to finish and try again."
        )


def lock_path_for(warehouse: Path | str) -> Path:
    target = Path(warehouse)
    return target.with_name(target.name + ".lock")


def current_command() -> str:
    """How this process was started, e.g. `ctsync run` (no options: they may hold secrets)."""
    argv = sys.argv
    name = Path(argv[0]).name if argv else "python"
    command = next((a for a in argv[1:] if not a.startswith("-")), None)
    return f"{name} {command}" if name == "ctsync" and command else name


@contextmanager
def run_lock(warehouse: Path | str, holder: str | None = None) -> Iterator[Path]:
    """Hold the run lock for `warehouse` for the duration of the block, or fail fast.
    `holder` names this process's work in the refusal others get (default: its command)."""
    path = lock_path_for(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockHeld(path, *read_holder(fd)) from None
        os.ftruncate(fd, 0)
        what = (holder or current_command()).replace("\n", " ")[:200]
        os.pwrite(fd, f"{os.getpid()}\n{what}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_holder(fd: int) -> tuple[int | None, str | None]:
    """(pid, command) written by the lock's holder; either may be unknown."""
    try:
        lines = os.pread(fd, 512, 0).decode(errors="replace").splitlines()
    except OSError:
        return None, None
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    command = lines[1].strip() if len(lines) > 1 and lines[1].strip() else None
    return pid, command
