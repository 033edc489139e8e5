"""pytest fixtures for the commercetools sandbox.

- `commercetools_sandbox` (session): one started `CommercetoolsSandbox` shared by all tests.
- `fresh_commercetools` (function): the same sandbox, reset (data, messages, faults,
  stats) before the test, and faults cleared after it so a failing test cannot leave
  faults behind for the next one.
- `commercetools_sandbox_factory` (session): `make(project_key=..., faults=...)` starts a
  separate sandbox (its own process and data), stopped at the end of the session. For a
  module that seeds once and reads many times, so that resets by other tests cannot touch
  its data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox


@pytest.fixture(scope="session")
def commercetools_sandbox() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(project_key="ctsync-test") as sandbox:
        yield sandbox


@pytest.fixture
def fresh_commercetools(
    commercetools_sandbox: CommercetoolsSandbox,
) -> Iterator[CommercetoolsSandbox]:
    commercetools_sandbox.reset()
    yield commercetools_sandbox
    if commercetools_sandbox.running:
        commercetools_sandbox.clear_faults()


@pytest.fixture(scope="session")
def commercetools_sandbox_factory() -> Iterator[Callable[..., CommercetoolsSandbox]]:
    started: list[CommercetoolsSandbox] = []

    def make(project_key: str = "ctsync-test", **options: Any) -> CommercetoolsSandbox:
        sandbox = CommercetoolsSandbox(project_key=project_key, **options).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()
