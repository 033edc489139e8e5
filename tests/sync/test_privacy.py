"""Personal data: the ledger keeps identity and hashes, a deleted person is purged once
Iterable acknowledged the deletion (also across a kill -9), retention, a private file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ctsync.core.warehouse import connect
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync
from ctsync.sync.privacy import (
    RetentionSettings,
    apply_retention,
    ledger_payload,
    pending_purges,
    purge_deleted_people,
)

from ._support import ITEM, settings_for, users

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_ledger_keeps_identity_and_field_names_not_values(
    emu: IterableEmulator,
    warehouse,
) -> None:
    warehouse.set_desired("users", users(3, phone="+49 151 0000000", lastName="Secret-Name"))
    assert run_sync(settings_for(emu), warehouse.path, progress=False).status == "succeeded"
    [(payload, payload_hash)] = warehouse.query(
        "select payload, payload_hash from ctsync.sync_ledger where record_key = 'cust-0001'"
    )
    kept = json.loads(payload)
    assert kept == {
        "email": "user1@example.com",
        "userId": "cust-1",
        "dataFieldNames": ["firstName", "lastName", "orders", "phone"],
    }
    assert payload_hash  # the hash still tells whether the record changed
    text = json.dumps(warehouse.query("select * from ctsync.sync_ledger"), default=str)
    assert "Secret-Name" not in text and "+49 151" not in text
    # unchanged records are still not resent: the diff runs on the hash
    assert warehouse.changes("users") == []


def test_ledger_payload_per_object() -> None:
    cart = {"user": {"email": "a@x.io", "dataFields": {"phone": "1"}}, "items": [{"id": "s"}]}
    assert json.loads(ledger_payload("carts", json.dumps(cart)) or "") == {
        "user": {"email": "a@x.io"},
        "items": [],
    }
    item = {"itemId": "sku-1", "value": {"name": "Shoe"}}
    assert json.loads(ledger_payload("catalog_items", json.dumps(item)) or "") == {
        "itemId": "sku-1"
    }
    purchase = {"id": "o-1", "user": {"email": "a@x.io"}, "total": 9, "items": []}
    assert json.loads(ledger_payload("purchases", json.dumps(purchase)) or "") == {
        "id": "o-1",
        "user": {"email": "a@x.io"},
    }


def make_raw(path: Path, people: int) -> None:
    """Raw commercetools and mart tables shaped like dlt's and dbt's, for `people` customers."""
    with connect(path) as con:
        con.execute("create schema if not exists raw_commercetools")
        con.execute("create schema if not exists marts")
        con.execute(
            "create table raw_commercetools.customers (id varchar, email varchar, _dlt_id varchar)"
        )
        con.execute(
            "create table raw_commercetools.customers__addresses (street varchar, "
            "_dlt_root_id varchar, _dlt_parent_id varchar, _dlt_id varchar)"
        )
        con.execute(
            "create table raw_commercetools.orders (id varchar, customer_id varchar, "
            "customer_email varchar, _dlt_id varchar)"
        )
        con.execute(
            "create table raw_commercetools.orders__line_items (sku varchar, "
            "_dlt_root_id varchar, _dlt_parent_id varchar, _dlt_id varchar)"
        )
        con.execute(
            "create table raw_commercetools.messages (id varchar, type varchar, "
            "resource__id varchar, email varchar, _dlt_id varchar)"
        )
        con.execute(
            "create table marts.fct_orders (order_id varchar, customer_id varchar, "
            "customer_email_normalized varchar)"
        )
        for i in range(people):
            cid, email = f"cust-{i}", f"user{i}@example.com"
            con.execute(
                "insert into raw_commercetools.customers values (?, ?, ?)", [cid, email, f"d{i}"]
            )
            con.execute(
                "insert into raw_commercetools.customers__addresses values (?, ?, ?, ?)",
                [f"{i} Main St", f"d{i}", f"d{i}", f"a{i}"],
            )
            con.execute(
                "insert into raw_commercetools.orders values (?, ?, ?, ?)",
                [f"o-{i}", cid, email, f"od{i}"],
            )
            con.execute(
                "insert into raw_commercetools.orders__line_items values ('sku', ?, ?, ?)",
                [f"od{i}", f"od{i}", f"ol{i}"],
            )
            for mid, kind in ((f"m{i}a", "CustomerCreated"), (f"m{i}b", "CustomerDeleted")):
                con.execute(
                    "insert into raw_commercetools.messages values (?, ?, ?, ?, ?)",
                    [mid, kind, cid, email, f"md{mid}"],
                )
            con.execute("insert into marts.fct_orders values (?, ?, ?)", [f"o-{i}", cid, email])


def test_an_acknowledged_deletion_purges_the_person_and_keeps_counts(
    emu: IterableEmulator,
    warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(emu, max_delete_fraction=1.0)
    monkeypatch.delenv("SYNC__RETENTION__PURGE_AFTER_HOURS", raising=False)  # default: at once
    make_raw(warehouse.path, 3)
    everyone = {f"cust-{i}": {**payload, "userId": f"cust-{i}"} for i, payload in
                enumerate(users(3).values())}  # fmt: skip
    warehouse.set_desired("users", everyone)
    warehouse.set_desired(
        "purchases",
        {f"o-{i}": {"id": f"o-{i}", "user": {"userId": f"cust-{i}"}, "total": 5, "items": [ITEM]}
         for i in range(3)},
    )  # fmt: skip
    assert run_sync(settings, warehouse.path, progress=False).status == "succeeded"
    with connect(warehouse.path) as con:  # a rejection that names the person
        con.execute(
            "insert into ctsync.sync_rejections (object, record_key, reason_code, reason_detail, "
            "payload, attempts, first_seen_at, last_seen_at) values ('events', 'ev-1', "
            "'invalid_event', 'bad', '{\"email\": \"user1@example.com\"}', 1, now(), now())"
        )
    changelog_before = warehouse.scalar("select count(*) from ctsync.sync_changelog")

    # cust-1 is deleted in commercetools (the ingest drops the customer row, as dlt's merge
    # does); the sync deletes them in Iterable, then purges the rest of their data
    with connect(warehouse.path) as con:
        con.execute("delete from raw_commercetools.customers__addresses where _dlt_root_id = 'd1'")
        con.execute("delete from raw_commercetools.customers where id = 'cust-1'")
    del everyone["cust-1"]
    warehouse.set_desired("users", everyone)
    warehouse.set_desired("user_deletions", {"cust-1": {"userId": "cust-1", "method": "delete"}})
    result = run_sync(settings, warehouse.path, progress=False)
    assert result.status == "succeeded", result.error_message
    emu.flush()
    assert emu.user(user_id="cust-1") is None

    def count(sql: str) -> int:
        return int(warehouse.scalar(sql))

    for table, column in (
        ("raw_commercetools.customers", "id"),
        ("raw_commercetools.orders", "customer_id"),
        ("marts.fct_orders", "customer_id"),
    ):
        assert count(f"select count(*) from {table} where {column} = 'cust-1'") == 0, table
        assert count(f"select count(*) from {table} where {column} = 'cust-0'") == 1, table
    assert count("select count(*) from raw_commercetools.customers__addresses") == 2
    assert count("select count(*) from raw_commercetools.orders__line_items") == 2
    # messages about them are gone, except the (scrubbed) deletion itself
    assert warehouse.query(
        "select type, email from raw_commercetools.messages where resource__id = 'cust-1'"
    ) == [("CustomerDeleted", None)]
    assert count("select count(*) from ctsync.sync_rejections") == 0
    assert count("select count(*) from iterable.iterable__purchases where record_key = 'o-1'") == 0
    assert count("select count(*) from iterable.iterable__purchases") == 2
    assert (
        count(
            "select count(*) from ctsync.sync_ledger where payload is not null and "
            "(record_key in ('cust-1', 'o-1'))"
        )
        == 0
    )
    assert count("select count(*) from ctsync.sync_ledger where record_key = 'cust-0' "
                 "and payload is not null") == 1  # fmt: skip
    # counts survive: every changelog row is still there, the person's keys hashed; the
    # deletion is one row (users_changes leaves deleted customers to user_deletions)
    assert count("select count(*) from ctsync.sync_changelog") == changelog_before + 1
    assert (
        count(
            "select count(*) from ctsync.sync_changelog where changelog_id like '%cust-1%' "
            "or record_key like '%cust-1%' or idempotency_key like '%cust-1%'"
        )
        == 0
    )
    [(rows_removed,)] = warehouse.query("select rows_removed from ctsync.sync_purges")
    assert rows_removed >= 8
    everything = json.dumps(
        [
            warehouse.query(f"select * from {schema}.{table}")
            for schema, table in warehouse.query(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('raw_commercetools', 'marts', 'ctsync', 'iterable')"
            )
        ],
        default=str,
    )
    assert "user1@example.com" not in everything
    assert "user0@example.com" in everything  # others untouched
    # nothing more to send, and a second pass has nothing to do
    assert warehouse.changes("users") == []
    with connect(warehouse.path) as con:
        assert pending_purges(con) == []


PURGE_SCRIPT = textwrap.dedent(
    """
    import sys
    from ctsync.sync.privacy import purge_deleted_people
    from ctsync.core.warehouse import connect

    with connect(sys.argv[1]) as con:
        purge_deleted_people(con, on_person=lambda n: print(f"purged {n}", flush=True))
    print("done", flush=True)
    """
)


def test_kill_9_during_the_purge_leaves_nothing_half_deleted(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    people = 300
    make_raw(path, people)
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(path) as con:
        con.execute("delete from raw_commercetools.customers")  # deleted: the ingest dropped them
        for i in range(people):
            for obj, payload in (
                ("users", {"userId": f"cust-{i}", "email": f"user{i}@example.com"}),
                ("user_deletions", {"userId": f"cust-{i}", "method": "delete"}),
            ):
                con.execute(
                    "insert into ctsync.sync_ledger values (?, ?, 'upsert', 'h', ?, 'r', ?)",
                    [obj, f"cust-{i}", json.dumps(payload), now],
                )
    script = tmp_path / "purge.py"
    script.write_text(PURGE_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = 0
    while seen < 10:  # wait until the purge is well under way, then kill it mid-person
        line = process.stdout.readline()
        assert line, "the purge ended before it could be killed"
        seen = int(line.split()[1])
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    def states() -> list[tuple[bool, bool, bool, bool]]:
        with duckdb.connect(str(path), read_only=True) as con:
            return [
                con.execute(
                    "select (select payload is null from ctsync.sync_ledger where object = "
                    "'user_deletions' and record_key = $k), "
                    "not exists (select 1 from raw_commercetools.orders where customer_id = $k), "
                    "not exists (select 1 from raw_commercetools.orders__line_items "
                    "where _dlt_root_id = 'od' || $i), "
                    "not exists (select 1 from marts.fct_orders where customer_id = $k)",
                    {"k": f"cust-{i}", "i": str(i)},
                ).fetchone()  # type: ignore[misc]
                for i in range(people)
            ]

    after_kill = states()
    done = sum(1 for s in after_kill if all(s))
    untouched = sum(1 for s in after_kill if not any(s))
    assert done + untouched == people, "a person was half purged"
    assert 10 <= done < people
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from ctsync.sync_purges").fetchone() == (done,)
    # the next run finishes the rest
    with connect(path) as con:
        assert purge_deleted_people(con).people == people - done
    assert all(all(s) for s in states())


def test_retention_deletes_old_changelog_and_settled_rejections(warehouse) -> None:
    now = datetime(2026, 12, 1)
    with connect(warehouse.path) as con:
        for i, age in enumerate((10, 89, 91, 400)):
            attempted = now - timedelta(days=age)
            con.execute(
                "insert into ctsync.sync_changelog (changelog_id, run_id, object, record_key, "
                "operation, outcome, attempted_at) values (?, 'r', 'users', ?, 'upsert', "
                "'succeeded', ?)",
                [f"c{i}", f"k{i}", attempted],
            )
            con.execute(
                "insert into ctsync.sync_rejections (object, record_key, reason_code, attempts, "
                "first_seen_at, last_seen_at, resolved_at) values ('users', ?, 'x', 1, ?, ?, ?)",
                [f"k{i}", attempted, attempted, attempted if i % 2 else None],
            )
        deleted = apply_retention(con, RetentionSettings(), now=now)
    assert deleted == {"sync_changelog": 2, "sync_rejections": 2}
    assert warehouse.query("select record_key from ctsync.sync_changelog order by 1") == [
        ("k0",),
        ("k1",),
    ]


def test_the_warehouse_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with connect(path):
        pass
    assert path.stat().st_mode & 0o777 == 0o600
    loose = tmp_path / "loose.duckdb"
    duckdb.connect(str(loose)).close()
    loose.chmod(0o644)
    with connect(loose):
        pass
    assert loose.stat().st_mode & 0o777 == 0o600


def test_the_purge_waits_for_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    make_raw(path, 1)
    acknowledged = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=5)
    with connect(path) as con:
        con.execute("delete from raw_commercetools.customers")
        con.execute(
            "insert into ctsync.sync_ledger values ('user_deletions', 'cust-0', 'upsert', 'h', "
            '\'{"userId": "cust-0", "method": "delete"}\', \'r\', ?)',
            [acknowledged],
        )
        assert purge_deleted_people(con, after_hours=24).people == 0
        assert purge_deleted_people(con, after_hours=4).people == 1
        assert con.execute("select count(*) from raw_commercetools.orders").fetchone() == (0,)


def test_an_email_a_live_customer_re_registered_with_is_not_purged(tmp_path: Path) -> None:
    """Email project: the deleted person's key is their email, which a new customer now holds."""
    path = tmp_path / "w.duckdb"
    make_raw(path, 1)
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(path) as con:
        # cust-0 (user0@example.com) was deleted; new-1 registered with the same email
        con.execute("delete from raw_commercetools.customers")
        con.execute(
            "insert into raw_commercetools.customers values ('new-1', 'user0@example.com', 'dn')"
        )
        live = '{"email": "user0@example.com", "dataFields": {"customerId": "new-1"}}'
        con.execute(
            "insert into ctsync.sync_ledger values ('users', 'user0@example.com', 'upsert', "
            "'h-live', ?, 'r', ?)",
            [live, now],
        )
        con.execute(
            "insert into ctsync.sync_ledger values ('user_deletions', 'user0@example.com', "
            '\'upsert\', \'h\', \'{"email": "user0@example.com", "method": "delete"}\', '
            "'r', ?)",
            [now - timedelta(minutes=1)],
        )
        assert purge_deleted_people(con).people == 1
        assert con.execute(
            "select operation, payload_hash, payload from ctsync.sync_ledger where object = 'users'"
        ).fetchall() == [("upsert", "h-live", live)]
        assert con.execute(
            "select count(*) from raw_commercetools.customers where id = 'new-1'"
        ).fetchone() == (1,)
        assert pending_purges(con) == []
