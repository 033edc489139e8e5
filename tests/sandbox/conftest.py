"""Fixtures for the sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox


@pytest.fixture
def ct(fresh_commercetools: CommercetoolsSandbox) -> Iterator[httpx.Client]:
    """An authorised client on a freshly reset commercetools sandbox."""
    with fresh_commercetools.client() as client:
        yield client
