"""The audit schema is one setting (`CTSYNC_AUDIT_SCHEMA`): a whole `ctsync run` on the
sandboxes writes the audit tables there (the job runner, dbt's `on-run-start` and the
sync alike), the audit views read them there, and `ctsync status` finds them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ctsync.core.names import OK_STATUSES
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import ctsync, job_env, tail

SCHEMA = "ops_audit"

pytestmark = pytest.mark.slow


def test_a_run_writes_and_status_reads_a_configured_audit_schema(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> None:
    commercetools_sandbox.reset()
    iterable_emulator.reset(project_type="hybrid")
    warehouse = tmp_path / "warehouse.duckdb"
    env = job_env(commercetools_sandbox, iterable_emulator, warehouse, CTSYNC_AUDIT_SCHEMA=SCHEMA)
    commercetools_sandbox.seed(customers=8, seed=11)

    run = ctsync(tmp_path, env, "run", "--no-progress")
    assert run.returncode == 0, tail(run)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert SCHEMA in schemas
        assert "ctsync" not in schemas, "something still writes the default audit schema"
        [(run_id, status, stages)] = con.execute(
            f"select r.run_id, r.status, (select count(*) from {SCHEMA}.sync_run_stages as s "
            f"where s.run_id = r.run_id) from {SCHEMA}.sync_runs as r"
        ).fetchall()
        assert status in OK_STATUSES and stages == 3
        acknowledged = con.execute(
            f"select count(*) from {SCHEMA}.sync_ledger where object = 'users' "
            "and operation <> 'delete'"
        ).fetchone()
        assert acknowledged and acknowledged[0] > 0
        # the dbt audit views read the same schema
        health = con.execute("select count(*) from audit.audit__run_health").fetchone()
        assert health and health[0] >= 1

    shown = ctsync(tmp_path, env, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert [r["run_id"] for r in document["runs"]] == [run_id]
    users = next(f for f in document["freshness"] if f["object"] == "users")
    assert users["acknowledged_records"] == acknowledged[0]
