"""Personal data: keep as little as the sync needs, for as long as it needs it.

* The ledger keeps, per acknowledged record, its identity and hash, not the payload Iterable
  received (`ledger_payload`): users keep email, userId, customerId and the *names* of the
  profile fields sent non-null; carts the user's identity; catalog items the item id; user
  deletions the identity and method; purchases and events their id and user identity.
  Subscriptions keep their list/channel/message-type ids, which the consent model reads back.
* Once Iterable acknowledged a person's deletion (plus `sync.retention.purge_after_hours`,
  default 0), `purge_deleted_people` removes that person
  from the raw commercetools tables (customer, orders, carts, messages, with their child
  tables), from the dbt tables keyed by `customer_id`, from the rejections, and clears their
  ledger payloads and changelog keys; counts survive (`ctsync.sync_purges`, changelog rows
  with a hashed key). One transaction per person: a crash leaves each person either fully
  purged or untouched, and the next run finishes the rest.
* `apply_retention` deletes changelog rows and settled rejections older than the retention
  (`sync.retention.changelog_days`, `sync.retention.rejections_days`, default 90).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from ctsync.core.config import audit_schema

log = logging.getLogger("ctsync.privacy")

DEFAULT_RETENTION_DAYS = 90
DEFAULT_PURGE_AFTER_HOURS = 0.0
RAW_SCHEMA = "raw_commercetools"
DBT_SCHEMAS = ("intermediate", "marts")


# -- the ledger keeps identity, hashes and field names ---------------------------------------


def _identity(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        return {}
    return {k: document[k] for k in ("email", "userId", "preferUserId") if k in document}


def ledger_payload(obj: str, payload: str | None) -> str | None:
    """What the ledger keeps of an acknowledged payload (JSON text), see the module doc."""
    if payload is None:
        return None
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    kept: dict[str, Any]
    if obj == "users":
        kept = _identity(document)
        fields = document.get("dataFields")
        if isinstance(fields, dict):
            if "customerId" in fields:
                kept["dataFields"] = {"customerId": fields["customerId"]}
            kept["dataFieldNames"] = sorted(k for k, v in fields.items() if v is not None)
    elif obj == "subscriptions":
        return payload  # consent ids: the consent model compares them with Iterable's
    elif obj == "carts":
        kept = {"user": _identity(document.get("user")), "items": []}  # = the removal body
    elif obj == "catalog_items":
        kept = {"itemId": document.get("itemId")}
    elif obj == "user_deletions":
        kept = {**_identity(document), "method": document.get("method")}
    elif obj == "purchases":
        kept = {"id": document.get("id"), "user": _identity(document.get("user"))}
    elif obj == "events":
        kept = {**_identity(document), "id": document.get("id")}
        kept["eventName"] = document.get("eventName")
    else:
        kept = _identity(document)
    return json.dumps(kept, separators=(",", ":"), sort_keys=True)


def minimize_payloads(con: duckdb.DuckDBPyConnection, obj: str, relation: str) -> None:
    """Apply `ledger_payload` to the payloads of `relation`, rows of `obj` about to be written
    to the ledger (reset-state's copy of a changes view): minimized before they reach the
    ledger, so that the file never holds a full payload, even in blocks freed later."""
    rows = con.execute(
        f"select record_key, payload from {relation} where payload is not null"
    ).fetchall()
    if not rows:
        return
    con.execute(
        f"update {relation} as l set payload = m.payload from (select unnest(?) as "
        "record_key, unnest(?) as payload) as m where l.record_key = m.record_key",
        [[r[0] for r in rows], [ledger_payload(obj, r[1]) for r in rows]],
    )


LEDGER_MIGRATION = "ledger_payloads_minimized"


def minimize_legacy_ledger(con: duckdb.DuckDBPyConnection) -> int:
    """Once per warehouse: minimize the ledger payloads written before the ledger kept only
    identity and field names (full request payloads of earlier versions). Recorded in
    `ctsync.sync_migrations`, so later runs cost one lookup. Returns rows rewritten.

    Only rows that are not minimal yet are rewritten: a users payload that has
    `dataFieldNames` is already minimal (minimizing it again would lose the names); for the
    other objects `ledger_payload` returns a minimal payload unchanged. DuckDB reuses the
    freed blocks for later writes; the file itself does not shrink.
    """
    s = audit_schema()
    done = con.execute(
        f"select count(*) from {s}.sync_migrations where name = ?", [LEDGER_MIGRATION]
    ).fetchone()
    if done and done[0]:
        return 0
    rows = con.execute(
        f"select object, record_key, payload from {s}.sync_ledger "
        "where payload is not null and object <> 'subscriptions'"
    ).fetchall()
    changed: dict[str, tuple[list[str], list[str | None]]] = {}
    for obj, key, payload in rows:
        if obj == "users" and '"dataFieldNames"' in payload and _has_field_names(payload):
            continue
        kept = ledger_payload(str(obj), payload)
        if kept != payload:
            keys, payloads = changed.setdefault(str(obj), ([], []))
            keys.append(str(key))
            payloads.append(kept)
    con.execute("begin transaction")
    try:
        for obj, (keys, payloads) in changed.items():
            con.execute(
                f"update {s}.sync_ledger as l set payload = m.payload from (select unnest(?) "
                "as record_key, unnest(?) as payload) as m "
                "where l.object = ? and l.record_key = m.record_key",
                [keys, payloads, obj],
            )
        con.execute(
            f"insert into {s}.sync_migrations (name, applied_at) values (?, ?)",
            [LEDGER_MIGRATION, datetime.now(UTC).replace(tzinfo=None)],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    rewritten = sum(len(keys) for keys, _ in changed.values())
    if rewritten:
        log.info("ledger: %d payload(s) of earlier versions reduced to identity", rewritten)
    return rewritten


def _has_field_names(payload: str) -> bool:
    try:
        document = json.loads(payload)
    except ValueError:
        return False
    return isinstance(document, dict) and "dataFieldNames" in document


def upkeep(con: duckdb.DuckDBPyConnection) -> None:
    """After a sync: purge people whose deletion was acknowledged, then apply the retention.
    A failure here never fails the sync; what is left is done by the next run."""
    from ctsync.core.redact import redact

    try:
        settings = load_retention_settings()
        minimize_legacy_ledger(con)
        purge_deleted_people(con, after_hours=settings.purge_after_hours)
        apply_retention(con, settings)
    except Exception as exc:
        log.error("personal-data upkeep failed (%s); the next run retries it", redact(exc))


# -- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionSettings:
    changelog_days: int = DEFAULT_RETENTION_DAYS
    rejections_days: int = DEFAULT_RETENTION_DAYS
    # How long after Iterable acknowledged a deletion the person is purged (0: by the run
    # that deleted them); a delay keeps their records explainable for that long.
    purge_after_hours: float = DEFAULT_PURGE_AFTER_HOURS


def load_retention_settings() -> RetentionSettings:
    """`sync.retention.*` (env `SYNC__RETENTION__CHANGELOG_DAYS`, ...)."""
    import dlt

    values: dict[str, Any] = {}
    purge_after: Any = dlt.config.get("sync.retention.purge_after_hours")
    if purge_after is not None and str(purge_after).strip() != "":
        try:
            values["purge_after_hours"] = max(0.0, float(purge_after))
        except ValueError:
            raise ValueError("sync.retention.purge_after_hours must be a number") from None
    for key in ("changelog_days", "rejections_days"):
        value: Any = dlt.config.get(f"sync.retention.{key}")
        if value is not None and str(value).strip() != "":
            try:
                days = int(value)
            except ValueError:
                raise ValueError(f"sync.retention.{key} must be a whole number of days") from None
            if days < 1:
                raise ValueError(f"sync.retention.{key} must be at least 1 day")
            values[key] = days
    return RetentionSettings(**values)


def apply_retention(
    con: duckdb.DuckDBPyConnection, settings: RetentionSettings, now: datetime | None = None
) -> dict[str, int]:
    """Delete changelog rows and settled (resolved, or not seen again) rejections older than
    the retention. Returns rows deleted per table."""
    s = audit_schema()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    changelog_cutoff = now - timedelta(days=settings.changelog_days)
    rejections_cutoff = now - timedelta(days=settings.rejections_days)
    changelog = con.execute(
        f"delete from {s}.sync_changelog where attempted_at < ?", [changelog_cutoff]
    ).fetchone()
    rejections = con.execute(
        f"delete from {s}.sync_rejections where coalesce(resolved_at, last_seen_at) < ?",
        [rejections_cutoff],
    ).fetchone()
    deleted = {
        "sync_changelog": int(changelog[0]) if changelog else 0,
        "sync_rejections": int(rejections[0]) if rejections else 0,
    }
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted


# -- purge after an acknowledged deletion --------------------------------------------------------


@dataclass
class PurgeSummary:
    people: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def pending_purges(
    con: duckdb.DuckDBPyConnection, after_hours: float = 0.0
) -> list[tuple[str, str]]:
    """(record_key, payload) of user deletions Iterable acknowledged at least `after_hours`
    ago and not purged yet."""
    s = audit_schema()
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=after_hours)
    return [
        (str(key), str(payload))
        for key, payload in con.execute(
            f"select record_key, payload from {s}.sync_ledger where object = 'user_deletions' "
            "and payload is not null and acknowledged_at <= ? order by acknowledged_at, record_key",
            [cutoff],
        ).fetchall()
    ]


def purge_deleted_people(
    con: duckdb.DuckDBPyConnection,
    on_person: Callable[[int], None] | None = None,
    after_hours: float = 0.0,
) -> PurgeSummary:
    """Purge everyone whose deletion Iterable acknowledged (at least `after_hours` ago)."""
    summary = PurgeSummary()
    raw_tables = _tables(con, RAW_SCHEMA)
    dbt_tables = [(schema, t) for schema in DBT_SCHEMAS for t in _tables(con, schema)]
    for record_key, payload in pending_purges(con, after_hours):
        con.execute("begin transaction")
        try:
            counts = _purge_person(con, record_key, payload, raw_tables, dbt_tables)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        summary.people += 1
        for table, count in counts.items():
            summary.rows[table] = summary.rows.get(table, 0) + count
        if on_person is not None:
            on_person(summary.people)
    if summary.people:
        log.info("purged %d deleted person(s): %s", summary.people, summary.rows)
    return summary


def _purge_person(
    con: duckdb.DuckDBPyConnection,
    record_key: str,
    payload: str,
    raw_tables: set[str],
    dbt_tables: list[tuple[str, str]],
) -> dict[str, int]:
    s = audit_schema()
    counts: dict[str, int] = {}

    def run(table: str, sql: str, params: list[Any]) -> None:
        row = con.execute(sql, params).fetchone()
        if row and row[0]:
            counts[table] = counts.get(table, 0) + int(row[0])

    deletion = json.loads(payload) if payload else {}
    emails: set[str] = set()
    ids: set[str] = set()
    _collect(deletion, emails, ids)
    for (user_payload,) in con.execute(
        f"select payload from {s}.sync_ledger where object = 'users' and record_key = ? "
        "and payload is not null",
        [record_key],
    ).fetchall():
        _collect(json.loads(user_payload), emails, ids)
    if ("intermediate", "int_customers__deleted") in dbt_tables:
        for customer_id, email in con.execute(
            "select customer_id, email_normalized from intermediate.int_customers__deleted "
            "where customer_id in (select unnest(?::varchar[])) "
            "or email_normalized in (select unnest(?::varchar[]))",
            [sorted(ids), sorted(emails)],
        ).fetchall():
            if customer_id:
                ids.add(str(customer_id))
            if email:
                emails.add(str(email).lower())
    if "customers" in raw_tables and ids:
        # a customer still in the raw table is alive (ingest removes deleted ones): an id
        # learnt from a ledger row another person now holds (same email key) is theirs
        ids -= {
            str(row[0])
            for row in con.execute(
                f"select id from {RAW_SCHEMA}.customers where id in (select unnest(?::varchar[]))",
                [sorted(ids)],
            ).fetchall()
        }
    if "customers" in raw_tables and emails:
        # an email a live customer holds now (re-registered after the deletion) is theirs:
        # matching by it would purge the live person's data and ledger rows
        live = con.execute(
            f"select distinct lower(email) from {RAW_SCHEMA}.customers "
            "where lower(email) in (select unnest(?::varchar[])) "
            "and id not in (select unnest(?::varchar[]))",
            [sorted(emails), sorted(ids)],
        ).fetchall()
        live_emails = {str(row[0]) for row in live}
        emails -= live_emails
    else:
        live_emails = set()
    id_list, email_list = sorted(ids), sorted(emails)

    # raw commercetools rows: the customer, their orders and carts, messages about them
    roots: dict[str, str] = {}  # raw table -> where clause on the table's own rows
    order_ids: list[str] = []
    cart_ids: list[str] = []
    if "customers" in raw_tables:
        roots["customers"] = "id in (select unnest($ids::varchar[]))"
    for table, found in (("orders", order_ids), ("carts", cart_ids)):
        if table in raw_tables:
            roots[table] = (
                "customer_id in (select unnest($ids::varchar[])) "
                "or lower(customer_email) in (select unnest($emails::varchar[]))"
            )
            found += [
                str(r[0])
                for r in con.execute(
                    f"select id from {RAW_SCHEMA}.{table} where {roots[table]}",
                    {"ids": id_list, "emails": email_list},
                ).fetchall()
            ]
    subjects = id_list + order_ids + cart_ids
    if "messages" in raw_tables:
        columns = _columns(con, RAW_SCHEMA, "messages")
        about = ["resource__id in (select unnest($subjects::varchar[]))"]
        about += [
            f"lower({c}) in (select unnest($emails::varchar[]))"
            for c in ("email", "old_email")
            if c in columns
        ]
        # The CustomerDeleted message stays (it carries no personal data beyond the id): the
        # deletion model needs it to know this person is gone, not merely unknown.
        roots["messages"] = f"({' or '.join(about)}) and type <> 'CustomerDeleted'"
        scrub = [c for c in ("email", "old_email", "customer") if c in columns]
        if scrub:
            con.execute(
                f"update {RAW_SCHEMA}.messages set {', '.join(f'{c} = null' for c in scrub)} "
                "where type = 'CustomerDeleted' "
                "and resource__id in (select unnest($ids::varchar[]))",
                {"ids": id_list},
            )
    params = {"ids": id_list, "emails": email_list, "subjects": subjects}
    for table, where in roots.items():
        used = {name: value for name, value in params.items() if f"${name}" in where}
        for child in sorted(t for t in raw_tables if t.startswith(f"{table}__")):
            run(
                f"{RAW_SCHEMA}.{child}",
                f"delete from {RAW_SCHEMA}.{child} where _dlt_root_id in "
                f"(select _dlt_id from {RAW_SCHEMA}.{table} where {where})",
                used,  # type: ignore[arg-type]
            )
        run(
            f"{RAW_SCHEMA}.{table}",
            f"delete from {RAW_SCHEMA}.{table} where {where}",
            used,  # type: ignore[arg-type]
        )

    # dbt tables keyed by customer (incremental marts keep rows the raw tables lost)
    for schema, table in dbt_tables:
        if "customer_id" in _columns(con, schema, table):
            run(
                f"{schema}.{table}",
                f"delete from {schema}.{table} where customer_id in (select unnest(?::varchar[]))",
                [id_list],
            )

    # ledger rows of this person: their keys, for rejections and changelog
    person_keys = {record_key}
    for (key,) in con.execute(
        f"select record_key from {s}.sync_ledger where payload is not null "
        "and object in ('purchases', 'events', 'carts', 'subscriptions') and ("
        "lower(coalesce(json_extract_string(payload, '$.email'), "
        "json_extract_string(payload, '$.user.email'))) in (select unnest($emails::varchar[])) "
        "or coalesce(json_extract_string(payload, '$.userId'), "
        "json_extract_string(payload, '$.user.userId')) in (select unnest($ids::varchar[])))",
        {"emails": email_list, "ids": id_list},
    ).fetchall():
        person_keys.add(str(key))
    # In email projects the key is the email: a live customer who re-registered with it owns
    # those rows now (only the deletion's own ledger row below is this person's).
    keys = sorted(key for key in person_keys if key.lower() not in live_emails)
    # desired payloads dbt keeps incrementally (purchases, events) carry the email too
    for table in sorted(_tables(con, "iterable")):
        if "record_key" in _columns(con, "iterable", table):
            run(
                f"iterable.{table}",
                f"delete from iterable.{table} where record_key in (select unnest(?::varchar[]))",
                [keys],
            )
    run(
        f"{s}.sync_rejections",
        f"delete from {s}.sync_rejections where record_key in (select unnest(?::varchar[])) "
        + "".join(" or contains(lower(coalesce(payload, '')), ?)" for _ in email_list),
        [keys, *email_list],
    )
    # Iterable no longer holds this person: profile, cart and consent rows are settled
    # deletions, so no later run re-sends or deletes them again.
    con.execute(
        f"update {s}.sync_ledger set operation = 'delete', payload_hash = null, payload = null "
        "where object in ('users', 'carts', 'subscriptions') "
        "and record_key in (select unnest(?::varchar[]))",
        [keys],
    )
    run(
        f"{s}.sync_ledger",
        f"update {s}.sync_ledger set payload = null where payload is not null "
        "and record_key in (select unnest(?::varchar[]))",
        [keys],
    )
    # the purge marker: this deletion is done, whoever holds its key now
    con.execute(
        f"update {s}.sync_ledger set payload = null where object = 'user_deletions' "
        "and record_key = ?",
        [record_key],
    )
    run(
        f"{s}.sync_changelog",
        # changelog ids written before they were a group prefix + ordinal held the key too
        f"update {s}.sync_changelog set record_key = 'purged:' || md5(record_key), "
        "changelog_id = 'purged:' || md5(changelog_id), idempotency_key = null "
        "where record_key in (select unnest(?::varchar[]))",
        [keys],
    )
    con.execute(
        f"insert into {s}.sync_purges (key_hash, purged_at, rows_removed, detail) "
        "values (?, ?, ?, ?)",
        [
            hashlib.md5(record_key.encode()).hexdigest(),
            datetime.now(UTC).replace(tzinfo=None),
            sum(counts.values()),
            json.dumps(counts, sort_keys=True),
        ],
    )
    return counts


def _collect(document: Any, emails: set[str], ids: set[str]) -> None:
    if not isinstance(document, dict):
        return
    email = document.get("email")
    if isinstance(email, str) and email:
        emails.add(email.lower())
    user_id = document.get("userId")
    if isinstance(user_id, str | int) and str(user_id):
        ids.add(str(user_id))
    fields = document.get("dataFields")
    if isinstance(fields, dict) and isinstance(fields.get("customerId"), str | int):
        ids.add(str(fields["customerId"]))


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    return {
        str(row[0])
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_type = 'BASE TABLE'",
            [schema],
        ).fetchall()
    }


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {
        str(row[0])
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ?",
            [schema, table],
        ).fetchall()
    }
