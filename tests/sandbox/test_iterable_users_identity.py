"""User identity in the Iterable emulator: identity validation and rules per project type,
get and delete, GDPR forget, updateEmail.

Every exchange goes through ``iterable_api`` and is checked against the Swagger file.
"""

from __future__ import annotations

import pytest

from ctsync.sandbox.iterable import IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient

from ._iterable import bulk_update

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- identity validation


def test_invalid_email_single_call_and_bulk_arrays(iterable_api: CheckedClient) -> None:
    single = iterable_api.post("/api/users/update", {"email": "sayan"})
    assert single.status_code == 400
    assert single.json() == {
        "msg": "Invalid email: sayan",
        "code": "InvalidEmailAddressError",
        "params": None,
    }
    bulk = bulk_update(
        iterable_api,
        [
            {"email": "ok@example.com"},
            {"email": "shrouti"},
            {"userId": "bad id "},
            {"userId": "x" * 53},
        ],
    )
    assert (bulk["successCount"], bulk["failCount"]) == (1, 3)
    assert bulk["invalidEmails"] == ["shrouti"]
    assert bulk["failedUpdates"]["invalidEmails"] == ["shrouti"]
    assert bulk["invalidUserIds"] == ["bad id ", "x" * 53]
    assert bulk["failedUpdates"]["invalidUserIds"] == ["bad id ", "x" * 53]
    assert bulk["noOpEmails"] == [] and bulk["noOpUserIds"] == []


def test_record_without_identity_is_named(iterable_api: CheckedClient) -> None:
    response = iterable_api.post(
        "/api/users/bulkUpdate", {"users": [{"email": "a@example.com"}, {"dataFields": {"x": 1}}]}
    )
    assert response.status_code == 400
    assert response.json()["params"] == {"obj.users[1]": "email or userId required"}


# ---------------------------------------------------------------- project types


def test_email_project_email_wins_and_overwrites_user_id(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="email")
    iterable_api.post("/api/users/update", {"email": "e@example.com", "userId": "old"})
    iterable_api.post("/api/users/update", {"email": "e@example.com", "userId": "new"})
    users = fresh_iterable.users()
    assert len(users) == 1
    assert users[0]["userId"] == "new"
    assert users[0]["dataFields"]["emailListIds"] == []  # email projects: emailListIds


def test_email_project_unknown_user_id_errors_unless_prefer_user_id(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="email")
    unknown = iterable_api.post("/api/users/update", {"userId": "ghost"})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "UnknownUserIdError"
    bulk = bulk_update(iterable_api, [{"userId": "ghost"}])
    assert bulk["failedUpdates"]["notFoundUserIds"] == ["ghost"]
    created = iterable_api.post("/api/users/update", {"userId": "ghost", "preferUserId": True})
    assert created.status_code == 200
    user = fresh_iterable.user(user_id="ghost")
    assert user["email"].endswith("@placeholder.email")


def test_email_project_allows_duplicate_user_ids(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="email")
    bulk_update(
        iterable_api,
        [
            {"email": "a@example.com", "userId": "same"},
            {"email": "b@example.com", "userId": "same"},
        ],
    )
    assert len(fresh_iterable.users()) == 2


def test_user_id_project_creates_by_user_id_only(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="userId")
    bulk = bulk_update(
        iterable_api,
        [
            {"userId": "u1", "email": "shared@example.com"},
            {"userId": "u2", "email": "shared@example.com"},
            {"email": "nobody@example.com"},
        ],
    )
    assert bulk["successCount"] == 2
    assert bulk["failedUpdates"]["notFoundEmails"] == ["nobody@example.com"]
    assert {u["userId"] for u in fresh_iterable.users()} == {"u1", "u2"}


def test_hybrid_conflict_is_409_single_and_conflict_arrays_in_bulk(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(
        iterable_api,
        [{"email": "a@example.com", "userId": "ua"}, {"email": "b@example.com", "userId": "ub"}],
    )
    single = iterable_api.post("/api/users/update", {"email": "a@example.com", "userId": "ub"})
    assert single.status_code == 409
    assert "Email/userId conflict" in single.json()["msg"]
    bulk = bulk_update(
        iterable_api,
        [{"email": "a@example.com", "userId": "ub"}, {"email": "b@example.com", "userId": "ub"}],
    )
    assert (bulk["successCount"], bulk["failCount"]) == (1, 1)
    assert bulk["failedUpdates"]["conflictEmails"] == ["a@example.com"]
    assert bulk["failedUpdates"]["conflictUserIds"] == ["ub"]


def test_hybrid_identity_change_through_data_fields(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(
        iterable_api,
        [{"email": "a@example.com", "userId": "ua"}, {"email": "b@example.com", "userId": "ub"}],
    )
    moved = iterable_api.post(
        "/api/users/update", {"userId": "ua", "dataFields": {"email": "a2@example.com"}}
    )
    assert moved.status_code == 200
    assert fresh_iterable.user(email="a2@example.com")["userId"] == "ua"
    assert fresh_iterable.user(email="a@example.com") is None
    taken = iterable_api.post(
        "/api/users/update", {"userId": "ua", "dataFields": {"email": "b@example.com"}}
    )
    assert taken.status_code == 409
    bulk = bulk_update(iterable_api, [{"userId": "ua", "dataFields": {"email": "not-an-email"}}])
    assert bulk["failedUpdates"]["invalidDataUserIds"] == ["ua"]


def test_email_lookup_is_case_insensitive(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(iterable_api, [{"email": "Case@Example.com", "dataFields": {"n": 1}}])
    bulk_update(iterable_api, [{"email": "case@example.com", "dataFields": {"n": 2}}])
    assert len(fresh_iterable.users()) == 1
    assert iterable_api.get("/api/users/case@example.com").json()["user"]["dataFields"]["n"] == 2


# ---------------------------------------------------------------- get / delete


def test_get_user_by_email_and_user_id_and_missing_user(iterable_api: CheckedClient) -> None:
    bulk_update(
        iterable_api, [{"email": "g@example.com", "userId": "g-1", "dataFields": {"city": "Oslo"}}]
    )
    by_email = iterable_api.get("/api/users/g@example.com").json()
    by_query = iterable_api.get("/api/users/getByEmail", params={"email": "g@example.com"}).json()
    by_id = iterable_api.get("/api/users/byUserId/g-1").json()
    by_id_query = iterable_api.get("/api/users/byUserId", params={"userId": "g-1"}).json()
    assert by_email == by_query == by_id == by_id_query
    assert by_email["user"]["email"] == "g@example.com"
    assert by_email["user"]["dataFields"]["city"] == "Oslo"
    assert iterable_api.get("/api/users/none@example.com").json() == {}
    invalid = iterable_api.get("/api/users/000")
    assert invalid.status_code == 400
    assert invalid.json()["msg"] == "Invalid email: 000"


def test_delete_user_by_email_and_by_user_id(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(
        iterable_api,
        [
            {"email": "d1@example.com", "userId": "d-1"},
            {"email": "d2@example.com", "userId": "d-2"},
        ],
    )
    iterable_api.post("/api/events/track", {"userId": "d-2", "eventName": "seen"})
    assert iterable_api.delete("/api/users/d1@example.com").json()["code"] == "Success"
    by_id = iterable_api.delete("/api/users/byUserId/d-2").json()
    assert by_id["msg"] == "All users associated with d-2 were successfully deleted"
    assert fresh_iterable.users() == [] and fresh_iterable.events() == []
    unknown = iterable_api.delete("/api/users/byUserId/rudder2")
    assert unknown.status_code == 400
    assert unknown.json() == {
        "msg": "User does not exist. Email:  UserId: rudder2",
        "code": "BadParams",
        "params": None,
    }


def test_delete_by_email_refused_in_user_id_project(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="userId")
    bulk_update(iterable_api, [{"userId": "u1", "email": "u1@example.com"}])
    response = iterable_api.delete("/api/users/u1@example.com")
    assert response.status_code == 400
    assert fresh_iterable.user(user_id="u1") is not None


# ---------------------------------------------------------------- GDPR forget


def test_forget_removes_user_and_blocks_later_writes(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    bulk_update(iterable_api, [{"email": "f@example.com", "userId": "f-1"}])
    assert iterable_api.post("/api/users/forget", {"email": "f@example.com"}).status_code == 200
    assert fresh_iterable.users() == []
    assert fresh_iterable.forgotten() == {"emails": ["f@example.com"], "userIds": ["f-1"]}
    single = iterable_api.post("/api/users/update", {"email": "f@example.com"})
    assert single.status_code == 409
    assert single.json()["code"] == "ForgottenUserError"
    assert single.json()["msg"] == "Contact is GDPR forgotten"
    bulk = bulk_update(
        iterable_api, [{"email": "f@example.com"}, {"userId": "f-1"}, {"email": "ok@example.com"}]
    )
    assert bulk["failedUpdates"]["forgottenEmails"] == ["f@example.com"]
    assert bulk["failedUpdates"]["forgottenUserIds"] == ["f-1"]
    assert bulk["successCount"] == 1
    track = iterable_api.post(
        "/api/events/trackBulk", {"events": [{"email": "f@example.com", "eventName": "x"}]}
    ).json()
    assert track["failedUpdates"]["forgottenEmails"] == ["f@example.com"]


def test_forget_identifier_rules_per_project_type(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="email")
    assert iterable_api.post("/api/users/forget", {"userId": "u"}).status_code == 400
    fresh_iterable.reset(project_type="userId")
    assert iterable_api.post("/api/users/forget", {"email": "a@example.com"}).status_code == 400
    assert iterable_api.post("/api/users/forget", {"userId": "u"}).status_code == 200


# ---------------------------------------------------------------- updateEmail


def test_update_email_moves_identity_and_refuses_taken_or_forgotten(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.reset(project_type="email")
    bulk_update(
        iterable_api,
        [{"email": "old@example.com", "dataFields": {"k": 1}}, {"email": "other@example.com"}],
    )
    ok = iterable_api.post(
        "/api/users/updateEmail", {"currentEmail": "old@example.com", "newEmail": "new@example.com"}
    )
    assert ok.status_code == 200
    assert fresh_iterable.user(email="new@example.com")["dataFields"]["k"] == 1
    assert fresh_iterable.user(email="old@example.com") is None
    taken = iterable_api.post(
        "/api/users/updateEmail",
        {"currentEmail": "new@example.com", "newEmail": "other@example.com"},
    )
    assert taken.status_code == 409
    bad = iterable_api.post(
        "/api/users/updateEmail", {"currentEmail": "sayan", "newEmail": "x@example.com"}
    )
    assert bad.json() == {
        "msg": "Invalid currentEmail sayan",
        "code": "InvalidEmailAddressError",
        "params": None,
    }
    iterable_api.post("/api/users/forget", {"email": "gone@example.com"})
    forgotten = iterable_api.post(
        "/api/users/updateEmail",
        {"currentEmail": "new@example.com", "newEmail": "gone@example.com"},
    )
    assert forgotten.status_code == 409
