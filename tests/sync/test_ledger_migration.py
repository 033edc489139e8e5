"""Warehouses written before the ledger kept only identity: their full payloads are reduced
once, by the first sync's upkeep, and never again."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ctsync.core import warehouse
from ctsync.core.warehouse import connect
from ctsync.sync import privacy

USER = {
    "email": "ann@example.com",
    "userId": "c-1",
    "dataFields": {"customerId": "c-1", "firstName": "Ann", "phone": "+4930123", "vip": None},
}
PURCHASE = {
    "id": "o-1",
    "user": {"email": "ann@example.com", "userId": "c-1"},
    "items": [{"id": "sku-1", "name": "Mug", "price": 9.5, "quantity": 1}],
    "total": 9.5,
    "createdAt": 1_700_000_000,
}
CART = {"user": {"email": "ann@example.com", "dataFields": {"firstName": "Ann"}}, "items": [{}]}
SUBSCRIPTION = {
    "email": "ann@example.com",
    "subscriptionGroup": "emailList",
    "subscriptionGroupId": 31,
    "action": "subscribe",
}
ALREADY_MINIMAL = {"email": "bob@example.com", "dataFieldNames": ["customerId", "firstName"]}


def test_legacy_payloads_are_reduced_once(tmp_path: Path) -> None:
    legacy = {
        ("users", "customer:c-1"): USER,
        ("users", "customer:c-2"): ALREADY_MINIMAL,
        ("purchases", "o-1"): PURCHASE,
        ("carts", "ann@example.com"): CART,
        ("subscriptions", "ann@example.com:emailList:31"): SUBSCRIPTION,
    }
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        for (obj, key), payload in legacy.items():
            con.execute(
                "insert into ctsync.sync_ledger values (?, ?, 'upsert', 'h', ?, 'old', now())",
                [obj, key, json.dumps(payload)],
            )
        assert privacy.minimize_legacy_ledger(con) == 3
        kept = {
            (obj, key): json.loads(payload)
            for obj, key, payload in con.execute(
                "select object, record_key, payload from ctsync.sync_ledger"
            ).fetchall()
        }
        # a second run finds the migration recorded and touches nothing
        con.execute(
            "update ctsync.sync_ledger set payload = ? where record_key = 'o-1'",
            [json.dumps(PURCHASE)],
        )
        assert privacy.minimize_legacy_ledger(con) == 0
        assert con.execute("select name from ctsync.sync_migrations").fetchall() == [
            (privacy.LEDGER_MIGRATION,)
        ]
    assert kept[("users", "customer:c-1")] == {
        "email": "ann@example.com",
        "userId": "c-1",
        "dataFields": {"customerId": "c-1"},
        "dataFieldNames": ["customerId", "firstName", "phone"],
    }
    assert kept[("users", "customer:c-2")] == ALREADY_MINIMAL  # not minimized twice
    assert kept[("purchases", "o-1")] == {
        "id": "o-1",
        "user": {"email": "ann@example.com", "userId": "c-1"},
    }
    assert kept[("carts", "ann@example.com")] == {
        "user": {"email": "ann@example.com"},
        "items": [],
    }
    assert kept[("subscriptions", "ann@example.com:emailList:31")] == SUBSCRIPTION
    assert "Ann" not in str(kept) and "+4930123" not in str(kept)


def test_tables_with_the_old_primary_keys_lose_them_once_and_keep_their_rows(
    tmp_path: Path,
) -> None:
    """Earlier versions created the ledger and the profiles with a primary key (the ledger's
    index was half the table on disk): the first writable connection re-creates them
    without, rows, compression and the views over them kept."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema ctsync")
        con.execute(
            "create table ctsync.sync_ledger (object varchar not null, record_key varchar "
            "not null, operation varchar not null, payload_hash varchar, payload varchar, "
            "run_id varchar not null, acknowledged_at timestamp not null, "
            "primary key (object, record_key))"
        )
        con.execute(
            "insert into ctsync.sync_ledger select 'users', 'k' || i, 'upsert', md5(i::varchar), "
            "'{\"email\":\"u' || i || '@example.com\"}', 'old', timestamp '2026-01-01' "
            "from range(3000) t(i)"
        )
        con.execute(
            "create table ctsync.sync_user_profiles (record_key varchar not null primary key, "
            "customer_id varchar, email_hash varchar, field_names varchar, "
            "acknowledged_at timestamp not null)"
        )
        con.execute(
            "insert into ctsync.sync_user_profiles select 'k' || i, 'c' || i, md5(i::varchar), "
            "'[]', timestamp '2026-01-01' from range(300) t(i)"
        )
        con.execute(
            "create view ctsync.ledger_users as "
            "select record_key from ctsync.sync_ledger where object = 'users'"
        )
        before = {
            table: con.execute(f"select * from ctsync.{table} order by all").fetchall()
            for table in warehouse.UNINDEXED_TABLES
        }

    def primary_keys(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
        return con.execute(
            "select table_name from duckdb_constraints() where constraint_type = 'PRIMARY KEY' "
            "and table_name in ('sync_ledger', 'sync_user_profiles')"
        ).fetchall()

    with connect(path) as con:
        assert primary_keys(con) == []
        for table, rows in before.items():
            assert con.execute(f"select * from ctsync.{table} order by all").fetchall() == rows
        assert con.execute("select count(*) from ctsync.ledger_users").fetchall() == [(3000,)]
        [(ddl,)] = con.execute(
            "select sql from duckdb_tables() where table_name = 'sync_ledger'"
        ).fetchall()
        assert "payload VARCHAR USING COMPRESSION ZSTD" in ddl
        assert "__indexed" not in str(con.execute("show all tables").fetchall())
        # once: the next connection finds nothing to do
        assert warehouse.drop_unneeded_primary_keys(con) == []
