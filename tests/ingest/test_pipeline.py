"""run_ingest() end to end over the in-memory API: dlt, incremental state, DuckDB, summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dlt
import duckdb
import pytest

from ctsync.ingest.commercetools.client import CommercetoolsConfigError
from ctsync.ingest.commercetools.source import CommercetoolsSettings, load_settings
from ctsync.ingest.pipeline import IngestError, make_pipeline, parse_resources, run_ingest

pytestmark = pytest.mark.slow


def _customer(i: int, modified: str) -> dict:
    return {
        "id": f"c-{i:05d}",
        "email": f"c{i}@example.com",
        "password": "SECRET-HASH",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "lastModifiedAt": modified,
        "addresses": [{"id": "a", "country": "DE"}],
    }


@pytest.fixture
def settings(fake_ct) -> CommercetoolsSettings:
    return CommercetoolsSettings(
        project_key=fake_ct.project_key,
        client_id=fake_ct.client_id,
        client_secret=fake_ct.client_secret,
        api_url="http://ct.test",
        auth_url="http://auth.ct.test",
        lookback_seconds=0,
    )


def _ingest(tmp_path: Path, settings, client, **kwargs):
    return run_ingest(warehouse=tmp_path / "wh.duckdb", settings=settings, client=client, **kwargs)


def _ids(tmp_path: Path, table: str = "customers") -> list[str]:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        rows = con.execute(f"select id from raw_commercetools.{table} order by 1").fetchall()
    return [r[0] for r in rows]


def test_incremental_fetches_only_changed_rows_and_merges(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [
        _customer(i, f"2024-02-{1 + i % 20:02d}T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z")
        for i in range(1200)
    ]
    pages: list[tuple[str, int]] = []
    first = _ingest(
        tmp_path, settings, make_client(), resources=["customers"],
        progress=lambda name, rows: pages.append((name, rows)),
    )  # fmt: skip
    assert first.resource("customers").new == 1200 and first.resource("customers").total == 1200
    assert pages == [("customers", 500), ("customers", 500), ("customers", 200)]

    for i in (3, 77, 1100):
        fake_ct.data["customers"][i]["lastModifiedAt"] = "2024-03-05T00:00:00.000Z"
        fake_ct.data["customers"][i]["email"] = f"changed{i}@example.com"
    fake_ct.data["customers"].append(_customer(5000, "2024-03-06T00:00:00.000Z"))
    fake_ct.requests.clear()
    second = _ingest(tmp_path, settings, make_client(), resources=["customers"])

    summary = second.resource("customers")
    # 4 changed rows + the one row at the previous cursor, which ">=" re-reads on purpose;
    # dlt's incremental recognises it as already loaded and does not write it again.
    assert (summary.fetched, summary.new, summary.updated, summary.total) == (5, 1, 3, 1201)
    assert len(fake_ct.api_requests) == 1
    since = dict(fake_ct.api_requests[0].url.params.multi_items())["var.since"]
    assert since == "2024-02-20T00:19:59.000Z"  # the previous max lastModifiedAt
    ids = _ids(tmp_path)
    assert len(ids) == len(set(ids)) == 1201
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        email = con.execute(
            "select email from raw_commercetools.customers where id = 'c-00077'"
        ).fetchone()
        assert email == ("changed77@example.com",)
        children = con.execute(
            "select count(*) from raw_commercetools.customers__addresses"
        ).fetchone()
        assert children == (1201,)


def test_staging_dataset_is_emptied_after_each_load(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [_customer(i, "2024-02-01T00:00:00.000Z") for i in range(30)]
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    fake_ct.data["customers"][0]["lastModifiedAt"] = "2024-03-01T00:00:00.000Z"
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        staged = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw_commercetools_staging' and table_type = 'BASE TABLE'"
        ).fetchall()
        # the merge went through the staging tables, and they were emptied afterwards
        assert "customers" in {t for (t,) in staged}
        for (name,) in staged:
            if name.startswith("_dlt"):
                continue
            row = con.execute(f"select count(*) from raw_commercetools_staging.{name}").fetchone()
            assert row == (0,), name
        assert con.execute("select count(*) from raw_commercetools.customers").fetchone() == (30,)


def test_a_warehouse_loaded_row_by_row_is_reloaded_in_full_once(
    tmp_path, fake_ct, make_client, settings
) -> None:
    # What the ingest before the Arrow path left: dlt-nested child tables, random root ids.
    warehouse = tmp_path / "wh.duckdb"
    old = dlt.resource(
        [_customer(1, "2024-02-01T00:00:00.000Z"), _customer(2, "2024-02-01T00:00:00.000Z")],
        name="customers",
        primary_key="id",
        write_disposition="merge",
    )
    source = dlt.source(lambda: [old], name="commercetools")()
    make_pipeline(warehouse).run(source, loader_file_format="jsonl").raise_on_failed_jobs()
    fake_ct.data["customers"] = [_customer(1, "2024-02-01T00:00:00.000Z")]

    first = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert first.full_refresh
    assert _ids(tmp_path) == ["c-00001"]  # reloaded: customer 2 is gone upstream
    with duckdb.connect(str(warehouse)) as con:
        linked = con.execute(
            "select count(*) from raw_commercetools.customers__addresses a "
            "join raw_commercetools.customers c on a._dlt_root_id = c._dlt_id"
        ).fetchone()
        total = con.execute("select count(*) from raw_commercetools.customers__addresses")
        assert linked == (1,) and total.fetchone() == (1,)
    fake_ct.data["customers"][0]["lastModifiedAt"] = "2024-03-01T00:00:00.000Z"
    fake_ct.data["customers"][0]["email"] = "again@example.com"
    second = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert not second.full_refresh
    assert second.resource("customers").updated == 1
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute("select id, email from raw_commercetools.customers").fetchall()
        assert rows == [("c-00001", "again@example.com")]  # merged after the full reload
        total = con.execute("select count(*) from raw_commercetools.customers__addresses")
        assert total.fetchone() == (1,)


def test_lookback_rereads_rows_that_became_visible_late(
    tmp_path, fake_ct, make_client, settings
) -> None:
    settings.lookback_seconds = 300
    fake_ct.data["customers"] = [_customer(1, "2024-05-01T12:00:00.000Z")]
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    # Committed 100 s before the cursor but only visible now (eventual consistency).
    fake_ct.data["customers"].append(_customer(2, "2024-05-01T11:58:20.000Z"))
    fake_ct.data["customers"].append(_customer(3, "2024-05-01T11:50:00.000Z"))
    second = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    since = dict(fake_ct.api_requests[-1].url.params.multi_items())["var.since"]
    assert since == "2024-05-01T11:55:00.000Z"
    assert second.resource("customers").new == 1
    assert _ids(tmp_path) == ["c-00001", "c-00002"]


def test_rows_changed_after_the_run_started_wait_for_the_next_run(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [
        _customer(1, "2024-05-01T12:00:00.000Z"),
        _customer(2, "2999-01-01T00:00:00.000Z"),  # "changed during the run"
    ]
    first = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert first.resource("customers").fetched == 1
    params = fake_ct.api_requests[-1].url.params
    assert "lastModifiedAt < :until" in params.get_list("where")
    # The cursor stayed at the last row inside the window, so nothing is skipped later.
    fake_ct.data["customers"].append(_customer(3, "2024-05-01T12:30:00.000Z"))
    second = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert since_of(fake_ct) == "2024-05-01T12:00:00.000Z"
    assert second.resource("customers").new == 1
    assert _ids(tmp_path) == ["c-00001", "c-00003"]


def test_start_date_bounds_the_first_load(tmp_path, fake_ct, make_client, settings) -> None:
    settings.start_date = "2024-02-01T00:00:00.000Z"
    fake_ct.data["customers"] = [
        _customer(1, "2024-01-15T00:00:00.000Z"),
        _customer(2, "2024-02-15T00:00:00.000Z"),
    ]
    summary = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert summary.resource("customers").fetched == 1
    assert _ids(tmp_path) == ["c-00002"]


def test_deletion_messages_remove_rows_and_children(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [_customer(i, "2024-02-01T00:00:00.000Z") for i in range(4)]
    fake_ct.data["messages"] = []
    _ingest(tmp_path, settings, make_client(), resources=["customers", "messages"])
    del fake_ct.data["customers"][2]
    fake_ct.data["messages"].append(
        {
            "id": "msg-1",
            "version": 1,
            "sequenceNumber": 9,
            "type": "CustomerDeleted",
            "resource": {"typeId": "customer", "id": "c-00002"},
            "resourceVersion": 9,
            "createdAt": "2024-02-02T00:00:00.000Z",
            "lastModifiedAt": "2024-02-02T00:00:00.000Z",
        }
    )
    summary = _ingest(tmp_path, settings, make_client(), resources=["customers", "messages"])
    assert summary.resource("customers").removed == 1
    assert summary.resource("messages").new == 1
    assert _ids(tmp_path) == ["c-00000", "c-00001", "c-00003"]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        orphans = con.execute(
            "select count(*) from raw_commercetools.customers__addresses a where not exists "
            "(select 1 from raw_commercetools.customers c where c._dlt_id = a._dlt_root_id)"
        ).fetchone()
        assert orphans == (0,)
        assert con.execute(
            "select count(*) from information_schema.schemata "
            "where schema_name = 'ctsync_ingest_snapshot'"
        ).fetchone() == (0,)


def test_full_refresh_reloads_everything_and_drops_vanished_rows(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [_customer(i, "2024-02-01T00:00:00.000Z") for i in range(5)]
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    fake_ct.data["customers"] = fake_ct.data["customers"][1:]
    incremental = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    assert incremental.resource("customers").total == 5  # a delete is invisible to polling
    full = _ingest(tmp_path, settings, make_client(), resources=["customers"], full_refresh=True)
    summary = full.resource("customers")
    assert (summary.fetched, summary.new, summary.updated, summary.removed) == (4, 0, 4, 1)
    assert since_of(fake_ct) == "1970-01-01T00:00:00.000Z"
    assert _ids(tmp_path) == ["c-00001", "c-00002", "c-00003", "c-00004"]


def test_a_reconciliation_counts_the_rows_it_removed(
    tmp_path, fake_ct, make_client, settings
) -> None:
    """An incremental load with `reconcile`: the ids commercetools no longer lists are
    removed before the load, and counted as removed (the snapshot that counts them is taken
    before the reconciliation, and not replaced by the load's own)."""
    fake_ct.data["customers"] = [_customer(i, "2024-02-01T00:00:00.000Z") for i in range(4)]
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    del fake_ct.data["customers"][1]  # deleted, and no message says so
    fake_ct.data["customers"][0] = _customer(0, "2024-02-03T00:00:00.000Z")
    fake_ct.data["customers"][0]["version"] = 2
    summary = _ingest(
        tmp_path, settings, make_client(), resources=["customers"], reconcile=True
    ).resource("customers")
    assert (summary.updated, summary.removed, summary.total) == (1, 1, 3)
    assert _ids(tmp_path) == ["c-00000", "c-00002", "c-00003"]


def test_full_refresh_of_a_new_warehouse_loads_everything(
    tmp_path, fake_ct, make_client, settings
) -> None:
    """The first run may be a full refresh (bench/ingest.py's is): there is nothing to
    reconcile yet, and ``raw_commercetools`` does not exist before the load creates it."""
    fake_ct.data["customers"] = [_customer(i, "2024-02-01T00:00:00.000Z") for i in range(3)]
    full = _ingest(tmp_path, settings, make_client(), resources=["customers"], full_refresh=True)
    summary = full.resource("customers")
    assert (summary.fetched, summary.new, summary.removed, summary.total) == (3, 3, 0, 3)
    assert _ids(tmp_path) == ["c-00000", "c-00001", "c-00002"]


def since_of(fake_ct) -> str:
    return dict(fake_ct.api_requests[-1].url.params.multi_items())["var.since"]


def test_api_failure_is_an_ingest_error_without_the_secret(
    tmp_path, fake_ct, make_client, settings
) -> None:
    fake_ct.data["customers"] = [_customer(1, "2024-02-01T00:00:00.000Z")]
    client = make_client(secret="not-the-right-one-" + fake_ct.client_secret)
    with pytest.raises(IngestError) as excinfo:
        _ingest(tmp_path, settings, client, resources=["customers"])
    message = str(excinfo.value)
    assert "refused the client credentials" in message and fake_ct.client_id in message
    assert fake_ct.client_secret not in message
    # The dlt exception chain (which would be printed with the traceback) is suppressed.
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


def test_parse_resources_validates_names() -> None:
    assert parse_resources("customers, customer-groups,customers") == [
        "customers",
        "customer_groups",
    ]
    assert parse_resources(None) is None and parse_resources(" , ") is None
    with pytest.raises(ValueError, match="unknown resource.*payments"):
        parse_resources("customers,payments")


def test_settings_come_from_the_documented_environment(monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__PROJECT_KEY", "shop")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__REGION", "us-central1.gcp")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__CLIENT_ID", "cid")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__CLIENT_SECRET", "s3cr3t")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__SCOPES", "view_customers:shop,view_orders:shop")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__START_DATE", "2024-01-31")
    monkeypatch.setenv("SOURCES__COMMERCETOOLS__LOOKBACK_SECONDS", "60")
    settings = load_settings()
    assert settings.endpoints.api_url == "https://api.us-central1.gcp.commercetools.com"
    assert settings.scopes == ("view_customers:shop", "view_orders:shop")
    assert settings.start_date == "2024-01-31T00:00:00.000Z"
    assert settings.lookback_seconds == 60.0
    assert "s3cr3t" not in repr(settings)
    monkeypatch.delenv("SOURCES__COMMERCETOOLS__CLIENT_SECRET")
    with pytest.raises(Exception, match="SOURCES__COMMERCETOOLS__CLIENT_SECRET"):
        load_settings()


def test_a_warehouse_locked_by_another_process_is_a_clear_error(
    tmp_path, fake_ct, make_client, settings
) -> None:
    warehouse = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(IngestError, match="cannot write the warehouse .*another ctsync"):
            _ingest(tmp_path, settings, make_client(), resources=["customers"])
    finally:
        holder.kill()
        holder.wait()
    assert fake_ct.api_requests == []  # failed before asking commercetools for anything


def test_bad_settings_are_refused_with_the_setting_named(monkeypatch) -> None:
    base = {
        "project_key": "shop",
        "client_id": "cid",
        "client_secret": "s3cr3t",
        "api_url": "https://api",
        "auth_url": "https://auth",
    }
    with pytest.raises(CommercetoolsConfigError, match="start_date 'last tuesday'"):
        load_settings(**base, start_date="last tuesday")
    with pytest.raises(CommercetoolsConfigError, match="page_size must be between 1 and 500"):
        load_settings(**base, page_size=1000)
    with pytest.raises(CommercetoolsConfigError, match="lookback_seconds must be a number"):
        load_settings(**base, lookback_seconds="five minutes")
    with pytest.raises(CommercetoolsConfigError, match="REGION"):
        load_settings(**{**base, "api_url": None, "auth_url": None})
    assert (
        load_settings(**base, start_date="2024-03-01T10:00:00+02:00").start_date
        == "2024-03-01T08:00:00.000Z"
    )


def test_rows_reread_with_the_same_version_count_as_unchanged(
    tmp_path, fake_ct, make_client, settings
) -> None:
    settings.lookback_seconds = 3600
    fake_ct.data["customers"] = [
        {**_customer(i, f"2024-05-01T12:0{i}:00.000Z"), "version": 1} for i in range(4)
    ]
    _ingest(tmp_path, settings, make_client(), resources=["customers"])
    fake_ct.data["customers"][1].update(version=2, email="new@example.com")
    fake_ct.data["customers"][1]["lastModifiedAt"] = "2024-05-01T12:10:00.000Z"
    second = _ingest(tmp_path, settings, make_client(), resources=["customers"])
    summary = second.resource("customers")
    # all four are inside the hour of look-back; only one really changed
    assert summary.fetched == 4
    assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 3)
    # and only that one carries the new load's id: a re-read is no change for the models
    # that rebuild what a later load wrote
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        loads = dict(
            con.execute("select id, _dlt_load_id from raw_commercetools.customers").fetchall()
        )
    changed_id = fake_ct.data["customers"][1]["id"]
    assert [key for key, load in loads.items() if load in second.load_ids] == [changed_id]
