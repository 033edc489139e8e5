"""The models that rebuild only what changed end where a full refresh ends, row for row.

On a real warehouse (raw tables loaded through dlt, dbt in-process on DuckDB): a job's full
build, a sync that acknowledges everything, then, as a later ingest would load them, a
consent change, a name change, an email change that makes two customers claim one email
(one of them loses the identity), a deletion and a cancelled order, and the ledger and
profile rows a sync wrote in between; on the Iterable side (the emulator over HTTP, read
back by the real Iterable ingest), recipients who unsubscribe, subscribe and complain, and
an unsubscribe that is the echo of ctsync's own write. After the job's incremental build,
every model that rebuilds only what changed holds exactly what a `--full-refresh` build of a
copy of the warehouse holds, and so do the `_changes` views the sync reads.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ctsync.app.jobs.selection import IngestChanges, build_what_changed
from ctsync.app.transform import run_dbt_build
from ctsync.core.config import IterableSettings
from ctsync.core.names import OBJECTS
from ctsync.ingest.iterable.pipeline import run_iterable_ingest
from ctsync.sandbox.commercetools.documents import Scale, load_raw
from ctsync.sandbox.iterable.emulator import IterableEmulator

pytestmark = pytest.mark.slow

RAW = "raw_commercetools"
NO_TESTS = ["resource_type:unit_test", "resource_type:test"]
# every model that rebuilds only what changed, and what it feeds the sync
COMPARED = (
    "intermediate.int_order_lines__enriched",
    "intermediate.int_orders__enriched",
    "intermediate.int_returns__valued",
    "intermediate.int_customers__lifetime_value_by_currency",
    "intermediate.int_customers__order_facts",
    "intermediate.int_customers__category_affinity",
    "intermediate.int_customers__returns",
    "intermediate.int_customers__loyalty",
    "intermediate.int_customers__consent",
    "intermediate.int_customers__market",
    "intermediate.int_stores__markets",
    "intermediate.int_iterable__identities",
    "intermediate.int_iterable__user_payloads",
    "intermediate.int_iterable__contact_identities",
    "intermediate.int_iterable__events",
    "intermediate.int_consent__people",
    "intermediate.int_consent__decisions",
    "marts.dim_customers",
    "iterable.iterable__users",
    *(f"iterable.iterable__{name}" for name in OBJECTS),
    *(f"iterable.iterable__{name}_changes" for name in OBJECTS),
)


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[Any, ...]]:
    # changed_at says when a row last changed: a full refresh stamps every row anew
    columns = [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema || '.' || table_name = ? and column_name <> 'changed_at' "
            "order by ordinal_position",
            [relation],
        ).fetchall()
    ]
    assert columns, relation
    quoted = ", ".join(f'"{column}"' for column in columns)
    return con.execute(f"select {quoted} from {relation} order by all").fetchall()


def _acknowledge(con: duckdb.DuckDBPyConnection) -> None:
    """What a sync that delivered every change leaves: ledger, changelog and, for users, the
    profile (its customer, the email's hash, the fields it sent with a value)."""
    run = uuid.uuid4().hex[:8]
    # a sync run: the first one anchors the backfill window (iterable__events)
    con.execute(
        "insert into ctsync.sync_runs (run_id, trigger, mode, status, started_at) "
        "values (?, 'test', 'incremental', 'succeeded', now())",
        [run],
    )
    # one row per profile, no index: the profiles' rows are replaced
    con.execute(
        "create or replace temporary table written as "
        "select changes.record_key, users.customer_id, users.email_hash, "
        '\'["firstName", "companyName"]\' as field_names, now() as acknowledged_at '
        "from iterable.iterable__users_changes as changes "
        "inner join iterable.iterable__users as users on changes.record_key = users.record_key "
        "where changes.operation = 'upsert'"
    )
    con.execute(
        "delete from ctsync.sync_user_profiles where record_key in (select record_key from written)"
    )
    con.execute("insert into ctsync.sync_user_profiles select * from written")
    for name in OBJECTS:
        con.execute(
            f"""
            insert into ctsync.sync_changelog
            select '{run}:{name}:' || record_key, '{run}', '{name}', record_key, operation,
                idempotency_key, payload_hash, 'test', 200, 'succeeded', null,
                source_updated_at, now()
            from iterable.iterable__{name}_changes
            where operation = 'upsert'
            """
        )
        # one row per key, no index: the keys' rows are replaced
        con.execute(
            f"create or replace temporary table acknowledged as select * "
            f"from iterable.iterable__{name}_changes where operation = 'upsert'"
        )
        con.execute(
            f"delete from ctsync.sync_ledger where object = '{name}' "
            "and record_key in (select record_key from acknowledged)"
        )
        con.execute(
            f"insert into ctsync.sync_ledger select '{name}', record_key, operation, "
            f"payload_hash, payload, '{run}', now() from acknowledged"
        )


def _new_load(con: duckdb.DuckDBPyConnection) -> str:
    """A dlt load after every earlier one, as the next ingest records it."""
    [(newest,)] = con.execute(f"select max(load_id) from {RAW}._dlt_loads").fetchall()
    load_id = f"{int(float(newest)) + 60}.0"
    con.execute(
        f"insert into {RAW}._dlt_loads (load_id, schema_name, status, inserted_at) "
        "values (?, 'ctsync_raw_documents', 0, now())",
        [load_id],
    )
    return load_id


def _change_customers(con: duckdb.DuckDBPyConnection, load_id: str) -> dict[str, str]:
    """Consent, name, email (a duplicate) and deletion changes, an email change and a deletion
    of customers with an open cart, an order cancelled; as a merge by dlt writes them: new
    values, lastModifiedAt, the load's id."""
    customers = [
        row[0]
        for row in con.execute(
            "select customer_id from intermediate.int_iterable__identities "
            "where is_resolved and customer_id in "
            "(select customer_id from marts.dim_customers where order_count > 0) "
            "order by customer_id limit 5"
        ).fetchall()
    ]
    consent, renamed, mover, claimed, deleted = customers
    # two other customers with an open cart that iterable__carts holds: one changes their
    # email (the cart's payload must name the new one), one is deleted (the row must go)
    cart_emailer, cart_deleted = (
        row[0]
        for row in con.execute(
            "select distinct carts.customer_id from marts.fct_carts as carts "
            "inner join iterable.iterable__carts as built on built.cart_id = carts.cart_id "
            "where carts.customer_id not in (select unnest(?::varchar[])) "
            "order by carts.customer_id limit 2",
            [customers],
        ).fetchall()
    )
    touch = f"last_modified_at = now(), _dlt_load_id = '{load_id}'"
    con.execute(
        f"update {RAW}.customers set email = 'cart.mover.' || id || '@example.com', {touch} "
        "where id = ?",
        [cart_emailer],
    )
    con.execute(
        f"update {RAW}.customers set custom__fields__email_opt_in = "
        "not coalesce(custom__fields__email_opt_in, false), "
        f"custom__fields__email_opt_in_at = now(), {touch} where id = ?",
        [consent],
    )
    con.execute(
        f"update {RAW}.customers set first_name = 'Incrementa', {touch} where id = ?", [renamed]
    )
    # the mover takes the claimed customer's email and, verified and older, wins it: the
    # claimed customer, whose own record did not change, loses the identity
    con.execute(
        f"update {RAW}.customers set email = (select upper(email) from {RAW}.customers "
        f"where id = ?), is_email_verified = true, created_at = '2001-01-01', {touch} "
        "where id = ?",
        [claimed, mover],
    )
    for message_type, resource_id in (
        ("CustomerEmailChanged", mover),
        ("CustomerDeleted", deleted),
        ("CustomerEmailChanged", cart_emailer),
        ("CustomerDeleted", cart_deleted),
    ):
        con.execute(
            f"insert into {RAW}.messages select * replace (? as id, ? as resource__id, "
            f"now() as created_at, ? as _dlt_load_id, ? as _dlt_id) "
            f"from {RAW}.messages where type = ? limit 1",
            [
                f"m-{message_type}-{resource_id}",
                resource_id,
                load_id,
                uuid.uuid4().hex[:14],
                message_type,
            ],
        )
    # orders of other customers: one cancelled, one repriced, one edited (a line removed)
    order_id, repriced, edited = (
        row[0]
        for row in con.execute(
            "select order_id from marts.fct_orders where is_counted_in_lifetime_value "
            "and customer_id not in (select unnest(?::varchar[])) and customer_id is not null "
            "and line_count > 1 order by order_id limit 3",
            [[*customers, cart_emailer, cart_deleted]],
        ).fetchall()
    )
    con.execute(
        f"update {RAW}.orders set order_state = 'Cancelled', {touch} where id = ?", [order_id]
    )
    con.execute(
        f"update {RAW}.orders set total_price__cent_amount = total_price__cent_amount + 100, "
        f"{touch} where id = ?",
        [repriced],
    )
    con.execute(
        f"delete from {RAW}.orders__line_items where _dlt_list_idx = 0 and _dlt_root_id = "
        f"(select _dlt_id from {RAW}.orders where id = ?)",
        [edited],
    )
    con.execute(f"update {RAW}.orders set {touch} where id = ?", [edited])
    return {
        "consent": consent,
        "renamed": renamed,
        "mover": mover,
        "claimed": claimed,
        "deleted": deleted,
        "cart_emailer": cart_emailer,
        "cart_deleted": cart_deleted,
        "order": order_id,
        "repriced": repriced,
        "edited": edited,
    }


def _change_iterable(
    con: duckdb.DuckDBPyConnection, emu: IterableEmulator, untouched: list[str]
) -> dict[str, str]:
    """Four people none of the commercetools changes touch get an Iterable profile; one
    unsubscribes from the marketing email channel, one unsubscribes and subscribes again,
    one complains, and ctsync subscribes one to the newsletter and unsubscribes them again,
    through the endpoints the sync uses (changelog and ledger say so), which Iterable logs
    as events: the echoes of those writes, not the person's choices."""
    people = con.execute(
        "select person_key, email, user_id from intermediate.int_consent__people "
        "where not is_guest and user_id is not null and email is not null "
        "and customer_id not in (select unnest(?::varchar[])) order by person_key limit 4",
        [untouched],
    ).fetchall()
    roles = dict(zip(("unsubscribed", "resubscribed", "complained", "echoed"), people, strict=True))
    headers = {"Api-Key": emu.api_key}
    for _, email, user_id in roles.values():
        response = httpx.post(
            f"{emu.api_url}/api/users/update",
            json={"email": email, "userId": user_id, "dataFields": {}},
            headers=headers,
        )
        assert response.status_code == 200, response.text
    emu.flush()
    emu.recipient("unsubscribe", userId=roles["unsubscribed"][2], channelId=11)
    emu.recipient("unsubscribe", userId=roles["resubscribed"][2], channelId=11)
    emu.recipient("subscribe", userId=roles["resubscribed"][2], channelId=11)
    emu.recipient("complaint", userId=roles["complained"][2])
    person, _, user_id = roles["echoed"]
    record_key = f"{person}:email_list:31"
    for action, method in (("subscribe", "PATCH"), ("unsubscribe", "DELETE")):
        response = httpx.request(
            method,
            f"{emu.api_url}/api/subscriptions/emailList/31/byUserId/{user_id}",
            headers=headers,
        )
        assert response.status_code == 200, response.text
        con.execute(
            "insert into ctsync.sync_changelog values (?, 'echo', 'subscriptions', ?, 'upsert', "
            "?, 'h', ?, 200, 'succeeded', null, now(), now())",
            [
                f"echo-{action}:{record_key}",
                record_key,
                f"echo-{action}",
                f"subscription_user_{action}",
            ],
        )
        con.execute(
            "delete from ctsync.sync_ledger where object = 'subscriptions' and record_key = ?",
            [record_key],
        )
        con.execute(
            "insert into ctsync.sync_ledger values ('subscriptions', ?, 'upsert', "
            "'h', ?, 'echo', now())",
            [record_key, f'{{"action": "{action}"}}'],
        )
    emu.flush()
    return {role: person for role, (person, _, _) in roles.items()}


def _past_the_margin(warehouse: Path) -> None:
    """Wait until the clock is past the newest acknowledgement by int_changes__since's margin.

    A build counts what was written up to a second before it started as written since
    (int_changes__since starts it a second early: a superset is rebuilt, never less). This
    test's bounds on what a build decides again assume that the sync before it wrote before
    that: with fast builds (a parse reused from the cache) the acknowledgement just before a
    build fell inside the second, and everyone's consent was decided again."""
    newest = (
        "select coalesce(now()::timestamp <= max(acknowledged_at) + interval 1100 milliseconds, "
        "false) from ctsync.sync_ledger"
    )
    with duckdb.connect(str(warehouse)) as con:
        if not con.execute(
            "select 1 from information_schema.tables "
            "where table_schema = 'ctsync' and table_name = 'sync_ledger'"
        ).fetchall():
            return  # nothing acknowledged yet
        while con.execute(newest).fetchone() == (True,):
            time.sleep(0.05)


def _query_threads_hook(target: Path) -> str:
    """What the build's on-run-start hook setting DuckDB's threads ran (its run_results)."""
    results = json.loads((target / "target" / "run_results.json").read_text())["results"]
    [code] = [
        result["compiled_code"].strip()
        for result in results
        if result["unique_id"].startswith("operation.") and "threads" in result["compiled_code"]
    ]
    return code


def test_an_incremental_build_equals_a_full_refresh_row_for_row(
    tmp_path: Path, iterable_emulator: IterableEmulator
) -> None:
    emu = iterable_emulator
    emu.reset(project_type="hybrid", rate_scale=math.inf)
    iterable = IterableSettings(
        api_key=emu.api_key, api_url=emu.api_url, project_type="hybrid", rate_scale=1000.0
    )
    warehouse = tmp_path / "job" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    load_raw(warehouse, Scale(customers=60, orders=180, carts=24, products=12, seed=11))
    target = tmp_path / "dbt"

    def job_build(run_id: str, changes: IngestChanges | None) -> str:
        _past_the_margin(warehouse)
        plan, result = build_what_changed(
            warehouse, run_id, changes, exclude=NO_TESTS, target_path=target
        )
        assert plan.kind == "none" or (result is not None and result.success), (
            plan.reason,
            result and result.problems,
        )
        return plan.kind

    assert job_build("r1", None) == "full"
    with duckdb.connect(str(warehouse)) as con:
        _acknowledge(con)
    # the first sync wrote every profile and anchored the events' backfill window: the next
    # build rebuilds every user's payload (the fields the profile owns) and every event (the
    # window moved), the sync sends those, the build after settles
    assert job_build("r2", IngestChanges()) == "selective"
    with duckdb.connect(str(warehouse)) as con:
        _acknowledge(con)
    assert job_build("r3", IngestChanges()) in ("selective", "none")
    with duckdb.connect(str(warehouse)) as con:
        _acknowledge(con)
    with duckdb.connect(str(warehouse)) as con:
        load_id = _new_load(con)
        changed = _change_customers(con, load_id)
        lines_before = dict(
            con.execute("select order_id, line_count from marts.fct_orders").fetchall()
        )
        in_iterable = _change_iterable(con, emu, list(changed.values()))
        # the events' backfill window moves ten years earlier (a first sync older than the one
        # recorded, restored with the audit tables): events of records that did not change
        # come into it
        con.execute(
            "insert into ctsync.sync_runs (run_id, trigger, mode, status, started_at) "
            "values ('restored', 'test', 'incremental', 'succeeded', "
            "(select min(started_at) from ctsync.sync_runs) - interval 3650 days)"
        )
        [(events_before,)] = con.execute(
            "select count(*) from iterable.iterable__events"
        ).fetchall()
    read_back = run_iterable_ingest(warehouse, settings=iterable)
    assert not read_back.deferred and read_back.totals["consent_events"] >= 6, read_back
    assert job_build("r4", IngestChanges(["customers", "messages", "orders"], [load_id])) == (
        "selective"
    )
    # a build of what changed runs each query on one DuckDB thread (macros/ctsync_query_threads.sql)
    assert _query_threads_hook(target) == "set threads = 1"
    with duckdb.connect(str(warehouse)) as con:
        # the list of what changed is a table each build computes before the models reading it
        [(rebuilt,)] = con.execute(
            "select count(*) from intermediate.int_iterable__changed_customers"
        ).fetchall()
        [(everyone,)] = con.execute("select count(*) from marts.dim_customers").fetchall()
        [(rebuilt_orders,)] = con.execute(
            "select count(*) from intermediate.int_changes__orders"
        ).fetchall()
        [(all_orders,)] = con.execute("select count(*) from marts.fct_orders").fetchall()
        [(events_after,)] = con.execute("select count(*) from iterable.iterable__events").fetchall()
        decided_again = {
            row[0]
            for row in con.execute(
                "select person_key from intermediate.int_consent__changed_people"
            ).fetchall()
        }
        [(people,)] = con.execute(
            "select count(*) from intermediate.int_consent__people"
        ).fetchall()
    # only some customers were rebuilt: the changed ones and their orders' owners; and only
    # the orders that changed; consent only for the people of those customers
    assert 5 <= rebuilt < everyone / 2, (rebuilt, everyone)
    assert rebuilt_orders == 3, (rebuilt_orders, all_orders)
    assert events_after > events_before, (events_before, events_after)
    # consent is decided again for the people of those customers and those Iterable named
    assert set(in_iterable.values()) <= decided_again, (in_iterable, decided_again)
    assert len(decided_again) <= rebuilt + len(in_iterable), (decided_again, rebuilt, people)

    copy = tmp_path / "full" / "warehouse.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(warehouse, copy)
    full = run_dbt_build(
        warehouse=copy, full_refresh=True, exclude=NO_TESTS, target_path=tmp_path / "dbt-full"
    )
    assert full.success, full.problems
    assert _query_threads_hook(tmp_path / "dbt-full") == "reset threads"  # DuckDB's default
    with (
        duckdb.connect(str(warehouse), read_only=True) as incremental,
        duckdb.connect(str(copy), read_only=True) as refreshed,
    ):
        for relation in COMPARED:
            kept, rebuilt = _rows(incremental, relation), _rows(refreshed, relation)
            only_kept = [row for row in kept if row not in rebuilt][:3]
            only_rebuilt = [row for row in rebuilt if row not in kept][:3]
            assert kept == rebuilt, (relation, only_kept, only_rebuilt)
        # the changes happened: the deleted customer's payload is gone, the mover or the
        # claimed customer lost the identity, the consent flag moved
        payloads = dict(
            incremental.execute(
                "select customer_id, rejection_reason_code from "
                "intermediate.int_iterable__user_payloads"
            ).fetchall()
        )
        assert changed["deleted"] not in payloads
        assert (payloads[changed["mover"]], payloads[changed["claimed"]]) == (
            None,
            "duplicate_email",
        )
        [(first_name,)] = incremental.execute(
            "select first_name from marts.dim_customers where customer_id = ?",
            [changed["renamed"]],
        ).fetchall()
        assert first_name == "Incrementa"
        # the order edit removed a line; the cancelled order's purchase is gone
        [(lines_after,)] = incremental.execute(
            "select count(*) from marts.fct_order_lines where order_id = ?", [changed["edited"]]
        ).fetchall()
        assert lines_after == lines_before[changed["edited"]] - 1
        purchases = {
            row[0]
            for row in incremental.execute(
                "select record_key from iterable.iterable__purchases"
            ).fetchall()
        }
        assert changed["order"] not in purchases and changed["repriced"] in purchases
        # the cart of the customer who changed email names the new one; the deleted
        # customer's cart is gone
        carts = dict(
            incremental.execute(
                "select carts.customer_id, built.payload from iterable.iterable__carts as built "
                "inner join marts.fct_carts as carts on built.cart_id = carts.cart_id"
            ).fetchall()
        )
        assert f"cart.mover.{changed['cart_emailer']}@example.com" in carts[changed["cart_emailer"]]
        assert changed["cart_deleted"] not in carts
        # Iterable's side arrived: the recipients' own choices decide, the echo does not
        reasons = dict(
            incremental.execute(
                "select record_key, decision_reason from intermediate.int_consent__decisions "
                "where person_key in (select unnest(?::varchar[]))",
                [list(in_iterable.values())],
            ).fetchall()
        )
        assert reasons[f"{in_iterable['unsubscribed']}:channel:11"] == "iterable_opt_out"
        assert reasons[f"{in_iterable['complained']}:email_list:31"] == "complaint"
        assert reasons[f"{in_iterable['echoed']}:email_list:31"] != "iterable_opt_out"
