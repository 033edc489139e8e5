"""dbt builds a new agate type tester for every query result it reads: one per tester kept.

dbt turns each result it fetches (a relation's columns, a test's failures, ...) into an agate
table, with a type tester built for the result's text columns
(``dbt_common.clients.agate_helper.build_type_tester``). Building one creates agate's date
and date-time types, each with a ``parsedatetime`` calendar whose constants are set up from
the locale: most of the cost of reading a two-row result, several times per node. A tester
holds only its configuration, and dbt already shares one (``DEFAULT_TYPE_TESTER``) between
its threads, so the tester for the same text columns and null values is built once.

`install()` is idempotent and leaves dbt as it is when the function is not the one this was
written against (dbt-common 1.x).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

MAX_TESTERS = 256
"""Type testers kept: one per set of text columns dbt reads (a project has a few dozen)."""

_EXPECTED_PARAMETERS = ["text_columns", "string_null_values"]


def install() -> bool:
    """Route dbt's ``build_type_tester`` through the cache. True when it is in place."""
    from dbt_common.clients import agate_helper

    current = getattr(agate_helper, "build_type_tester", None)
    if getattr(current, "ctsync_cached", False):
        return True
    if current is None or list(inspect.signature(current).parameters) != _EXPECTED_PARAMETERS:
        log.warning("dbt's build_type_tester is not the expected one: built per result")
        return False
    build = functools.lru_cache(maxsize=MAX_TESTERS)(
        lambda text_columns, null_values: current(text_columns, string_null_values=null_values)
    )

    def build_type_tester(
        text_columns: Iterable[str], string_null_values: Iterable[str] | None = ("null", "")
    ) -> Any:
        null_values = None if string_null_values is None else tuple(string_null_values)
        return build(tuple(sorted(set(text_columns))), null_values)

    build_type_tester.ctsync_cached = True  # type: ignore[attr-defined]
    build_type_tester.cache_info = build.cache_info  # type: ignore[attr-defined]
    build_type_tester.__wrapped__ = current  # type: ignore[attr-defined]  # dbt's own
    agate_helper.build_type_tester = build_type_tester
    return True
