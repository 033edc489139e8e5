"""pytest fixtures for the Iterable emulator.

``iterable_emulator`` (session): one emulator subprocess for the whole test session.
``fresh_iterable`` (function): the same emulator, reset to empty state, default limits,
no faults, no body capture (hybrid project); call ``fresh_iterable.reset(project_type="email")`` for
another project type.
``iterable_api`` (function): a ``CheckedClient`` on ``fresh_iterable`` that validates
every request and answer against Iterable's Swagger file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ctsync.sandbox.iterable.conformance import CheckedClient
from ctsync.sandbox.iterable.emulator import IterableEmulator


@pytest.fixture(scope="session")
def iterable_emulator() -> Iterator[IterableEmulator]:
    with IterableEmulator(project_type="hybrid") as emulator:
        yield emulator


@pytest.fixture
def fresh_iterable(iterable_emulator: IterableEmulator) -> IterableEmulator:
    iterable_emulator.reset(project_type="hybrid", capture=False)
    return iterable_emulator


@pytest.fixture
def iterable_api(fresh_iterable: IterableEmulator) -> Iterator[CheckedClient]:
    with CheckedClient(fresh_iterable.api_url, fresh_iterable.api_key) as client:
        yield client
