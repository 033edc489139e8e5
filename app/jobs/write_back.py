"""Optional write-back of Iterable opt-outs to commercetools (issue 10, off by default).

With ``sync.consent.write_back_to_commercetools = true`` (env
``SYNC__CONSENT__WRITE_BACK_TO_COMMERCETOOLS``), ``ctsync run`` ends its sync stage by
telling commercetools about opt-outs made in Iterable, so the shop's own account page tells
the truth: for every customer whose decision on a consent rule's **channel** is an Iterable
opt-out newer than commercetools' state (or a complaint / hard bounce) while commercetools
still says opted in, it sets ``<attribute>OptIn = false`` and ``<attribute>OptOutAt`` (the
Iterable time), with the customer's version for optimistic concurrency. A customer changed
in the meantime (409) is left for the next run, which sees the new version. Only channel
opt-outs are written back: leaving one list is not withdrawing the attribute's consent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import orjson

from ctsync.core.redact import redact

log = logging.getLogger("ctsync.write_back")

SETTING = "sync.consent.write_back_to_commercetools"

_PENDING = """
select
    decisions.customer_id,
    decisions.consent_attribute,
    max(coalesce(decisions.complained_at, decisions.hard_bounced_at, decisions.iterable_opt_out_at))
        as opted_out_at,
    max(customers.version) as version
from audit.audit__consent_decisions as decisions
inner join intermediate.int_customers__consent as consent
    on decisions.customer_id = consent.customer_id
    and decisions.iterable_kind = consent.iterable_kind
    and decisions.iterable_id = consent.iterable_id
inner join raw_commercetools.customers as customers
    on decisions.customer_id = customers.id
where decisions.iterable_kind = 'channel'
    and decisions.decision_reason in ('iterable_opt_out', 'complaint', 'hard_bounce')
    and consent.has_opt_in_flag
group by decisions.customer_id, decisions.consent_attribute
order by decisions.customer_id, decisions.consent_attribute
"""


@dataclass
class WriteBackSummary:
    updated: int = 0
    conflicts: int = 0
    failed: int = 0

    def describe(self) -> str:
        return (
            f"wrote {self.updated} Iterable opt-out(s) back to commercetools"
            + (f", {self.conflicts} changed meanwhile (next run)" if self.conflicts else "")
            + (f", {self.failed} failed" if self.failed else "")
        )


def write_back_enabled() -> bool:
    value: Any = dlt.config.get(SETTING)
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False


def pending(warehouse: Path) -> list[tuple[str, str, datetime, int]]:
    """(customer id, consent attribute, Iterable opt-out time, customer version) to write."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            (str(c), str(a), t, int(v))
            for c, a, t, v in con.execute(_PENDING).fetchall()
            if t is not None and v is not None
        ]


def write_back(warehouse: Path, client: Any = None) -> WriteBackSummary:
    """Send the pending opt-outs to commercetools; ``client`` is a ``CommercetoolsClient``."""
    from ctsync.ingest.commercetools.source import load_settings

    summary = WriteBackSummary()
    rows = pending(warehouse)
    if not rows:
        return summary
    own = client is None
    api = client or load_settings().client()
    try:
        base = f"{api.endpoints.api_url}/{api.project_key}"
        for customer_id, attribute, opted_out_at, version in rows:
            when = opted_out_at.replace(tzinfo=UTC).isoformat(timespec="milliseconds")
            body = {
                "version": version,
                "actions": [
                    {"action": "setCustomField", "name": f"{attribute}OptIn", "value": False},
                    {
                        "action": "setCustomField",
                        "name": f"{attribute}OptOutAt",
                        "value": when.replace("+00:00", "Z"),
                    },
                ],
            }
            response = api._http.post(
                f"{base}/customers/{customer_id}",
                content=orjson.dumps(body),
                headers={
                    "Authorization": f"Bearer {api.token()}",
                    "Content-Type": "application/json",
                },
            )
            if response.status_code == 200:
                summary.updated += 1
            elif response.status_code == 409:
                summary.conflicts += 1
            else:
                summary.failed += 1
                log.warning(
                    "write-back of customer %s failed: %s",
                    customer_id,
                    redact(f"HTTP {response.status_code} {response.text[:300]}"),
                )
    finally:
        if own:
            api.close()
    return summary
