"""Fixtures for the sync tests: a real DuckDB warehouse with a small desired-state table per
object and, over it, the ``iterable.*_changes`` views dbt would build: the same models and
diff macro, rendered without dbt (``ctsync.sync.planner.changes_sql``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ctsync.core.names import OBJECTS
from ctsync.core.warehouse import connect
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.planner import changes_sql

from ._support import SCALE


class Warehouse:
    """A tmp DuckDB file shaped like the dbt output the sync reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with connect(path) as con:
            con.execute("create schema if not exists iterable")
            for obj in OBJECTS:
                con.execute(
                    f"create table if not exists iterable.iterable__{obj} (record_key varchar "
                    "primary key, payload varchar not null, payload_hash varchar not null, "
                    "source_updated_at timestamp, event_id varchar, "
                    # users: what the changes view compares to tell an email change
                    "email_hash varchar, customer_id varchar)"
                )
        self.use_project_type("hybrid")

    def use_project_type(self, project_type: str) -> None:
        """(Re)create the changes views as dbt builds them for an Iterable project type."""
        with connect(self.path) as con:
            for obj in OBJECTS:
                con.execute(
                    f"create or replace view iterable.iterable__{obj}_changes as "
                    + changes_sql(obj, project_type=project_type)
                )

    def set_desired(
        self,
        obj: str,
        records: dict[str, dict[str, Any]] | list[tuple[str, dict[str, Any]]],
        updated_at: datetime | None = None,
        *,
        identities: bool = False,
    ) -> None:
        """Replace the desired state of `obj` with `records` (key -> payload).

        Desired users carry no identity columns unless `identities`, so they are plain
        upserts and deletes in every project type; with it, each carries its customer id
        (the payload's dataFields.customerId) and email hash, as iterable__users has them,
        and the changes view tells email changes: moves (email projects) and updates
        (tests/sync/test_identity_moves.py)."""
        items = list(records.items()) if isinstance(records, dict) else list(records)
        rows = []
        for key, payload in items:
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            email = payload.get("email") if identities else None
            rows.append(
                (
                    key,
                    text,
                    hashlib.md5(text.encode()).hexdigest(),
                    updated_at,
                    payload.get("id") if obj == "events" else None,
                    hashlib.md5(str(email).lower().encode()).hexdigest() if email else None,
                    (payload.get("dataFields") or {}).get("customerId") if identities else None,
                )
            )
        with connect(self.path) as con:
            con.execute(f"delete from iterable.iterable__{obj}")
            if rows:
                con.execute(
                    f"insert into iterable.iterable__{obj} (record_key, payload, payload_hash, "
                    "source_updated_at, event_id, email_hash, customer_id) select * from (select "
                    "unnest($1), unnest($2), unnest($3), unnest($4::timestamp[]), unnest($5), "
                    "unnest($6), unnest($7))",
                    [[r[i] for r in rows] for i in range(7)],
                )

    def mark_read_back(self) -> None:
        """Record a completed load of raw_iterable (the sync writes subscriptions only after
        Iterable's consent state was read back)."""
        with connect(self.path) as con:
            con.execute("create schema if not exists raw_iterable")
            con.execute(
                "create table if not exists raw_iterable._dlt_loads "
                "(load_id varchar, schema_name varchar, status bigint, inserted_at timestamp)"
            )
            con.execute("insert into raw_iterable._dlt_loads values ('1', 'iterable', 0, now())")

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.query(sql, params)[0][0]

    def changes(self, obj: str) -> list[tuple[Any, ...]]:
        return self.query(
            f"select record_key, operation from iterable.iterable__{obj}_changes order by 1"
        )

    def open_rejections(self, obj: str | None = None) -> dict[str, str]:
        sql = "select record_key, reason_code from ctsync.sync_rejections where resolved_at is null"
        params: list[Any] = []
        if obj:
            sql += " and object = ?"
            params.append(obj)
        return dict(self.query(sql, params))


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    yield Warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def emu(fresh_iterable: IterableEmulator) -> IterableEmulator:
    """The worker's Iterable emulator, reset to an empty hybrid project at the tests' rate
    scale."""
    fresh_iterable.reset(project_type="hybrid", rate_scale=SCALE)
    return fresh_iterable
