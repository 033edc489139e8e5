"""Alerts: a local HTTP receiver stands in for the Slack incoming webhook."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from ctsync.app.alerts import AlertConfigError, AlertSettings, load_alert_settings
from ctsync.app.jobs.receiver import StalenessWatch
from ctsync.app.jobs.runner import JobOptions, StageContext, run_job
from ctsync.app.jobs.trigger import DebouncedTrigger
from ctsync.core.clock import utcnow
from ctsync.core.redact import register_secret

pytestmark = pytest.mark.slow


class Webhook:
    """A local webhook that records every JSON body; `status` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


class Result:
    def __init__(self, status: str, rejected: int, error: str | None = None) -> None:
        self.status = status
        self.error_message = error
        self.objects: dict[str, Any] = {}
        self.totals = type("Totals", (), {"planned": 10, "rejected": rejected})()


def stages(status: str = "succeeded", rejected: int = 0, error: str | None = None) -> Any:
    def plain(context: StageContext) -> tuple[str, str, Any]:
        return "succeeded", "done", None

    def sync(context: StageContext) -> tuple[str, str, Any]:
        return status, "sync", Result(status, rejected, error)

    return {"ingest": plain, "dbt": plain, "sync": sync}


def job(tmp_path: Path, settings: AlertSettings, **kwargs: Any) -> Any:
    return run_job(
        JobOptions(trigger="schedule"),
        warehouse=tmp_path / "w.duckdb",
        stages=stages(**kwargs),
        console=Console(file=io.StringIO()),
        alerts=settings,
    )


def test_a_failed_run_posts_a_slack_compatible_alert_redacted(
    tmp_path: Path, webhook: Webhook
) -> None:
    secret = "client-secret-for-alerts-31337"
    register_secret(secret)
    settings = AlertSettings(webhook_url=webhook.url)
    report = job(tmp_path, settings, status="partial", error=f"users: 401 for {secret}")
    assert report.status == "partial"
    [body] = webhook.bodies
    assert isinstance(body["text"], str) and body["text"].startswith("ctsync: run partial")
    assert report.run_id in body["text"]
    assert body["blocks"][0]["type"] == "header"  # Slack Block Kit shape
    assert body["ctsync"]["kind"] == "run_failed" and body["ctsync"]["status"] == "partial"
    assert secret not in json.dumps(body) and "***" in body["text"]


def test_rejections_above_the_threshold_alert_below_do_not(
    tmp_path: Path, webhook: Webhook
) -> None:
    settings = AlertSettings(webhook_url=webhook.url, max_rejections=5)
    job(tmp_path, settings, status="succeeded_with_rejections", rejected=5)
    assert webhook.bodies == []
    job(tmp_path, settings, status="succeeded_with_rejections", rejected=6)
    [body] = webhook.bodies
    assert body["ctsync"]["kind"] == "rejection_spike"
    assert "6 records rejected" in body["text"]


def test_stale_data_alerts_when_the_last_success_is_older_than_the_limit(
    tmp_path: Path, webhook: Webhook
) -> None:
    settings = AlertSettings(webhook_url=webhook.url, max_staleness_minutes=60)
    job(tmp_path, settings)  # a success now: nothing to say
    assert webhook.bodies == []
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # ...that was 3 hours ago
        con.execute(
            "update ctsync.sync_runs set started_at = ?, finished_at = ?",
            [utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=3)],
        )
    job(tmp_path, settings, status="failed", error="dbt failed")
    kinds = [body["ctsync"]["kind"] for body in webhook.bodies]
    assert kinds == ["run_failed", "stale_data"]
    assert 179 <= webhook.bodies[1]["ctsync"]["stale_minutes"] <= 182


def test_a_webhook_that_is_down_does_not_fail_the_run(tmp_path: Path, webhook: Webhook) -> None:
    webhook.status = 500
    report = job(tmp_path, AlertSettings(webhook_url=webhook.url), status="failed", error="x")
    assert report.status == "failed" and len(webhook.bodies) == 1


def test_serve_alerts_once_when_waiting_changes_go_stale(webhook: Webhook) -> None:
    trigger = DebouncedTrigger(lambda resources, stop: None, debounce=60)
    trigger.notify({"customers"})  # the trigger is not started: the change just waits
    watch = StalenessWatch(trigger, AlertSettings(webhook_url=webhook.url))
    assert not watch.check()  # waited < 60 minutes
    watch.settings = AlertSettings(webhook_url=webhook.url, max_staleness_minutes=0)
    assert watch.check()
    assert not watch.check()  # once per stale episode
    [body] = webhook.bodies
    assert body["ctsync"]["kind"] == "stale_data"


def test_alert_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC__ALERTS__WEBHOOK_URL", "https://hooks.slack.com/services/T/B/SECRETX")
    monkeypatch.setenv("SYNC__ALERTS__MAX_REJECTIONS", "7")
    settings = load_alert_settings()
    assert settings.enabled and settings.max_rejections == 7
    monkeypatch.setenv("SYNC__ALERTS__WEBHOOK_URL", "http://hooks.example.com/x")
    with pytest.raises(AlertConfigError, match="unencrypted"):
        load_alert_settings()
