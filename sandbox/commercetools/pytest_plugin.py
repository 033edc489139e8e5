"""pytest fixtures for the commercetools sandbox.

- `commercetools_sandbox` (session): one started `CommercetoolsSandbox` shared by all tests.
- `fresh_commercetools` (function): the same sandbox, reset (data, messages, faults,
  stats) before the test, and faults cleared after it so a failing test cannot leave
  faults behind for the next one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.commercetools.launcher import CommercetoolsSandbox


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
