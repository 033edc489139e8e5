"""An incremental run builds only what the ingest changed, and delivers what a full build would.

Real parts throughout: the commercetools sandbox over HTTP, dlt, dbt in-process on DuckDB, the
Iterable emulator. The first run builds everything; after one customer changes, the next run
builds the customer's models but no order or product model; a full build of a copy of the
warehouse afterwards wants nothing that the incremental run did not already deliver.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ctsync.app.jobs.runner import JobOptions, JobReport, run_job
from ctsync.app.transform import run_dbt_build
from ctsync.core.names import OBJECTS
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seeder import seed
from ctsync.sandbox.iterable.emulator import IterableEmulator

CONFIG_PREFIXES = ("SOURCES__COMMERCETOOLS__", "SYNC__ITERABLE__", "SYNC__RECEIVER__", "CTSYNC_")
OK = ("succeeded", "succeeded_with_rejections")
ORDER_AND_PRODUCT_MODELS = (
    "stg_commercetools__orders",
    "stg_commercetools__order_line_items",
    "stg_commercetools__products",
    "stg_commercetools__product_variants",
    "fct_orders",
    "fct_order_lines",
    "fct_returns",
    "dim_products",
    "int_customers__order_facts",
    "iterable__catalog_items",
)

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    ct: CommercetoolsSandbox
    emulator: IterableEmulator
    warehouse: Path
    first: JobReport

    def run(self) -> JobReport:
        report = run_job(JobOptions(trigger="schedule"), warehouse=self.warehouse, progress=False)
        assert report.status in OK, [(s.name, s.status, s.detail) for s in report.stages]
        return report

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def shop(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shop]:
    ct = commercetools_sandbox
    ct.reset()
    iterable_emulator.reset(project_type="hybrid")
    seed(
        ct.api_url, ct.auth_url, ct.project_key, ct.client_id, ct.client_secret,
        customers=20, seed=5,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("incremental")
    saved = {k: v for k, v in os.environ.items() if k.startswith(CONFIG_PREFIXES)}
    for name in saved:
        del os.environ[name]
    os.environ.update({**ct.env(), **iterable_emulator.env()})
    try:
        warehouse = folder / "warehouse.duckdb"
        first = run_job(JobOptions(trigger="manual"), warehouse=warehouse, progress=False)
        assert first.status in OK, [(s.name, s.status, s.detail) for s in first.stages]
        yield Shop(ct, iterable_emulator, warehouse, first)
    finally:
        for name in [k for k in os.environ if k.startswith(CONFIG_PREFIXES)]:
            del os.environ[name]
        os.environ.update(saved)
        ct.reset()


def _built(report: JobReport, resource_type: str | None = None) -> set[str]:
    result = report.stage("dbt").result
    if result is None:
        return set()
    return {
        name
        for name, node in result.nodes.items()
        if node.outcome != "skipped" and resource_type in (None, node.resource_type)
    }


def test_a_customer_change_builds_only_its_models_and_delivers_what_a_full_build_would(
    shop: Shop, tmp_path: Path
) -> None:
    assert "first build" in shop.first.stage("dbt").detail
    first_built = _built(shop.first)
    assert set(ORDER_AND_PRODUCT_MODELS) <= first_built

    # one customer Iterable already holds renames themselves in commercetools
    [(customer_id,)] = shop.query(
        "select record_key from ctsync.sync_ledger where object = 'users' "
        "and record_key in (select customer_id from marts.dim_customers) "
        "order by record_key limit 1"
    )
    with shop.ct.client() as api:
        customer = api.get(f"/customers/{customer_id}").json()
        answer = api.post(
            f"/customers/{customer_id}",
            json={
                "version": customer["version"],
                "actions": [{"action": "setFirstName", "firstName": "Incrementa"}],
            },
        )
        assert answer.status_code == 200, answer.text

    report = shop.run()
    dbt = report.stage("dbt")
    assert "only what changed" in dbt.detail and "customers" in dbt.detail, dbt.detail
    built = _built(report)
    assert {"stg_commercetools__customers", "dim_customers", "iterable__users"} <= built
    assert not built & set(ORDER_AND_PRODUCT_MODELS), sorted(built & set(ORDER_AND_PRODUCT_MODELS))
    models, first_models = _built(report, "model"), _built(shop.first, "model")
    assert len(models) < len(first_models), (len(models), len(first_models))
    user = shop.emulator.user(user_id=customer_id)
    assert user is not None and user["dataFields"].get("firstName") == "Incrementa", user

    # a full build of the same data desires the same payloads, and wants sent exactly what the
    # incremental run left unsent (the records the sync rejected, e.g. malformed emails)
    copy = tmp_path / "full" / "warehouse.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(shop.warehouse, copy)
    full = run_dbt_build(warehouse=copy, exclude=["resource_type:unit_test"])
    assert full.success, full.problems
    with duckdb.connect(str(copy), read_only=True) as full_con:
        for obj in OBJECTS:
            for relation in (f"iterable.iterable__{obj}", f"iterable.iterable__{obj}_changes"):
                rows = f"select record_key, payload_hash from {relation} order by all"
                assert full_con.execute(rows).fetchall() == shop.query(rows), relation


def test_a_run_with_nothing_new_builds_almost_nothing(shop: Shop) -> None:
    # the run after one that delivered rebuilds what reads the sync's tables, at most
    shop.run()
    quiet = shop.run()
    dbt = quiet.stage("dbt")
    assert "no changes" in quiet.stage("ingest").detail
    # Iterable's read-back re-reads recently updated users every run (a new loaded_at, which
    # consent decisions read): their consent models may rebuild, nothing else
    assert dbt.detail.startswith("dbt not run: nothing changed") or dbt.detail.endswith(
        "only what changed (changed: iterable.users)"
    ), dbt.detail
    models = _built(quiet, "model")
    assert models <= {
        "stg_iterable__users",
        "int_consent__decisions",
        "iterable__subscriptions",
        "iterable__subscriptions_changes",
        "audit__consent_decisions",
        "audit__record_outcomes",
    }, sorted(models)
    [(kind, succeeded)] = shop.query(
        "select kind, succeeded from ctsync.sync_dbt_builds where run_id = ?", [quiet.run_id]
    )
    assert kind in ("none", "selective") and succeeded
