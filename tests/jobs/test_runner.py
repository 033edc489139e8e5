"""The job runner's bookkeeping, with stand-in stages (our own code) on a real DuckDB file."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from ctsync.app.jobs.runner import JobOptions, StageContext, run_job, summary_tables
from ctsync.core.lock import RunLockHeld, run_lock
from ctsync.sync.result import EXIT_PARTIAL

pytestmark = pytest.mark.slow


class FakeSyncResult:
    def __init__(self, status: str = "succeeded") -> None:
        self.status = status
        self.error_message = None if status == "succeeded" else "2 record(s) hit transient errors"
        self.objects: dict[str, Any] = {}

    @property
    def totals(self) -> Any:
        class Totals:
            planned = 5
            rejected = 1

        return Totals()


def stages(
    calls: list[str],
    *,
    fail: str | None = None,
    sync_status: str = "succeeded",
    stop_after: str | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    def make(name: str) -> Any:
        def stage(context: StageContext) -> tuple[str, str, Any]:
            calls.append(f"{name}:{context.run_id}")
            if stop is not None and stop_after == name:
                stop.set()
            if fail == name:
                raise RuntimeError(f"{name} exploded")
            if name == "sync":
                return sync_status, "planned 5", FakeSyncResult(sync_status)
            return "succeeded", f"{name} done", None

        return stage

    return {name: make(name) for name in ("ingest", "dbt", "sync")}


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def rows(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_one_run_id_for_all_three_stages_recorded_in_runs_and_stages(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    calls: list[str] = []
    report = run_job(
        JobOptions(trigger="schedule"), warehouse=warehouse, stages=stages(calls), console=quiet()
    )
    assert report.status == "succeeded"
    assert report.exit_code == 0
    assert calls == [f"ingest:{report.run_id}", f"dbt:{report.run_id}", f"sync:{report.run_id}"]
    stage_rows = rows(
        warehouse,
        "select stage, status, started_at <= finished_at, detail from ctsync.sync_run_stages "
        "order by started_at",
    )
    assert stage_rows == [
        ("ingest", "succeeded", True, "ingest done"),
        ("dbt", "succeeded", True, "dbt done"),
        ("sync", "succeeded", True, "planned 5"),
    ]
    [run] = rows(
        warehouse,
        "select run_id, trigger, mode, status, finished_at is not null from ctsync.sync_runs",
    )
    assert run == (report.run_id, "schedule", "incremental", "succeeded", True)


def test_a_failed_stage_skips_the_rest_and_marks_the_run_failed(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    calls: list[str] = []
    report = run_job(
        JobOptions(), warehouse=warehouse, stages=stages(calls, fail="dbt"), console=quiet()
    )
    assert report.status == "failed"
    assert report.exit_code == 1
    assert [c.split(":")[0] for c in calls] == ["ingest", "dbt"]
    assert [(s.name, s.status) for s in report.stages] == [
        ("ingest", "succeeded"),
        ("dbt", "failed"),
        ("sync", "skipped"),
    ]
    assert rows(
        warehouse, "select stage, status, detail from ctsync.sync_run_stages where stage = 'dbt'"
    ) == [("dbt", "failed", "dbt exploded")]
    [(status, error)] = rows(warehouse, "select status, error_message from ctsync.sync_runs")
    assert status == "failed"
    assert error == "dbt failed: dbt exploded"


def test_a_stop_request_finishes_the_current_stage_and_skips_the_rest(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    stop = threading.Event()
    calls: list[str] = []
    report = run_job(
        JobOptions(),
        warehouse=warehouse,
        stop=stop,
        stages=stages(calls, stop_after="ingest", stop=stop),
        console=quiet(),
    )
    assert report.status == "interrupted"
    assert [s.status for s in report.stages] == ["succeeded", "skipped", "skipped"]
    assert rows(warehouse, "select status from ctsync.sync_runs") == [("interrupted",)]
    assert rows(warehouse, "select count(*) from ctsync.sync_run_stages") == [(1,)]


def test_the_sync_status_becomes_the_job_status(tmp_path: Path) -> None:
    report = run_job(
        JobOptions(),
        warehouse=tmp_path / "w.duckdb",
        stages=stages([], sync_status="partial"),
        console=quiet(),
    )
    assert report.status == "partial"
    assert report.exit_code == EXIT_PARTIAL == 5
    assert report.error_message == "2 record(s) hit transient errors"
    auth = run_job(
        JobOptions(),
        warehouse=tmp_path / "w.duckdb",
        stages=stages([], sync_status="auth_error"),
        console=quiet(),
    )
    assert auth.exit_code == 4


def test_a_dry_run_is_recorded_with_its_planned_counts(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    report = run_job(
        JobOptions(dry_run=True),
        warehouse=warehouse,
        stages=stages([], sync_status="dry_run"),
        console=quiet(),
    )
    assert report.exit_code == 0
    assert rows(
        warehouse, "select mode, status, planned_count, rejected_count from ctsync.sync_runs"
    ) == [("dry_run", "dry_run", 5, 1)]


def test_a_held_lock_refuses_the_run_and_records_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    calls: list[str] = []
    with run_lock(warehouse), pytest.raises(RunLockHeld):
        run_job(JobOptions(), warehouse=warehouse, stages=stages(calls), console=quiet())
    assert calls == []
    assert not warehouse.exists()


def test_secrets_in_a_stage_error_do_not_reach_the_audit_tables(tmp_path: Path) -> None:
    from ctsync.core.redact import register_secret

    secret = "sk-live-0123456789abcdef"
    register_secret(secret)
    warehouse = tmp_path / "w.duckdb"

    def leaky(context: StageContext) -> tuple[str, str, Any]:
        raise RuntimeError(f"auth failed with key {secret}")

    custom = stages([])
    custom["ingest"] = leaky
    report = run_job(JobOptions(), warehouse=warehouse, stages=custom, console=quiet())
    assert secret not in (report.error_message or "")
    dumped = rows(warehouse, "select detail from ctsync.sync_run_stages") + rows(
        warehouse, "select error_message from ctsync.sync_runs"
    )
    assert dumped and all(secret not in str(value) for value in dumped)


def test_summary_shows_every_stage(tmp_path: Path) -> None:
    report = run_job(
        JobOptions(),
        warehouse=tmp_path / "w.duckdb",
        stages=stages([], fail="sync"),
        console=quiet(),
    )
    out = io.StringIO()
    console = Console(file=out, width=160)
    for table in summary_tables(report):
        console.print(table)
    text = out.getvalue()
    assert "ingest" in text and "dbt" in text and "sync exploded" in text
    assert report.run_id in text


def test_objects_blocked_by_a_build_are_those_whose_models_or_tests_failed() -> None:
    from ctsync.app.jobs.runner import objects_blocked_by
    from ctsync.app.transform import BuildResult, NodeOutcome
    from ctsync.core.names import OBJECTS

    result = BuildResult(success=False, elapsed_seconds=1.0)
    for obj in OBJECTS:
        for model in (f"iterable__{obj}", f"iterable__{obj}_changes"):
            result.nodes[model] = NodeOutcome("model", "ok")
    result.nodes["iterable__catalog_items"] = NodeOutcome("model", "error")
    result.nodes["iterable__catalog_items_changes"] = NodeOutcome("model", "skipped")
    result.nodes["iterable__carts_changes"] = NodeOutcome("model", "skipped")
    result.nodes["unique_iterable__events_record_key"] = NodeOutcome(
        "test", "error", ("iterable__events",)
    )
    # a failing test that reads no Iterable model blocks nothing
    result.nodes["not_null_fct_orders_x"] = NodeOutcome("test", "error", ("fct_orders",))
    assert objects_blocked_by(result) == {
        "carts": "iterable__carts_changes was skipped",
        "events": "test unique_iterable__events_record_key failed",
        "catalog_items": "iterable__catalog_items failed",
    }


def _ingest_context(tmp_path: Path) -> StageContext:
    return StageContext(
        run_id="run-1",
        options=JobOptions(),
        warehouse=tmp_path / "warehouse.duckdb",
        progress=False,
        console=quiet(),
    )


def _read_back(done: threading.Event, deferred: list[str] | None = None) -> Any:
    from types import SimpleNamespace

    def read_back(warehouse: Path, *, full_refresh: bool = False) -> Any:
        done.set()
        return SimpleNamespace(
            skipped=None,
            rows={"users": 2, "consent_events": 3},
            elapsed_seconds=0.1,
            deferred=deferred or [],
        )

    return read_back


def test_iterable_is_read_back_while_commercetools_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commercetools ingest below finishes only once the read-back has run: one after
    the other, it would wait in vain (and fail after 60 s)."""
    from types import SimpleNamespace

    import ctsync.ingest.iterable.pipeline as iterable_pipeline
    import ctsync.ingest.pipeline as commercetools_pipeline
    from ctsync.app.jobs.runner import ingest_stage

    read_back_ran = threading.Event()

    def ingest(**_: Any) -> Any:
        assert read_back_ran.wait(60), "the read-back did not run during the ingest"
        return SimpleNamespace(
            resources=[SimpleNamespace(name="customers", new=1, updated=0, removed=0)],
            step_seconds={},
            fetched=1,
            requests=1,
            elapsed_seconds=0.2,
            full_refresh=False,
            changed_resources=["customers"],
            load_ids=["1.0"],
        )

    monkeypatch.setattr(commercetools_pipeline, "run_ingest", ingest)
    monkeypatch.setattr(iterable_pipeline, "run_iterable_ingest", _read_back(read_back_ran))
    context = _ingest_context(tmp_path)
    status, detail, _ = ingest_stage(context)
    assert status == "succeeded"
    assert "customers +1/~0" in detail and "raw_iterable 2 user(s), 3 consent event(s)" in detail
    assert context.changed is not None and list(context.changed.tables) == ["customers"]


def test_a_failed_commercetools_ingest_fails_the_stage_after_the_read_back_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctsync.ingest.iterable.pipeline as iterable_pipeline
    import ctsync.ingest.pipeline as commercetools_pipeline
    from ctsync.app.jobs.runner import ingest_stage

    read_back_ran = threading.Event()

    def ingest(**_: Any) -> Any:
        raise RuntimeError("commercetools answered 503")

    monkeypatch.setattr(commercetools_pipeline, "run_ingest", ingest)
    monkeypatch.setattr(iterable_pipeline, "run_iterable_ingest", _read_back(read_back_ran))
    with pytest.raises(RuntimeError, match="503"):
        ingest_stage(_ingest_context(tmp_path))
    assert read_back_ran.is_set()  # not left running behind a failed stage
