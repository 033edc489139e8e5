"""Planner: streaming pages in key order, counts, and holding back rejected payloads."""

from __future__ import annotations

import pytest

from ctsync.core.names import Outcome, RecordOutcome
from ctsync.core.warehouse import connect
from ctsync.sync.audit import record_outcomes, request_replay
from ctsync.sync.planner import changes_relation, count_changes, iter_pages, validate_objects

pytestmark = pytest.mark.slow


def test_objects_keep_delivery_order_and_unknown_names_fail() -> None:
    assert validate_objects(["events", "users"]) == ["users", "events"]
    assert validate_objects(["users", "user_deletions"]) == ["user_deletions", "users"]
    assert validate_objects(None)[:2] == ["user_deletions", "users"]
    with pytest.raises(ValueError, match="orders"):
        validate_objects(["orders"])


def test_pages_stream_in_key_order(warehouse) -> None:
    warehouse.set_desired("users", {f"k{i:03d}": {"email": f"u{i}@example.com"} for i in range(25)})
    with connect(warehouse.path) as con:
        pages = list(iter_pages(con, "users", page_size=10))
        assert [len(p) for p in pages] == [10, 10, 5]
        keys = [row.record_key for page in pages for row in page]
        assert keys == sorted(keys) and len(set(keys)) == 25
        assert pages[0][0].idempotency_key.startswith("users:k000:")
        assert count_changes(con, "users") == {"upsert": 25, "held": 0}


def test_rejected_payloads_are_held_until_changed_or_replayed(warehouse) -> None:
    warehouse.set_desired("users", {"a": {"email": "a@x.io"}, "b": {"email": "b@x.io"}})
    with connect(warehouse.path) as con:
        [page] = list(iter_pages(con, "users"))
        bad = next(row for row in page if row.record_key == "b")
        record_outcomes(
            con, "run-1", [Outcome(bad, RecordOutcome.REJECTED, None, None, "invalid_email", "x")]
        )
        assert count_changes(con, "users") == {"upsert": 1, "held": 1}
        assert [r.record_key for p in iter_pages(con, "users") for r in p] == ["a"]
        # a full resync holds nothing back
        assert count_changes(con, "users", full=True, project_type="hybrid") == {
            "upsert": 2,
            "held": 0,
        }
        assert request_replay(con, reason="invalid_email") == 1
        assert count_changes(con, "users") == {"upsert": 2, "held": 0}
    # changed source data is planned again even without replay
    warehouse.set_desired("users", {"a": {"email": "a@x.io"}, "b": {"email": "b2@x.io"}})
    with connect(warehouse.path) as con:
        con.execute("update ctsync.sync_rejections set replay_requested_at = null")
        assert count_changes(con, "users") == {"upsert": 2, "held": 0}


def test_transient_failures_are_never_held(warehouse) -> None:
    warehouse.set_desired("users", {"a": {"email": "a@x.io"}})
    with connect(warehouse.path) as con:
        [[row]] = list(iter_pages(con, "users"))
        failed = Outcome(row, "failed", "bulk_update", 503, "transient_error", "HTTP 503")
        record_outcomes(con, "run-1", [failed])
        assert count_changes(con, "users") == {"upsert": 1, "held": 0}


def test_every_changes_model_renders_for_every_project_type(warehouse) -> None:
    """The sync renders dbt's changes models itself (a full resync; the test warehouse):
    every dbt function they use must be one it knows, in every branch, and DuckDB must
    run the result."""
    from ctsync.core.names import OBJECTS, PROJECT_TYPES
    from ctsync.sync.planner import changes_sql

    for obj in OBJECTS:
        for project_type in PROJECT_TYPES:
            for full in (False, True):
                sql = changes_sql(obj, project_type=project_type, full=full)
                assert warehouse.query(f"select count(*) from ({sql}) as c") == [(0,)], (
                    obj, project_type, full,
                )  # fmt: skip


def test_a_key_acknowledged_again_keeps_one_ledger_row(warehouse) -> None:
    """The ledger has no primary key (macros/ctsync_audit_tables.sql): acknowledging a key
    replaces its row, also when one group carries the key twice (the later outcome wins)."""
    warehouse.set_desired("users", {"a": {"email": "a@x.io"}, "b": {"email": "b@x.io"}})
    with connect(warehouse.path) as con:
        [page] = list(iter_pages(con, "users"))
        record_outcomes(
            con, "run-1", [Outcome(r, RecordOutcome.SUCCEEDED, "bulk_update") for r in page]
        )
    warehouse.set_desired("users", {"a": {"email": "a2@x.io"}, "b": {"email": "b@x.io"}})
    with connect(warehouse.path) as con:
        [[changed]] = list(iter_pages(con, "users"))
        assert changed.record_key == "a"
        older = changed._replace(payload_hash="older")
        record_outcomes(
            con,
            "run-2",
            [
                Outcome(older, RecordOutcome.SUCCEEDED, "bulk_update"),
                Outcome(changed, RecordOutcome.SUCCEEDED, "bulk_update"),
            ],
        )
        rows = con.execute(
            "select record_key, payload_hash, run_id from ctsync.sync_ledger order by all"
        ).fetchall()
        assert [(key, run) for key, _, run in rows] == [("a", "run-2"), ("b", "run-1")]
        assert rows[0][1] == changed.payload_hash
        assert count_changes(con, "users") == {"held": 0}  # nothing left to send


def test_rejections_of_records_no_longer_in_the_changes_are_settled(warehouse) -> None:
    """`resolve_settled` closes the open rejections whose record left the changes view (its
    keys are written into the view's query as literals, quotes included) and keeps the rest."""
    from ctsync.sync.audit import resolve_settled

    desired = {"gone": {"email": "a@x.io"}, "o'neil": {"email": "b@x.io"}}
    warehouse.set_desired("users", desired)
    with connect(warehouse.path) as con:
        [page] = list(iter_pages(con, "users"))
        record_outcomes(
            con,
            "run-1",
            [
                Outcome(row, RecordOutcome.REJECTED, None, None, "invalid_email", "x")
                for row in page
            ],
        )
    warehouse.set_desired("users", {"o'neil": {"email": "b@x.io"}})
    with connect(warehouse.path) as con:
        assert resolve_settled(con, "users", changes_relation("users")) == 1
        assert resolve_settled(con, "users", changes_relation("users")) == 0
    assert warehouse.open_rejections() == {"o'neil": "invalid_email"}
