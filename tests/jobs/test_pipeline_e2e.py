"""The job end to end on real parts: commercetools sandbox → dlt → DuckDB → dbt → Iterable
emulator, driven through the `ctsync` command line.

One module-scoped pipeline (seeded once, first `ctsync run` once) serves the tests, because
a dbt build is the slow part; each test asserts only on the runs it started itself.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seeder import SeedSummary
from ctsync.sandbox.commercetools.subscriptions import message_notification, pubsub_push
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import (
    OK,
    ctsync,
    fresh_shop,
    job_env,
    new_run,
    query,
    serving,
    terminate,
)

TOKEN = "pipeline-e2e-shared-token"

pytestmark = pytest.mark.slow


@dataclass
class Pipeline:
    sandbox: CommercetoolsSandbox
    emulator: IterableEmulator
    warehouse: Path
    folder: Path
    env: dict[str, str]
    seeded: SeedSummary
    first_run_id: str
    first_stdout: str
    outputs: list[str]  # stdout and stderr of every command run, for the secrets check

    def ctsync(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = ctsync(self.folder, self.env, *args)
        self.outputs += [result.stdout, result.stderr]
        return result

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return query(self.warehouse, sql, params)


@pytest.fixture(scope="module")
def pipeline(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    seeded = fresh_shop(commercetools_sandbox, iterable_emulator, customers=20, seed=7)
    folder = tmp_path_factory.mktemp("pipeline")
    warehouse = folder / "warehouse.duckdb"
    env = job_env(commercetools_sandbox, iterable_emulator, warehouse, SYNC__RECEIVER__TOKEN=TOKEN)
    run_id, first = new_run(folder, env, warehouse)
    yield Pipeline(
        commercetools_sandbox,
        iterable_emulator,
        warehouse,
        folder,
        env,
        seeded,
        run_id,
        first.stdout,
        [first.stdout, first.stderr],
    )
    commercetools_sandbox.reset()


def test_first_run_records_one_run_id_across_the_three_stages(pipeline: Pipeline) -> None:
    [(trigger, mode, status, sent, succeeded)] = pipeline.query(
        "select trigger, mode, status, sent_count, succeeded_count from ctsync.sync_runs "
        "where run_id = ?",
        [pipeline.first_run_id],
    )
    assert (trigger, mode) == ("manual", "incremental")
    assert status in OK
    assert sent > 0 and succeeded > 0
    stages = pipeline.query(
        "select stage, status from ctsync.sync_run_stages where run_id = ? order by started_at",
        [pipeline.first_run_id],
    )
    assert [s for s, _ in stages] == ["ingest", "dbt", "sync"]
    assert stages[0][1] == "succeeded" and stages[1][1] == "succeeded" and stages[2][1] in OK
    changelog_runs = pipeline.query(
        "select distinct run_id from ctsync.sync_changelog where run_id = ?",
        [pipeline.first_run_id],
    )
    assert changelog_runs == [(pipeline.first_run_id,)]
    # What reached Iterable: users (minus the seeded bad emails), purchases, events.
    emulator = pipeline.emulator
    usable = pipeline.seeded.customers - pipeline.seeded.customers_malformed_email
    assert len(emulator.users()) >= usable - pipeline.seeded.customers_shared_email
    assert len(emulator.purchases()) > 0
    assert len(emulator.events()) > 0
    # The closing summary names the run and shows the per-object table.
    assert pipeline.first_run_id in pipeline.first_stdout
    assert "records per Iterable object" in pipeline.first_stdout


def test_second_run_sends_only_the_changes(pipeline: Pipeline) -> None:
    sandbox, emulator = pipeline.sandbox, pipeline.emulator
    [(sent_before,)] = pipeline.query(
        "select sent_count from ctsync.sync_runs where run_id = ?", [pipeline.first_run_id]
    )
    changes = sandbox.apply_changes(fraction=0.1, seed=3)
    assert changes.email_changed
    run_id, result = new_run(pipeline.folder, pipeline.env, pipeline.warehouse)
    pipeline.outputs += [result.stdout, result.stderr]
    [(status, sent)] = pipeline.query(
        "select status, sent_count from ctsync.sync_runs where run_id = ?", [run_id]
    )
    assert status in OK
    assert 0 < sent < sent_before / 2, (sent, sent_before)
    deleted = set(changes.customers_deleted)
    with sandbox.client() as api:
        new_emails = [
            api.get(f"/customers/{customer_id}").json()["email"]
            for customer_id in changes.email_changed
            if customer_id not in deleted
        ]
    assert any(emulator.user(email=email) is not None for email in new_emails)


def test_a_subscription_message_to_serve_brings_the_change_to_iterable(
    pipeline: Pipeline,
) -> None:
    sandbox, emulator = pipeline.sandbox, pipeline.emulator
    with sandbox.client() as api:
        customers = api.get("/customers", params={"limit": "100"}).json()["results"]
    # A customer Iterable knows by its own id (not one the models refused as a duplicate).
    customer = next(c for c in customers if emulator.user(user_id=c["id"]) is not None)

    serve = ("--port", "0", "--debounce", "0.3")
    with serving(pipeline.folder, pipeline.env, *serve) as (server, url, log):
        stream = server.stderr
        threading.Thread(target=lambda: log.extend(stream), daemon=True).start()

        with sandbox.client() as api:
            updated = api.post(
                f"/customers/{customer['id']}",
                json={
                    "version": customer["version"],
                    "actions": [{"action": "setFirstName", "firstName": "Freshly-Renamed"}],
                },
            )
            updated.raise_for_status()
            payload = message_notification(api, sandbox.project_key, customer["id"])
        assert payload["type"] == "CustomerFirstNameSet"
        changed = time.monotonic()
        response = httpx.post(
            f"{url}/pubsub?token={TOKEN}", json=pubsub_push(payload, "ps-1"), timeout=10
        )
        assert response.status_code == 202, response.text
        assert response.json()["resources"] == ["customers", "messages"]
        assert response.elapsed.total_seconds() < 2  # acknowledged before the run

        delivered_after = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            user = emulator.user(user_id=customer["id"])
            if user and user["dataFields"].get("firstName") == "Freshly-Renamed":
                delivered_after = time.monotonic() - changed
                break
            time.sleep(0.5)
        assert delivered_after is not None, "".join(log)[-4000:]

        # Pub/Sub redelivers the same commercetools message under another transport id.
        again = httpx.post(
            f"{url}/pubsub?token={TOKEN}", json=pubsub_push(payload, "ps-2"), timeout=10
        )
        assert again.status_code == 202 and again.json()["duplicates"] == 1
        health = httpx.get(f"{url}/healthz?token={TOKEN}", timeout=10).json()
        deadline = time.monotonic() + 120
        while (health["running"] or health["pending_resources"]) and time.monotonic() < deadline:
            time.sleep(0.3)
            health = httpx.get(f"{url}/healthz?token={TOKEN}", timeout=10).json()
        assert (health["runs"], health["failed_runs"], health["duplicates"]) == (1, 0, 1)

        terminate(server, timeout=60)
    [(status, latency)] = pipeline.query(
        "select r.status, max(date_diff('millisecond', c.source_updated_at, c.attempted_at)) "
        "/ 1000.0 from ctsync.sync_runs r join ctsync.sync_changelog c using (run_id) "
        "where r.trigger = 'event' and c.object = 'users' and c.record_key is not null "
        "group by r.status"
    )
    assert status in OK
    assert latency is not None and 0 <= latency < 300


def test_no_secret_in_any_log_table_dbt_artifact_or_report(pipeline: Pipeline) -> None:
    """Runs last in this module: everything the pipeline produced so far, plus the commands
    that print or write reports, is searched for the commercetools client secret, the Iterable
    API key and the receiver token."""
    secrets = {
        "commercetools client secret": pipeline.sandbox.client_secret,
        "Iterable API key": pipeline.emulator.api_key,
        "receiver token": TOKEN,
    }
    assert all(len(value) >= 8 for value in secrets.values())
    for args in (
        ("status",),
        ("status", "--json"),
        ("plan",),
        ("report", "--out", str(pipeline.folder / "report.html")),
        ("doctor",),
        ("sync", "--objects", "users"),
    ):
        pipeline.ctsync(*args)
    found: list[str] = []
    for name, value in secrets.items():
        for i, text in enumerate(pipeline.outputs):
            if value in text:
                found.append(f"{name} in command output #{i}")
    # every file the runs wrote: dbt target and logs, dlt state, report, warehouse, lock, state
    files = [path for path in pipeline.folder.rglob("*") if path.is_file()]
    assert any(path.suffix == ".html" for path in files)
    assert any("dbt" in path.parts or "dbt" in path.name for path in files)
    for path in files:
        data = path.read_bytes()
        for name, value in secrets.items():
            if value.encode() in data:
                found.append(f"{name} in {path.relative_to(pipeline.folder)}")
    # every row of every table, whatever the schema, read as text
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        assert len(tables) > 30
        for schema, table in tables:
            for name, value in secrets.items():
                [(hits,)] = con.execute(
                    f'select count(*) from "{schema}"."{table}" as row_ '
                    "where contains(cast(row_ as varchar), ?)",
                    [value],
                ).fetchall()
                if hits:
                    found.append(f"{name} in {schema}.{table} ({hits} rows)")
    assert found == []
