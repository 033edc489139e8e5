"""Email changes over HTTP against the emulator: `move` rows (updateEmail, email projects) go
first and hold the new email's upsert when Iterable refuses them; `update` rows (users/update,
hybrid/userId projects) carry the new email in dataFields. The ledger and the profile table
follow what Iterable accepted."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync

from ._support import SCALE, settings_for

pytestmark = pytest.mark.slow


def api(emu: IterableEmulator, path: str, body: Any) -> None:
    response = httpx.post(
        f"{emu.api_url}{path}", json=body, headers={"Api-Key": emu.api_key}, timeout=10
    )
    assert response.status_code == 200, response.text
    emu.flush()


def user(email: str, customer: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "dataFields": {"customerId": customer, **fields}}


def test_email_project_moves_first_and_holds_the_new_email_when_iterable_refuses(
    fresh_iterable: IterableEmulator, warehouse: Any
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="email", rate_scale=SCALE)
    warehouse.use_project_type("email")
    # three customers synced under their first emails; Iterable knows two other emails
    before = {"old@example.com": "c1", "old2@example.com": "c2", "old3@example.com": "c3"}
    warehouse.set_desired(
        "users",
        {email: user(email, customer, origin=email) for email, customer in before.items()},
        identities=True,
    )
    first = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert first.status == "succeeded"
    api(
        emu,
        "/api/users/update",
        {"email": "taken@example.com", "dataFields": {"origin": "taken@example.com"}},
    )
    api(emu, "/api/users/forget", {"email": "forgotten@example.com"})
    # the customers change their emails: to a free one, one Iterable holds, a forgotten one
    after = {
        "new@example.com": user("new@example.com", "c1", firstName="Ann"),
        "taken@example.com": user("taken@example.com", "c2", firstName="Bo"),
        "forgotten@example.com": user("forgotten@example.com", "c3"),
    }
    warehouse.set_desired("users", after, identities=True)
    assert warehouse.changes("users") == sorted(
        [(old, "move") for old in before] + [(new, "upsert") for new in after]
    )
    result = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    emu.flush()

    moved = emu.user(email="new@example.com")
    assert moved is not None
    assert moved["dataFields"]["origin"] == "old@example.com"  # the same profile
    assert moved["dataFields"]["firstName"] == "Ann"
    assert emu.user(email="old@example.com") is None
    # refused moves: nothing written on the profile that holds the new email
    taken = emu.user(email="taken@example.com")
    assert taken is not None and "firstName" not in taken["dataFields"]
    assert emu.user(email="old2@example.com") is not None
    assert emu.user(email="forgotten@example.com") is None
    assert warehouse.open_rejections("users") == {
        "old2@example.com": "email_change_target_exists",
        "taken@example.com": "email_change_pending",
        "old3@example.com": "iterable_forgotten",
        "forgotten@example.com": "email_change_pending",
    }
    assert result.objects["users"].succeeded == 2
    ledger = dict(
        warehouse.query(
            "select record_key, operation from ctsync.sync_ledger where object = 'users'"
        )
    )
    # the refused moves leave the profiles under the old emails acknowledged as they were
    assert ledger == {
        "old@example.com": "move",
        "new@example.com": "upsert",
        "old2@example.com": "upsert",
        "old3@example.com": "upsert",
    }
    profiles = warehouse.query(
        "select record_key, customer_id, field_names from ctsync.sync_user_profiles order by 1"
    )
    # the moved profile is known under its new email only, with the fields sent there
    assert profiles == [
        ("new@example.com", "c1", '["customerId","firstName"]'),
        ("old2@example.com", "c2", '["customerId","origin"]'),
        ("old3@example.com", "c3", '["customerId","origin"]'),
    ]

    # the next run sends the held rows again only when something changed: nothing here
    again = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert again.requests <= 1  # getFields at most


def test_hybrid_project_changes_the_email_with_users_update(
    fresh_iterable: IterableEmulator, warehouse: Any
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=SCALE)
    # two customers synced under their first emails
    warehouse.set_desired(
        "users",
        {
            "u1": {"email": "old@example.com", "userId": "u1", "preferUserId": True,
                   "dataFields": {"customerId": "u1"}},
            "u2": {"email": "before@example.com", "userId": "u2", "preferUserId": True,
                   "dataFields": {"customerId": "u2"}},
        },
        identities=True,
    )  # fmt: skip
    first = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert first.status == "succeeded"
    # another source writes on u1's profile; another profile holds other@example.com
    api(emu, "/api/users/update", {"userId": "u1", "dataFields": {"origin": "iterable"}})
    api(
        emu,
        "/api/users/update",
        {"email": "other@example.com", "userId": "u9", "preferUserId": True},
    )
    # both customers change their emails
    warehouse.set_desired(
        "users",
        {
            "u1": {"email": "new@example.com", "userId": "u1", "preferUserId": True,
                   "dataFields": {"customerId": "u1", "firstName": "Ann"}},
            "u2": {"email": "other@example.com", "userId": "u2", "preferUserId": True,
                   "dataFields": {"customerId": "u2"}},
        },
        identities=True,
    )  # fmt: skip
    assert warehouse.changes("users") == [("u1", "update"), ("u2", "update")]
    run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    emu.flush()
    moved = emu.user(user_id="u1")
    assert moved is not None and moved["email"] == "new@example.com"
    assert moved["dataFields"]["origin"] == "iterable"
    assert moved["dataFields"]["firstName"] == "Ann"
    assert [r["endpoint"] for r in emu.requests(endpoint="users/update")][-2:] == [
        "users/update",
        "users/update",
    ]
    assert warehouse.open_rejections("users") == {"u2": "email_change_target_exists"}
    acknowledged = {
        key: (operation, json.loads(payload)["email"])
        for key, operation, payload in warehouse.query(
            "select record_key, operation, payload from ctsync.sync_ledger where object = 'users'"
        )
    }
    # u2's refused change leaves its profile acknowledged under the old email
    assert acknowledged == {
        "u1": ("upsert", "new@example.com"),
        "u2": ("upsert", "before@example.com"),
    }
