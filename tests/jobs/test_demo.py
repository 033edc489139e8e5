"""The demo's own pieces (the whole demo is run by `./dev demo`; it seeds 500 customers)."""

from __future__ import annotations

import io
import os
from typing import Any

import httpx
import pytest
from rich.console import Console

from ctsync.app.demo import IterableSnapshot, _compare_runs, _environment
from ctsync.app.jobs.runner import JobOptions, JobReport, StageReport
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.audit import ObjectCounts


def test_environment_points_at_the_sandboxes_and_restores_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC__ITERABLE__API_KEY", "the-real-key")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__REGION", "europe-west1.gcp")
    monkeypatch.setenv("CTSYNC_WAREHOUSE", "/data/prod.duckdb")
    with _environment(
        {"SYNC__ITERABLE__API_URL": "http://127.0.0.1:1", "CTSYNC_WAREHOUSE": "/tmp/demo.duckdb"}
    ):
        # Nothing of the real configuration may leak into the demo.
        assert "SYNC__ITERABLE__API_KEY" not in os.environ
        assert "SOURCES__COMMERCETOOLS__REGION" not in os.environ
        assert os.environ["CTSYNC_WAREHOUSE"] == "/tmp/demo.duckdb"
    assert os.environ["SYNC__ITERABLE__API_KEY"] == "the-real-key"
    assert os.environ["SOURCES__COMMERCETOOLS__REGION"] == "europe-west1.gcp"
    assert os.environ["CTSYNC_WAREHOUSE"] == "/data/prod.duckdb"
    assert "SYNC__ITERABLE__API_URL" not in os.environ


def test_snapshot_counts_what_the_emulator_holds(fresh_iterable: IterableEmulator) -> None:
    headers = {"Api-Key": fresh_iterable.api_key}
    with httpx.Client(base_url=fresh_iterable.api_url, headers=headers, timeout=10) as api:
        api.post(
            "/api/users/bulkUpdate",
            json={
                "users": [
                    {"email": "a@example.com", "dataFields": {"firstName": "A"}},
                    {
                        "email": "b@example.com",
                        "dataFields": {"unsubscribedChannelIds": [11]},
                    },
                ]
            },
        ).raise_for_status()
        api.post(
            "/api/events/trackBulk",
            json={"events": [{"email": "a@example.com", "eventName": "orderShipped", "id": "e-1"}]},
        ).raise_for_status()
    fresh_iterable.flush()
    snapshot = IterableSnapshot.take(fresh_iterable, "products")
    assert snapshot.users == 2
    assert snapshot.users_with_unsubscriptions == 1
    assert snapshot.events == {"orderShipped": 1}
    assert snapshot.catalog_items == 0
    assert snapshot.requests["users/bulkUpdate"] == 1


def report_with(sent: dict[str, int]) -> JobReport:
    class Result:
        objects: dict[str, Any] = {name: ObjectCounts(sent=n) for name, n in sent.items()}

    report = JobReport(run_id="r", options=JobOptions())
    report.stages = [
        StageReport("ingest"),
        StageReport("dbt"),
        StageReport("sync", result=Result()),
    ]
    return report


def test_run_comparison_shows_per_object_and_total_counts() -> None:
    out = io.StringIO()
    _compare_runs(
        Console(file=out, width=120),
        report_with({"users": 500, "purchases": 1300}),
        report_with({"users": 12, "purchases": 3}),
    )
    text = out.getvalue()
    assert "The second run sent 15 record(s) against 1800 in the first" in text
    assert "users" in text and "500" in text and "12" in text
