"""An incremental run builds only what the ingest changed, and delivers what a full build would.

Real parts throughout: the commercetools sandbox over HTTP, dlt, dbt in-process on DuckDB, the
Iterable emulator. The first run builds everything; after one customer changes, the next run
builds the customer's models (the per-customer ones for that customer only) but no order or
product model; a full build of a copy of the
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

from ctsync.app.jobs import selection
from ctsync.app.jobs.runner import JobOptions, JobReport, run_job
from ctsync.app.transform import run_dbt_build
from ctsync.core.names import OBJECTS
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.environment import sandbox_environment
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import BACK_TO_BACK_RATE_SCALE

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
    "iterable__catalog_items",
)
# Per-customer models that rebuild only the changed customers' rows: a customer change runs
# them (for that customer), an order change too (for its customer).
PER_CUSTOMER_MODELS = ("int_customers__order_facts", "dim_customers", "iterable__users")

pytestmark = pytest.mark.slow


RENAME = {"action": "setFirstName", "firstName": "Incrementa"}


@dataclass
class Shop:
    warehouse: Path
    first: JobReport
    """The full run that built the warehouse."""


def _run(warehouse: Path) -> JobReport:
    report = run_job(JobOptions(trigger="schedule"), warehouse=warehouse, progress=False)
    assert report.status in OK, [
        (stage.name, stage.status, stage.detail) for stage in report.stages
    ]
    return report


def _query(shop: Shop, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory,
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
) -> Iterator[Shop]:
    """A 20-customer shop, run once in full, in this process (so dbt's parse is reused)."""
    commercetools_sandbox.reset()
    # the session's emulator keeps the project type an earlier module left: this module's
    # queries read users by customer id, as a hybrid project keys them; runs follow each other
    # within seconds (BACK_TO_BACK_RATE_SCALE)
    iterable_emulator.reset(project_type="hybrid", rate_scale=BACK_TO_BACK_RATE_SCALE)
    commercetools_sandbox.seed(customers=20, seed=5)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(
        sandbox_environment(
            commercetools_sandbox,
            iterable_emulator,
            SYNC__ITERABLE__RATE_SCALE=str(BACK_TO_BACK_RATE_SCALE),
        )
    )
    warehouse = tmp_path_factory.mktemp("incremental") / "warehouse.duckdb"
    try:
        yield Shop(warehouse, _run(warehouse))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        commercetools_sandbox.reset()
        iterable_emulator.reset(project_type="hybrid")  # Iterable's own rates again


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
    shop: Shop,
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> None:
    assert "first build" in shop.first.stage("dbt").detail
    first_built = _built(shop.first)
    # the model whose clock-relative abandonment the selection watches exists
    assert selection._CLOCK_MODEL in _built(shop.first, "model")
    assert set(ORDER_AND_PRODUCT_MODELS) <= first_built

    # one customer Iterable already holds renames themselves in commercetools, twice: the
    # first rename's message type and the first read-back of what the sync delivered are new
    # raw columns (a new column re-creates the views); the second changes rows only
    [(customer_id,)] = _query(
        shop,
        "select record_key from ctsync.sync_ledger where object = 'users' "
        "and record_key in (select customer_id from marts.dim_customers) "
        "order by record_key limit 1",
    )
    path = f"/customers/{customer_id}"
    for action in ({**RENAME, "firstName": "Incrementum"}, RENAME):
        with commercetools_sandbox.client() as api:
            version = api.get(path).json()["version"]
            answer = api.post(path, json={"version": version, "actions": [action]})
        assert answer.status_code == 200, answer.text
        if action is not RENAME:
            settled = _run(shop.warehouse)
            # Iterable's export budget (4 a minute) may defer a read-back to the next run,
            # whose first sight of the delivered profiles' columns would re-create the
            # views: run until no read-back is deferred, so that the next run changes rows only
            for _ in range(12):
                if "read-back deferred" not in settled.stage("ingest").detail:
                    break
                settled = _run(shop.warehouse)
            assert "read-back deferred" not in settled.stage("ingest").detail

    report = _run(shop.warehouse)
    dbt = report.stage("dbt")
    assert "only what changed" in dbt.detail and "customers" in dbt.detail, dbt.detail
    built = _built(report)
    assert {*PER_CUSTOMER_MODELS, "iterable__users_changes"} <= built
    # staging views read the raw rows live: a new row needs no new view
    assert "stg_commercetools__customers" not in built, dbt.detail
    assert not built & set(ORDER_AND_PRODUCT_MODELS), sorted(built & set(ORDER_AND_PRODUCT_MODELS))
    models, first_models = _built(report, "model"), _built(shop.first, "model")
    assert len(models) < len(first_models), (len(models), len(first_models))
    user = iterable_emulator.user(user_id=customer_id)
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
                assert full_con.execute(rows).fetchall() == _query(shop, rows), relation


def test_a_run_with_nothing_new_builds_almost_nothing(shop: Shop) -> None:
    # the run after one that delivered rebuilds what reads the sync's tables, at most
    _run(shop.warehouse)
    quiet = _run(shop.warehouse)
    dbt = quiet.stage("dbt")
    assert "no changes" in quiet.stage("ingest").detail
    # Iterable's read-back re-reads recently updated users every run (a new loaded_at, which
    # consent decisions read): their consent models may rebuild, and the lists of what
    # changed that every selective build recomputes; nothing else
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
        "int_changes__records",
        "int_changes__customers",
        "int_changes__orders",
        "int_consent__changed_people",
        "int_iterable__changed_customers",
        "int_iterable__changed_purchases",
        "int_iterable__changed_sources",
    }, sorted(models)
    [(kind, succeeded)] = _query(
        shop, f"select kind, succeeded from ctsync.sync_dbt_builds where run_id = '{quiet.run_id}'"
    )
    assert kind in ("none", "selective") and succeeded


def test_a_job_that_compacts_the_warehouse_leaves_one_the_next_run_builds_incrementally(
    shop: Shop,
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real pipeline in one process (dlt, dbt, the sync) holds no connection to the file
    when the job compacts it: the compaction succeeds, and the next run reads the new file,
    builds only what changed and delivers."""
    monkeypatch.setenv("WAREHOUSE__COMPACT_FREE_SHARE", "0")  # every run compacts
    monkeypatch.setenv("WAREHOUSE__COMPACT_MIN_FREE_MB", "0")
    [(customer_id,)] = _query(
        shop,
        "select record_key from ctsync.sync_ledger where object = 'users' "
        "and record_key in (select customer_id from marts.dim_customers) "
        "order by record_key desc limit 1",
    )
    path = f"/customers/{customer_id}"
    for name in ("Compacta", "Compactissima"):
        with commercetools_sandbox.client() as api:
            version = api.get(path).json()["version"]
            answer = api.post(
                path,
                json={
                    "version": version,
                    "actions": [{"action": "setFirstName", "firstName": name}],
                },
            )
        assert answer.status_code == 200, answer.text
        report = _run(shop.warehouse)
        compacted = report.stage("compact")
        assert compacted.status == "succeeded", compacted.detail
        assert "MB ->" in compacted.detail
        assert "only what changed" in report.stage("dbt").detail, report.stage("dbt").detail
        user = iterable_emulator.user(user_id=customer_id)
        assert user is not None and user["dataFields"].get("firstName") == name, user
    [(status,)] = _query(
        shop,
        f"select status from ctsync.sync_run_stages where run_id = '{report.run_id}' "
        "and stage = 'compact'",
    )
    assert status == "succeeded"
