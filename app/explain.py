"""`ctsync explain <identifier>`: follow one record from commercetools to Iterable.

The identifier may be an email, a customer id, number, key or external id, an order id or
number, a cart id, a SKU, or a product id or key. Every match is explained: its raw row, the
staging and mart rows, and for each Iterable object it could become, the outcome
(`audit.audit__record_outcomes`), the payload the models want, what Iterable acknowledged
(the ledger), the delivery attempts (the changelog) and any rejection, in plain words.

Read-only: it opens the warehouse like `ctsync status` does, so it works during a run
only when DuckDB lets a reader in, and says so otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ctsync.app.status import open_read_only
from ctsync.core.config import audit_schema

OBJECT_NOUNS = {
    "users": "user profile",
    "purchases": "purchase",
    "carts": "cart",
    "catalog_items": "catalog item",
    "user_deletions": "deletion",
}
ATTEMPTS_SHOWN = 5


@dataclass
class Step:
    """One layer of the lineage: where the record is, and its telling fields there."""

    layer: str
    relation: str
    found: bool
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectOutcome:
    object: str
    record_key: str | None
    outcome: str | None
    reason_code: str | None
    reason_detail: str | None
    summary: str
    desired_payload: Any = None
    acknowledged: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    open_rejection: dict[str, Any] | None = None


@dataclass
class Subject:
    kind: str  # customer | order | cart | product
    id: str
    matched_by: str
    label: str
    lineage: list[Step] = field(default_factory=list)
    outcomes: list[ObjectOutcome] = field(default_factory=list)
    related: dict[str, Any] = field(default_factory=dict)


@dataclass
class Explanation:
    identifier: str
    warehouse: str
    last_run: dict[str, Any] | None
    subjects: list[Subject]

    def as_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class _Reader:
    """Queries that tolerate layers not built yet (a relation that is missing reads empty)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._relations = {
            f"{schema}.{table}"
            for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }

    def has(self, relation: str) -> bool:
        return relation in self._relations

    def rows(self, relation: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.has(relation):
            return []
        cursor = self.con.execute(sql.replace("{relation}", relation), params)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, relation: str, sql: str, params: list[Any]) -> dict[str, Any] | None:
        found = self.rows(relation, sql, params)
        return found[0] if found else None


def explain(warehouse: Path, identifier: str) -> Explanation:
    con = open_read_only(warehouse)
    try:
        reader = _Reader(con)
        subjects = _resolve(reader, identifier.strip())
        for subject in subjects:
            _lineage(reader, subject)
            _outcomes(reader, subject)
        last_run = reader.one(
            f"{audit_schema()}.sync_runs",
            "select run_id, status, trigger, started_at, finished_at from {relation} "
            "order by started_at desc limit 1",
            [],
        )
        return Explanation(identifier, str(warehouse), last_run, subjects)
    finally:
        con.close()


# -- which records does the identifier name ---------------------------------------------------


def _resolve(reader: _Reader, identifier: str) -> list[Subject]:
    subjects: list[Subject] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, record_id: str, matched_by: str, label: str) -> None:
        if (kind, record_id) not in seen:
            seen.add((kind, record_id))
            subjects.append(Subject(kind, record_id, matched_by, label))

    lowered = identifier.lower()
    for row in reader.rows(
        "staging.stg_commercetools__customers",
        "select customer_id, customer_number, email, external_id, customer_key from {relation} "
        "where customer_id = ? or customer_number = ? or email_normalized = ? "
        "or external_id = ? or customer_key = ? order by customer_id",
        [identifier, identifier, lowered, identifier, identifier],
    ):
        matched_by = next(
            name
            for name, value in (
                ("customer id", row["customer_id"]),
                ("customer number", row["customer_number"]),
                ("email", (row["email"] or "").strip().lower()),
                ("external id", row["external_id"]),
                ("customer key", row["customer_key"]),
            )
            if value is not None and value in (identifier, lowered)
        )
        add("customer", row["customer_id"], matched_by, row["email"] or row["customer_id"])
    for row in reader.rows(
        "intermediate.int_customers__deleted",
        "select customer_id, customer_number, email_normalized from {relation} "
        "where customer_id = ? or customer_number = ? or email_normalized = ? "
        "order by customer_id",
        [identifier, identifier, lowered],
    ):
        add("customer", row["customer_id"], "deleted customer", row["email_normalized"] or "")
    for row in reader.rows(
        "marts.fct_orders",
        "select order_id, order_number from {relation} where order_id = ? or order_number = ?",
        [identifier, identifier],
    ):
        matched_by = "order id" if row["order_id"] == identifier else "order number"
        add("order", row["order_id"], matched_by, row["order_number"] or row["order_id"])
    for row in reader.rows(
        "marts.fct_carts", "select cart_id from {relation} where cart_id = ?", [identifier]
    ):
        add("cart", row["cart_id"], "cart id", row["cart_id"])
    for row in reader.rows(
        "staging.stg_commercetools__product_variants",
        "select distinct product_id from {relation} where sku = ? order by product_id",
        [identifier],
    ):
        add("product", row["product_id"], "sku", identifier)
    for row in reader.rows(
        "marts.dim_products",
        "select product_id, product_key, product_name from {relation} "
        "where product_id = ? or product_key = ?",
        [identifier, identifier],
    ):
        matched_by = "product id" if row["product_id"] == identifier else "product key"
        add("product", row["product_id"], matched_by, row["product_name"] or row["product_id"])
    return subjects


# -- raw → staging → marts ------------------------------------------------------------------

_LINEAGE: dict[str, list[tuple[str, str, str, str]]] = {
    # kind: (layer, relation, key column, columns shown)
    "customer": [
        ("raw", "raw_commercetools.customers", "id", "version, email, last_modified_at"),
        (
            "staging",
            "staging.stg_commercetools__customers",
            "customer_id",
            "customer_number, email_normalized, external_id, last_modified_at",
        ),
        (
            "deleted",
            "intermediate.int_customers__deleted",
            "customer_id",
            "deleted_at, email_normalized",
        ),
        (
            "identity",
            "intermediate.int_iterable__identities",
            "customer_id",
            "record_key, email, user_id, is_resolved, rejection_reason_code",
        ),
        (
            "mart",
            "marts.dim_customers",
            "customer_id",
            "order_count, lifetime_value_base_amount, is_lifetime_value_incomplete, "
            "lifetime_value_by_currency_json, loyalty_tier",
        ),
    ],
    "order": [
        ("raw", "raw_commercetools.orders", "id", "version, order_state, last_modified_at"),
        (
            "staging",
            "staging.stg_commercetools__orders",
            "order_id",
            "order_number, customer_id, currency_code, total_amount, last_modified_at",
        ),
        (
            "mart",
            "marts.fct_orders",
            "order_id",
            "order_state, line_count, currency_code, total_amount, fx_rate_to_base, "
            "total_base_amount, is_counted_in_lifetime_value",
        ),
        (
            "contact",
            "intermediate.int_iterable__contact_identities",
            "contact_key",
            "email, user_id, is_identifiable, rejection_reason_code",
        ),
    ],
    "cart": [
        ("raw", "raw_commercetools.carts", "id", "version, cart_state, last_modified_at"),
        (
            "mart",
            "marts.fct_carts",
            "cart_id",
            "customer_id, cart_status, line_count, currency_code, total_amount, last_modified_at",
        ),
        (
            "contact",
            "intermediate.int_iterable__contact_identities",
            "contact_key",
            "email, user_id, is_identifiable, rejection_reason_code",
        ),
    ],
    "product": [
        ("raw", "raw_commercetools.products", "id", "version, key, last_modified_at"),
        (
            "mart",
            "marts.dim_products",
            "product_id",
            "product_key, product_name, master_sku, variant_count, is_published",
        ),
    ],
}


def _lineage(reader: _Reader, subject: Subject) -> None:
    for layer, relation, key, columns in _LINEAGE[subject.kind]:
        if not reader.has(relation):
            subject.lineage.append(Step(layer, relation, False, {"note": "not built yet"}))
            continue
        value = f"{subject.kind}:{subject.id}" if key == "contact_key" else subject.id
        row = reader.one(
            relation, f"select {columns} from {{relation}} where {key} = ? limit 1", [value]
        )
        if layer == "deleted" and row is None:
            continue
        subject.lineage.append(Step(layer, relation, row is not None, row or {}))
    if subject.kind == "customer":
        subject.related["purchases"] = reader.rows(
            "audit.audit__record_outcomes",
            "select outcomes.outcome, outcomes.reason_code, count(*) as orders "
            "from {relation} as outcomes inner join marts.fct_orders as orders "
            "on outcomes.source_id = orders.order_id where outcomes.object = 'purchases' "
            "and orders.customer_id = ? group by all order by 3 desc, 1",
            [subject.id],
        )
        subject.related["deletions_acknowledged"] = reader.rows(
            f"{audit_schema()}.sync_ledger",
            "select record_key, operation, acknowledged_at, run_id from {relation} "
            "where object = 'user_deletions' and (record_key = ? or record_key = ? "
            "or record_key = ?)",
            [subject.id, subject.label.lower(), _customer_number(subject)],
        )
    if subject.kind == "product":
        subject.related["order_lines"] = reader.rows(
            "marts.fct_order_lines",
            "select sku, count(*) as lines, sum(quantity) as units from {relation} "
            "where product_id = ? group by sku order by sku",
            [subject.id],
        )


def _customer_number(subject: Subject) -> str:
    for step in subject.lineage:
        number = step.fields.get("customer_number")
        if number:
            return str(number)
    return subject.id


# -- what became of it in Iterable ----------------------------------------------------------


def _outcomes(reader: _Reader, subject: Subject) -> None:
    rows = reader.rows(
        "audit.audit__record_outcomes",
        "select object, record_key, outcome, reason_code, reason_detail from {relation} "
        "where source_type = ? and source_id = ? order by object",
        [subject.kind, subject.id],
    )
    for row in rows:
        obj, key = row["object"], row["record_key"]
        desired = (
            reader.one(
                f"iterable.iterable__{obj}",
                "select payload, payload_hash from {relation} where record_key = ?",
                [key],
            )
            if key is not None and row["outcome"] != "not_sent"
            else None
        )
        acknowledged = (
            reader.one(
                f"{audit_schema()}.sync_ledger",
                "select operation, payload_hash, run_id, acknowledged_at from {relation} "
                "where object = ? and record_key = ?",
                [obj, key],
            )
            if key is not None
            else None
        )
        attempts = (
            reader.rows(
                f"{audit_schema()}.sync_changelog",
                "select attempted_at, run_id, operation, endpoint, http_status, outcome, "
                "reason_code from {relation} where object = ? and record_key = ? "
                f"order by attempted_at desc limit {ATTEMPTS_SHOWN}",
                [obj, key],
            )
            if key is not None
            else []
        )
        rejection = (
            reader.one(
                f"{audit_schema()}.sync_rejections",
                "select reason_code, reason_detail, attempts, first_seen_at, last_seen_at, "
                "last_run_id, replay_requested_at from {relation} where object = ? "
                "and record_key = ? and resolved_at is null order by last_seen_at desc limit 1",
                [obj, key],
            )
            if key is not None
            else None
        )
        payload = json.loads(desired["payload"]) if desired else None
        subject.outcomes.append(
            ObjectOutcome(
                object=obj,
                record_key=key,
                outcome=row["outcome"],
                reason_code=row["reason_code"],
                reason_detail=row["reason_detail"],
                summary=_summary(obj, row, acknowledged, rejection, desired),
                desired_payload=payload,
                acknowledged=acknowledged,
                attempts=attempts,
                open_rejection=rejection,
            )
        )


def _when(ack: dict[str, Any]) -> str:
    moment = ack["acknowledged_at"]
    text = moment.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(moment, datetime) else moment
    return f"{text} (run {str(ack['run_id'])[:12]})"


def _summary(
    obj: str,
    row: dict[str, Any],
    ack: dict[str, Any] | None,
    rejection: dict[str, Any] | None,
    desired: dict[str, Any] | None,
) -> str:
    noun = OBJECT_NOUNS.get(obj, obj)
    outcome, reason, detail = row["outcome"], row["reason_code"], row["reason_detail"]
    held = ""
    if ack is not None and ack["operation"] == "upsert":
        held = f" Iterable still holds the {noun} it acknowledged at {_when(ack)}."
    elif ack is not None:
        held = f" Iterable was told to remove it at {_when(ack)}."
    if outcome == "delivered" and ack is not None:
        return (
            f"Iterable holds this {noun} (record {row['record_key']}), acknowledged at "
            f"{_when(ack)}; it matches what the models want now."
        )
    if outcome == "not_sent":
        return f"Deliberately not sent as a {noun}: {reason} ({detail}).{held}"
    if outcome == "rejected":
        where = "by the models" if rejection is None else "by the sync or Iterable"
        when = ""
        if rejection is not None:
            when = (
                f" Last seen in run {str(rejection['last_run_id'])[:12]} "
                f"after {rejection['attempts']} attempt(s)."
            )
        fix = (
            " Fix the source data, or `ctsync replay` to send it again."
            if rejection is not None
            else " It is sent as soon as its source data is fixed."
        )
        return f"Rejected {where}: {reason} ({detail}).{when}{held}{fix}"
    if outcome == "pending":
        if desired is not None and ack is None:
            state = f"Iterable does not have this {noun} yet"
        else:
            state = f"Iterable holds an older version of this {noun}"
        return f"{state}: the next sync sends the current payload ({reason}).{held}"
    return (
        f"No rule accounts for this {noun}: that is a bug (the dbt test "
        "assert_every_record_has_an_outcome fails)."
    )


# -- rendering ------------------------------------------------------------------------------

_COLOURS = {"delivered": "green", "pending": "yellow", "not_sent": "cyan", "rejected": "red"}


def render_explanation(explanation: Explanation, console: Console) -> None:
    if not explanation.subjects:
        console.print(
            f"Nothing in {explanation.warehouse} matches [bold]{escape(explanation.identifier)}"
            "[/] (tried email, customer id / number / key / external id, order id / number, "
            "cart id, SKU, product id / key). Has `ctsync run` loaded it yet?"
        )
        return
    for subject in explanation.subjects:
        # the CLI's consoles never soft-wrap messages; inside a panel, lines must wrap
        console.print(_subject_panel(subject), soft_wrap=False)
    run = explanation.last_run
    if run:
        console.print(
            f"Last run: {run['run_id']} ({run['status']}, {run['trigger']}), started "
            f"{_fmt(run['started_at'])}."
        )


def _subject_panel(subject: Subject) -> Panel:
    lineage = Table(show_header=True, header_style="bold", expand=True, box=None)
    lineage.add_column("layer", no_wrap=True)
    lineage.add_column("relation", no_wrap=True)
    lineage.add_column("what it holds", overflow="fold")
    for step in subject.lineage:
        shown = (
            ", ".join(f"{k}={_fmt(v)}" for k, v in step.fields.items())
            if step.found
            else (step.fields.get("note") or "[red]not there[/]")
        )
        lineage.add_row(step.layer, step.relation, escape(shown) if step.found else shown)
    parts: list[Any] = [lineage]
    for outcome in subject.outcomes:
        colour = _COLOURS.get(outcome.outcome or "", "red")
        parts.append(
            f"\n[bold]{outcome.object}[/] → [bold {colour}]{outcome.outcome or 'NO OUTCOME'}[/]"
            + (f" [dim]({escape(outcome.reason_code)})[/]" if outcome.reason_code else "")
            + f"\n  {escape(outcome.summary)}"
        )
        for attempt in outcome.attempts:
            parts.append(
                f"  [dim]{_fmt(attempt['attempted_at'])} run {str(attempt['run_id'])[:12]} "
                f"{attempt['operation']} {attempt['endpoint'] or ''} "
                f"HTTP {attempt['http_status'] or '—'} → {attempt['outcome']}"
                f"{' ' + escape(attempt['reason_code']) if attempt['reason_code'] else ''}[/]"
            )
        if outcome.desired_payload is not None:
            text = json.dumps(outcome.desired_payload, ensure_ascii=False)
            parts.append(f"  [dim]payload: {escape(text[:300])}{'…' if len(text) > 300 else ''}[/]")
    purchases = subject.related.get("purchases")
    if purchases:
        listed = ", ".join(
            f"{r['orders']} {r['outcome']}" + (f" ({r['reason_code']})" if r["reason_code"] else "")
            for r in purchases
        )
        parts.append(f"\n[bold]orders of this customer[/]: {escape(listed)}")
    for deletion in subject.related.get("deletions_acknowledged") or []:
        parts.append(
            f"\n[bold]user_deletions[/]: Iterable acknowledged the {deletion['operation']} of "
            f"{escape(str(deletion['record_key']))} at {_fmt(deletion['acknowledged_at'])}"
        )
    lines = subject.related.get("order_lines")
    if lines:
        listed = ", ".join(f"{r['sku']}: {r['lines']} line(s), {r['units']} unit(s)" for r in lines)
        parts.append(f"\n[bold]ordered[/]: {escape(listed)}")
    if not subject.outcomes:
        parts.append("\n[yellow]No outcome recorded: run `ctsync build` (or `ctsync run`).[/]")
    title = (
        f"{subject.kind} {subject.id} — {escape(subject.label)} (matched by {subject.matched_by})"
    )
    texts = [Text.from_markup(p, overflow="fold") if isinstance(p, str) else p for p in parts]
    return Panel(Group(*texts), title=title, title_align="left")


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if value is None:
        return "null"
    return str(value)
