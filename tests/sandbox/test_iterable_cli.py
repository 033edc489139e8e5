"""``ctsync sandbox iterable``: prints export lines, serves, refuses bad options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ctsync.sandbox.iterable.conformance import CheckedClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CTSYNC = [sys.executable, "-c", "from ctsync.app.cli import main; main()"]


def _read_exports(proc: subprocess.Popen[str]) -> dict[str, str]:
    exports: dict[str, str] = {}
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while len(exports) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
    return exports


def test_cli_prints_exports_and_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [
            *CTSYNC,
            "sandbox",
            "iterable",
            "--project-type",
            "email",
            "--rate-scale",
            "inf",
            "--faults",
            "channels:503=1,times=1",
            "--api-key",
            "cli-key",
            "--capture",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        exports = _read_exports(proc)
        assert set(exports) == {
            "SYNC__ITERABLE__API_URL",
            "SYNC__ITERABLE__API_KEY",
            "SYNC__ITERABLE__PROJECT_TYPE",
        }
        assert exports["SYNC__ITERABLE__API_KEY"] == "cli-key"
        assert exports["SYNC__ITERABLE__PROJECT_TYPE"] == "email"
        url = exports["SYNC__ITERABLE__API_URL"]
        assert url.startswith("http://127.0.0.1:")
        with CheckedClient(url, "cli-key") as client:
            assert client.get("/api/channels").status_code == 503
            assert client.get("/api/channels").status_code == 200
            statuses = [
                client.post("/api/users/bulkUpdate", json={"users": []}).status_code
                for _ in range(12)
            ]
            assert statuses == [200] * 12  # --rate-scale inf lifted the 5/s limit
            fields = client.get("/api/users/getFields").json()["fields"]
            assert "emailListIds" in fields  # an email-based project
        captured = httpx.get(f"{url}/_emulator/captured").json()["captured"]
        assert captured[-1]["endpoint"] == "users/getFields"
        assert captured[0]["status"] == 503
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    assert code == 0


def test_cli_rejects_bad_options_with_usage_exit_code() -> None:
    from typer.testing import CliRunner

    from ctsync.app.cli import app

    runner = CliRunner()
    for args, message in [
        (["--project-type", "phone"], "phone"),
        (["--rate-scale", "-1"], "rate-scale"),
        (["--faults", "users/update:500=7"], "fraction"),
        (["--faults", "users/updat:500=1"], "unknown endpoint"),
    ]:
        result = runner.invoke(app, ["sandbox", "iterable", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
