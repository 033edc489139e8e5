"""`ctsync doctor`: check configuration, credentials and connectivity, one line per check.

Every failure comes with what to do about it. Checks are independent: a missing Iterable key
does not hide a broken commercetools client. Exit code 1 when any check fails (warnings do
not fail). Secrets are never printed, only whether they are set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ctsync.core.config import audit_schema
from ctsync.core.paths import DBT_PROJECT_DIR
from ctsync.core.redact import redact, register_secret

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str = ""


def run_checks(warehouse: Path, *, timeout: float = 10.0) -> list[Check]:
    checks: list[Check] = []
    checks += _guard("commercetools", lambda: _commercetools(timeout))
    checks += _guard("iterable", lambda: _iterable(timeout))
    checks += _guard("warehouse", lambda: _warehouse(warehouse))
    checks += _guard("dbt project", _dbt_project)
    checks += _guard("receiver", _receiver)
    return checks


def _guard(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    try:
        return check()
    except Exception as exc:  # a doctor must report, not crash
        return [Check(name, FAIL, redact(f"{type(exc).__name__}: {exc}"), "see the message")]


def _commercetools(timeout: float) -> list[Check]:
    from ctsync.ingest.commercetools.client import CommercetoolsAuthError, CommercetoolsError
    from ctsync.ingest.commercetools.source import load_settings

    try:
        settings = load_settings()
    except CommercetoolsError as exc:
        return [
            Check(
                "commercetools config",
                FAIL,
                redact(exc),
                "set SOURCES__COMMERCETOOLS__PROJECT_KEY, _CLIENT_ID, _CLIENT_SECRET and "
                "_REGION (or _API_URL and _AUTH_URL), or [sources.commercetools] in .dlt/*.toml",
            )
        ]
    register_secret(settings.client_secret)
    missing = [
        env
        for env, value in (
            ("SOURCES__COMMERCETOOLS__PROJECT_KEY", settings.project_key),
            ("SOURCES__COMMERCETOOLS__CLIENT_ID", settings.client_id),
            ("SOURCES__COMMERCETOOLS__CLIENT_SECRET", settings.client_secret),
        )
        if not value
    ]
    if missing:
        return [
            Check(
                "commercetools config",
                FAIL,
                f"not set: {', '.join(missing)}",
                "export them, or put them under [sources.commercetools] in .dlt/secrets.toml",
            )
        ]
    try:
        endpoints = settings.endpoints
    except CommercetoolsError as exc:
        return [
            Check(
                "commercetools config",
                FAIL,
                redact(exc),
                "set SOURCES__COMMERCETOOLS__REGION, e.g. europe-west1.gcp",
            )
        ]
    checks = [
        Check(
            "commercetools config",
            OK,
            f"project {settings.project_key} at {endpoints.api_url} (client secret set)",
        )
    ]
    quick = dataclasses.replace(settings, max_attempts=1, timeout=timeout)
    try:
        with quick.client() as client:
            client.token()
            checks.append(
                Check("commercetools credentials", OK, f"token from {endpoints.auth_url}")
            )
            client.get("customers", {"limit": "1", "withTotal": "false"})
            checks.append(Check("commercetools API", OK, "read customers"))
            checks.append(_messages_check(client))
    except CommercetoolsAuthError as exc:
        checks.append(
            Check(
                "commercetools credentials",
                FAIL,
                redact(exc),
                "check the client id/secret and that the API client has the view_* scopes "
                "(customers, orders, products, messages, ...)",
            )
        )
    except (CommercetoolsError, httpx.HTTPError) as exc:
        checks.append(
            Check(
                "commercetools API",
                FAIL,
                redact(f"{type(exc).__name__}: {exc}"),
                f"check that {' and '.join(dict.fromkeys([endpoints.api_url, endpoints.auth_url]))}"
                " is reachable from here (region, proxy, firewall)",
            )
        )
    return checks


def _messages_check(client: Any) -> Check:
    """Messages are off by default in new commercetools projects: deletions then arrive only
    through id reconciliation, which costs a read of every id per resource."""
    from ctsync.ingest.commercetools.client import CommercetoolsError

    try:
        project = client.get("", {})
    except CommercetoolsError as exc:
        return Check(
            "commercetools messages",
            WARN,
            redact(f"cannot read the project settings: {exc}"),
            "give the API client view_project_settings to let doctor check that Messages are on",
        )
    messages = project.get("messages") if isinstance(project, dict) else None
    if isinstance(messages, dict) and messages.get("enabled") is True:
        return Check("commercetools messages", OK, "enabled (deletions arrive as messages)")
    return Check(
        "commercetools messages",
        WARN,
        "Messages are disabled in this project: deletions and email changes are not "
        "announced, so a deleted customer stays in Iterable until an id reconciliation "
        "(`ctsync ingest --reconcile-deletions`, also run by `ctsync run --full-refresh`), "
        "which reads every id once per resource",
        "enable Messages (project settings → messagesConfiguration.enabled), or schedule "
        "`ctsync ingest --reconcile-deletions` daily",
    )


def _iterable(timeout: float) -> list[Check]:
    from ctsync.core.config import ConfigError, load_settings
    from ctsync.sync.iterable_client import IterableAuthError, IterableClient, IterableError

    try:
        settings = load_settings(max_attempts=1, timeout_seconds=timeout)
        settings.require_api_key()
    except ConfigError as exc:
        return [Check("iterable config", FAIL, redact(exc), "set SYNC__ITERABLE__API_KEY")]
    checks = [
        Check(
            "iterable config",
            OK,
            f"{settings.api_url}, project type {settings.project_type} (API key set)",
        )
    ]
    try:
        with IterableClient(settings) as client:
            response = client.call("get_fields", "GET", "/api/users/getFields")
            if response.ok:
                checks.append(_consent_rules(client))
        if response.ok:
            fields = (
                (response.body or {}).get("fields", {}) if isinstance(response.body, dict) else {}
            )
            checks.append(
                Check("iterable API key", OK, f"accepted; {len(fields)} user field(s) defined")
            )
        else:
            checks.append(
                Check(
                    "iterable API key",
                    FAIL,
                    f"HTTP {response.status} from /api/users/getFields: {redact(response.message)}",
                    "use a server-side API key of the project you sync to",
                )
            )
    except IterableAuthError:
        checks.append(
            Check(
                "iterable API key",
                FAIL,
                f"{settings.api_url} refused the API key (401)",
                "use a server-side key of the right project; EU projects need "
                "SYNC__ITERABLE__API_URL=https://api.eu.iterable.com",
            )
        )
    except (IterableError, httpx.HTTPError) as exc:
        checks.append(
            Check(
                "iterable API",
                FAIL,
                redact(f"{type(exc).__name__}: {exc}"),
                f"check that {settings.api_url} is reachable from here",
            )
        )
    return checks


def _consent_rules(client: Any) -> Check:
    from ctsync.sync.consent import ConsentConfigError, check_consent_rules, load_rules

    try:
        rules = load_rules()
        problems = check_consent_rules(client, rules)
    except ConsentConfigError as exc:
        return Check("consent rules", FAIL, redact(exc), "check that the key may read lists")
    if problems:
        return Check(
            "consent rules",
            FAIL,
            "; ".join(problems),
            "put your project's list / channel / message type ids in "
            "seeds/iterable_consent_rules.csv, then `ctsync build`",
        )
    return Check(
        "consent rules",
        OK,
        f"{len(rules)} rule(s); every list, channel and message type exists in Iterable",
    )


def _warehouse(warehouse: Path) -> list[Check]:
    from ctsync.app.status import StatusError, missing_fx_rates, open_read_only, running_pid

    if not warehouse.exists():
        parent = warehouse.parent
        if parent.exists() and os.access(parent, os.W_OK):
            return [
                Check(
                    "warehouse",
                    WARN,
                    f"{warehouse} does not exist yet",
                    "`ctsync run` creates it (CTSYNC_WAREHOUSE chooses another path)",
                )
            ]
        return [
            Check(
                "warehouse",
                FAIL,
                f"{parent} does not exist or is not writable",
                "set CTSYNC_WAREHOUSE to a path in a writable folder",
            )
        ]
    pid = running_pid(warehouse)
    if pid:
        return [
            Check("warehouse", OK, f"{warehouse} (a run is in progress: process {pid})"),
        ]
    try:
        con = open_read_only(warehouse)
    except StatusError as exc:
        return [Check("warehouse", FAIL, str(exc), "close other programs that hold the file")]
    try:
        schemas = {
            row[0]
            for row in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        currencies = missing_fx_rates(con)
    finally:
        con.close()
    checks = [Check("warehouse", OK, f"{warehouse} ({warehouse.stat().st_size // 1024} KiB)")]
    expected = {
        "raw_commercetools": "run `ctsync ingest` (or `ctsync run`) to load commercetools",
        "iterable": "run `ctsync build` (or `ctsync run`) to build the dbt models",
        audit_schema(): "created by the first `ctsync build`, `ctsync sync` or `ctsync run`",
    }
    for schema, fix in expected.items():
        if schema in schemas:
            checks.append(Check(f"schema {schema}", OK, "present"))
        else:
            checks.append(Check(f"schema {schema}", WARN, "not there yet", fix))
    if currencies:
        listed = ", ".join(f"{m.currency_code} ({m.orders} order(s))" for m in currencies)
        checks.append(
            Check(
                "fx rates",
                WARN,
                f"no rate to the base currency for {listed}: base-currency lifetime values "
                "of their customers are null and flagged incomplete",
                "add the rates to seeds/fx_rates.csv, then `ctsync build --full-refresh`",
            )
        )
    return checks


def _dbt_project() -> list[Check]:
    project = DBT_PROJECT_DIR / "dbt_project.yml"
    profiles = DBT_PROJECT_DIR / "profiles.yml"
    missing = [p.name for p in (project, profiles) if not p.exists()]
    if missing:
        return [
            Check(
                "dbt project",
                FAIL,
                f"missing {', '.join(missing)} in {DBT_PROJECT_DIR}",
                "run ctsync from a full checkout of the project",
            )
        ]
    return [Check("dbt project", OK, str(project))]


def _receiver() -> list[Check]:
    from ctsync.app.jobs.receiver import receiver_token

    if receiver_token():
        return [Check("receiver token", OK, "set (ctsync serve authenticates deliveries)")]
    return [
        Check(
            "receiver token",
            WARN,
            "not set; `ctsync serve` refuses to start without it",
            "set SYNC__RECEIVER__TOKEN if you use subscription triggers",
        )
    ]


def render_checks(checks: list[Check], console: Console) -> None:
    table = Table(title="ctsync doctor", title_justify="left")
    table.add_column("", width=2)
    table.add_column("check")
    table.add_column("result", overflow="fold")
    table.add_column("what to do", overflow="fold")
    marks = {OK: "[green]✔[/]", WARN: "[yellow]![/]", FAIL: "[red]✘[/]"}
    for check in checks:
        table.add_row(
            marks[check.status], escape(check.name), escape(check.message), escape(check.fix)
        )
    console.print(table)
    failed = sum(1 for c in checks if c.status == FAIL)
    warned = sum(1 for c in checks if c.status == WARN)
    if failed:
        console.print(f"[red]{failed} check(s) failed[/], {warned} warning(s).")
    else:
        console.print(f"[green]All checks passed[/] ({warned} warning(s)).")
