"""Robustness: mutated bodies never crash the emulator, and its verdicts agree with the
Swagger file (an answer of 2xx to a body the spec rejects fails the checked client)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient

pytestmark = pytest.mark.slow

_ITEM = {
    "id": "sku-1",
    "name": "Shoe",
    "price": 9.5,
    "quantity": 1,
    "categories": ["Shoes"],
    "dataFields": {"size": "42"},
}
VALID: list[tuple[str, str, dict[str, Any]]] = [
    (
        "POST",
        "/api/users/update",
        {
            "email": "a@example.com",
            "userId": "ua",
            "dataFields": {"n": 1, "o": {"p": "q"}},
            "mergeNestedObjects": True,
        },
    ),
    (
        "POST",
        "/api/users/bulkUpdate",
        {
            "users": [{"email": "b@example.com", "dataFields": {"n": 2}, "preferUserId": False}],
            "createNewFields": True,
        },
    ),
    (
        "POST",
        "/api/users/updateSubscriptions",
        {"email": "a@example.com", "emailListIds": [31], "unsubscribedChannelIds": [13]},
    ),
    (
        "POST",
        "/api/users/bulkUpdateSubscriptions",
        {"updateSubscriptionsRequests": [{"userId": "ua", "unsubscribedMessageTypeIds": [22]}]},
    ),
    (
        "POST",
        "/api/users/updateEmail",
        {"currentEmail": "a@example.com", "newEmail": "a2@example.com"},
    ),
    (
        "POST",
        "/api/events/track",
        {
            "email": "a@example.com",
            "eventName": "e",
            "id": "e-1",
            "createdAt": 1_700_000_000,
            "dataFields": {"k": "v"},
        },
    ),
    (
        "POST",
        "/api/events/trackBulk",
        {"events": [{"userId": "ua", "eventName": "e", "dataFields": {"k": "w"}}]},
    ),
    (
        "POST",
        "/api/commerce/trackPurchase",
        {
            "id": "o-1",
            "user": {"email": "a@example.com"},
            "items": [_ITEM],
            "total": 9.5,
            "dataFields": {"c": "x"},
        },
    ),
    ("POST", "/api/commerce/updateCart", {"user": {"userId": "ua"}, "items": [_ITEM]}),
    ("POST", "/api/lists", {"name": "L", "description": "d"}),
    ("POST", "/api/lists/subscribe", {"listId": 31, "subscribers": [{"email": "c@example.com"}]}),
    (
        "POST",
        "/api/lists/unsubscribe",
        {"listId": 31, "subscribers": [{"userId": "ua"}], "channelUnsubscribe": False},
    ),
    (
        "POST",
        "/api/catalogs/fuzz/items",
        {"documents": {"i-1": {"name": "x", "n": 1}}, "replaceUploadedFieldsOnly": False},
    ),
    ("PUT", "/api/catalogs/fuzz/items/i-2", {"value": {"name": "y", "n": 2}}),
    ("PATCH", "/api/catalogs/fuzz/items/i-2", {"update": {"n": 3}}),
    ("DELETE", "/api/catalogs/fuzz/items", {"itemIds": ["i-1"]}),
    ("POST", "/api/users/forget", {"email": "z@example.com"}),
]
_ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**63,
    1.5,
    "",
    "x",
    "not an email",
    " ua ",
    True,
    [],
    [None],
    {},
    {"a.b": 1},
    "2020-01-01",
    "é" * 60,
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    mutated = copy.deepcopy(body)
    path = rng.choice(_paths(mutated))
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[last]
    else:
        parent[last] = copy.deepcopy(rng.choice(_ODD_VALUES))
    return mutated


def test_mutated_bodies_never_crash_and_agree_with_the_spec(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    rng = random.Random(20261126)
    for project_type in ("hybrid", "email", "userId"):
        fresh_iterable.reset(project_type=project_type, rate_scale=0)
        iterable_api.post("/api/catalogs/fuzz")
        for method, path, body in VALID:
            assert iterable_api.request(method, path, body).status_code < 500
        for _ in range(150):
            method, path, body = rng.choice(VALID)
            response = iterable_api.request(method, path, _mutate(body, rng))
            assert response.status_code < 500, (method, path, response.text)
    assert fresh_iterable.counters()  # the log saw the traffic
