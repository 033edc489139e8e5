"""Shared pytest fixtures: each sandbox ships its own plugin module with its fixtures.

The suite runs on pytest-xdist workers (`-n auto --dist loadfile` in pyproject.toml): all
tests of one module run on one worker, in order, so a module may seed a shop once
(module-scoped fixture) and reset the worker's own sandboxes (session fixtures, each worker
has its own on free loopback ports). Every test writes only below its own tmp_path.
"""

import os

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

pytest_plugins = [
    "ctsync.sandbox.commercetools.pytest_plugin",
    "ctsync.sandbox.iterable.pytest_plugin",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow end-to-end modules first (otherwise in collection order): the workers start
    on the long ones, and the many short tests even out the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
