"""The commercetools document generator: deterministic, API-shaped, addressable at any index,
and loaded through the ingest schema so raw tables look like a real ingest's."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import duckdb
import pytest

from ctsync.ingest.commercetools import schema
from ctsync.sandbox.commercetools.documents import (
    Scale,
    customer_document,
    documents,
    load_raw,
    order_document,
    stable_id,
)

pytestmark = pytest.mark.slow

SMALL = Scale(customers=60, orders=150, carts=30, products=12, seed=5)


def _materialize(scale: Scale) -> dict[str, list[dict]]:
    return {name: list(stream) for name, stream in documents(scale).items()}


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first = json.dumps(_materialize(SMALL), sort_keys=True)
    again = json.dumps(_materialize(SMALL), sort_keys=True)
    other = json.dumps(_materialize(Scale(customers=60, orders=150, carts=30, products=12, seed=6)))
    assert first == again
    assert first != other


def test_streams_are_lazy_and_any_index_is_addressable_on_its_own() -> None:
    huge = Scale(customers=1_000, orders=3_000_000, carts=400_000, products=200)
    streams = documents(huge)
    assert len(list(islice(streams["orders"], 3))) == 3  # no materialisation of 3M orders
    last = order_document(huge, 2_999_999)
    assert last["orderNumber"].endswith("002999999")
    assert order_document(huge, 2_999_999) == last
    customer_ids = {stable_id("customer", i, huge.seed) for i in range(huge.customers)}
    registered = [order_document(huge, i) for i in range(2_999_990, 3_000_000)]
    assert all(o["customerId"] in customer_ids for o in registered if "customerId" in o)
    assert any("customerId" in o for o in registered)


def test_orders_are_internally_consistent_money() -> None:
    for order in islice(documents(SMALL)["orders"], 150):
        currency = order["totalPrice"]["currencyCode"]
        digits = order["totalPrice"]["fractionDigits"]
        assert digits == (0 if currency == "JPY" else 2)
        assert set(order["totalPrice"]) == {"type", "currencyCode", "centAmount", "fractionDigits"}
        lines_total = 0
        for line in order["lineItems"]:
            unit = line["price"]["value"]["centAmount"]
            discount = sum(
                d["discountedAmount"]["centAmount"]
                for q in line["discountedPricePerQuantity"]
                for d in q["discountedPrice"]["includedDiscounts"]
            )
            assert line["totalPrice"]["centAmount"] == (unit - discount) * line["quantity"]
            assert line["totalPrice"]["currencyCode"] == currency
            lines_total += line["totalPrice"]["centAmount"]
        shipping = order["shippingInfo"]["price"]["centAmount"]
        assert order["totalPrice"]["centAmount"] == lines_total + shipping
        taxed = order["taxedPrice"]
        assert taxed["totalGross"]["centAmount"] == order["totalPrice"]["centAmount"]
        assert (
            taxed["totalNet"]["centAmount"] + taxed["totalTax"]["centAmount"]
            == taxed["totalGross"]["centAmount"]
        )
        assert order["store"] == {"typeId": "store", "key": order["store"]["key"]}


def test_edge_cases_the_models_must_handle_are_present() -> None:
    data = _materialize(SMALL)
    customers = data["customers"]
    emails = [c["email"].lower() for c in customers]
    assert len(emails) != len(set(emails)), "expected store-scoped customers sharing an email"
    assert any("customerId" not in o for o in data["orders"]), "expected guest orders"
    assert any(o["returnInfo"] for o in data["orders"]), "expected returns"
    assert {o["totalPrice"]["currencyCode"] for o in data["orders"]} >= {"EUR", "USD", "JPY"}
    message_types = {m["type"] for m in data["messages"]}
    assert {"CustomerDeleted", "CustomerEmailChanged", "OrderStateChanged"} <= message_types
    deleted = {m["resource"]["id"] for m in data["messages"] if m["type"] == "CustomerDeleted"}
    assert deleted and not deleted & {c["id"] for c in customers}
    consent = [c.get("custom", {}).get("fields", {}) for c in customers]
    assert any(f.get("emailOptIn") and "emailOptInAt" not in f for f in consent)
    assert any(f.get("emailOptOutAt") and f.get("emailOptIn") for f in consent)
    assert "password" not in json.dumps(customers)
    assert customer_document(SMALL, 0)["email"].isascii()


def test_load_raw_uses_the_ingest_schema(tmp_path: Path) -> None:
    warehouse = tmp_path / "raw.duckdb"
    load_raw(warehouse, SMALL)
    data = _materialize(SMALL)
    with duckdb.connect(str(warehouse)) as con:
        for name in schema.RESOURCE_NAMES:
            count = con.execute(f"select count(*) from raw_commercetools.{name}").fetchone()
            assert count == (len(data[name]),), name
        column_types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_commercetools' and table_name = 'orders__line_items'"
            ).fetchall()
        )
        assert column_types["name"] == "JSON"  # localized string kept as JSON, per schema.py
        assert column_types["total_price__cent_amount"] == "BIGINT"
        children = con.execute(
            "select count(*) from raw_commercetools.orders__return_info__items"
        ).fetchone()
    assert children is not None and children[0] > 0
