"""Incremental models (fct_order_lines, fct_orders, iterable__purchases) must end where a full
refresh ends: after orders and customers change, an incremental run and a full refresh give
the same purchases, payload for payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ctsync.app.transform import run_dbt_build
from ctsync.sandbox.commercetools.documents import Scale, load_raw

pytestmark = pytest.mark.slow

SELECTION = [
    "fct_order_lines",
    "fct_orders",
    "int_iterable__identities",
    "int_iterable__contact_identities",
    "iterable__purchases",
]


def _purchases(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse)) as con:
        return dict(
            con.execute("select record_key, payload from iterable.iterable__purchases").fetchall()
        )


def test_incremental_purchases_equal_a_full_refresh_after_changes(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    load_raw(warehouse, Scale(customers=80, orders=240, carts=20, products=12, seed=9))
    target = tmp_path / "dbt"
    # seeds and models, no tests: the tests run in test_dbt_build.py
    first = run_dbt_build(
        warehouse=warehouse,
        select=["+iterable__purchases"],
        exclude=["test_type:data", "test_type:unit"],
        target_path=target,
    )
    assert first.success, first.problems
    before = _purchases(warehouse)

    with duckdb.connect(str(warehouse)) as con:
        # three purchases of registered customers, their orders last changed long ago
        ((cancelled, repriced, owner_order),) = [
            tuple(
                row[0]
                for row in con.execute(
                    "select order_id from marts.fct_orders where customer_id is not null "
                    "and is_counted_in_lifetime_value and order_id in "
                    "(select record_key from iterable.iterable__purchases) "
                    "order by last_modified_at limit 3"
                ).fetchall()
            )
        ]
        owner = con.execute(
            "select customer_id from raw_commercetools.orders where id = ?", [owner_order]
        ).fetchone()[0]
        digits = con.execute(
            "select total_price__fraction_digits from raw_commercetools.orders where id = ?",
            [repriced],
        ).fetchone()[0]
        now = datetime.now(UTC)
        con.execute(
            "update raw_commercetools.orders set order_state = 'Cancelled', last_modified_at = ? "
            "where id = ?",
            [now, cancelled],
        )
        con.execute(
            "update raw_commercetools.orders "
            "set total_price__cent_amount = total_price__cent_amount + 100, last_modified_at = ? "
            "where id = ?",
            [now, repriced],
        )
        con.execute(
            "update raw_commercetools.customers "
            "set email = 'renamed.' || email, last_modified_at = ? where id = ?",
            [now, owner],
        )

    incremental = run_dbt_build(
        warehouse=warehouse, command="run", select=SELECTION, target_path=target
    )
    assert incremental.success, incremental.problems
    after_incremental = _purchases(warehouse)
    refreshed = run_dbt_build(
        warehouse=warehouse, command="run", select=SELECTION, full_refresh=True, target_path=target
    )
    assert refreshed.success, refreshed.problems
    after_refresh = _purchases(warehouse)

    assert after_incremental == after_refresh
    assert cancelled in before and cancelled not in after_incremental
    delta = 100 / 10**digits  # 100 cents, in the order currency's major units
    # `total` is in the base currency; the order's own total is in dataFields.orderTotal
    assert json.loads(after_incremental[repriced])["dataFields"]["orderTotal"] == pytest.approx(
        json.loads(before[repriced])["dataFields"]["orderTotal"] + delta
    )
    assert json.loads(after_incremental[owner_order])["user"]["email"].startswith("renamed.")
