"""Mass-deletion guards: a run that would delete too much of what Iterable holds stops.

A broken load (an empty product table, an identity change, a half-ingested customer list)
looks exactly like a mass deletion, so every object that deletes in Iterable has a guard:

| object | deletions counted | out of (what Iterable holds) |
| --- | --- | --- |
| users | `delete` rows (profiles no longer desired) | users acknowledged and not deleted since |
| user_deletions | every row (each deletes or forgets a user) | the same users |
| catalog_items | `delete` rows | catalog items acknowledged |
| carts | `delete` rows (emptied carts) | carts acknowledged |

A guard trips when the deletions exceed both `min_records` and `max_delete_fraction` of the
denominator (per object: `sync.iterable.delete_guards.<object>.*`, default the global
`sync.iterable.max_delete_fraction` / `mass_delete_min_records`). The tripped guard is kept
in `ctsync.sync_deletion_guards` so `plan` and `status` show it, with the command that lets
exactly that many deletions through once: `ctsync allow-deletions <object> --count N`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from ctsync.core.config import IterableSettings, audit_schema
from ctsync.core.names import Operation
from ctsync.sync.planner import changes_relation, count_changes, relation_exists

# object -> (does every pending row delete?, ledger object holding the denominator)
GUARDED: dict[str, tuple[bool, str]] = {
    "users": (False, "users"),
    "user_deletions": (True, "users"),
    "catalog_items": (False, "catalog_items"),
    "carts": (False, "carts"),
}


@dataclass(frozen=True)
class GuardDecision:
    object: str
    deletions: int
    held: int
    max_fraction: float
    min_records: int
    released: int | None  # deletions an operator allowed once, if any

    @property
    def exceeds(self) -> bool:
        if self.max_fraction >= 1:
            return False
        return self.deletions > self.min_records and self.deletions > self.max_fraction * max(
            self.held, 0
        )

    @property
    def blocked(self) -> bool:
        return self.exceeds and (self.released is None or self.deletions > self.released)

    @property
    def release_command(self) -> str:
        return f"ctsync allow-deletions {self.object} --count {self.deletions}"

    def describe(self) -> str:
        return (
            f"{self.object}: this run would delete {self.deletions} of the {self.held} "
            f"{'users' if GUARDED[self.object][1] == 'users' else self.object} Iterable holds "
            f"(limit {self.max_fraction:.0%}, and more than {self.min_records})"
        )


def held_count(con: duckdb.DuckDBPyConnection, ledger_object: str) -> int:
    """What Iterable holds of an object, from the ledger. Users deleted through
    `user_deletions` keep their `users` row, so they are subtracted: otherwise the
    denominator grows with every deletion and the guard loosens over time."""
    s = audit_schema()
    sql = (
        f"select count(*) from {s}.sync_ledger ledger where ledger.object = ? "
        "and ledger.operation = 'upsert'"
    )
    if ledger_object == "users":
        sql += (
            f" and not exists (select 1 from {s}.sync_ledger gone where gone.object = "
            "'user_deletions' and gone.record_key = ledger.record_key "
            "and gone.acknowledged_at >= ledger.acknowledged_at)"
        )
    row = con.execute(sql, [ledger_object]).fetchone()
    return int(row[0]) if row else 0


def evaluate(
    con: duckdb.DuckDBPyConnection,
    settings: IterableSettings,
    objects: list[str],
    full: bool = False,
) -> list[GuardDecision]:
    """One decision per guarded object in `objects` that has pending deletions."""
    released = _released(con)
    decisions = []
    for obj in objects:
        if obj not in GUARDED or not relation_exists(con, changes_relation(obj)):
            continue
        every_row_deletes, ledger_object = GUARDED[obj]
        counts = count_changes(con, obj, full, settings.project_type)
        deletions = counts.get(Operation.DELETE, 0)
        if every_row_deletes:
            deletions += counts.get(Operation.UPSERT, 0)
        if not deletions:
            continue
        fraction, minimum = settings.delete_guard(obj)
        decisions.append(
            GuardDecision(
                obj, deletions, held_count(con, ledger_object), fraction, minimum, released.get(obj)
            )
        )
    return decisions


def record(
    con: duckdb.DuckDBPyConnection, decisions: list[GuardDecision], objects: list[str], run_id: str
) -> None:
    """Keep tripped guards for `plan`/`status`; forget the others (a release is used once)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    blocked = {d.object: d for d in decisions if d.blocked}
    for obj in objects:
        if obj not in GUARDED:
            continue
        decision = blocked.get(obj)
        if decision is None:
            con.execute(
                f"delete from {audit_schema()}.sync_deletion_guards where object = ?", [obj]
            )
            continue
        con.execute(
            f"insert into {audit_schema()}.sync_deletion_guards (object, deletions, held, "
            "max_delete_fraction, min_records, blocked_at, run_id) values (?, ?, ?, ?, ?, ?, ?) "
            "on conflict (object) do update set deletions = excluded.deletions, "
            "held = excluded.held, max_delete_fraction = excluded.max_delete_fraction, "
            "min_records = excluded.min_records, blocked_at = excluded.blocked_at, "
            "run_id = excluded.run_id",
            [
                obj,
                decision.deletions,
                decision.held,
                decision.max_fraction,
                decision.min_records,
                now,
                run_id,
            ],
        )


def allow(con: duckdb.DuckDBPyConnection, obj: str, count: int | None) -> int:
    """Let `count` deletions of `obj` (default: the blocked number) through the next sync."""
    if obj not in GUARDED:
        raise ValueError(f"{obj} has no deletion guard; guarded: {', '.join(GUARDED)}")
    row = con.execute(
        f"select deletions from {audit_schema()}.sync_deletion_guards where object = ?", [obj]
    ).fetchone()
    if count is None:
        if row is None:
            raise ValueError(f"no blocked deletions for {obj}; give --count to allow some anyway")
        count = int(row[0])
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        f"insert into {audit_schema()}.sync_deletion_guards (object, released_count, released_at) "
        "values (?, ?, ?) on conflict (object) do update set "
        "released_count = excluded.released_count, released_at = excluded.released_at",
        [obj, count, now],
    )
    return count


def blocked_guards(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Tripped guards waiting for a decision, for `status`."""
    if not _table_exists(con):
        return []
    rows = con.execute(
        f"select object, deletions, held, max_delete_fraction, blocked_at, run_id, "
        f"released_count from {audit_schema()}.sync_deletion_guards where blocked_at is not null "
        "order by object"
    ).fetchall()
    return [
        {
            "object": obj,
            "deletions": deletions,
            "held": held,
            "max_delete_fraction": fraction,
            "blocked_at": blocked_at.isoformat() if blocked_at else None,
            "run_id": run_id,
            "released_count": released,
            "release_command": f"ctsync allow-deletions {obj} --count {deletions}",
        }
        for obj, deletions, held, fraction, blocked_at, run_id, released in rows
    ]


def _released(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    if not _table_exists(con):
        return {}
    rows = con.execute(
        f"select object, released_count from {audit_schema()}.sync_deletion_guards "
        "where released_count is not null"
    ).fetchall()
    return {obj: int(count) for obj, count in rows}


def _table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """False in a warehouse written before the guards table existed, opened read-only."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = 'sync_deletion_guards'",
        [audit_schema()],
    ).fetchone()
    return bool(row and row[0])
