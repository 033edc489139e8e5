"""Subscription rows over HTTP against the Iterable emulator: opt-outs hold, and nothing is
subscribed before Iterable's consent state was read back."""

from __future__ import annotations

from typing import Any

import pytest

from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync

from ._support import ITEM, api, settings_for, user_payload, users

pytestmark = pytest.mark.slow


def group_rows(
    desired: dict[str, dict[str, Any]], key: str, actions: dict[tuple[str, int], str]
) -> dict[str, dict[str, Any]]:
    """Subscription rows (one per group) for one user, as iterable__subscriptions has them."""
    user = desired[key]
    kinds = {"emailList": "email_list", "messageChannel": "channel", "messageType": "message_type"}
    return {
        f"{key}:{kinds[group]}:{group_id}": {
            "email": user["email"],
            "userId": user["userId"],
            "subscriptionGroup": group,
            "subscriptionGroupId": group_id,
            "action": action,
        }
        for (group, group_id), action in actions.items()
    }


def users_in_one_group(
    warehouse: Any, n: int, group: tuple[str, int], action: str
) -> dict[str, dict[str, Any]]:
    """`n` desired users, each with one subscription row (`action` on `group`), after a
    read-back of Iterable's consent state; returns the users."""
    desired = users(n)
    warehouse.set_desired("users", desired)
    warehouse.mark_read_back()
    rows: dict[str, dict[str, Any]] = {}
    for key in desired:
        rows.update(group_rows(desired, key, {group: action}))
    warehouse.set_desired("subscriptions", rows)
    return desired


def test_opted_out_customer_stays_unsubscribed(emu: IterableEmulator, warehouse) -> None:
    # Rewritten for per-group subscription rows (issue 10): each row changes one group.
    desired = users_in_one_group(warehouse, 3, ("emailList", 31), "subscribe")
    settings = settings_for(emu)
    run_sync(settings, warehouse.path, progress=False)
    emu.flush()
    assert emu.user(email="user1@example.com")["dataFields"]["userListIds"] == [31]
    # another tool puts customer 1 on a list no rule covers
    other = api(emu, "POST", "/api/lists", {"name": "VIP"}).json()["listId"]
    api(
        emu,
        "POST",
        "/api/lists/subscribe",
        {"listId": other, "subscribers": [{"userId": "cust-1"}]},
    )

    # customer 1 opts out in commercetools: their groups are written one by one
    subscriptions = group_rows(
        desired,
        "cust-0001",
        {
            ("emailList", 31): "unsubscribe",
            ("messageChannel", 11): "unsubscribe",
            ("messageType", 21): "unsubscribe",
            ("messageType", 22): "unsubscribe",
        },
    )
    warehouse.set_desired("subscriptions", subscriptions)
    run_sync(settings, warehouse.path, progress=False)
    emu.flush()

    # later runs change the profile and record a purchase; nothing re-subscribes them
    desired["cust-0001"]["dataFields"]["orders"] = 42
    warehouse.set_desired("users", desired)
    warehouse.set_desired(
        "purchases",
        {
            "o-1": {
                "id": "o-1",
                "user": {"email": "user1@example.com"},
                "items": [ITEM],
                "total": 9.5,
            }
        },
    )
    later = run_sync(settings, warehouse.path, progress=False)
    assert later.objects["subscriptions"].sent == 0
    assert later.objects["users"].sent == 1 and later.objects["purchases"].sent == 1
    resubscribe = dict(desired)
    resubscribe["cust-0002"] = user_payload(2, emailListIds=[31])
    warehouse.set_desired("users", resubscribe)
    blocked = run_sync(settings, warehouse.path, objects=["users"], progress=False)
    assert warehouse.open_rejections("users") == {"cust-0002": "managed_field"}
    assert blocked.objects["users"].sent == 0
    emu.flush()
    profile = emu.user(email="user1@example.com")["dataFields"]
    assert profile["orders"] == 42
    assert profile["unsubscribedChannelIds"] == [11]
    assert profile["unsubscribedMessageTypeIds"] == [21, 22]
    assert profile["userListIds"] == [other]  # the list no rule covers is untouched
    assert not any(r["endpoint"] == "users/bulkUpdateSubscriptions" for r in emu.requests())


def test_subscriptions_wait_for_the_read_back(emu: IterableEmulator, warehouse) -> None:
    desired = users(1)
    warehouse.set_desired("users", desired)
    warehouse.set_desired(
        "subscriptions", group_rows(desired, "cust-0000", {("messageChannel", 11): "unsubscribe"})
    )
    result = run_sync(settings_for(emu), warehouse.path, progress=False)
    counts = result.objects["subscriptions"]
    assert (counts.planned, counts.sent, counts.held) == (1, 0, 1)
    assert result.objects["users"].succeeded == 1
    warehouse.mark_read_back()
    again = run_sync(settings_for(emu), warehouse.path, progress=False)
    assert again.objects["subscriptions"].succeeded == 1


def test_a_wrong_id_in_the_consent_seed_stops_subscriptions_with_one_clear_error(
    emu: IterableEmulator, warehouse, tmp_path, monkeypatch
) -> None:
    from ctsync.sync import consent

    seed = tmp_path / "rules.csv"
    seed.write_text(
        "consent_attribute,iterable_kind,iterable_id,iterable_name,source_of_truth\n"
        "email,email_list,31,Newsletter,commercetools\n"
        "email,channel,99,Marketing Email,opt_out_wins\n"
        "sms,message_type,22,Promotions,iterable\n"
    )
    monkeypatch.setattr(consent, "RULES_PATH", seed)
    users_in_one_group(warehouse, 2, ("messageChannel", 99), "unsubscribe")
    settings = settings_for(emu)
    for _ in range(2):
        result = run_sync(settings, warehouse.path, progress=False)
        assert result.status == "failed" and result.exit_code == 1
        message = result.error_message or ""
        assert "seeds/iterable_consent_rules.csv line 3" in message
        assert "no channel 99" in message
        # and line 4: message type 22 sits on an Email channel, not SMS
        assert "line 4" in message and "not SMS" in message
        counts = result.objects["subscriptions"]
        assert (counts.sent, counts.failed) == (0, 0)
        assert result.objects["users"].failed == 0
    # nothing waits as a transient failure, nothing was sent to the group endpoints
    assert warehouse.open_rejections("subscriptions") == {}
    assert not [r for r in emu.requests() if "subscriptions/" in r["endpoint"]]
