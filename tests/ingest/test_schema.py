"""The raw table definitions, loaded through dlt into a real DuckDB file without HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ctsync.ingest.commercetools import schema

pytestmark = pytest.mark.slow


def _customer(i: int, **extra: object) -> dict:
    doc = {
        "id": f"cust-{i:04d}",
        "version": 3,
        "createdAt": "2024-03-02T09:15:22.104Z",
        "lastModifiedAt": f"2024-06-11T17:40:{i % 60:02d}.881Z",
        "email": f"c{i}@example.com",
        "password": f"****hash-{i}=",
        "addresses": [
            {"id": "a1", "country": "NL", "city": "Amsterdam"},
            {"id": "a2", "country": "DE", "city": "Berlin"},
        ],
        "shippingAddressIds": ["a1"],
        "billingAddressIds": ["a2"],
        "stores": [{"typeId": "store", "key": "nl-store"}],
        "custom": {
            "type": {"typeId": "type", "id": "type-1"},
            "fields": {"emailOptIn": i % 2 == 0, "loyaltyTier": "gold", "tags": ["a", "b"]},
        },
    }
    doc.update(extra)
    return doc


def _order(i: int) -> dict:
    money = {"type": "centPrecision", "currencyCode": "EUR", "fractionDigits": 2}
    return {
        "id": f"order-{i:04d}",
        "createdAt": "2024-06-10T08:05:44.201Z",
        "lastModifiedAt": "2024-06-20T10:00:00.412Z",
        "customerId": f"cust-{i:04d}",
        "store": {"typeId": "store", "key": "nl-store"},
        "totalPrice": {**money, "centAmount": 5495},
        "lineItems": [
            {
                "id": f"li-{i}-{n}",
                "name": {"en": "Linen shirt", "nl-NL": "Linnen overhemd"},
                "variant": {"id": 1, "sku": f"SKU-{n}", "attributes": [{"name": "size"}]},
                "price": {"id": "p1", "value": {**money, "centAmount": 2500}},
                "quantity": 2,
                "totalPrice": {**money, "centAmount": 5000},
            }
            for n in range(2)
        ],
        "returnInfo": [{"returnTrackingId": "RT-1", "items": [{"id": "ri-1", "quantity": 1}]}],
    }


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_commercetools' and table_name = ?",
        [table],
    ).fetchall()
    return dict(rows)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def test_every_resource_has_an_endpoint_id_key_and_merge() -> None:
    assert set(schema.RESOURCE_NAMES) == {
        "customers", "orders", "carts", "products", "categories",
        "customer_groups", "stores", "types", "messages",
    }  # fmt: skip
    for raw in schema.TABLES.values():
        assert raw.primary_key == "id" and raw.write_disposition == "merge"
        assert raw.endpoint and not raw.endpoint.startswith("/")
    assert schema.table("products").endpoint == "product-projections"
    assert schema.table("products").params == {"staged": "false"}
    assert schema.table("messages").cursor_field == "createdAt"
    with pytest.raises(KeyError, match="known resources: customers"):
        schema.table("payments")


def test_customers_shape_custom_fields_children_and_no_password(warehouse: Path) -> None:
    schema.load_documents(warehouse, "customers", [_customer(i) for i in range(5)])
    with duckdb.connect(str(warehouse)) as con:
        cols = _columns(con, "customers")
        assert cols["custom__fields__email_opt_in"] == "BOOLEAN"
        assert cols["custom__fields__loyalty_tier"] == "VARCHAR"
        assert cols["custom__fields__tags"] == "JSON"
        assert cols["shipping_address_ids"] == "JSON"
        assert cols["last_modified_at"].startswith("TIMESTAMP")
        assert not any("password" in c for c in cols)
        addresses = con.execute(
            "select a.city from raw_commercetools.customers__addresses a "
            "join raw_commercetools.customers c on a._dlt_parent_id = c._dlt_id "
            "where c.id = 'cust-0003' order by a._dlt_list_idx"
        ).fetchall()
        assert addresses == [("Amsterdam",), ("Berlin",)]
        stores = con.execute(
            "select count(*) from raw_commercetools.customers__stores where key = 'nl-store'"
        ).fetchone()
        assert stores == (5,)
    assert b"hash-" not in warehouse.read_bytes()


def test_orders_line_items_keep_localized_names_as_json(warehouse: Path) -> None:
    schema.load_documents(warehouse, "orders", [_order(1), _order(2)])
    with duckdb.connect(str(warehouse)) as con:
        cols = _columns(con, "orders__line_items")
        assert cols["name"] == "JSON" and cols["variant__attributes"] == "JSON"
        assert cols["variant__sku"] == "VARCHAR"
        assert cols["total_price__cent_amount"] == "BIGINT"
        name = con.execute(
            "select name from raw_commercetools.orders__line_items where id = 'li-1-0'"
        ).fetchone()
        assert name is not None
        assert json.loads(name[0]) == {"en": "Linen shirt", "nl-NL": "Linnen overhemd"}
        items = con.execute(
            "select quantity from raw_commercetools.orders__return_info__items"
        ).fetchall()
        assert items == [(1,), (1,)]
        assert _columns(con, "orders")["total_price__currency_code"] == "VARCHAR"


def test_merge_on_id_updates_rows_and_replaces_children(warehouse: Path) -> None:
    schema.load_documents(warehouse, "customers", [_customer(i) for i in range(3)])
    changed = _customer(1, email="new@example.com", addresses=[{"id": "a9", "country": "FR"}])
    schema.load_documents(warehouse, "customers", [changed, _customer(7)])
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            "select id, email from raw_commercetools.customers order by id"
        ).fetchall()
        assert rows == [
            ("cust-0000", "c0@example.com"),
            ("cust-0001", "new@example.com"),
            ("cust-0002", "c2@example.com"),
            ("cust-0007", "c7@example.com"),
        ]
        countries = con.execute(
            "select a.country from raw_commercetools.customers__addresses a "
            "join raw_commercetools.customers c on a._dlt_root_id = c._dlt_id "
            "where c.id = 'cust-0001'"
        ).fetchall()
        assert countries == [("FR",)]


def test_a_list_emptied_in_a_new_version_leaves_no_child_rows(warehouse: Path) -> None:
    schema.load_documents(warehouse, "customers", [_customer(i) for i in range(3)])
    schema.load_documents(warehouse, "customers", [_customer(1, addresses=[], stores=[])])
    with duckdb.connect(str(warehouse)) as con:
        per_customer = con.execute(
            "select c.id, count(a.id) from raw_commercetools.customers c "
            "left join raw_commercetools.customers__addresses a on a._dlt_root_id = c._dlt_id "
            "group by c.id order by c.id"
        ).fetchall()
        assert per_customer == [("cust-0000", 2), ("cust-0001", 0), ("cust-0002", 2)]
        stores = con.execute("select count(*) from raw_commercetools.customers__stores").fetchone()
        assert stores == (2,)


def test_nesting_limit_scalar_lists_and_timestamps_follow_dlts_rules(warehouse: Path) -> None:
    doc = _customer(
        1,
        deep={"a": {"b": {"c": 1}}, "when": "2024-01-02T03:04:05.000Z", "day": "2024-01-02"},
        tags=["x", "y"],
        matrix=[[1, 2]],
    )
    schema.load_documents(warehouse, "customers", [doc])
    with duckdb.connect(str(warehouse)) as con:
        cols = _columns(con, "customers")
        # two levels of objects are flattened, the third stays JSON
        assert cols["deep__a__b"] == "JSON"
        assert cols["deep__when"] == "TIMESTAMP WITH TIME ZONE"
        assert cols["deep__day"] == "VARCHAR"
        tags = con.execute(
            "select value, _dlt_list_idx from raw_commercetools.customers__tags order by 2"
        ).fetchall()
        assert tags == [("x", 0), ("y", 1)]
        # a list in a list: dlt's intermediary row with the inner list as JSON (nesting limit)
        assert _columns(con, "customers__matrix")["list"] == "JSON"
        linked = con.execute(
            "select count(*) from raw_commercetools.customers__tags t "
            "join raw_commercetools.customers c "
            "on t._dlt_parent_id = c._dlt_id and t._dlt_root_id = c._dlt_id"
        ).fetchone()
        assert linked == (2,)


def test_a_column_keeps_the_type_the_warehouse_gave_it(warehouse: Path) -> None:
    first = _customer(1, visitedAt="2024-01-02T03:04:05.000Z", note="plain")
    schema.load_documents(warehouse, "customers", [first])
    # Later loads see values that alone would infer the other type.
    schema.load_documents(
        warehouse,
        "customers",
        [
            _customer(2, visitedAt="not yet", note="2024-05-06T07:08:09.000Z"),
            _customer(3, visitedAt="2024-02-03T00:00:00.000Z", note="2024-05-06T07:08:09.000Z"),
        ],
    )
    with duckdb.connect(str(warehouse)) as con:
        cols = _columns(con, "customers")
        assert cols["visited_at"] == "TIMESTAMP WITH TIME ZONE"
        assert cols["note"] == "VARCHAR"
        rows = con.execute(
            "select id, visited_at::varchar, visited_at__v_text, note "
            "from raw_commercetools.customers order by id"
        ).fetchall()
    assert rows == [
        ("cust-0001", "2024-01-02 03:04:05+00", None, "plain"),
        ("cust-0002", None, "not yet", "2024-05-06T07:08:09.000Z"),
        ("cust-0003", "2024-02-03 00:00:00+00", None, "2024-05-06T07:08:09.000Z"),
    ]


def test_messages_embed_no_password_and_keep_varying_values_as_json_text(
    warehouse: Path,
) -> None:
    base = {"version": 1, "resource": {"typeId": "customer", "id": "cust-0001"}}
    messages = [
        {**base, "id": "m1", "sequenceNumber": 1, "createdAt": "2024-06-10T08:00:00.000Z",
         "type": "CustomerCreated", "customer": _customer(1)},
        {**base, "id": "m2", "sequenceNumber": 2, "createdAt": "2024-06-11T08:00:00.000Z",
         "type": "CustomerCustomFieldChanged", "name": "emailOptIn", "value": False,
         "previousValue": True},
        {**base, "id": "m3", "sequenceNumber": 3, "createdAt": "2024-06-12T08:00:00.000Z",
         "type": "CustomerCustomFieldChanged", "name": "loyaltyTier", "value": "gold"},
        {**base, "id": "m4", "sequenceNumber": 4, "createdAt": "2024-06-13T08:00:00.000Z",
         "type": "CustomerEmailChanged", "email": "b@example.com", "oldEmail": "a@example.com"},
    ]  # fmt: skip
    schema.load_documents(warehouse, "messages", messages)
    with duckdb.connect(str(warehouse)) as con:
        cols = _columns(con, "messages")
        assert cols["customer"] == "JSON" and cols["value"] == "VARCHAR"
        assert not any(c.startswith("value__v_") for c in cols)
        rows = con.execute(
            "select id, value, previous_value, email, old_email, resource__id "
            "from raw_commercetools.messages order by sequence_number"
        ).fetchall()
        assert rows[1][:3] == ("m2", "false", "true")
        assert rows[2][:2] == ("m3", '"gold"')
        assert rows[3][3:] == ("b@example.com", "a@example.com", "cust-0001")
        embedded = con.execute(
            "select customer from raw_commercetools.messages where id = 'm1'"
        ).fetchone()
        assert embedded is not None
        customer = json.loads(embedded[0])
        assert customer["email"] == "c1@example.com" and "password" not in customer
    assert b"hash-" not in warehouse.read_bytes()


def test_a_record_without_id_is_refused_with_its_resource_named(warehouse: Path) -> None:
    with pytest.raises(Exception, match="customers: record without 'id'"):
        schema.load_documents(warehouse, "customers", [{"email": "x@example.com"}])


def test_load_resources_takes_a_pipeline_and_pages(tmp_path: Path) -> None:
    pipeline = schema.raw_pipeline(tmp_path / "w.duckdb", pipelines_dir=tmp_path / "p")
    info = schema.load_resources(
        pipeline,
        {"customers": [[_customer(1), _customer(2)], [_customer(3)]], "orders": [_order(1)]},
    )
    assert not info.has_failed_jobs
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.execute("select count(*) from raw_commercetools.customers").fetchone() == (3,)
        assert con.execute("select count(*) from raw_commercetools.orders").fetchone() == (1,)
