"""End to end: seed the commercetools sandbox, ingest it with dlt, `dbt build` the project.

One module-scoped warehouse (the build costs tens of seconds); the tests only read it,
except the ledger test, which writes the sync's ledger table the `_changes` views read.
Money is reconciled exactly (Decimal), per currency, against the raw `centAmount` fields.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dbt_common.events.base_types as dbt_event_types
import duckdb
import pytest
from google.protobuf import json_format

from ctsync.app import dbt_events
from ctsync.app.transform import BuildResult, run_dbt_build
from ctsync.core.names import OBJECTS
from ctsync.ingest.commercetools.source import load_settings
from ctsync.ingest.pipeline import run_ingest
from ctsync.sandbox.commercetools.seeder import seed

pytestmark = pytest.mark.slow

_BUILD_EVENTS: list[tuple[Any, dict[str, Any]]] = []
"""Every dict the build's events were made of, with the message type (the `built` fixture)."""
_NODES_HEARD: list[tuple[str, str]] = []
"""What the build's ``on_node_finished`` was told (the `built` fixture)."""
_DROPPED: list[int] = []
"""How many debug events the build dropped unbuilt (the `built` fixture)."""
_FROZEN: list[int] = []
"""Objects the collector left alone as each node finished, then after the build (`built`)."""


@pytest.fixture(scope="module")
def built(
    commercetools_sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, BuildResult]]:
    ct = commercetools_sandbox
    ct.reset()
    seed(
        ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret,
        customers=60, seed=23,
    )  # fmt: skip
    warehouse = tmp_path_factory.mktemp("dbt_build") / "warehouse.duckdb"
    settings = load_settings(
        project_key=ct.project_key,
        client_id=ct.client_id,
        client_secret=ct.client_secret,
        api_url=ct.api_url,
        auth_url=ct.auth_url,
    )
    run_ingest(warehouse=warehouse, settings=settings)

    def recording(js: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
        _BUILD_EVENTS.append((type(message), copy.deepcopy(js)))
        return dbt_events.parse_dict(js, message, *args, **kwargs)

    recording.ctsync_direct = True  # type: ignore[attr-defined]  # install() leaves it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt_event_types, "ParseDict", recording)
        dropped = dbt_events.stats()["dropped"]

        def heard(name: str, outcome: str) -> None:
            _NODES_HEARD.append((name, outcome))
            _FROZEN.append(gc.get_freeze_count())

        result = run_dbt_build(warehouse=warehouse, on_node_finished=heard)
        _DROPPED.append(dbt_events.stats()["dropped"] - dropped)
        _FROZEN.append(gc.get_freeze_count())
    yield warehouse, result


def test_every_event_of_the_build_is_filled_as_protobuf_would_parse_it(built) -> None:
    """`ctsync.app.dbt_events` on all that a whole build (seeds, models, unit and data tests)
    fires: each message equals ParseDict's, and none needed ParseDict."""
    assert built[1].success
    assert len(_BUILD_EVENTS) > 1000
    kinds = set()
    before = dbt_events.stats()
    for message_type, js in _BUILD_EVENTS:
        filled = dbt_events.parse_dict(copy.deepcopy(js), message_type())
        assert filled == json_format.ParseDict(copy.deepcopy(js), message_type()), js
        kinds.add(message_type.DESCRIPTOR.name)
    assert dbt_events.stats()["parsed"] == before["parsed"]  # nothing dbt passes falls back
    assert {"SQLQuery", "NodeFinished", "NodeFinishedMsg", "LogTestResult"} <= kinds


def test_on_node_finished_hears_every_node_of_the_build(built) -> None:
    """Debug events nothing reads are dropped unbuilt (`dbt_events`): NodeFinished is read."""
    _, result = built
    nodes = {name for name, node in result.nodes.items() if node.resource_type != "operation"}
    assert len(_NODES_HEARD) >= len(nodes) > 200  # hooks (operations) are not nodes that finish
    assert {name for name, _ in _NODES_HEARD} == nodes
    assert {outcome for _, outcome in _NODES_HEARD} == {"ok"}
    assert _DROPPED[0] > 1000  # this build's queries, their status, ...
    # the heap before the build was set aside from the collector while it ran, then put back
    assert min(_FROZEN[:-1]) > 10_000 and _FROZEN[-1] == 0


def _query(warehouse: Path, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, parameters).fetchall()


def _raw_amount(cents: int, fraction_digits: int) -> Decimal:
    return Decimal(cents).scaleb(-fraction_digits)


def test_dbt_build_on_sandbox_data_has_no_errors_and_no_warnings(built) -> None:
    _, result = built
    problems = [f"{p.resource_type} {p.name}: {p.message}" for p in result.problems]
    assert result.error is None
    assert problems == []
    assert result.success
    assert result.total("error") == 0 and result.total("warn") == 0
    # the whole project ran, not a selection of it
    assert result.counts["model"]["ok"] >= 50
    assert result.counts["unit_test"]["ok"] >= 20
    assert result.counts["test"]["ok"] >= 180  # one node per key (primary_key), not two


def test_lifetime_value_reconciles_to_raw_money_per_customer_and_currency(built) -> None:
    warehouse, _ = built
    raw: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    rows = _query(
        warehouse,
        "select customer_id, total_price__currency_code, total_price__cent_amount, "
        "total_price__fraction_digits from raw_commercetools.orders "
        "where customer_id is not null and order_state <> 'Cancelled'",
    )
    assert rows, "the seeded project has no orders of registered customers"
    for customer_id, currency, cents, digits in rows:
        raw[(customer_id, currency)] += _raw_amount(cents, digits)
    modelled = {
        (customer_id, currency): Decimal(amount)
        for customer_id, currency, amount in _query(
            warehouse,
            "select customer_id, currency_code, lifetime_value_amount "
            "from intermediate.int_customers__lifetime_value_by_currency",
        )
    }
    assert modelled == dict(raw)
    assert len({currency for _, currency in raw}) >= 2, "want more than one currency"

    # dim_customers carries the same figures, per currency, in its JSON list
    by_customer: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (customer_id, currency), amount in raw.items():
        by_customer[customer_id][currency] = amount
    for customer_id, ltv_json, order_count in _query(
        warehouse,
        "select customer_id, lifetime_value_by_currency_json, order_count from marts.dim_customers",
    ):
        entries = json.loads(ltv_json)
        assert {e["currency"]: Decimal(str(e["amount"])) for e in entries} == by_customer.get(
            customer_id, {}
        )
        assert order_count == sum(e["orders"] for e in entries)


def test_order_totals_reconcile_to_raw_money_per_currency(built) -> None:
    warehouse, _ = built
    raw: dict[str, Decimal] = defaultdict(Decimal)
    raw_orders: dict[str, Decimal] = {}
    for order_id, currency, cents, digits in _query(
        warehouse,
        "select id, total_price__currency_code, total_price__cent_amount, "
        "total_price__fraction_digits from raw_commercetools.orders",
    ):
        amount = _raw_amount(cents, digits)
        raw[currency] += amount
        raw_orders[order_id] = amount
    modelled: dict[str, Decimal] = defaultdict(Decimal)
    modelled_orders = {}
    for order_id, currency, amount in _query(
        warehouse, "select order_id, currency_code, total_amount from marts.fct_orders"
    ):
        modelled[currency] += Decimal(amount)
        modelled_orders[order_id] = Decimal(amount)
    assert modelled_orders == raw_orders
    assert dict(modelled) == dict(raw)
    # line totals (after discounts) plus shipping make up each order total
    mismatches = _query(
        warehouse,
        """
        select orders.order_id
        from marts.fct_orders as orders
        left join (
            select order_id, sum(line_total_amount) as lines_total
            from marts.fct_order_lines group by order_id
        ) as lines on orders.order_id = lines.order_id
        where orders.line_count > 0
            and coalesce(lines.lines_total, 0) + orders.shipping_amount <> orders.total_amount
        """,
    )
    assert mismatches == []


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def expected_hash(name: str, payload: str) -> str:
    """The hash each object's changes are detected by: the payload, less what must not
    cause a resend (the person's identity for purchases and events: an email change moves
    the profile; the nulls that clear our old fields for users), plus, for deletions, the
    deletion time (checked separately)."""
    if name == "users":
        text = json.dumps(
            _without_nulls(json.loads(payload)), separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.md5(text.encode()).hexdigest()
    drop = {"purchases": ("user",), "events": ("email", "userId")}.get(name)
    if drop:
        document = {k: v for k, v in json.loads(payload).items() if k not in drop}
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        return hashlib.md5(text.encode()).hexdigest()
    return hashlib.md5(payload.encode()).hexdigest()


def test_every_payload_is_json_with_its_md5_and_no_clock_relative_field(built) -> None:
    warehouse, _ = built
    for name in OBJECTS:
        rows = _query(
            warehouse,
            "select record_key, payload, payload_hash, epoch(source_updated_at) "
            f"from iterable.iterable__{name}",
        )
        if name in ("users", "purchases", "events", "catalog_items", "subscriptions"):
            assert rows, f"iterable__{name} is empty on seeded data"
        for record_key, payload, payload_hash, updated_epoch in rows:
            document = json.loads(payload)
            if name == "user_deletions":  # a deletion is a fact with its own time
                hashed = f"{payload}@{int(updated_epoch)}"
                assert payload_hash == hashlib.md5(hashed.encode()).hexdigest(), record_key
            elif name != "subscriptions":  # hashes only its commercetools-owned part
                assert payload_hash == expected_hash(name, payload), (name, record_key)
            text = json.dumps(document).lower()
            assert "dayssince" not in text and '"age"' not in text, (name, record_key)


def test_payload_columns_are_stored_with_zstd_and_other_columns_are_not(built) -> None:
    """Payloads are the largest columns: every table holding one (model tables, with or
    without an enforced contract, and the audit tables) declares ZSTD for it, and the stored
    segments use it; so do the keys built from another key and a suffix that a table names
    (`compressed_text_columns`, the ledger's record_key); other columns keep DuckDB's own
    choice (macros/ctsync_storage.sql)."""
    warehouse, _ = built
    tables = _query(
        warehouse,
        "select c.table_schema, c.table_name, d.sql from information_schema.columns c "
        "join duckdb_tables() d on d.schema_name = c.table_schema "
        "and d.table_name = c.table_name where c.column_name = 'payload'",
    )
    names = {f"{schema}.{table}" for schema, table, _ in tables}
    assert {"iterable.iterable__users", "iterable.iterable__purchases"} <= names  # contract
    assert {"intermediate.int_iterable__events", "ctsync.sync_ledger"} <= names
    declared = {
        f"{schema}.{table}": set(re.findall(r"(\w+) VARCHAR USING COMPRESSION ZSTD", ddl))
        for schema, table, ddl in tables
    }
    assert {"record_key", "source_key"} <= declared["intermediate.int_iterable__events"]
    assert "record_key" in declared["ctsync.sync_ledger"]
    stored = 0
    for schema, table, ddl in tables:
        assert "payload" in declared[f"{schema}.{table}"], (schema, table, ddl)
        segments = _query(
            warehouse,
            "select column_name, compression from pragma_storage_info(?) "
            "where segment_type = 'VARCHAR' and persistent",
            [f"{schema}.{table}"],
        )
        for column, compression in segments:
            expected = column in declared[f"{schema}.{table}"]
            assert (compression == "ZSTD") == expected, (table, column, compression)
        stored += sum(1 for column, _ in segments if column == "payload")
    assert stored, "no payload segment was stored"


def test_users_are_unique_per_identity_and_duplicates_are_rejected(built) -> None:
    warehouse, _ = built
    users = _query(warehouse, "select record_key, payload from iterable.iterable__users")
    emails = [json.loads(payload)["email"] for _, payload in users]
    assert len(emails) == len(set(emails))
    assert all(email == email.strip().lower() for email in emails)
    customers, resolved, rejected = _query(
        warehouse,
        """
        select
            count(*),
            count(*) filter (where is_resolved),
            count(*) filter (where not is_resolved)
        from intermediate.int_iterable__identities
        """,
    )[0]
    assert resolved == len(users) and resolved + rejected == customers
    rejection_keys = _query(
        warehouse,
        "select record_key from iterable.iterable__rejections where object = 'users'",
    )
    assert len(rejection_keys) == rejected


def test_changes_views_follow_the_ledger_without_a_rebuild(built) -> None:
    warehouse, _ = built
    with duckdb.connect(str(warehouse)) as con:
        pending = con.execute("select count(*) from iterable.iterable__users_changes").fetchone()
        desired = con.execute("select count(*) from iterable.iterable__users").fetchone()
        assert pending == desired  # nothing acknowledged yet: everything is new
        # acknowledge everything, as the sync does after Iterable accepted it
        con.execute(
            """
            insert into ctsync.sync_ledger
            select 'users', record_key, 'upsert', payload_hash, payload, 'run-1', now()
            from iterable.iterable__users
            """
        )
        assert con.execute("select count(*) from iterable.iterable__users_changes").fetchall() == [
            (0,)
        ]
        # one changed on our side, one that is no longer desired
        changed_key = con.execute(
            "select min(record_key) from iterable.iterable__users"
        ).fetchone()[0]
        con.execute(
            "update ctsync.sync_ledger set payload_hash = 'stale' "
            "where object = 'users' and record_key = ?",
            [changed_key],
        )
        con.execute(
            "insert into ctsync.sync_ledger values ('users', 'left@example.com', 'upsert', 'h', "
            "'{\"email\":\"left@example.com\"}', 'run-1', now())"
        )
        rows = con.execute(
            "select record_key, operation, payload_hash is null "
            "from iterable.iterable__users_changes order by operation desc"
        ).fetchall()
        assert rows == [(changed_key, "upsert", False), ("left@example.com", "delete", True)]
        con.execute("delete from ctsync.sync_ledger")


def test_a_malformed_payload_blocks_its_rows_and_not_its_object(built, tmp_path: Path) -> None:
    """The payload checks on the desired state warn instead of failing: a run syncs the
    object, and the sync's validator rejects just the malformed rows (invalid_payload)."""
    from ctsync.core.config import IterableSettings
    from ctsync.core.names import ChangeRow
    from ctsync.sync.validation import Validator

    warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from ctsync.sync_ledger where object = 'catalog_items'")
        broken, missing, healthy = (
            key
            for (key,) in con.execute(
                "select record_key from iterable.iterable__catalog_items order by record_key "
                "limit 3"
            ).fetchall()
        )
        con.execute(
            "update iterable.iterable__catalog_items set payload = '{\"itemId\": ' "
            "where record_key = ?",
            [broken],
        )
        con.execute(
            "update iterable.iterable__catalog_items set payload = null, payload_hash = null "
            "where record_key = ?",
            [missing],
        )
    result = run_dbt_build(
        warehouse=copy,
        # the tests of the (corrupted) desired state, and the changes view over it
        select=["iterable__catalog_items,resource_type:test", "iterable__catalog_items_changes"],
        target_path=tmp_path / "dbt",
    )
    assert result.success, [p.message for p in result.problems]
    # not_null and is_json on the payload said so, as warnings: no failing test, so a run
    # would not leave catalog_items out (sync.jobs.runner.objects_blocked_by)
    assert result.total("warn") >= 2
    assert not [
        name
        for name, node in result.nodes.items()
        if node.resource_type == "test" and node.outcome == "error"
    ]
    with duckdb.connect(str(copy), read_only=True) as con:
        rows = {
            row[0]: ChangeRow("catalog_items", str(row[0]), str(row[1]), row[2] or "", *row[3:])
            for row in con.execute(
                "select record_key, operation, payload, payload_hash, idempotency_key, "
                "source_updated_at from iterable.iterable__catalog_items_changes "
                "where record_key in (?, ?, ?)",
                [broken, missing, healthy],
            ).fetchall()
        }
    # both malformed rows reach the sync, each with an idempotency key; the validator
    # rejects them one by one, and the healthy row goes on
    assert set(rows) == {broken, missing, healthy}
    assert all(row.idempotency_key for row in rows.values())
    validator = Validator(IterableSettings(api_key="k" * 10, project_type="hybrid"))
    reasons = {
        key: rejection.reason_code if rejection else None
        for key, (_, rejection) in ((k, validator.validate(r)) for k, r in rows.items())
    }
    assert reasons == {broken: "invalid_payload", missing: "invalid_payload", healthy: None}
