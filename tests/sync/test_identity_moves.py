"""Email changes over HTTP against the emulator: `move` rows (updateEmail, email projects) go
first and hold the new email's upsert when Iterable refuses them; `update` rows (users/update,
hybrid/userId projects) carry the new email in dataFields. The ledger and the profile table
follow what Iterable accepted."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ctsync.core.warehouse import connect
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


def set_users_changes(warehouse: Any, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Replace the users changes view with exactly these (key, operation, payload) rows."""
    with connect(warehouse.path) as con:
        con.execute("create or replace table iterable.users_changes_rows (record_key varchar, "
                    "operation varchar, payload varchar, payload_hash varchar, "
                    "idempotency_key varchar, source_updated_at timestamp)")  # fmt: skip
        for key, operation, payload in rows:
            text = json.dumps(payload, separators=(",", ":"))
            con.execute(
                "insert into iterable.users_changes_rows values (?, ?, ?, md5(?), ?, null)",
                [key, operation, text, text, f"users:{key}:{operation}"],
            )
        con.execute(
            "create or replace view iterable.iterable__users_changes as "
            "select c.* from iterable.users_changes_rows as c left join ctsync.sync_ledger as l "
            "on l.object = 'users' and l.record_key = c.record_key "
            "where l.record_key is null or (c.operation = 'move' and l.operation <> 'move') "
            "or (c.operation <> 'move' and l.payload_hash is distinct from c.payload_hash)"
        )


def move(old: str, new: str) -> tuple[str, str, dict[str, Any]]:
    return (old, "move", {"currentEmail": old, "newEmail": new})


def user(email: str, customer: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "dataFields": {"customerId": customer, **fields}}


def test_email_project_moves_first_and_holds_the_new_email_when_iterable_refuses(
    fresh_iterable: IterableEmulator, warehouse: Any
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="email", rate_scale=SCALE)
    for email in ("old@example.com", "old2@example.com", "taken@example.com", "old3@example.com"):
        api(emu, "/api/users/update", {"email": email, "dataFields": {"origin": email}})
    api(emu, "/api/users/forget", {"email": "forgotten@example.com"})
    set_users_changes(
        warehouse,
        [
            move("old@example.com", "new@example.com"),
            ("new@example.com", "upsert", user("new@example.com", "c1", firstName="Ann")),
            move("old2@example.com", "taken@example.com"),
            ("taken@example.com", "upsert", user("taken@example.com", "c2", firstName="Bo")),
            move("old3@example.com", "forgotten@example.com"),
            ("forgotten@example.com", "upsert", user("forgotten@example.com", "c3")),
        ],
    )  # fmt: skip
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
    assert ledger == {"old@example.com": "move", "new@example.com": "upsert"}
    profiles = warehouse.query(
        "select record_key, customer_id, field_names from ctsync.sync_user_profiles"
    )
    assert profiles == [("new@example.com", "c1", '["customerId","firstName"]')]

    # the next run sends the held rows again only when something changed: nothing here
    again = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert again.requests <= 1  # getFields at most


def test_hybrid_project_changes_the_email_with_users_update(
    fresh_iterable: IterableEmulator, warehouse: Any
) -> None:
    emu = fresh_iterable
    emu.reset(project_type="hybrid", rate_scale=SCALE)
    api(emu, "/api/users/update", {"email": "old@example.com", "userId": "u1", "preferUserId": True,
                                    "dataFields": {"origin": "iterable"}})  # fmt: skip
    api(
        emu,
        "/api/users/update",
        {"email": "other@example.com", "userId": "u9", "preferUserId": True},
    )
    set_users_changes(
        warehouse,
        [
            ("u1", "update", {"email": "new@example.com", "userId": "u1", "preferUserId": True,
                              "dataFields": {"customerId": "u1", "firstName": "Ann"}}),
            ("u2", "update", {"email": "other@example.com", "userId": "u2", "preferUserId": True,
                              "dataFields": {"customerId": "u2"}}),
        ],
    )  # fmt: skip
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
    assert dict(
        warehouse.query(
            "select record_key, operation from ctsync.sync_ledger where object = 'users'"
        )
    ) == {"u1": "upsert"}
