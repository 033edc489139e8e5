"""Shared pytest fixtures: each sandbox ships its own plugin module with its fixtures.

The suite runs on pytest-xdist workers (`-n auto --dist loadgroup` in pyproject.toml): every
worker starts its own sandboxes (session fixtures, free loopback ports), and every test writes
only below its own tmp_path. A test that uses a module- (or class-) scoped fixture, such as a
shop seeded once per module, is put in its module's xdist group, so that fixture is set up
once, on one worker, and the module's tests run there in order.
"""

import os

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

pytest_plugins = [
    "sandbox.commercetools.pytest_plugin",
    "sandbox.iterable.pytest_plugin",
]

SHARED_SCOPES = {"module", "class", "package"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        scopes = {d.scope for defs in info.name2fixturedefs.values() for d in defs}
        if scopes & SHARED_SCOPES:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
