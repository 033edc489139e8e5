"""Queries on the commercetools sandbox over real HTTP: sort, paging, caps, predicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox

from ._commercetools import create_customer, make_customer_type, messages

pytestmark = pytest.mark.slow


# -- sort, paging, caps ----------------------------------------------------------------------


def test_sort_on_customers_ascending_descending_and_multi_field(ct: httpx.Client) -> None:
    emails = ["carol@example.com", "alice@example.com", "dave@example.com", "bob@example.com"]
    for index, email in enumerate(emails):
        create_customer(ct, email, firstName="Other" if index % 2 else "Same")

    def fetch(*sort: str) -> list[str]:
        response = ct.get("/customers", params=[("sort", s) for s in sort])
        assert response.status_code == 200
        return [c["email"] for c in response.json()["results"]]

    assert fetch("email asc") == sorted(emails)
    assert fetch("email desc") == sorted(emails, reverse=True)
    # firstName desc puts "Same" first; email breaks the tie in each group.
    assert fetch("firstName desc", "email asc") == [
        "carol@example.com",
        "dave@example.com",
        "alice@example.com",
        "bob@example.com",
    ]


def test_sort_on_orders_by_order_number_and_created_at(ct: httpx.Client) -> None:
    numbers = ["ORD-3", "ORD-1", "ORD-4", "ORD-2"]
    stamps = [
        "2024-03-01T00:00:00.000Z",
        "2024-01-01T00:00:00.000Z",
        "2024-04-01T00:00:00.000Z",
        "2024-02-01T00:00:00.000Z",
    ]
    for number, stamp in zip(numbers, stamps, strict=True):
        cart = ct.post("/carts", json={"currency": "EUR"}, headers={"X-Sandbox-Timestamp": stamp})
        ct.post(
            "/orders",
            json={
                "cart": {"typeId": "cart", "id": cart.json()["id"]},
                "version": cart.json()["version"],
                "orderNumber": number,
            },
            headers={"X-Sandbox-Timestamp": stamp},
        ).raise_for_status()

    def fetch(sort: str) -> list[str]:
        response = ct.get("/orders", params={"sort": sort})
        assert response.status_code == 200
        return [o["orderNumber"] for o in response.json()["results"]]

    assert fetch("orderNumber asc") == ["ORD-1", "ORD-2", "ORD-3", "ORD-4"]
    assert fetch("orderNumber desc") == ["ORD-4", "ORD-3", "ORD-2", "ORD-1"]
    assert fetch("createdAt desc") == ["ORD-4", "ORD-3", "ORD-2", "ORD-1"]


def test_keyset_paging_returns_every_customer_exactly_once(
    fresh_commercetools: CommercetoolsSandbox, ct: httpx.Client
) -> None:
    count = 1023
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: create_customer(ct, f"user{i:05d}@example.com"), range(count)))

    seen: list[str] = []
    pages = []
    last_id: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "id asc", "limit": 500, "withTotal": "false"}
        if last_id is not None:
            params["where"] = "id > :lastId"
            params["var.lastId"] = last_id
        body = ct.get("/customers", params=params).json()
        assert "total" not in body
        assert body["limit"] == 500 and body["offset"] == 0
        ids = [c["id"] for c in body["results"]]
        assert ids == sorted(ids)
        assert body["count"] == len(ids)
        pages.append(len(ids))
        seen.extend(ids)
        if len(ids) < 500:
            break
        last_id = ids[-1]

    assert pages == [500, 500, 23]
    assert len(seen) == count
    assert len(set(seen)) == count
    stats = fresh_commercetools.stats()
    assert stats["max_limit"] == 500
    assert stats["max_offset"] is None


def test_keyset_with_literal_cursor_and_incremental_window(ct: httpx.Client) -> None:
    stamps = [f"2024-01-{day:02d}T10:00:00.000Z" for day in range(1, 11)]
    for index, stamp in enumerate(stamps):
        create_customer(ct, f"c{index}@example.com", at=stamp)
    all_ids = sorted(c["id"] for c in ct.get("/customers", params={"limit": 500}).json()["results"])
    pivot = all_ids[3]
    after = ct.get("/customers", params={"sort": "id asc", "where": f'id > "{pivot}"'}).json()
    assert [c["id"] for c in after["results"]] == all_ids[4:]

    window = ct.get(
        "/customers",
        params=[
            ("where", "lastModifiedAt >= :since"),
            ("where", "lastModifiedAt < :until"),
            ("var.since", "2024-01-04T10:00:00.000Z"),
            ("var.until", "2024-01-07T10:00:00.000Z"),
            ("sort", "lastModifiedAt asc"),
        ],
    ).json()
    assert [c["lastModifiedAt"] for c in window["results"]] == stamps[3:6]
    assert window["total"] == 3


def test_limit_above_500_is_rejected_with_commercetools_error(ct: httpx.Client) -> None:
    response = ct.get("/customers", params={"limit": 501})
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert "limit" in body["message"] and "500" in body["message"]
    assert body["errors"] == [{"code": "InvalidInput", "message": body["message"]}]
    assert ct.get("/customers", params={"limit": 500}).status_code == 200


def test_offset_above_10000_is_rejected_with_commercetools_error(ct: httpx.Client) -> None:
    response = ct.get("/orders", params={"offset": 10001})
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert "offset" in body["message"] and "10000" in body["message"]
    assert body["errors"][0]["code"] == "InvalidInput"
    accepted = ct.get("/orders", params={"offset": 10000})
    assert accepted.status_code == 200
    assert accepted.json()["results"] == []


def test_malformed_paging_parameters_are_rejected(ct: httpx.Client) -> None:
    for params in ({"limit": "-1"}, {"limit": "ten"}, {"offset": "1.5"}, {"withTotal": "maybe"}):
        response = ct.get("/customers", params=params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["code"] == "InvalidInput"
    bad_sort = ct.get("/customers", params={"sort": "email sideways"})
    assert bad_sort.status_code == 400


def test_caps_apply_to_messages_and_in_store_endpoints(
    fresh_commercetools: CommercetoolsSandbox, ct: httpx.Client
) -> None:
    assert ct.get("/messages", params={"limit": 1000}).status_code == 400
    assert ct.get("/in-store/key=eu/customers", params={"offset": 20000}).status_code == 400
    assert fresh_commercetools.stats()["max_offset"] == 20000


def test_with_total_false_omits_total_and_default_includes_it(ct: httpx.Client) -> None:
    for index in range(3):
        create_customer(ct, f"t{index}@example.com")
    default = ct.get("/customers", params={"limit": 2}).json()
    assert default["total"] == 3
    assert default["count"] == 2
    without = ct.get("/customers", params={"limit": 2, "withTotal": "false"}).json()
    assert "total" not in without
    assert without["count"] == 2
    explicit = ct.get("/customers", params={"withTotal": "true"}).json()
    assert explicit["total"] == 3


def test_offset_paging_and_limit_zero(ct: httpx.Client) -> None:
    for index in range(5):
        create_customer(ct, f"o{index}@example.com")
    page = ct.get("/customers", params={"sort": "email asc", "offset": 2, "limit": 2}).json()
    assert [c["email"] for c in page["results"]] == ["o2@example.com", "o3@example.com"]
    assert page["offset"] == 2 and page["total"] == 5
    empty = ct.get("/customers", params={"limit": 0}).json()
    assert empty["count"] == 0 and empty["results"] == [] and empty["total"] == 5


def test_invalid_predicate_is_a_400_invalid_input(ct: httpx.Client) -> None:
    response = ct.get("/customers", params={"where": 'email = "unterminated'})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"
    missing_var = ct.get("/customers", params={"where": "id > :lastId"})
    assert missing_var.status_code == 400


def test_complex_predicates_still_use_the_mock_parser(ct: httpx.Client) -> None:
    make_customer_type(ct)
    opted = create_customer(
        ct,
        "in@example.com",
        custom={
            "type": {"typeId": "type", "key": "customer-consent"},
            "fields": {"emailOptIn": True},
        },
    )
    create_customer(
        ct,
        "out@example.com",
        custom={
            "type": {"typeId": "type", "key": "customer-consent"},
            "fields": {"emailOptIn": False},
        },
    )
    create_customer(ct, "none@example.com")
    found = ct.get("/customers", params={"where": "custom(fields(emailOptIn = true))"}).json()
    assert [c["id"] for c in found["results"]] == [opted["id"]]
    either = ct.get(
        "/customers",
        params={"where": 'email in ("in@example.com", "none@example.com")', "sort": "email asc"},
    ).json()
    assert [c["email"] for c in either["results"]] == ["in@example.com", "none@example.com"]


def test_concurrent_requests_keep_their_own_timestamp_and_sort(ct: httpx.Client) -> None:
    def create(index: int) -> tuple[str, str]:
        stamp = f"2020-01-01T00:{index // 60:02d}:{index % 60:02d}.000Z"
        customer = create_customer(ct, f"conc{index}@example.com", key=f"k{index:03d}", at=stamp)
        return customer["id"], stamp

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(80)))
    stored = {c["id"]: c for c in ct.get("/customers", params={"limit": 500}).json()["results"]}
    for customer_id, stamp in created:
        assert stored[customer_id]["createdAt"] == stamp
        assert stored[customer_id]["lastModifiedAt"] == stamp
    by_message = {m["resource"]["id"]: m["createdAt"] for m in messages(ct)}
    assert by_message == dict(created)

    def keys(sort: str) -> list[str]:
        body = ct.get("/customers", params={"sort": sort, "limit": 500}).json()
        return [c["key"] for c in body["results"]]

    expected = sorted(c["key"] for c in stored.values())
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(keys, ["key asc", "key desc"] * 10))
    for index, result in enumerate(results):
        assert result == (expected if index % 2 == 0 else expected[::-1])


def test_sort_without_direction_means_ascending_and_expand_still_works(
    ct: httpx.Client,
) -> None:
    group = ct.post("/customer-groups", json={"key": "gold", "groupName": "Gold"}).json()
    for email in ("b@example.com", "a@example.com"):
        create_customer(ct, email, customerGroup={"typeId": "customer-group", "id": group["id"]})
    body = ct.get("/customers", params={"sort": "email", "expand": "customerGroup"}).json()
    assert [c["email"] for c in body["results"]] == ["a@example.com", "b@example.com"]
    assert body["results"][0]["customerGroup"]["obj"]["name"] == "Gold"


def test_in_store_queries_honour_sort_and_caps(ct: httpx.Client) -> None:
    store = ct.post("/stores", json={"key": "nl", "name": {"en": "NL"}})
    assert store.status_code == 201, store.text
    for email in ("z@example.com", "m@example.com", "a@example.com"):
        response = ct.post(
            "/in-store/key=nl/customers", json={"email": email, "stores": [{"key": "nl"}]}
        )
        assert response.status_code == 201, response.text
    body = ct.get("/in-store/key=nl/customers", params={"sort": "email desc"}).json()
    assert [c["email"] for c in body["results"]] == [
        "z@example.com",
        "m@example.com",
        "a@example.com",
    ]
    assert ct.get("/in-store/key=nl/customers", params={"limit": 501}).status_code == 400


def test_date_time_predicates_compare_instants_not_strings(ct: httpx.Client) -> None:
    stamps = ["2024-01-04T09:59:59.999Z", "2024-01-04T10:00:00.000Z", "2024-01-04T10:00:00.001Z"]
    for index, stamp in enumerate(stamps):
        create_customer(ct, f"dt{index}@example.com", at=stamp)

    def created(**params: Any) -> list[str]:
        body = ct.get("/customers", params={**params, "sort": "createdAt asc"}).json()
        return [c["createdAt"] for c in body["results"]]

    # Without milliseconds, and with an offset: the same instant as the stored 10:00:00.000Z.
    assert (
        created(where="createdAt >= :since", **{"var.since": "2024-01-04T10:00:00Z"}) == stamps[1:]
    )
    assert created(where='createdAt >= "2024-01-04T12:00:00+02:00"') == stamps[1:]
    assert created(where='createdAt < "2024-01-04T10:00:00Z" and email != "x"') == stamps[:1]
    # Complex predicates (here with `or`) get the same treatment.
    assert (
        created(where='createdAt = "2024-01-04T10:00:00Z" or email = "dt2@example.com"')
        == stamps[1:]
    )
