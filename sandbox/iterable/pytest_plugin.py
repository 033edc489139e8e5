"""pytest fixtures for the Iterable emulator.

``iterable_emulator`` (session): one emulator subprocess for the whole test session.
``fresh_iterable`` (function): the same emulator, reset to empty state, default limits,
no faults; call ``fresh_iterable.reset(project_type="email")`` for another project type.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.iterable.emulator import IterableEmulator


@pytest.fixture(scope="session")
def iterable_emulator() -> Iterator[IterableEmulator]:
    with IterableEmulator(project_type="hybrid") as emulator:
        yield emulator


@pytest.fixture
def fresh_iterable(iterable_emulator: IterableEmulator) -> IterableEmulator:
    iterable_emulator.reset(project_type="hybrid")
    return iterable_emulator
