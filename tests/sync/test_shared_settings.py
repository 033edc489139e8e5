"""One reader per setting: what dbt and the sync both need is read once (sync.iterable.* in
dlt config) and passed to dbt as vars; dbt's own defaults equal the sync's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ctsync.app.transform import BuildConfigError, build_vars
from ctsync.core.config import (
    AUDIT_SCHEMA_VAR,
    DEFAULT_AUDIT_SCHEMA,
    INLINE_KEYS,
    ConfigError,
    IterableSettings,
    audit_schema,
    dbt_vars,
)

PROJECT = Path(__file__).resolve().parents[2]


def dbt_defaults() -> dict[str, object]:
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]


def reload_dlt_providers() -> None:
    """dlt reads `.dlt/` of the working directory once per process; read it again."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


@pytest.fixture(autouse=True)
def _fresh_providers() -> Iterator[None]:
    yield
    reload_dlt_providers()


def test_dbt_var_defaults_equal_the_sync_defaults() -> None:
    defaults = dbt_defaults()
    sync_side = dbt_vars(IterableSettings())
    assert set(sync_side) <= set(defaults), "a shared setting has no dbt default"
    assert {name: defaults[name] for name in sync_side} == sync_side
    assert defaults[AUDIT_SCHEMA_VAR] == DEFAULT_AUDIT_SCHEMA
    assert defaults["ctsync_inline_changed_keys"] == INLINE_KEYS


def test_build_passes_the_configured_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dlt_dir = tmp_path / ".dlt"
    dlt_dir.mkdir()
    (dlt_dir / "config.toml").write_text(
        '[sync.iterable]\nproject_type = "email"\nuser_deletion_method = "forget"\n'
        'user_id_field = "external_id"\ncatalog_name = "shop"\nbase_currency = "gbp"\n'
        "event_backfill_days = 30\n"
    )
    for name in ("SYNC__ITERABLE__PROJECT_TYPE", "SYNC__ITERABLE__USER_DELETION_METHOD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reload_dlt_providers()
    passed = build_vars()
    assert passed["iterable_project_type"] == "email"
    assert passed["user_deletion_method"] == "forget"
    assert passed["iterable_user_id_field"] == "external_id"
    assert "iterable_catalog_name" not in passed  # the catalog is the sync's alone
    assert passed["base_currency"] == "GBP"
    assert passed["event_backfill_days"] == 30
    assert passed[AUDIT_SCHEMA_VAR] == DEFAULT_AUDIT_SCHEMA
    # the environment wins over the file, as everywhere in dlt
    monkeypatch.setenv("SYNC__ITERABLE__USER_DELETION_METHOD", "delete")
    assert build_vars()["user_deletion_method"] == "delete"


def test_a_shared_var_cannot_be_overridden_on_the_dbt_side_alone() -> None:
    settings = IterableSettings()
    with pytest.raises(BuildConfigError, match="sync.iterable.user_deletion_method"):
        build_vars({"user_deletion_method": "forget"}, settings)
    assert build_vars({"abandoned_cart_idle_hours": 2}, settings)["abandoned_cart_idle_hours"] == 2


def test_the_audit_schema_is_one_setting_for_dbt_and_the_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CTSYNC_AUDIT_SCHEMA", "ops_audit")
    assert audit_schema() == "ops_audit"
    assert build_vars(settings=IterableSettings())[AUDIT_SCHEMA_VAR] == "ops_audit"
    with pytest.raises(BuildConfigError, match="CTSYNC_AUDIT_SCHEMA"):
        build_vars({AUDIT_SCHEMA_VAR: "elsewhere"}, IterableSettings())
    # it goes into SQL as an identifier
    monkeypatch.setenv("CTSYNC_AUDIT_SCHEMA", "audit; drop table x")
    with pytest.raises(ConfigError, match="CTSYNC_AUDIT_SCHEMA"):
        audit_schema()
