"""The contract test of the `_changes` views (`change_contract`, macros/ctsync_tests.sql)
finds every kind of violation in one query, one row each, saying which."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from ctsync.core.paths import DBT_PROJECT_DIR as PROJECT_DIR

pytestmark = pytest.mark.slow

ROWS = (
    "(select * from (values "
    "('a', 'upsert', 'k1'), ('a', 'upsert', 'k2'), ('b', 'oops', 'k3'), ('c', 'delete', null), "
    "('d', 'upsert', 'k1'), ('e', 'delete', 'k5'), (null, 'upsert', 'k6')"
    ") as t(record_key, operation, idempotency_key))"
)


def test_change_contract_names_each_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTSYNC_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    sql = f'{{{{ ctsync.test_change_contract(model="{ROWS}", operations=["upsert", "delete"]) }}}}'
    result = dbtRunner().invoke(
        [
            "show",
            "--inline",
            sql,
            "--limit",
            "100",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--log-level",
            "none",
        ]
    )
    assert result.success, result.exception
    table = result.result.results[0].agate_table
    problems = sorted((row[0] or "", row[1]) for row in table.rows)
    assert problems == [
        ("", "record_key is null"),
        ("a", "idempotency_key is not unique"),
        ("a", "record_key is not unique"),
        ("b", "operation is not one of upsert, delete"),
        ("c", "idempotency_key is null"),
    ]
