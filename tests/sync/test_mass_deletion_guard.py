"""The mass-deletion guard: a run that would delete too many users sends nothing."""

from __future__ import annotations

from sandbox.iterable.emulator import IterableEmulator
from sync.engine import run_sync

from .test_engine import emu, settings_for, users  # noqa: F401  (fixture re-exported)


def test_a_mass_deletion_stops_the_run_before_anything_is_sent(
    emu: IterableEmulator,  # noqa: F811
    warehouse,
) -> None:
    settings = settings_for(emu, max_delete_fraction=0.1, mass_delete_min_records=5)
    warehouse.set_desired("users", users(40))
    assert run_sync(settings, warehouse.path, objects=["users"], progress=False).status == (
        "succeeded"
    )
    emu.flush()
    assert len(emu.users()) == 40

    # a broken source: 30 of 40 users vanish, and one profile changes
    survivors = {key: value for key, value in users(40).items() if key >= "cust-0030"}
    survivors["cust-0030"]["dataFields"]["firstName"] = "Changed"
    warehouse.set_desired("users", survivors)
    blocked = run_sync(settings, warehouse.path, objects=["users"], progress=False)

    assert blocked.status == "failed" and blocked.exit_code == 1
    assert "mass-deletion guard" in (blocked.error_message or "")
    assert "30 of the 40 users" in (blocked.error_message or "")
    emu.flush()
    assert len(emu.users()) == 40, "nothing may be deleted"
    assert emu.user(email="user30@example.com")["dataFields"]["firstName"] == "F30"
    pending = warehouse.scalar(
        "select count(*) from iterable.iterable__users_changes where operation = 'delete'"
    )
    assert pending == 30, "the deletions stay pending, unacknowledged"

    # an operator who means it raises the limit; the same deletions then go through
    allowed = run_sync(
        settings_for(emu, max_delete_fraction=1.0), warehouse.path, objects=["users"],
        progress=False,
    )  # fmt: skip
    assert allowed.status == "succeeded"
    assert allowed.objects["users"].succeeded == 31
    emu.flush()
    assert sorted(u["email"] for u in emu.users()) == sorted(
        f"user{i}@example.com" for i in range(30, 40)
    )
