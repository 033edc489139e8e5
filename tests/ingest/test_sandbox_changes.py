"""Incremental loads and messages against the sandbox after a round of seeded changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from ctsync.ingest.commercetools.source import load_settings
from ctsync.ingest.pipeline import run_ingest
from ctsync.sandbox.commercetools.seeder import apply_changes, seed

pytestmark = pytest.mark.slow


def _query(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def test_incremental_run_fetches_only_changes_and_messages_carry_them(
    fresh_commercetools, tmp_path: Path
) -> None:
    ct = fresh_commercetools
    credentials = (ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret)
    seeded = seed(*credentials, customers=30, seed=3)
    settings = load_settings(
        project_key=ct.project_key, client_id=ct.client_id, client_secret=ct.client_secret,
        api_url=ct.api_url, auth_url=ct.auth_url, lookback_seconds=0,
    )  # fmt: skip
    warehouse = tmp_path / "wh.duckdb"
    first = run_ingest(warehouse=warehouse, settings=settings)
    assert first.resource("customers").total == seeded.customers

    # Dated by the server's clock, after everything seeded (seeding stops at "now").
    changes = apply_changes(*credentials, fraction=0.1, seed=5)
    assert changes.email_changed and changes.consent_changed and changes.customers_deleted
    ct.reset_stats()
    second = run_ingest(warehouse=warehouse, settings=settings)

    changed_customers = set(changes.email_changed) | set(changes.consent_changed)
    changed_orders = set(changes.order_state_changed) | set(changes.returns_added)
    requests = ct.stats()["requests_by_path"]
    assert requests[f"GET /{ct.project_key}/customers"] == {"200": 1}  # one short page
    customers = second.resource("customers")
    # Besides the changes, ">=" re-reads only rows stamped exactly at the previous cursor.
    assert len(changed_customers) <= customers.fetched <= len(changed_customers) + 3
    assert customers.new == 0 and customers.updated == len(changed_customers)
    assert customers.removed == len(changes.customers_deleted)
    assert customers.total == seeded.customers - len(changes.customers_deleted)
    assert second.resource("orders").updated == len(changed_orders)

    load_id = second.load_ids[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        written = {
            r[0]
            for r in _query(
                con, "select id from raw_commercetools.customers where _dlt_load_id = ?", load_id
            )
        }
        assert written == changed_customers
        written_orders = {
            r[0]
            for r in _query(
                con, "select id from raw_commercetools.orders where _dlt_load_id = ?", load_id
            )
        }
        assert written_orders == changed_orders
        for table in ("customers", "orders", "messages"):
            dupes = _query(
                con,
                f"select count(*) - count(distinct id) from raw_commercetools.{table}",
            )
            assert dupes == [(0,)], table

        # Deletions: gone from customers (children too), present as messages.
        deleted = set(changes.customers_deleted)
        still_there = _query(
            con,
            "select id from raw_commercetools.customers where id in (select unnest(?))",
            list(deleted),
        )
        assert still_there == []
        orphans = _query(
            con,
            "select count(*) from raw_commercetools.customers__addresses a where not exists "
            "(select 1 from raw_commercetools.customers c where c._dlt_id = a._dlt_root_id)",
        )
        assert orphans == [(0,)]
        deletion_messages = {
            r[0]
            for r in _query(
                con,
                "select resource__id from raw_commercetools.messages "
                "where type = 'CustomerDeleted'",
            )
        }
        assert deletion_messages == deleted

        # Email changes: the message carries the new address, and the row agrees with it.
        email_messages = dict(
            _query(
                con,
                "select m.resource__id, m.email from raw_commercetools.messages m "
                "where m.type = 'CustomerEmailChanged' and m._dlt_load_id = ?",
                load_id,
            )
        )
        assert set(email_messages) == set(changes.email_changed)
        for customer_id, email in email_messages.items():
            row = _query(
                con, "select email from raw_commercetools.customers where id = ?", customer_id
            )
            assert row == [(email,)]

        # Consent flips: a custom-field message per customer, and the raw flag matches the API.
        consent_messages = {
            r[0]
            for r in _query(
                con,
                "select resource__id from raw_commercetools.messages where type in ("
                "'CustomerCustomFieldChanged', 'CustomerCustomFieldAdded', "
                "'CustomerCustomTypeSet') and _dlt_load_id = ?",
                load_id,
            )
        }
        assert consent_messages == set(changes.consent_changed)
        with ct.client() as http:
            for customer_id in changes.consent_changed:
                live = http.get(f"customers/{customer_id}").json()
                row = _query(
                    con,
                    "select custom__fields__email_opt_in from raw_commercetools.customers "
                    "where id = ?",
                    customer_id,
                )
                assert row == [(live["custom"]["fields"]["emailOptIn"],)]
