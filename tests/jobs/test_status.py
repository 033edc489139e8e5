"""`ctsync status`: recent runs, open rejections by reason, freshness; and its failure modes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from ctsync.app.status import collect_status, render_status

pytestmark = pytest.mark.slow

CTSYNC = Path(sys.executable).parent / "ctsync"


def ctsync(*args: str, warehouse: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CTSYNC), *args],
        env={**os.environ, "CTSYNC_WAREHOUSE": str(warehouse), "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_collects_runs_rejections_and_freshness(audit_warehouse: Path) -> None:
    status = collect_status(audit_warehouse)
    assert [r.run_id for r in status.runs] == ["run-cccc-3", "run-bbbb-2", "run-aaaa-1"]
    failed = status.runs[1]
    assert failed.status == "failed"
    assert failed.stages == {"ingest": "succeeded", "dbt": "failed"}
    assert status.runs[2].seconds == 40
    assert [(o, r, n) for o, r, n, _ in status.rejections] == [
        ("users", "invalid_email", 2),
        ("events", "<script>document.title='pwned'</script>", 1),
    ]
    fresh = {f.object: f for f in status.freshness}
    # every object, in sending order (deletions go first)
    assert list(fresh) == [
        "user_deletions",
        "users",
        "subscriptions",
        "purchases",
        "carts",
        "events",
        "catalog_items",
    ]
    assert fresh["users"].acknowledged == 3
    assert fresh["users"].open_rejections == 2
    assert fresh["purchases"].last_delivered_at is not None
    assert fresh["carts"].last_delivered_at is None
    assert status.running_pid is None


def test_status_renders_tables_and_names_the_failed_stage(audit_warehouse: Path) -> None:
    out = io.StringIO()
    render_status(collect_status(audit_warehouse), Console(file=out, width=160))
    text = out.getvalue()
    assert "recent runs" in text and "open rejections by reason" in text
    assert "run run-bbbb in dbt: dbt failed: model x" in text
    assert "never" in text  # objects that never synced are visible


def test_status_json_from_the_command_line(audit_warehouse: Path) -> None:
    result = ctsync("status", "--json", "--limit", "2", warehouse=audit_warehouse)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [r["run_id"] for r in document["runs"]] == ["run-cccc-3", "run-bbbb-2"]
    assert document["open_rejections"][0] == {
        "object": "users",
        "reason_code": "invalid_email",
        "count": 2,
        "example_record_key": "bad-0",
    }


def test_status_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = ctsync("status", warehouse=tmp_path / "nope.duckdb")
    assert result.returncode == 1
    assert "No warehouse at" in result.stderr and "ctsync run" in result.stderr


def test_status_while_a_run_writes_the_warehouse(audit_warehouse: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb\n"
            "from ctsync.core.lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n"
            "    con = duckdb.connect(sys.argv[1])\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(audit_warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = ctsync("status", warehouse=audit_warehouse)
        assert time.monotonic() - started < 30
        assert result.returncode == 1
        assert "being written by a run" in result.stderr
        assert f"process {holder.pid}" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_status_shows_the_last_failure_and_how_stale_the_data_is(audit_warehouse: Path) -> None:
    status = collect_status(audit_warehouse)
    assert status.last_failure is not None and status.last_failure.run_id == "run-cccc-3"
    assert status.last_failure.status == "partial"
    assert status.last_success_at is not None
    # run-aaaa-1 (the only good run) finished 40 s after BASE
    assert status.stale_seconds == (status.now - status.last_success_at).total_seconds()
    document = status.as_dict()
    assert document["last_failure"]["run_id"] == "run-cccc-3"
    assert document["stale_seconds"] > 0
    out = io.StringIO()
    render_status(status, Console(file=out, width=160))
    assert "Last failure: run run-cccc (partial)" in out.getvalue()
    assert "stale" in out.getvalue()


def test_status_never_prints_an_email(audit_warehouse: Path) -> None:
    import duckdb

    with duckdb.connect(str(audit_warehouse)) as con:
        con.execute(
            "update ctsync.sync_runs set error_message = 'users: 400 for jane.doe@example.org' "
            "where run_id = 'run-cccc-3'"
        )
        con.execute(
            "insert into ctsync.sync_rejections (object, record_key, reason_code, first_seen_at, "
            "attempts, last_seen_at) values "
            "('users', 'aaa.person@example.com', 'aaa_reason', now(), 1, now())"
        )
    result = ctsync("status", "--json", warehouse=audit_warehouse)
    assert result.returncode == 0, result.stderr
    assert "@" not in result.stdout
    shown = [
        r for r in json.loads(result.stdout)["open_rejections"] if r["reason_code"] == "aaa_reason"
    ]
    assert shown[0]["example_record_key"].startswith("md5:")
    table = ctsync("status", warehouse=audit_warehouse)
    assert table.returncode == 0 and "@" not in table.stdout
