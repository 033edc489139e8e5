"""dbt parses the project once and reuses the parse, but never a stale one.

Each test works on its own copy of the dbt project (the checkout's files are shared by every
test worker), builds one small model in-process and reads what DuckDB holds afterwards: a
reused parse that missed an edited model file or a changed var would leave the old view.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ctsync.app import transform
from ctsync.app.transform import forget_parsed_manifests, run_dbt_build
from ctsync.core.paths import DBT_PROJECT_DIR

pytestmark = pytest.mark.slow

MODEL = "stg_commercetools__stores"
MODEL_FILE = Path("models/staging/commercetools") / f"{MODEL}.sql"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "project"
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        shutil.copytree(DBT_PROJECT_DIR / folder, copy / folder)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(DBT_PROJECT_DIR / name, copy / name)
    monkeypatch.setattr(transform, "DBT_PROJECT_DIR", copy)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    forget_parsed_manifests()
    yield copy
    forget_parsed_manifests()


def _build(warehouse: Path, **vars: str) -> None:
    result = run_dbt_build(warehouse=warehouse, select=[MODEL], command="run", vars=vars)
    assert result.success, result.error or result.problems
    assert result.nodes[MODEL].outcome == "ok"


def _view_sql(warehouse: Path) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute("select sql from duckdb_views() where view_name = ?", [MODEL]).fetchone()
    assert row is not None, f"{MODEL} was not built"
    return str(row[0])


def _dbt_log(warehouse: Path) -> str:
    return (warehouse.parent / ".ctsync" / "dbt" / "logs" / "dbt.log").read_text()


def test_an_edited_model_file_is_built_in_the_same_process(project: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "one" / "warehouse.duckdb"
    _build(warehouse)
    assert "ctsync_parse_probe" not in _view_sql(warehouse)

    model = project / MODEL_FILE
    text = model.read_text()
    assert "select * from renamed" in text
    model.write_text(
        text.replace("select * from renamed", "select *, 42 as ctsync_parse_probe from renamed")
    )
    _build(warehouse)

    assert "ctsync_parse_probe" in _view_sql(warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [row[0] for row in con.execute(f"describe staging.{MODEL}").fetchall()]
    assert "ctsync_parse_probe" in columns


def test_a_changed_var_is_used_in_the_same_process(project: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "one" / "warehouse.duckdb"
    _build(warehouse, default_locale="en")
    assert "'en'" in _view_sql(warehouse) and "'pt-BR'" not in _view_sql(warehouse)
    _build(warehouse, default_locale="pt-BR")
    assert "'pt-BR'" in _view_sql(warehouse)


def test_a_new_warehouse_starts_from_the_shared_parse(project: Path, tmp_path: Path) -> None:
    first = tmp_path / "one" / "warehouse.duckdb"
    _build(first)
    assert "Starting full parse" in _dbt_log(first)
    shared = list((tmp_path / "cache" / "ctsync" / "dbt-parse").glob("*.msgpack"))
    assert len(shared) == 1

    # a new process would not have the parsed manifest: only the shared file helps
    forget_parsed_manifests()
    second = tmp_path / "two" / "warehouse.duckdb"
    _build(second)
    log = _dbt_log(second)
    assert "Unable to do partial parsing" not in log, log
    assert "Starting full parse" not in log

    # an edit made since is still seen by dbt's partial parse of the shared file
    forget_parsed_manifests()
    model = project / MODEL_FILE
    model.write_text(
        model.read_text().replace(
            "select * from renamed", "select *, 7 as ctsync_parse_probe from renamed"
        )
    )
    third = tmp_path / "three" / "warehouse.duckdb"
    _build(third)
    assert "ctsync_parse_probe" in _view_sql(third)
