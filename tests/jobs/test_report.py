"""`ctsync report`: a self-contained page that a real headless Chromium renders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctsync.app.report import collect, latency_histogram, write_report

pytestmark = pytest.mark.slow

CTSYNC = Path(sys.executable).parent / "ctsync"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is required for the report test (./dev installs it)"
    return found


def headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_data_matches_the_audit_tables(audit_warehouse: Path) -> None:
    data = collect(audit_warehouse)
    assert [r[0] for r in data.runs] == ["run-aaaa-1", "run-bbbb-2", "run-cccc-3"]
    assert ("users", "upsert", "succeeded", 3) in data.records
    assert ("purchases", "upsert", "succeeded", 2) in data.records
    assert ("users", "upsert", "rejected", 3) in data.records
    assert data.rejections[0] == ("users", "invalid_email", 2)
    assert sorted(data.latencies) == [1.5, 2.5, 4.0, 8.0, 20.0]
    by_object = {o: (n, p50) for o, n, p50, _ in data.latency_by_object}
    assert by_object == {"users": (3, 2.5), "purchases": (2, 14.0)}


def test_latency_histogram_buckets() -> None:
    buckets = dict(latency_histogram([0.5, 1.0, 1.5, 4.0, 4.5, 100000.0]))
    assert buckets["≤1.0s"] == 2
    assert buckets["≤2.0s"] == 1
    assert buckets["≤5.0s"] == 2
    assert buckets[">1d"] == 1
    assert sum(buckets.values()) == 6


def test_report_is_self_contained_and_escapes_data(
    audit_warehouse: Path, tmp_path: Path, hostile_reason: str
) -> None:
    out = tmp_path / "report.html"
    write_report(audit_warehouse, out)
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    assert hostile_reason not in page
    assert "&lt;script&gt;document.title=" in page
    assert page.count('<svg class="chart"') == 4


def test_report_renders_in_headless_chromium(audit_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = subprocess.run(
        [str(CTSYNC), "report", "--out", str(out)],
        env={**os.environ, "CTSYNC_WAREHOUSE": str(audit_warehouse)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "3 run(s)" in result.stdout

    dom = headless(tmp_path, "--dump-dom", out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None
    # The inline script ran and found every chart and bar in the rendered DOM.
    assert 'data-rendered="true"' in body.group(1)
    assert 'data-charts="4"' in body.group(1)
    assert re.search(r'data-bars="(\d+)"', body.group(1))
    run_bars = re.findall(r'<rect class="bar run" data-status="([a-z_]+)"', dom.stdout)
    assert run_bars == ["succeeded", "failed", "partial"]
    assert "pwned" not in dom.stdout.split("<title>")[1].split("</title>")[0]

    shot = tmp_path / "report.png"
    picture = headless(tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", out.as_uri())
    assert picture.returncode == 0, picture.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page of charts, not a blank canvas


def test_report_on_an_empty_warehouse_says_there_is_nothing_yet(tmp_path: Path) -> None:
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    out = tmp_path / "r.html"
    write_report(empty, out)
    page = out.read_text()
    assert "No runs recorded yet." in page
    assert "No open rejections." in page


def test_report_without_a_warehouse_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CTSYNC), "report", "--out", str(tmp_path / "r.html")],
        env={**os.environ, "CTSYNC_WAREHOUSE": str(tmp_path / "missing.duckdb")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No warehouse at" in result.stderr
