"""Identity rules per Iterable project type (email-based, userId-based) in sync runs over HTTP."""

from __future__ import annotations

import pytest

from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync

from ._support import SCALE, settings_for

pytestmark = pytest.mark.slow


def test_email_based_project_identity_rules(emu: IterableEmulator, warehouse) -> None:
    emu.reset(project_type="email", rate_scale=SCALE)
    warehouse.set_desired(
        "users",
        {
            "a": {"email": "a@example.com", "dataFields": {"n": 1}},
            "b": {"userId": "only-id", "dataFields": {"n": 2}},
            "c": {"userId": "placeholder-ok", "preferUserId": True, "dataFields": {"n": 3}},
        },
    )
    result = run_sync(settings_for(emu), warehouse.path, objects=["users"], progress=False)
    assert warehouse.open_rejections() == {"b": "missing_identifier"}
    assert result.objects["users"].succeeded == 2
    emu.flush()
    assert emu.user(user_id="placeholder-ok")["email"].endswith("@placeholder.email")
    assert emu.user(user_id="only-id") is None


def test_user_id_project_deletes_by_user_id(emu: IterableEmulator, warehouse) -> None:
    emu.reset(project_type="userId", rate_scale=SCALE)
    settings = settings_for(emu)
    desired = {f"u{i}": {"userId": f"u{i}", "dataFields": {"n": i}} for i in range(3)}
    warehouse.set_desired("users", desired)
    run_sync(settings, warehouse.path, objects=["users"], progress=False)
    del desired["u1"]
    del desired["u2"]  # a deleted customer is no longer a desired user (dbt leaves them out)
    warehouse.set_desired("users", desired)
    warehouse.set_desired("user_deletions", {"u2": {"userId": "u2", "method": "forget"}})
    result = run_sync(settings, warehouse.path, progress=False)
    assert result.status == "succeeded", warehouse.open_rejections()
    emu.flush()
    assert emu.user(user_id="u1") is None
    assert emu.user(user_id="u0") is not None
    assert "u2" in emu.forgotten()["userIds"]
