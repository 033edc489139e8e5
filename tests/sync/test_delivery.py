"""Response interpretation and batch splitting, against scripted httpx.MockTransport answers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ctsync.core.config import IterableSettings
from ctsync.core.names import ChangeRow, RecordOutcome
from ctsync.sync.batching import Prepared, batches
from ctsync.sync.delivery import Delivery
from ctsync.sync.iterable_client import IterableClient


def prepared(obj: str, key: str, payload: dict[str, Any], operation: str = "upsert") -> Prepared:
    text = json.dumps(payload)
    return Prepared(ChangeRow(obj, key, operation, text, "h" + key, None, None), payload, len(text))


def make(handler: Any, **overrides: Any) -> tuple[Delivery, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    settings = IterableSettings(
        api_key="unit-test-key-123",
        api_url="https://api.iterable.test",
        rate_scale=1000.0,
        backoff_base_seconds=0.001,
        max_attempts=2,
        **overrides,
    )
    client = IterableClient(settings, transport=httpx.MockTransport(record))
    return Delivery(client, settings), seen


def creation(email: str) -> dict[str, Any]:
    """A subscription row of a person Iterable does not hold yet (bulkUpdateSubscriptions)."""
    return {
        "email": email,
        "subscriptionGroup": "emailList",
        "subscriptionGroupId": 31,
        "action": "subscribe",
        "create": True,
        "arrays": {"emailListIds": [31]},
    }


def group_row(key: str, group: str, group_id: int, action: str, **who: str) -> Prepared:
    payload = {
        **who,
        "subscriptionGroup": group,
        "subscriptionGroupId": group_id,
        "action": action,
    }
    return prepared("subscriptions", key, payload)


def bulk_ok(**extra: Any) -> dict[str, Any]:
    return {"successCount": 0, "failCount": 0, "invalidEmails": [], "invalidUserIds": [], **extra}


def test_bulk_update_partial_failures_become_row_rejections() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = bulk_ok(
            invalidEmails=["bad@@x"],
            failedUpdates={
                "invalidEmails": ["bad@@x"],
                "conflictEmails": ["Taken@Example.com"],
                "forgottenUserIds": ["gone-1"],
                "invalidDataEmails": ["odd@example.com"],
            },
        )
        return httpx.Response(200, json=body)

    delivery, seen = make(handler)
    items = [
        prepared("users", "1", {"email": "ok@example.com"}),
        prepared("users", "2", {"email": "bad@@x"}),
        prepared("users", "3", {"email": "taken@example.com"}),
        prepared("users", "4", {"userId": "gone-1"}),
        prepared("users", "5", {"email": "odd@example.com", "dataFields": {"a": 1}}),
    ]
    outcomes = {o.row.record_key: o for o in delivery.send("users", "upsert", items)}
    assert len(seen) == 1
    assert json.loads(seen[0].content)["users"][0] == {"email": "ok@example.com"}
    assert outcomes["1"].outcome == RecordOutcome.SUCCEEDED
    assert (outcomes["2"].outcome, outcomes["2"].reason_code) == (
        RecordOutcome.REJECTED,
        "iterable_invalid_email",
    )
    assert outcomes["3"].reason_code == "iterable_conflict"
    assert outcomes["4"].reason_code == "iterable_forgotten"
    assert outcomes["5"].reason_code == "iterable_invalid_data"


def test_whole_batch_type_mismatch_is_split_to_isolate_bad_rows() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        users = json.loads(request.content)["users"]
        bad = [u for u in users if isinstance(u.get("dataFields", {}).get("age"), str)]
        if bad:
            return httpx.Response(
                400,
                json={
                    "msg": "The request does not have the same data types",
                    "code": "RequestFieldsTypesMismatched",
                    "params": {"validationErrors": {"age": {"expectedType": "long"}}},
                },
            )
        return httpx.Response(200, json=bulk_ok(successCount=len(users)))

    delivery, seen = make(handler)
    items = [
        prepared("users", str(i), {"email": f"u{i}@example.com", "dataFields": {"age": i}})
        for i in range(16)
    ]
    items[5] = prepared("users", "5", {"email": "u5@example.com", "dataFields": {"age": "five"}})
    items[12] = prepared("users", "12", {"email": "u12@example.com", "dataFields": {"age": "x"}})
    outcomes = {o.row.record_key: o for o in delivery.send("users", "upsert", items)}
    assert len(outcomes) == 16
    rejected = {k for k, o in outcomes.items() if o.outcome == RecordOutcome.REJECTED}
    assert rejected == {"5", "12"}
    assert outcomes["5"].reason_code == "iterable_type_mismatch"
    assert "expectedType" in (outcomes["5"].detail or "")
    # 16 rows with 2 bad ones: far fewer requests than one per row
    assert len(seen) < 16


def test_bad_json_body_on_a_single_row_is_a_rejection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "msg": "Invalid JSON body",
                "code": "BadJsonBody",
                "params": {"obj.events[0].createdAt": "Number value expected"},
            },
        )

    delivery, _ = make(handler)
    item = prepared("events", "e1", {"email": "a@example.com", "eventName": "x", "id": "e1"})
    [outcome] = delivery.send("events", "upsert", [item])
    assert (outcome.outcome, outcome.reason_code, outcome.http_status) == (
        RecordOutcome.REJECTED,
        "iterable_bad_json",
        400,
    )
    assert "createdAt" in (outcome.detail or "")


def test_transient_exhaustion_marks_rows_failed_not_rejected() -> None:
    delivery, seen = make(lambda request: httpx.Response(503, text="down"))
    items = [prepared("users", "1", {"email": "a@example.com"})]
    [outcome] = delivery.send("users", "upsert", items)
    assert (outcome.outcome, outcome.reason_code) == (RecordOutcome.FAILED, "transient_error")
    assert len(seen) == 2


def test_single_call_409_forgotten_and_conflict() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        email = json.loads(request.content)["user"]["email"]
        if email.startswith("gone"):
            return httpx.Response(
                409,
                json={
                    "msg": "Contact is GDPR forgotten",
                    "code": "ForgottenUserError",
                    "params": None,
                },
            )
        if email.startswith("dup"):
            return httpx.Response(409, json={"msg": "Email/userId conflict", "code": "BadParams"})
        return httpx.Response(200, json={"msg": "", "code": "Success", "params": None})

    delivery, _ = make(handler)
    item = {"id": "sku", "name": "n", "price": 1, "quantity": 1}
    rows = [
        prepared(
            "purchases",
            k,
            {"id": k, "user": {"email": f"{k}@example.com"}, "items": [item], "total": 1},
        )
        for k in ("ok", "gone", "dup")
    ]
    outcomes = {o.row.record_key: o for o in delivery.send("purchases", "upsert", rows)}
    assert outcomes["ok"].outcome == RecordOutcome.SUCCEEDED
    assert outcomes["gone"].reason_code == "iterable_forgotten"
    assert outcomes["dup"].reason_code == "iterable_conflict"


def test_missing_catalog_is_created_then_items_sent() -> None:
    created: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/catalogs/products" and request.method == "POST":
            created.append("yes")
            return httpx.Response(200, json={"msg": "", "code": "Success", "params": None})
        if not created:
            return httpx.Response(
                404,
                json={
                    "error": "NotFound",
                    "message": "Catalog not found",
                    "code": "error.catalogs.notFound",
                },
            )
        docs = json.loads(request.content)["documents"]
        assert docs == {"sku-1": {"name": "Mug"}}
        return httpx.Response(202, json={"msg": "", "code": "Success", "params": None})

    delivery, seen = make(handler)
    item = prepared("catalog_items", "sku-1", {"itemId": "sku-1", "value": {"name": "Mug"}})
    [outcome] = delivery.send("catalog_items", "upsert", [item])
    assert outcome.outcome == RecordOutcome.SUCCEEDED
    assert [r.method for r in seen] == ["POST", "POST", "POST"]


def test_cart_delete_sends_an_empty_cart_with_identity_only() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"msg": "", "code": "Success", "params": None})

    delivery, _ = make(handler)
    last = {
        "user": {"email": "a@example.com", "dataFields": {"x": 1}},
        "items": [{"id": "1", "name": "n", "price": 1, "quantity": 1}],
    }
    [outcome] = delivery.send("carts", "delete", [prepared("carts", "c1", last, "delete")])
    assert outcome.outcome == RecordOutcome.SUCCEEDED
    assert bodies == [{"user": {"email": "a@example.com"}, "items": []}]


def test_user_deletion_already_absent_counts_as_done() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "DELETE"
        return httpx.Response(
            400,
            json={
                "msg": "User does not exist. Email:  UserId: u9",
                "code": "BadParams",
                "params": None,
            },
        )

    delivery, seen = make(handler, project_type="userId")
    item = prepared("user_deletions", "u9", {"userId": "u9", "method": "delete"})
    [outcome] = delivery.send("user_deletions", "upsert", [item])
    assert outcome.outcome == RecordOutcome.SUCCEEDED
    assert seen[0].url.path == "/api/users/byUserId/u9"


def test_forget_uses_the_project_identifier() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"msg": "", "code": "Success", "params": None})

    delivery, seen = make(handler, project_type="email")
    item = prepared(
        "user_deletions", "u1", {"email": "a@example.com", "userId": "u1", "method": "forget"}
    )
    delivery.send("user_deletions", "upsert", [item])
    assert seen[0].url.path == "/api/users/forget"
    assert json.loads(seen[0].content) == {"email": "a@example.com"}


def test_batches_respect_count_and_bytes() -> None:
    items = [
        prepared("users", str(i), {"email": f"u{i}@example.com", "pad": "x" * 80})
        for i in range(25)
    ]
    by_count = list(batches(items, max_records=10, max_bytes=10_000_000))
    assert [len(b) for b in by_count] == [10, 10, 5]
    by_bytes = list(batches(items, max_records=1000, max_bytes=1_000))
    assert all(sum(p.size + 1 for p in b) + 256 <= 1_000 for b in by_bytes)
    assert sum(len(b) for b in by_bytes) == 25


def test_whole_batch_errors_that_are_not_about_rows_are_not_split() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"msg": "Invalid list", "code": "BadParams"})

    delivery, seen = make(handler)
    items = [prepared("users", str(i), {"email": f"u{i}@example.com"}) for i in range(8)]
    outcomes = delivery.send("users", "upsert", items)
    assert len(seen) == 1
    assert {o.reason_code for o in outcomes} == {"iterable_rejected"}
    assert all("BadParams" in (o.detail or "") for o in outcomes)


def test_bulk_409_is_split_to_the_conflicting_row() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["updateSubscriptionsRequests"]
        if any(r["email"] == "dup@example.com" for r in requests):
            return httpx.Response(409, json={"msg": "Email/userId conflict", "code": "BadParams"})
        body = {
            "successCount": len(requests),
            "failCount": 0,
            "invalidEmails": [],
            "invalidUserIds": [],
            "validEmailFailures": [],
            "validUserIdFailures": [],
        }
        return httpx.Response(200, json=body)

    delivery, _ = make(handler)
    emails = ["a@example.com", "dup@example.com", "c@example.com", "d@example.com"]
    items = [prepared("subscriptions", e, creation(e)) for e in emails]
    outcomes = {o.row.record_key: o for o in delivery.send("subscriptions", "upsert", items)}
    assert outcomes["dup@example.com"].reason_code == "iterable_conflict"
    assert [k for k, o in outcomes.items() if o.outcome == RecordOutcome.SUCCEEDED] == [
        "a@example.com",
        "c@example.com",
        "d@example.com",
    ]


def test_subscription_failures_split_into_rejections_and_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "successCount": 1,
            "failCount": 2,
            "invalidEmails": ["bad@example"],
            "invalidUserIds": [],
            "validEmailFailures": ["flaky@example.com"],
            "validUserIdFailures": [],
        }
        return httpx.Response(200, json=body)

    delivery, _ = make(handler)
    emails = ["ok@example.com", "bad@example", "flaky@example.com"]
    items = [prepared("subscriptions", e, creation(e)) for e in emails]
    outcomes = {o.row.record_key: o for o in delivery.send("subscriptions", "upsert", items)}
    assert outcomes["ok@example.com"].outcome == RecordOutcome.SUCCEEDED
    assert (outcomes["bad@example"].outcome, outcomes["bad@example"].reason_code) == (
        RecordOutcome.REJECTED,
        "iterable_invalid_email",
    )
    assert (outcomes["flaky@example.com"].outcome, outcomes["flaky@example.com"].reason_code) == (
        RecordOutcome.FAILED,
        "transient_error",
    )


def test_subscription_rows_go_to_their_groups_endpoint_and_touch_nothing_else() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/lists/"):
            return httpx.Response(200, json=bulk_ok(failedUpdates={}))
        return httpx.Response(202, json={"msg": "Accepted", "code": "Success", "params": None})

    delivery, seen = make(handler)
    items = [
        group_row("a:11", "messageChannel", 11, "unsubscribe", email="a@example.com", userId="a"),
        group_row("b:11", "messageChannel", 11, "unsubscribe", email="b@example.com"),
        group_row("a:31", "emailList", 31, "subscribe", email="a@example.com", userId="a"),
        group_row("c:22", "messageType", 22, "subscribe", email="c@example.com", userId="c"),
    ]
    outcomes = delivery.send("subscriptions", "upsert", items)
    assert {o.outcome for o in outcomes} == {RecordOutcome.SUCCEEDED}
    sent = {(r.method, r.url.path, r.url.params.get("action")): json.loads(r.content) for r in seen}
    assert sent == {
        ("PUT", "/api/subscriptions/messageChannel/11", "unsubscribe"): {
            "users": ["b@example.com"],
            "usersByUserId": ["a"],
        },
        ("POST", "/api/lists/subscribe", None): {
            "listId": 31,
            "subscribers": [{"email": "a@example.com", "userId": "a"}],
            "updateExistingUsersOnly": False,
        },
        ("PUT", "/api/subscriptions/messageType/22", "subscribe"): {
            "users": [],
            "usersByUserId": ["c"],
        },
    }
    # never the array-overwriting endpoint for people Iterable already holds
    assert not any(r.url.path.endswith("bulkUpdateSubscriptions") for r in seen)
    assert {o.endpoint for o in outcomes} == {
        "subscriptions_unsubscribe",
        "lists_subscribe",
        "subscriptions_subscribe",
    }


def test_group_action_falls_back_to_single_user_routes_when_not_enabled() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(404, json={"msg": "not enabled", "code": "NotFound"})
        if "gone" in request.url.path:
            return httpx.Response(
                400,
                json={"msg": "User does not exist. Email: gone@example.com", "code": "BadParams"},
            )
        return httpx.Response(200, json={"msg": "", "code": "Success", "params": None})

    delivery, seen = make(handler)
    items = [
        group_row("a", "messageChannel", 11, "unsubscribe", email="a@example.com", userId="a"),
        group_row("g", "messageChannel", 11, "unsubscribe", email="gone@example.com"),
        group_row("s", "messageType", 21, "subscribe", email="gone@example.com"),
    ]
    outcomes = {o.row.record_key: o for o in delivery.send("subscriptions", "upsert", items)}
    assert [(r.method, r.url.path) for r in seen if r.method != "PUT"] == [
        ("DELETE", "/api/subscriptions/messageChannel/11/byUserId/a"),
        ("DELETE", "/api/subscriptions/messageChannel/11/user/gone@example.com"),
        ("PATCH", "/api/subscriptions/messageType/21/user/gone@example.com"),
    ]
    # an unsubscribe of someone Iterable does not hold has its effect; a subscribe does not
    assert (
        outcomes["a"].outcome == RecordOutcome.SUCCEEDED
        and outcomes["g"].outcome == RecordOutcome.SUCCEEDED
    )
    assert outcomes["s"].outcome == RecordOutcome.REJECTED
    # the fallback sticks for the rest of the run: one PUT found out, none after it
    delivery.send("subscriptions", "upsert", [items[0]])
    assert sum(1 for r in seen if r.method == "PUT") == 1


def test_new_people_are_created_once_with_their_complete_arrays() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)["updateSubscriptionsRequests"]
        return httpx.Response(
            200,
            json={
                "successCount": len(body),
                "failCount": 0,
                "invalidEmails": [],
                "invalidUserIds": [],
                "validEmailFailures": [],
                "validUserIdFailures": [],
            },
        )

    delivery, seen = make(handler)
    arrays = {"unsubscribedChannelIds": [11, 13]}
    rows = [
        prepared(
            "subscriptions",
            f"g:{channel}",
            {
                "email": "g@example.com",
                "subscriptionGroup": "messageChannel",
                "subscriptionGroupId": channel,
                "action": "unsubscribe",
                "create": True,
                "arrays": arrays,
            },
        )
        for channel in (11, 13)
    ]
    outcomes = delivery.send("subscriptions", "upsert", rows)
    assert [json.loads(r.content) for r in seen] == [
        {"updateSubscriptionsRequests": [{"email": "g@example.com", **arrays}]}
    ]
    assert sorted((o.row.record_key, o.outcome) for o in outcomes) == [
        ("g:11", RecordOutcome.SUCCEEDED),
        ("g:13", RecordOutcome.SUCCEEDED),
    ]
