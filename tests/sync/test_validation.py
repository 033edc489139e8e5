"""Validation rules per object, with the reason codes analysts will see."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ctsync.core.config import IterableSettings
from ctsync.core.names import ChangeRow
from ctsync.sync.validation import Validator, is_valid_email, user_id_problem


def row(obj: str, payload: Any, key: str = "k1", operation: str = "upsert") -> ChangeRow:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return ChangeRow(obj, key, operation, text, "h", f"{obj}:{key}:h", None)


def reason(validator: Validator, obj: str, payload: Any, operation: str = "upsert") -> str | None:
    _, rejection = validator.validate(row(obj, payload, operation=operation))
    return rejection.reason_code if rejection else None


@pytest.fixture
def hybrid() -> Validator:
    return Validator(IterableSettings(api_key="k" * 10, project_type="hybrid"))


@pytest.mark.parametrize(
    "email,valid",
    [
        ("ana@example.com", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        ("dot.@example.com", False),
        ("space in@example.com", False),
        ("ana@example", False),
        ("ana@-example.com", False),
        ("", False),
    ],
)
def test_email_rules(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


@pytest.mark.parametrize(
    "user_id,problem",
    [
        ("cust-1", None),
        ("", "empty"),
        ("abc ", "trailing"),
        ("ünï", "non-ASCII"),
        ("tab\there", "non-printable"),
        ("x" * 53, "longer than 52"),
    ],
)
def test_user_id_rules(user_id: str, problem: str | None) -> None:
    found = user_id_problem(user_id, 52)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_users_identity_per_project_type() -> None:
    email_project = Validator(IterableSettings(api_key="k" * 10, project_type="email"))
    user_project = Validator(IterableSettings(api_key="k" * 10, project_type="userId"))
    assert reason(email_project, "users", {"userId": "u1"}) == "missing_identifier"
    assert reason(email_project, "users", {"userId": "u1", "preferUserId": True}) is None
    assert reason(user_project, "users", {"email": "a@example.com"}) == "missing_identifier"
    assert reason(user_project, "users", {"userId": "u1"}) is None


def test_users_field_checks(hybrid: Validator) -> None:
    assert reason(hybrid, "users", {"email": "bad"}) == "invalid_email"
    assert reason(hybrid, "users", {"userId": "u 1 "}) == "invalid_user_id"
    assert reason(hybrid, "users", {}) == "missing_identifier"
    assert reason(hybrid, "users", "not json") == "invalid_payload"
    assert reason(hybrid, "users", [1, 2]) == "invalid_payload"
    managed = {"email": "a@example.com", "dataFields": {"emailListIds": [31]}}
    assert reason(hybrid, "users", managed) == "managed_field"


def test_types_locked_in_iterable_are_enforced() -> None:
    validator = Validator(
        IterableSettings(api_key="k" * 10),
        {"signupDate": "date", "ltv": "double", "address.zip": "string", "vip": "boolean"},
    )
    ok = {"email": "a@example.com", "dataFields": {"signupDate": "2024-01-02", "ltv": 3}}
    assert reason(validator, "users", ok) is None
    bad_date = {"email": "a@example.com", "dataFields": {"signupDate": "GGG"}}
    _, rejection = validator.validate(row("users", bad_date))
    assert rejection and rejection.reason_code == "field_type_mismatch"
    assert "signupDate" in rejection.detail and "'date'" in rejection.detail
    nested = {"email": "a@example.com", "dataFields": {"address": {"zip": 12345}}}
    assert reason(validator, "users", nested) == "field_type_mismatch"
    assert reason(validator, "users", {"email": "a@x.io", "dataFields": {"vip": "yes"}}) == (
        "field_type_mismatch"
    )
    # null clears a field whatever its type
    assert reason(validator, "users", {"email": "a@x.io", "dataFields": {"vip": None}}) is None


def test_types_must_agree_within_a_run(hybrid: Validator) -> None:
    first = {"email": "a@example.com", "dataFields": {"tier": "gold", "points": 10}}
    assert reason(hybrid, "users", first) is None
    assert reason(hybrid, "users", {"email": "b@example.com", "dataFields": {"points": 12.5}}) == (
        "field_type_conflict"
    )
    assert reason(hybrid, "users", {"email": "c@example.com", "dataFields": {"tier": 3}}) == (
        "field_type_conflict"
    )
    # a rejected row does not teach the registry its types
    assert reason(hybrid, "users", {"email": "d@example.com", "dataFields": {"tier": "x"}}) is None


def test_event_fields_are_typed_per_event_name(hybrid: Validator) -> None:
    base = {"email": "a@example.com", "id": "e-1"}
    assert reason(hybrid, "events", {**base, "eventName": "a", "dataFields": {"n": 1}}) is None
    assert reason(hybrid, "events", {**base, "eventName": "b", "dataFields": {"n": "x"}}) is None
    assert reason(hybrid, "events", {**base, "eventName": "a", "dataFields": {"n": "x"}}) == (
        "field_type_conflict"
    )


def test_events_need_name_and_a_valid_id(hybrid: Validator) -> None:
    good = {
        "email": "a@example.com",
        "eventName": "viewed",
        "id": "abc-123",
        "createdAt": 1700000000,
    }
    assert reason(hybrid, "events", good) is None
    assert reason(hybrid, "events", {**good, "id": "has space"}) == "invalid_event_id"
    assert reason(hybrid, "events", {**good, "id": "x" * 513}) == "invalid_event_id"
    assert reason(hybrid, "events", {k: v for k, v in good.items() if k != "id"}) == (
        "invalid_event_id"
    )
    assert reason(hybrid, "events", {**good, "eventName": ""}) == "missing_field"
    assert reason(hybrid, "events", {**good, "createdAt": 1700000000000}) == "invalid_field_type"


def test_purchases_and_carts(hybrid: Validator) -> None:
    item = {"id": "sku-1", "name": "Mug", "price": 9.5, "quantity": 2}
    purchase = {"id": "o-1", "user": {"email": "a@example.com"}, "items": [item], "total": 19.0}
    assert reason(hybrid, "purchases", purchase) is None
    assert reason(hybrid, "purchases", {**purchase, "total": None}) == "missing_field"
    assert reason(hybrid, "purchases", {**purchase, "items": []}) == "missing_field"
    no_price = {**purchase, "items": [{**item, "price": None}]}
    assert reason(hybrid, "purchases", no_price) == "missing_field"
    text_qty = {**purchase, "items": [{**item, "quantity": "2"}]}
    assert reason(hybrid, "purchases", text_qty) == "invalid_field_type"
    assert reason(hybrid, "purchases", {**purchase, "user": {"email": "x"}}) == "invalid_email"
    assert reason(hybrid, "carts", {"user": {"email": "a@example.com"}, "items": []}) is None
    assert reason(hybrid, "carts", {"items": [item]}) == "missing_field"


def test_catalog_items(hybrid: Validator) -> None:
    good = {"itemId": "sku-1", "value": {"name": "Mug", "price": 9.5, "dims": {"h": 1}}}
    assert reason(hybrid, "catalog_items", good) is None
    assert reason(hybrid, "catalog_items", {**good, "itemId": "sku_1"}) == "invalid_item_id"
    dotted = {"itemId": "sku-2", "value": {"dims": {"h.cm": 1}}}
    assert reason(hybrid, "catalog_items", dotted) == "invalid_field_name"
    big = {"itemId": "sku-3", "value": {"blob": "x" * 31_000}}
    assert reason(hybrid, "catalog_items", big) == "payload_too_large"
    assert reason(hybrid, "catalog_items", {"itemId": "sku-4"}) == "missing_field"
    assert reason(hybrid, "catalog_items", {"itemId": "sku-4"}, operation="delete") is None


def test_subscriptions_and_deletions(hybrid: Validator) -> None:
    # a subscription row changes one group (subscriptions are written per group, not as
    # whole-array overwrites; see docs/CONTRACTS.md §4a)
    sub = {
        "email": "a@example.com",
        "subscriptionGroup": "messageChannel",
        "subscriptionGroupId": 11,
        "action": "unsubscribe",
    }
    assert reason(hybrid, "subscriptions", sub) is None
    assert reason(hybrid, "subscriptions", {**sub, "subscriptionGroupId": "11"}) == (
        "invalid_field_type"
    )
    assert reason(hybrid, "subscriptions", {**sub, "subscriptionGroup": "segment"}) == (
        "invalid_field_type"
    )
    assert reason(hybrid, "subscriptions", {**sub, "action": "toggle"}) == "invalid_field_type"
    created = {**sub, "create": True, "arrays": {"unsubscribedChannelIds": [11]}}
    assert reason(hybrid, "subscriptions", created) is None
    assert reason(hybrid, "subscriptions", {**sub, "create": True}) == "missing_field"
    bad_arrays = {**created, "arrays": {"unsubscribedChannelIds": ["11"]}}
    assert reason(hybrid, "subscriptions", bad_arrays) == "invalid_field_type"
    assert reason(hybrid, "user_deletions", {"email": "a@example.com", "method": "forget"}) is None
    assert reason(hybrid, "user_deletions", {"email": "a@example.com", "method": "wipe"}) == (
        "invalid_field_type"
    )


def test_body_size_cap() -> None:
    validator = Validator(IterableSettings(api_key="k" * 10, max_body_bytes=1000))
    big = {"email": "a@example.com", "dataFields": {"bio": "x" * 2000}}
    _, rejection = validator.validate(row("users", big))
    assert rejection and rejection.reason_code == "payload_too_large"
    assert "1000" in rejection.detail
