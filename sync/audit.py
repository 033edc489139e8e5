"""Writes to the sync's state and audit tables (``ctsync.*``, DDL in the dbt macro).

Every acknowledgement is one transaction: the changelog rows of a request group, the
ledger rows of the records Iterable accepted, and the rejections of the ones it did not.
A crash before the commit leaves no trace, so the records are simply sent again; a crash
after it leaves them acknowledged. Rows travel as column lists unnested in SQL, which is
two orders of magnitude faster in DuckDB than executemany.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson

from ctsync.core.clock import utcnow
from ctsync.core.config import INLINE_KEYS, audit_schema
from ctsync.core.names import Operation, Outcome, RecordOutcome, RunMode, RunStatus
from ctsync.core.redact import redact
from ctsync.sync.planner import sql_list
from ctsync.sync.privacy import ledger_payload, minimize_payloads


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


@dataclass
class ObjectCounts:
    planned: int = 0
    sent: int = 0
    succeeded: int = 0
    rejected: int = 0
    failed: int = 0
    held: int = 0
    requests: int = 0


def changelog_id_prefix() -> str:
    """The start of a request group's changelog ids (each row adds its position in the group):
    random, so unique across groups, and no personal data (a record key may be an email)."""
    return uuid.uuid4().hex[:20] + ":"


def record_outcomes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    outcomes: Sequence[Outcome],
    resolve: bool = True,
) -> None:
    """Persist a group of outcomes of one object atomically (changelog + ledger +
    rejections).

    `resolve=False` skips closing open rejections of the accepted records, for callers
    that know the object has none (it saves a join per batch on large backfills).
    """
    s = audit_schema()
    if not outcomes:
        return
    obj = outcomes[0].row.object
    if any(o.row.object != obj for o in outcomes):
        raise ValueError("record_outcomes takes the outcomes of one object at a time")
    now = utcnow()
    # Values shared by the group travel as scalars, per-row values as one list per column:
    # this runs once per request group on large backfills. The changelog id is a random
    # per-group prefix plus the row's position in the group: unique, and no personal data
    # (a record key may be an email).
    prefix = changelog_id_prefix()
    columns = [
        [f"{prefix}{position}" for position in range(len(outcomes))],
        [o.row.record_key for o in outcomes],
        [o.row.operation for o in outcomes],
        [o.row.idempotency_key for o in outcomes],
        [o.row.payload_hash for o in outcomes],
        [o.endpoint for o in outcomes],
        [o.http_status for o in outcomes],
        [o.outcome for o in outcomes],
        [o.reason_code for o in outcomes],
        [o.row.source_updated_at for o in outcomes],
    ]
    accepted = [o for o in outcomes if o.outcome == RecordOutcome.SUCCEEDED]
    problems = [o for o in outcomes if o.outcome in (RecordOutcome.REJECTED, RecordOutcome.FAILED)]
    con.execute("begin transaction")
    try:
        con.execute(
            f"insert into {s}.sync_changelog (changelog_id, run_id, object, record_key, "
            "operation, idempotency_key, payload_hash, endpoint, http_status, outcome, "
            "reason_code, source_updated_at, attempted_at) "
            "select s.changelog_id, $1, $2, s.record_key, s.operation, s.idempotency_key, "
            "s.payload_hash, s.endpoint, s.http_status, s.outcome, s.reason_code, "
            "s.source_updated_at, $3 from (select unnest($4) as changelog_id, "
            "unnest($5) as record_key, unnest($6) as operation, unnest($7) as idempotency_key, "
            "unnest($8) as payload_hash, unnest($9) as endpoint, "
            "unnest($10::integer[]) as http_status, unnest($11) as outcome, "
            "unnest($12) as reason_code, unnest($13::timestamp[]) as source_updated_at) as s",
            [run_id, obj, now, *columns],
        )
        if accepted:
            _acknowledge(con, run_id, obj, accepted, now, resolve)
        if problems:
            _reject(con, run_id, problems, now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _acknowledge(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    obj: str,
    accepted: Sequence[Outcome],
    now: datetime,
    resolve: bool,
) -> None:
    s = audit_schema()
    keys = [o.row.record_key for o in accepted]
    # one row per key (the ledger has no index to enforce it): the key's row is replaced,
    # and of one key acknowledged twice in a group the later outcome is kept
    latest = list({o.row.record_key: o for o in accepted}.values())
    con.execute(
        f"delete from {s}.sync_ledger where object = $1 and record_key in (select unnest($2))",
        [obj, keys],
    )
    con.execute(
        f"insert into {s}.sync_ledger (object, record_key, operation, payload_hash, payload, "
        "run_id, acknowledged_at) "
        "select $1, s.record_key, "
        # users/update carries the whole profile: acknowledged like an upsert
        "case when s.operation = 'update' then 'upsert' else s.operation end, "
        "case when s.operation in ('upsert', 'update') then s.payload_hash end, s.payload, $2, $3 "
        "from (select unnest($4) as record_key, unnest($5) as operation, "
        "unnest($6) as payload_hash, unnest($7) as payload) as s",
        [
            obj,
            run_id,
            now,
            [o.row.record_key for o in latest],
            [o.row.operation for o in latest],
            [o.row.payload_hash for o in latest],
            [ledger_payload(obj, o.row.payload) for o in latest],
        ],
    )
    if obj == "users":
        _remember_profiles(con, accepted, now)
    elif obj == "user_deletions":
        _forget_profiles(con, keys)
    if not resolve:
        return
    con.execute(
        f"update {s}.sync_rejections as r set resolved_at = $1 "
        "from (select unnest($3) as record_key) as s "
        "where r.object = $2 and r.record_key = s.record_key and r.resolved_at is null",
        [now, obj, keys],
    )


def mark_acknowledged(
    con: duckdb.DuckDBPyConnection, obj: str, relation: str, run_id: str, now: datetime
) -> None:
    """Write every row of `relation` (a table copied from `obj`'s changes view) to the ledger
    as acknowledged by `run_id`, with plain SQL: payloads reduced first (`minimize_payloads`,
    so the file never holds a full one), each key's row replaced. reset-state's marking, and
    the benchmarks' stand-in for a sync. The caller holds the transaction."""
    s = audit_schema()
    minimize_payloads(con, obj, relation)
    con.execute(
        f"delete from {s}.sync_ledger where object = ? "
        f"and record_key in (select record_key from {relation})",
        [obj],
    )
    con.execute(
        f"insert into {s}.sync_ledger (object, record_key, operation, payload_hash, payload, "
        "run_id, acknowledged_at) "
        # users/update carries the whole profile: acknowledged like an upsert
        "select ?, record_key, case when operation = 'update' then 'upsert' else operation end, "
        "case when operation in ('upsert', 'update') then payload_hash end, payload, ?, ? "
        f"from {relation}",
        [obj, run_id, now],
    )


def _remember_profiles(
    con: duckdb.DuckDBPyConnection, accepted: Sequence[Outcome], now: datetime
) -> None:
    """What this project wrote on each profile: customer, email hash, field names."""
    s = audit_schema()
    rows: list[tuple[str, str | None, str | None, str]] = []
    moved: list[str] = []
    for outcome in accepted:
        row = outcome.row
        if row.operation == Operation.MOVE:
            moved.append(row.record_key)
            continue
        if row.operation not in (Operation.UPSERT, Operation.UPDATE):
            continue
        try:
            payload = orjson.loads(row.payload)
        except orjson.JSONDecodeError:
            continue
        data = payload.get("dataFields") or {}
        email = payload.get("email")
        rows.append(
            (
                row.record_key,
                None if data.get("customerId") is None else str(data["customerId"]),
                hashlib.md5(str(email).lower().encode()).hexdigest() if email else None,
                orjson.dumps(sorted(k for k, v in data.items() if v is not None)).decode(),
            )
        )
    if moved:
        con.execute(
            f"delete from {s}.sync_user_profiles where record_key in (select unnest($1))",
            [moved],
        )
        # What was acknowledged for the profile under its old email (its subscriptions, its
        # cart) now lives under the new one: nothing to resend because the email changed.
        pairs = _moves(accepted)
        con.execute(
            f"insert into {s}.sync_ledger (object, record_key, operation, payload_hash, payload, "
            "run_id, acknowledged_at) "
            "select l.object, m.new_key, l.operation, l.payload_hash, l.payload, l.run_id, "
            f"l.acknowledged_at from {s}.sync_ledger as l "
            "inner join (select unnest($1) as old_key, unnest($2) as new_key) as m "
            "on l.record_key = m.old_key "
            "where l.object in ('subscriptions', 'carts') and not exists (select 1 from "
            f"{s}.sync_ledger as n where n.object = l.object and n.record_key = m.new_key)",
            [[old for old, _ in pairs], [new for _, new in pairs]],
        )
        con.execute(
            f"delete from {s}.sync_ledger where object in ('subscriptions', 'carts') "
            "and record_key in (select unnest($1))",
            [moved],
        )
    if rows:
        # one row per profile (no index enforces it): the profile's row is replaced, and of a
        # profile written twice in a group the later write is kept
        rows = list({row[0]: row for row in rows}.values())
        con.execute(
            f"delete from {s}.sync_user_profiles where record_key in (select unnest($1))",
            [[row[0] for row in rows]],
        )
        con.execute(
            f"insert into {s}.sync_user_profiles (record_key, customer_id, email_hash, "
            "field_names, acknowledged_at) "
            "select s.record_key, s.customer_id, s.email_hash, s.field_names, $5 from ("
            "select unnest($1) as record_key, unnest($2) as customer_id, "
            "unnest($3) as email_hash, unnest($4) as field_names) as s",
            [*_columns(rows, 4), now],
        )


def _moves(accepted: Sequence[Outcome]) -> list[tuple[str, str]]:
    """(old email, new email) of the accepted profile moves."""
    pairs = []
    for outcome in accepted:
        if outcome.row.operation != Operation.MOVE:
            continue
        try:
            body = orjson.loads(outcome.row.payload)
        except orjson.JSONDecodeError:
            continue
        pairs.append((outcome.row.record_key, str(body.get("newEmail", "")).lower()))
    return pairs


def _forget_profiles(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    """A deleted (or forgotten) user no longer exists in Iterable: its users and carts
    ledger rows say so, so a re-registration is sent afresh and nothing is 'removed' from
    a profile that is gone (a cart removal would re-create it)."""
    s = audit_schema()
    con.execute(
        f"update {s}.sync_ledger set operation = 'delete', payload_hash = null "
        "where object in ('users', 'carts') and operation = 'upsert' "
        "and record_key in (select unnest($1))",
        [keys],
    )
    con.execute(
        f"delete from {s}.sync_user_profiles where record_key in (select unnest($1))",
        [keys],
    )


def _reject(
    con: duckdb.DuckDBPyConnection, run_id: str, problems: Sequence[Outcome], now: datetime
) -> None:
    s = audit_schema()
    cols = ("object", "record_key", "reason_code", "reason_detail", "payload", "payload_hash")
    rows = [
        (
            o.row.object,
            o.row.record_key,
            o.reason_code
            or ("transient_error" if o.outcome == RecordOutcome.FAILED else "rejected"),
            redact(o.detail or "")[:4000],
            o.row.payload,
            o.row.payload_hash,
        )
        for o in problems
    ]
    params = [now, run_id, *_columns(rows, len(cols))]
    con.execute(
        f"update {s}.sync_rejections as r set reason_code = s.reason_code, "
        "reason_detail = s.reason_detail, payload = s.payload, payload_hash = s.payload_hash, "
        "attempts = r.attempts + 1, last_seen_at = $1, last_run_id = $2, "
        "replay_requested_at = null "
        f"from (select {', '.join(f'unnest(${i + 3}) as {c}' for i, c in enumerate(cols))}) as s "
        "where r.object = s.object and r.record_key = s.record_key and r.resolved_at is null",
        params,
    )
    con.execute(
        f"insert into {s}.sync_rejections (object, record_key, reason_code, reason_detail, "
        "payload, payload_hash, attempts, first_seen_at, last_seen_at, last_run_id) "
        "select s.object, s.record_key, s.reason_code, s.reason_detail, s.payload, "
        "s.payload_hash, 1, $1, $1, $2 "
        f"from (select {', '.join(f'unnest(${i + 3}) as {c}' for i, c in enumerate(cols))}) as s "
        f"where not exists (select 1 from {s}.sync_rejections as r where r.object = s.object "
        "and r.record_key = s.record_key and r.resolved_at is null)",
        params,
    )


def resolve_settled(con: duckdb.DuckDBPyConnection, obj: str, changes_relation: str) -> int:
    """Close open rejections of records that no longer need sending (in sync, or no longer
    desired): they are absent from the object's changes view."""
    s = audit_schema()
    now = utcnow()
    keys = [
        str(row[0])
        for row in con.execute(
            f"select distinct record_key from {s}.sync_rejections "
            "where object = ? and resolved_at is null",
            [obj],
        ).fetchall()
    ]
    if not keys:
        return 0
    if len(keys) <= INLINE_KEYS:
        # a list of literals reaches the view's scans (only those keys' rows are compared);
        # a subquery would compute the whole view first
        pending = (
            f"select record_key from {changes_relation} where record_key in ({sql_list(keys)})"
        )
    else:
        pending = f"select record_key from {changes_relation}"
    before = open_rejection_count(con, obj)
    con.execute(
        f"update {s}.sync_rejections set resolved_at = ? where object = ? and resolved_at is null "
        f"and record_key not in ({pending})",
        [now, obj],
    )
    return before - open_rejection_count(con, obj)


def open_rejection_count(con: duckdb.DuckDBPyConnection, obj: str) -> int:
    s = audit_schema()
    row = con.execute(
        f"select count(*) from {s}.sync_rejections where object = ? and resolved_at is null",
        [obj],
    ).fetchone()
    return int(row[0]) if row else 0


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    trigger: str,
    mode: RunMode,
    objects: Sequence[str],
) -> datetime:
    """Insert the run's row (or take over the row a job runner created for this run_id),
    and mark runs left 'running' by a crashed process as abandoned: we hold the lock, so
    nobody else is running."""
    s = audit_schema()
    now = utcnow()
    con.execute(
        f"update {s}.sync_runs set status = 'abandoned', finished_at = coalesce(finished_at, ?) "
        "where status = 'running' and run_id <> ?",
        [now, run_id],
    )
    con.execute(
        f"insert into {s}.sync_runs (run_id, trigger, mode, objects, status, started_at) "
        "values (?, ?, ?, ?, 'running', ?) on conflict (run_id) do update set "
        "trigger = excluded.trigger, mode = excluded.mode, objects = excluded.objects, "
        "status = 'running'",
        [run_id, trigger, mode, ",".join(objects), now],
    )
    return now


def write_run_object(
    con: duckdb.DuckDBPyConnection, run_id: str, obj: str, counts: ObjectCounts
) -> None:
    s = audit_schema()
    con.execute(
        f"insert into {s}.sync_run_objects (run_id, object, planned_count, sent_count, "
        "succeeded_count, rejected_count, request_count) values (?, ?, ?, ?, ?, ?, ?) "
        "on conflict (run_id, object) do update set planned_count = excluded.planned_count, "
        "sent_count = excluded.sent_count, succeeded_count = excluded.succeeded_count, "
        "rejected_count = excluded.rejected_count, request_count = excluded.request_count",
        [
            run_id,
            obj,
            counts.planned,
            counts.sent,
            counts.succeeded,
            counts.rejected + counts.failed,
            counts.requests,
        ],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: RunStatus,
    totals: ObjectCounts,
    error_message: str | None,
) -> None:
    s = audit_schema()
    con.execute(
        f"update {s}.sync_runs set status = ?, finished_at = ?, planned_count = ?, sent_count = ?, "
        "succeeded_count = ?, rejected_count = ?, request_count = ?, error_message = ? "
        "where run_id = ?",
        [
            status,
            utcnow(),
            totals.planned,
            totals.sent,
            totals.succeeded,
            totals.rejected + totals.failed,
            totals.requests,
            redact(error_message)[:4000] if error_message else None,
            run_id,
        ],
    )


def request_replay(
    con: duckdb.DuckDBPyConnection, reason: str | None = None, obj: str | None = None
) -> int:
    """Re-queue open rejections (optionally by reason code and object); returns how many.

    Sets `replay_requested_at`, which the planner honours (it otherwise holds back a payload
    that was already rejected as is). Where the ledger holds the very payload that was
    rejected (e.g. after `reset-state`), its ledger row is removed too, so the changes view
    offers the record again.
    """
    s = audit_schema()
    where = ["r.resolved_at is null"]
    params: list[Any] = []
    if reason:
        where.append("r.reason_code = ?")
        params.append(reason)
    if obj:
        where.append("r.object = ?")
        params.append(obj)
    condition = " and ".join(where)
    con.execute("begin transaction")
    try:
        row = con.execute(
            f"select count(*) from {s}.sync_rejections as r where {condition}", params
        ).fetchone()
        count = int(row[0]) if row else 0
        con.execute(
            f"delete from {s}.sync_ledger as l where exists (select 1 from {s}.sync_rejections "
            f"as r where {condition} "
            "and r.object = l.object and r.record_key = l.record_key "
            "and r.payload_hash is not distinct from l.payload_hash)",
            params,
        )
        con.execute(
            f"update {s}.sync_rejections as r set replay_requested_at = ? where {condition}",
            [utcnow(), *params],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return count
