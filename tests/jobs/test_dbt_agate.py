"""dbt's agate type testers are built once per text columns (`ctsync.app.dbt_agate`), and the
tables dbt reads from results are typed as before."""

from __future__ import annotations

from typing import Any

import pytest
from dbt_common.clients import agate_helper

from ctsync.app import dbt_agate

ROWS = [
    {"name": "005", "rows": 3, "empty": "", "null_text": "null", "flag": True},
    {"name": "abc", "rows": 4, "empty": "", "null_text": "x", "flag": False},
]
COLUMNS = ["name", "rows", "empty", "null_text", "flag"]


def _typed(table: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    return [type(kind).__name__ for kind in table.column_types], [
        tuple(row.values()) for row in table.rows
    ]


def test_a_result_is_typed_as_before_with_one_tester_per_text_columns() -> None:
    assert dbt_agate.install() and dbt_agate.install()  # idempotent
    tester = agate_helper.build_type_tester
    # what dbt's own function (kept as `__wrapped__`) types the same result as
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(agate_helper, "build_type_tester", tester.__wrapped__)
        expected = _typed(agate_helper.table_from_data_flat(ROWS, COLUMNS))
    first, second = (_typed(agate_helper.table_from_data_flat(ROWS, COLUMNS)) for _ in range(2))
    assert first == second == expected
    assert first == (
        ["Text", "Integer", "Text", "Text", "Boolean"],
        [("005", 3, "", "null", True), ("abc", 4, "", "x", False)],
    )  # text stays text: no '005' -> 5, no '' or 'null' -> None

    assert tester(["b", "a"], string_null_values=()) is tester({"a", "b"}, ())
    assert tester(["a", "b"]) is not tester(["a", "b"], string_null_values=())
    assert tester(["a"]) is not tester(["a", "b"])
    assert tester(["a"])._force.keys() == {"a"}
