"""The environment a test or script gives `ctsync` to run it against the sandboxes."""

from __future__ import annotations

import os
from typing import Protocol

# Every environment variable that configures ctsync starts with one of these.
CONFIG_PREFIXES = ("SOURCES__COMMERCETOOLS__", "SYNC__ITERABLE__", "SYNC__RECEIVER__", "CTSYNC_")


class Sandbox(Protocol):
    def env(self) -> dict[str, str]: ...


def sandbox_environment(*sandboxes: Sandbox, **settings: str) -> dict[str, str]:
    """This process's environment without any ctsync configuration of its own, pointed at
    `sandboxes` (each one's `env()`), with `settings` (``CTSYNC_WAREHOUSE=...``) on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    for sandbox in sandboxes:
        clean.update(sandbox.env())
    return {**clean, **settings}
