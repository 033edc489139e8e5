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


def test_a_ledger_with_the_old_primary_key_loses_it_once_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    """Earlier versions created the ledger with a primary key (its index was half the table on
    disk): the first writable connection re-creates it without, rows, compression and the
    views over it kept."""
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
            "create view ctsync.ledger_users as "
            "select record_key from ctsync.sync_ledger where object = 'users'"
        )
        before = con.execute("select * from ctsync.sync_ledger order by all").fetchall()

    def primary_keys(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
        return con.execute(
            "select table_name from duckdb_constraints() "
            "where constraint_type = 'PRIMARY KEY' and table_name = 'sync_ledger'"
        ).fetchall()

    with connect(path) as con:
        assert primary_keys(con) == []
        assert con.execute("select * from ctsync.sync_ledger order by all").fetchall() == before
        assert con.execute("select count(*) from ctsync.ledger_users").fetchall() == [(3000,)]
        [(ddl,)] = con.execute(
            "select sql from duckdb_tables() where table_name = 'sync_ledger'"
        ).fetchall()
        assert "payload VARCHAR USING COMPRESSION ZSTD" in ddl
        assert "sync_ledger__indexed" not in str(con.execute("show all tables").fetchall())
        # once: the next connection finds nothing to do
        assert warehouse.drop_ledger_index(con) is False
