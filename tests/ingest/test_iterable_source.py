"""The Iterable read-back (``ingest/iterable``) against the emulator over HTTP."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import httpx
import pytest

from ctsync.core.config import IterableSettings
from ctsync.ingest.iterable.pipeline import has_loaded, run_iterable_ingest
from ctsync.sandbox.iterable import IterableEmulator

pytestmark = pytest.mark.slow


def _settings(emu: IterableEmulator, rate_scale: float = 1000.0) -> IterableSettings:
    return IterableSettings(
        api_key=emu.api_key, api_url=emu.api_url, project_type="hybrid", rate_scale=rate_scale
    )


def _seed(emu: IterableEmulator, emails: list[str]) -> None:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Key": emu.api_key}) as client:
        users = [{"email": e, "userId": e.split("@")[0], "dataFields": {}} for e in emails]
        assert client.post("/api/users/bulkUpdate", json={"users": users}).status_code == 200
        client.put(
            "/api/subscriptions/emailList/31",
            json={"users": emails[:1]},
            params={"action": "subscribe"},
        )


def test_first_load_is_a_full_snapshot_then_incremental(
    fresh_iterable: IterableEmulator, tmp_path: Path
) -> None:
    fresh_iterable.set_rate_scale(math.inf)
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        assert not has_loaded(con)
    _seed(fresh_iterable, ["a@example.com", "b@example.com"])
    fresh_iterable.recipient("unsubscribe", email="b@example.com", channelId=11)
    fresh_iterable.recipient("complaint", email="a@example.com")
    first = run_iterable_ingest(warehouse, settings=_settings(fresh_iterable))
    assert first.skipped is None
    assert first.totals["users"] == 2
    assert first.totals["message_types"] == 4 and first.totals["channels"] == 3
    with duckdb.connect(str(warehouse)) as con:
        assert has_loaded(con)
        rows = con.execute(
            "select user_key, email_list_ids, unsubscribed_channel_ids "
            "from raw_iterable.users order by user_key"
        ).fetchall()
        assert rows == [("userId:a", "[31]", "[11]"), ("userId:b", "[]", "[11]")]
        events = con.execute(
            "select event_type, email, channel_ids, email_list_ids, source "
            "from raw_iterable.consent_events order by event_type, email, channel_ids"
        ).fetchall()
    assert events == [
        ("emailComplaint", "a@example.com", "[]", "[]", None),
        ("emailSubscribe", "a@example.com", "[]", "[31]", "API"),
        ("emailUnSubscribe", "a@example.com", "[11]", "[]", "Complaint"),
        ("emailUnSubscribe", "b@example.com", "[11]", "[]", "EmailLink"),
    ]
    # a second run reads the look-back window again: same events, no duplicates
    fresh_iterable.recipient("unsubscribe", email="b@example.com", messageTypeId=22)
    second = run_iterable_ingest(warehouse, settings=_settings(fresh_iterable))
    assert second.totals["consent_events"] == 5
    with duckdb.connect(str(warehouse)) as con:
        row = con.execute(
            "select unsubscribed_message_type_ids from raw_iterable.users "
            "where user_key = 'userId:b'"
        ).fetchone()
    assert row == ("[22]",)


def test_export_pacing_keeps_to_four_requests_a_minute(
    fresh_iterable: IterableEmulator, tmp_path: Path
) -> None:
    # Scaled 60x on both sides: 4 export requests per second, a one-second window.
    fresh_iterable.set_rate_scale(60)
    _seed(fresh_iterable, ["a@example.com"])
    summary = run_iterable_ingest(tmp_path / "w.duckdb", settings=_settings(fresh_iterable, 60))
    # 5 exports (user + 4 consent types): the fifth waited for the window (under a second
    # at this scale), none was refused
    assert summary.rate_limited == 0
    assert summary.waited_seconds > 0
    assert summary.deferred == []
    exports = fresh_iterable.requests(endpoint="export/data.json")
    assert [r["status"] for r in exports] == [200] * 5


def test_without_an_api_key_the_read_back_is_skipped(tmp_path: Path) -> None:
    summary = run_iterable_ingest(
        tmp_path / "w.duckdb", settings=IterableSettings(api_url="http://127.0.0.1:9")
    )
    assert summary.skipped is not None and "SYNC__ITERABLE__API_KEY" in summary.skipped


def test_later_loads_defer_event_types_when_the_budget_is_spent(
    fresh_iterable: IterableEmulator, tmp_path: Path
) -> None:
    fresh_iterable.set_rate_scale(math.inf)
    warehouse = tmp_path / "w.duckdb"
    _seed(fresh_iterable, ["a@example.com"])
    run_iterable_ingest(warehouse, settings=_settings(fresh_iterable))
    # Published limits now: the budget of this minute is gone after the next 4 requests.
    fresh_iterable.set_rate_scale(1)
    fresh_iterable.recipient("unsubscribe", email="a@example.com", channelId=11)
    second = run_iterable_ingest(warehouse, settings=_settings(fresh_iterable, 1))
    # user + 3 event types fit; the 4th was refused (429) and left for the next run
    assert second.deferred == ["emailBounce"]
    assert second.waited_seconds == 0
    # back to back: even the user export is left to the next run, nothing waits
    hurried = run_iterable_ingest(warehouse, settings=_settings(fresh_iterable, 1))
    assert hurried.deferred[0] == "user"
    assert hurried.waited_seconds == 0
    fresh_iterable.set_rate_scale(math.inf)
    third = run_iterable_ingest(warehouse, settings=_settings(fresh_iterable))
    assert third.deferred == []
    with duckdb.connect(str(warehouse)) as con:
        row = con.execute(
            "select count(*) from raw_iterable.consent_events where event_type = 'emailUnSubscribe'"
        ).fetchone()
    assert row == (1,)
