"""`ctsync build`: configuration errors exit 2 before dbt runs; a build on a warehouse without
raw data still succeeds (staging tolerates missing tables); a failing node exits 1 by name."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ctsync.app.cli import app

pytestmark = pytest.mark.slow

runner = CliRunner()


def test_unknown_iterable_project_type_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["build"],
        env={
            "CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb"),
            "SYNC__ITERABLE__PROJECT_TYPE": "emial",
        },
    )
    assert result.exit_code == 2
    assert "'emial'" in result.output and "email, userId, hybrid" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_vars_must_be_a_json_object(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["build", "--vars", "base_currency: USD"],
        env={"CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb")},
    )
    assert result.exit_code == 2
    assert "--vars" in result.output


def test_staging_builds_on_an_empty_warehouse_and_a_bad_var_fails_by_name(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    env = {"CTSYNC_WAREHOUSE": str(warehouse), "SYNC__ITERABLE__PROJECT_TYPE": ""}
    ok = runner.invoke(
        app,
        ["build", "--select", "staging"],
        env=env,
    )
    assert ok.exit_code == 0, ok.output
    assert "build ok" in ok.output and "model" in ok.output
    with duckdb.connect(str(warehouse)) as con:
        # no raw table yet: empty views with the full column list, ready for the first ingest
        assert con.execute("select count(*) from staging.stg_commercetools__orders").fetchall() == [
            (0,)
        ]
        columns = [
            r[0] for r in con.execute("describe staging.stg_commercetools__customers").fetchall()
        ]
    assert {"customer_id", "email_normalized", "email_opt_in_at", "loyalty_tier_custom"} <= set(
        columns
    )

    failed = runner.invoke(
        app,
        [
            "build",
            "--select",
            "int_carts__enriched",
            "--exclude",
            "resource_type:unit_test",
            "--vars",
            '{"abandoned_cart_idle_hours": "soon"}',
        ],
        env=env,
    )
    assert failed.exit_code == 1
    assert "int_carts__enriched" in failed.output

    # shared settings are sync settings: --vars cannot make dbt disagree with the sync
    refused = runner.invoke(
        app,
        ["build", "--select", "staging", "--vars", '{"iterable_project_type": "email"}'],
        env=env,
    )
    assert refused.exit_code == 2
    assert "sync.iterable.project_type" in refused.output
