"""Alerts: tell a person when runs fail, rejections spike or the data goes stale.

One webhook, `sync.alerts.webhook_url` (`SYNC__ALERTS__WEBHOOK_URL`), receives a JSON body
Slack incoming webhooks accept as is (`{"text": ..., "blocks": [...]}`); other chat tools
and incident systems that take a JSON POST can read the same `text`, plus `ctsync` (the
machine-readable facts). The URL is a credential (it lets anyone post), so it is registered
with the redactor. Alerts are sent on:

* a run that ends `failed`, `partial`, `auth_error` or `interrupted`;
* a run with more rejected records than `sync.alerts.max_rejections` (default 100);
* data older than `sync.alerts.max_staleness_minutes` (default 60): no run has succeeded for
  that long while a run failed, or while changes wait in `ctsync serve`.

A webhook that is down never fails a run: the error is logged (redacted) and dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from ctsync.core.config import audit_schema
from ctsync.core.names import FAILED_STATUSES
from ctsync.core.redact import redact, register_secret
from ctsync.core.transport import InsecureTransportError, check_url

log = logging.getLogger("ctsync.alerts")

DEFAULT_MAX_REJECTIONS = 100
DEFAULT_MAX_STALENESS_MINUTES = 60.0


class AlertConfigError(ValueError):
    """An alert setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    max_rejections: int = DEFAULT_MAX_REJECTIONS
    max_staleness_minutes: float = DEFAULT_MAX_STALENESS_MINUTES
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        register_secret(self.webhook_url)
        if self.webhook_url:
            try:
                check_url(self.webhook_url, "sync.alerts.webhook_url")
            except InsecureTransportError as exc:
                raise AlertConfigError(str(exc)) from None

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url)


def load_alert_settings() -> AlertSettings:
    """`sync.alerts.*` from dlt's providers (env `SYNC__ALERTS__*`, .dlt/*.toml)."""
    import dlt

    values: dict[str, Any] = {}
    url: Any = dlt.secrets.get("sync.alerts.webhook_url") or dlt.config.get(
        "sync.alerts.webhook_url"
    )
    if url:
        values["webhook_url"] = str(url).strip()
    for key, typ in (("max_rejections", int), ("max_staleness_minutes", float)):
        value: Any = dlt.config.get(f"sync.alerts.{key}")
        if value is not None and str(value).strip() != "":
            try:
                values[key] = typ(value)
            except ValueError:
                raise AlertConfigError(
                    f"sync.alerts.{key} must be a number, got {value!r}"
                ) from None
    return AlertSettings(**values)


def slack_body(title: str, lines: list[str], facts: dict[str, Any]) -> dict[str, Any]:
    """A body for Slack incoming webhooks (text + blocks); `ctsync` carries the raw facts."""
    text = redact(f"ctsync: {title}" + ("\n" + "\n".join(lines) if lines else ""))
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": redact(f"ctsync: {title}")}},
            *(
                [{"type": "section", "text": {"type": "mrkdwn", "text": redact("\n".join(lines))}}]
                if lines
                else []
            ),
        ],
        "ctsync": {
            key: redact(value) if isinstance(value, str) else value for key, value in facts.items()
        },
    }


def send(settings: AlertSettings, title: str, lines: list[str], facts: dict[str, Any]) -> bool:
    """POST one alert; True when the webhook accepted it. Never raises."""
    if not settings.webhook_url:
        return False
    body = slack_body(title, lines, facts)
    try:
        response = httpx.post(settings.webhook_url, json=body, timeout=settings.timeout_seconds)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        log.warning(
            "could not send the alert %r to the webhook (%s%s)",
            title,
            type(exc).__name__,
            f" {status}" if status else "",
        )
        return False
    log.info("alert sent: %s", title)
    return True


def run_alerts(
    *,
    run_id: str,
    status: str,
    error_message: str | None,
    rejected: int,
    trigger: str,
    stale_minutes: float | None,
    settings: AlertSettings,
) -> list[tuple[str, list[str], dict[str, Any]]]:
    """The alerts one finished run calls for (title, lines, facts); empty when all is well."""
    alerts: list[tuple[str, list[str], dict[str, Any]]] = []
    facts = {"run_id": run_id, "status": status, "trigger": trigger, "rejected": rejected}
    if status in FAILED_STATUSES:
        alerts.append(
            (
                f"run {status}",
                [
                    f"run `{run_id}` ({trigger}) ended *{status}*",
                    error_message or "no detail recorded",
                    "Details: `ctsync status`; it is retried automatically by schedule/serve.",
                ],
                {**facts, "kind": "run_failed", "error_message": error_message},
            )
        )
    if rejected > settings.max_rejections:
        alerts.append(
            (
                f"{rejected} records rejected in one run",
                [
                    f"run `{run_id}` rejected {rejected} records "
                    f"(alert threshold {settings.max_rejections})",
                    f"What and why: `ctsync status`, `{audit_schema()}.sync_rejections`.",
                ],
                {**facts, "kind": "rejection_spike", "threshold": settings.max_rejections},
            )
        )
    if stale_minutes is not None and stale_minutes > settings.max_staleness_minutes:
        alerts.append(stale_alert(stale_minutes, settings, run_id))
    return alerts


def stale_alert(
    stale_minutes: float, settings: AlertSettings, run_id: str | None = None
) -> tuple[str, list[str], dict[str, Any]]:
    return (
        f"data in Iterable is {stale_minutes:.0f} min old",
        [
            f"no run has succeeded for {stale_minutes:.0f} minutes "
            f"(limit {settings.max_staleness_minutes:.0f})",
            "Check `ctsync status` and the schedule/serve process.",
        ],
        {
            "kind": "stale_data",
            "stale_minutes": round(stale_minutes, 1),
            "limit_minutes": settings.max_staleness_minutes,
            "run_id": run_id,
        },
    )
