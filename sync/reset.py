"""`ctsync reset-state`: mark everything desired as acknowledged without sending it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from ctsync.core.clock import utcnow
from ctsync.core.config import audit_schema
from ctsync.core.lock import run_lock
from ctsync.core.names import RunMode, RunStatus
from ctsync.core.warehouse import connect
from ctsync.core.warehouse import warehouse_path as default_warehouse_path
from ctsync.sync import audit
from ctsync.sync.audit import ObjectCounts
from ctsync.sync.planner import (
    changes_relation,
    relation_exists,
    validate_objects,
)


def reset_state(
    target: Path | str | None = None,
    objects: Sequence[str] | None = None,
    lock_held: bool = False,
    run_id: str | None = None,
) -> dict[str, int]:
    """Mark everything currently desired as acknowledged, without sending anything.

    For each object: every pending upsert in its changes view becomes a ledger row with its
    payload hash, every pending delete a ledger row with operation 'delete'. Afterwards the
    changes views are empty until the source changes. Returns rows marked per object.
    """
    chosen = validate_objects(list(objects) if objects else None)
    path = Path(target) if target is not None else default_warehouse_path()
    run_id = run_id or uuid.uuid4().hex
    marked: dict[str, int] = {}
    lock = nullcontext() if lock_held else run_lock(path)
    with lock, connect(path) as con:
        audit.start_run(con, run_id, "manual", RunMode.RESET_STATE, chosen)
        totals = ObjectCounts()
        for obj in chosen:
            relation = changes_relation(obj)
            if not relation_exists(con, relation):
                continue
            now = utcnow()
            con.execute("begin transaction")
            try:
                # the view is computed once, before its keys' ledger rows are replaced
                con.execute(f"create temporary table ctsync_marked as select * from {relation}")
                row = con.execute("select count(*) from ctsync_marked").fetchone()
                marked[obj] = int(row[0]) if row else 0
                audit.mark_acknowledged(con, obj, "ctsync_marked", run_id, now)
                con.execute("drop table ctsync_marked")
                con.execute(
                    f"update {audit_schema()}.sync_rejections set resolved_at = ? "
                    "where object = ? and resolved_at is null",
                    [now, obj],
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            totals.planned += marked[obj]
            audit.write_run_object(con, run_id, obj, ObjectCounts(planned=marked[obj]))
        audit.finish_run(con, run_id, RunStatus.SUCCEEDED, totals, None)
    return marked
