"""Shared pytest fixtures: each sandbox ships its own plugin module with its fixtures."""

import os

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

pytest_plugins = [
    "sandbox.commercetools.pytest_plugin",
    "sandbox.iterable.pytest_plugin",
]
