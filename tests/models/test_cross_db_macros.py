"""The DuckDB-only JSON macros fail clearly on any other adapter.

`ctsync_json_add_nulls` and `ctsync_json_without_keys` have no ANSI form (SQL:2016 cannot
add or remove members of a JSON object): their `default__` stops the compile with an error
naming the macro and what to add, instead of emitting SQL another warehouse would reject
somewhere downstream.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from ctsync.core.paths import DBT_PROJECT_DIR as PROJECT_DIR

pytestmark = pytest.mark.slow

CALLS = {
    "ctsync_json_add_nulls": "default__ctsync_json_add_nulls(\"'{}'\", [\"'a'\"], \"'[]'\")",
    "ctsync_json_without_keys": "default__ctsync_json_without_keys(\"'{}'\", ['a'])",
}


def test_the_default_of_a_duckdb_only_macro_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTSYNC_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    for macro, call in CALLS.items():
        result = dbtRunner().invoke(
            [
                "compile",
                "--inline",
                f"select {{{{ ctsync.{call} }}}} as compiled",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(tmp_path / "target"),  # shared: the second compile reuses the parse
                "--log-path",
                str(tmp_path / "logs"),
                "--log-level",
                "none",
            ]
        )
        assert not result.success, macro
        # dbt wraps the compiler error raised while rendering the inline query
        error = result.exception.__context__ if result.exception else None
        message = str(error)
        assert f"{macro} has no implementation for this adapter" in message, message
        assert f"duckdb__{macro}" in message, message
