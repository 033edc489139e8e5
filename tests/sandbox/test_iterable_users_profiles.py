"""User profiles in the Iterable emulator: auth, body validation, merge semantics, field-type
locking and limits, date fields, subscriptions.

Every exchange goes through ``iterable_api`` and is checked against the Swagger file.
"""

from __future__ import annotations

import json

import httpx
import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient, check_exchange

from ._iterable import bulk_update

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- auth


def test_missing_or_wrong_api_key_is_401_bad_api_key(fresh_iterable: IterableEmulator) -> None:
    with httpx.Client(base_url=fresh_iterable.api_url) as client:
        missing = client.post("/api/users/update", json={"email": "a@example.com"})
        wrong = client.post(
            "/api/users/update", json={"email": "a@example.com"}, headers={"Api-Key": "not-the-key"}
        )
        underscore = client.post(
            "/api/users/update",
            json={"email": "a@example.com"},
            headers={"Api_Key": fresh_iterable.api_key},
        )
        query = client.get("/api/channels", params={"api_key": fresh_iterable.api_key})
        lower = client.get("/api/channels", headers={"api_key": fresh_iterable.api_key})
    for response in (missing, wrong, underscore, query, lower):
        request = response.request
        body = json.loads(request.content) if request.content else None
        assert (
            check_exchange(
                request.method, request.url.path, body, response.status_code, response.json()
            )
            == []
        )
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["code"] == "BadApiKey"
        assert response.json()["params"] == {"endpoint": "/api/users/update"}
        assert "not-the-key" not in response.text
    assert underscore.status_code == 200
    assert query.status_code == 200 and lower.status_code == 200
    assert fresh_iterable.user(email="a@example.com") is not None


# ---------------------------------------------------------------- body validation


def test_bad_json_type_fails_the_whole_bulk_request(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    response = iterable_api.post(
        "/api/users/bulkUpdate",
        {
            "users": [
                {"email": "ok@example.com"},
                {"email": "bad@example.com", "preferUserId": "yes"},
            ]
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "msg": "[/api/users/bulkUpdate] Invalid JSON body",
        "code": "BadJsonBody",
        "params": {"obj.users[1].preferUserId": "Boolean value expected"},
    }
    assert fresh_iterable.users() == []


def test_missing_required_field_and_non_json_body(iterable_api: CheckedClient) -> None:
    missing = iterable_api.post("/api/events/track", {"email": "a@example.com"})
    assert missing.status_code == 400
    assert missing.json()["params"] == {"obj.eventName": "Missing required field"}
    garbage = iterable_api.post("/api/users/update", content=b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "BadJsonBody"


# ---------------------------------------------------------------- profile semantics


def test_data_fields_merge_top_level_and_null_deletes(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/users/update",
        {
            "email": "m@example.com",
            "dataFields": {
                "firstName": "Ada",
                "tier": "gold",
                "address": {"city": "Oslo", "zip": "0150"},
            },
        },
    )
    iterable_api.post(
        "/api/users/update",
        {"email": "m@example.com", "dataFields": {"tier": None, "address": {"city": "Bergen"}}},
    )
    fields = fresh_iterable.user(email="m@example.com")["dataFields"]
    assert fields["firstName"] == "Ada"
    assert "tier" not in fields
    assert fields["address"] == {"city": "Bergen"}  # top-level object replaced whole


def test_merge_nested_objects_deep_merges_and_null_removes_key(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/users/update",
        {"email": "n@example.com", "dataFields": {"settings": {"mobile": True, "street": "Main"}}},
    )
    iterable_api.post(
        "/api/users/update",
        {
            "email": "n@example.com",
            "mergeNestedObjects": True,
            "dataFields": {"settings": {"email": True, "street": None}},
        },
    )
    fields = fresh_iterable.user(email="n@example.com")["dataFields"]
    assert fields["settings"] == {"mobile": True, "email": True}


def test_managed_fields_on_new_profile(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/users/update", {"email": "x@example.com", "userId": "x-1"})
    fields = fresh_iterable.user(user_id="x-1")["dataFields"]
    assert fields["signupSource"] == "API"
    assert fields["email"] == "x@example.com" and fields["userId"] == "x-1"
    assert len(fields["signupDate"]) == len("2021-07-01 18:01:15 +00:00")
    assert fields["signupDate"].endswith(" +00:00")
    assert fields["userListIds"] == []  # hybrid projects keep lists in userListIds


# ---------------------------------------------------------------- field-type locking


def test_field_type_mismatch_fails_whole_batch_with_validation_errors(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(
        iterable_api, [{"email": "t@example.com", "dataFields": {"birthday": "1990-02-03"}}]
    )
    response = iterable_api.post(
        "/api/users/bulkUpdate",
        {
            "users": [
                {"email": "new@example.com", "dataFields": {"name": "fine"}},
                {"email": "t@example.com", "dataFields": {"birthday": "GGG"}},
            ]
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "RequestFieldsTypesMismatched"
    assert body["params"]["validationErrors"]["birthday"] == {
        "incomingTypes": ["string", "keyword"],
        "expectedType": "date",
        "_type": "UnexpectedType",
        "offendingValue": "GGG",
        "category": "user",
    }
    assert "Field 'birthday' already exists for type 'user'" in body["msg"]
    assert fresh_iterable.user(email="new@example.com") is None


def test_mismatch_inside_one_batch_and_long_fits_double(iterable_api: CheckedClient) -> None:
    inside = iterable_api.post(
        "/api/users/bulkUpdate",
        {
            "users": [
                {"email": "a@example.com", "dataFields": {"score": 1.5}},
                {"email": "b@example.com", "dataFields": {"score": True}},
            ]
        },
    )
    assert inside.status_code == 400
    assert inside.json()["params"]["validationErrors"]["score"]["expectedType"] == "double"
    bulk_update(iterable_api, [{"email": "a@example.com", "dataFields": {"score": 1.5}}])
    assert (
        bulk_update(iterable_api, [{"email": "b@example.com", "dataFields": {"score": 2}}])[
            "successCount"
        ]
        == 1
    )


def test_get_fields_reports_locked_types_with_nested_paths(iterable_api: CheckedClient) -> None:
    bulk_update(
        iterable_api,
        [
            {
                "email": "f@example.com",
                "dataFields": {
                    "ltv": 10.5,
                    "orders": 3,
                    "vip": False,
                    "since": "2020-08-19T20:50:04.000Z",
                    "address": {"number": 10},
                },
            }
        ],
    )
    fields = iterable_api.get("/api/users/getFields").json()["fields"]
    assert fields["ltv"] == "double" and fields["orders"] == "long"
    assert fields["vip"] == "boolean" and fields["since"] == "date"
    assert fields["address"] == "object" and fields["address.number"] == "long"


def test_created_and_filtered_out_fields(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    created = bulk_update(
        iterable_api, [{"email": "c@example.com", "dataFields": {"color": "red"}}]
    )
    assert created["createdFields"] == ["color"]
    filtered = bulk_update(
        iterable_api,
        [{"email": "c@example.com", "dataFields": {"color": "blue", "size": "L"}}],
        createNewFields=False,
    )
    assert filtered["filteredOutFields"] == ["size"]
    assert filtered["createdFields"] == []
    fields = fresh_iterable.user(email="c@example.com")["dataFields"]
    assert fields["color"] == "blue" and "size" not in fields


# ---------------------------------------------------------------- subscriptions


def test_update_subscriptions_overwrites_sent_arrays_only(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/users/updateSubscriptions",
        {
            "email": "s@example.com",
            "emailListIds": [31],
            "unsubscribedChannelIds": [13],
            "unsubscribedMessageTypeIds": [21, 22],
        },
    )
    iterable_api.post(
        "/api/users/updateSubscriptions",
        {"email": "s@example.com", "unsubscribedMessageTypeIds": [24]},
    )
    fields = fresh_iterable.user(email="s@example.com")["dataFields"]
    assert fields["userListIds"] == [31]
    assert fields["unsubscribedChannelIds"] == [13]
    assert fields["unsubscribedMessageTypeIds"] == [24]


def test_bulk_update_subscriptions_response_shape(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/users/forget", {"email": "gone@example.com"})
    body = iterable_api.post(
        "/api/users/bulkUpdateSubscriptions",
        {
            "updateSubscriptionsRequests": [
                {"email": "a@example.com", "unsubscribedChannelIds": [11]},
                {"email": "broken"},
                {"userId": "bad id "},
                {"email": "gone@example.com", "unsubscribedChannelIds": [11]},
            ]
        },
    ).json()
    assert body == {
        "successCount": 1,
        "failCount": 3,
        "invalidEmails": ["broken"],
        "invalidUserIds": ["bad id "],
        "validEmailFailures": ["gone@example.com"],
        "validUserIdFailures": [],
    }
    assert fresh_iterable.user(email="a@example.com")["dataFields"]["unsubscribedChannelIds"] == [
        11
    ]


def test_unique_user_field_limit_fails_the_request(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    existing = len(iterable_api.get("/api/users/getFields").json()["fields"])
    at_limit = {f"f{n}": n for n in range(1000 - existing)}
    assert (
        bulk_update(iterable_api, [{"email": "a@example.com", "dataFields": at_limit}])[
            "successCount"
        ]
        == 1
    )
    over = iterable_api.post(
        "/api/users/bulkUpdate",
        {"users": [{"email": "b@example.com", "dataFields": {"oneTooMany": 1}}]},
    )
    assert over.status_code == 400
    assert over.json()["code"] == "UniqueFieldsLimitExceeded"
    assert fresh_iterable.user(email="b@example.com") is None


def test_iso_timestamps_in_date_fields_read_back_in_iterable_format(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/users/update",
        {
            "email": "d@example.com",
            "dataFields": {
                "signupAt": "2020-08-19T20:50:04.000Z",
                "birthday": "1990-02-03",
                "local": "2000-01-01T00:00:00.000-0400",
                "note": "2020-08-19T20:50:04.000Z x",
            },
        },
    )
    fields = fresh_iterable.user(email="d@example.com")["dataFields"]
    assert fields["signupAt"] == "2020-08-19 20:50:04 +00:00"
    assert fields["local"] == "2000-01-01 04:00:00 +00:00"
    assert fields["birthday"] == "1990-02-03"
    assert fields["note"] == "2020-08-19T20:50:04.000Z x"  # a string, kept as sent


def test_date_recognition_follows_iterable_formats() -> None:
    from ctsync.sandbox.iterable.fields import is_date

    dates = [
        "2000-01-01",
        "2000-01-01 00:00:00",
        "2000-01-01 00:00:00 -0400",
        "2000-01-01T00:00:00.000-0400",
        "2020-08-19T20:50:04.000Z",
        "2020-02-29",
    ]
    not_dates = [
        "2021-02-29",
        "2020-04-31",
        "2020-13-01",
        "2020-01-01 10:00",
        "1234",
        "2020-1-01",
        "2020-04-13 13:37:19.039",
        "tomorrow",
    ]
    assert [v for v in dates if not is_date(v)] == []
    assert [v for v in not_dates if is_date(v)] == []
