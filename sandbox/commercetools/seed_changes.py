"""A round of changes on a seeded project, like a day of shop activity: email changes,
consent flips, order progress, returns and deletions, for incremental loads and
message-driven syncs to find."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ctsync.sandbox.commercetools.documents.base import CUSTOMER_TYPE_KEY
from ctsync.sandbox.commercetools.seed_client import (
    CommercetoolsWriteError,
    CommercetoolsWriter,
    iso,
)
from ctsync.sandbox.commercetools.seed_common import (
    ChangeSummary,
    SeedError,
    bind,
    blocking,
    run_pool,
)

Resource = dict[str, Any]


async def apply_changes_async(
    api_url: str,
    auth_url: str,
    project_key: str,
    client_id: str,
    client_secret: str,
    *,
    fraction: float = 0.01,
    seed: int = 1,
    at: datetime | None = None,
    concurrency: int = 12,
) -> ChangeSummary:
    """Change a `fraction` of a seeded project, like a day of shop activity would.

    Changes emails and flips email consent of `fraction` of the customers, moves
    `fraction` of the orders one state on (Open -> Confirmed -> Complete), adds returns to
    half as many completed orders and deletes half as many customers (at least one of
    each). Which records change depends only on `seed` and the project's content.
    `at` dates the writes (default: the server's now).
    """
    if not 0 < fraction <= 1:
        raise SeedError(f"fraction must be in (0, 1] (got {fraction})")
    started = time.monotonic()
    rng = random.Random(seed)
    result = ChangeSummary(seed=seed)
    async with CommercetoolsWriter(
        api_url, auth_url, project_key, client_id, client_secret, concurrency=concurrency
    ) as w:
        customers, orders = await _read_shop(w)
        if not customers:
            raise SeedError(f"project {project_key!r} has no customers: seed it first")
        targets = _choose_targets(customers, orders, fraction, rng)
        changes = _Changes(w, result, at, seed)
        jobs: list[Callable[[], Awaitable[None]]] = []
        jobs += [bind(changes.change_email, c) for c in targets.email]
        jobs += [bind(changes.flip_consent, c) for c in targets.consent]
        jobs += [bind(changes.progress_order, o) for o in targets.states]
        jobs += [bind(changes.add_return, o) for o in targets.returns]
        jobs += [bind(changes.delete, c) for c in targets.deletions]
        try:
            await run_pool(jobs, concurrency, lambda done: None)
        except CommercetoolsWriteError as exc:
            raise SeedError(str(exc)) from None
        result.requests = w.requests
    for ids in (
        result.email_changed,
        result.consent_changed,
        result.order_state_changed,
        result.returns_added,
        result.customers_deleted,
    ):
        ids.sort()
    result.seconds = round(time.monotonic() - started, 3)
    return result


apply_changes = blocking(apply_changes_async)


async def _read_shop(w: CommercetoolsWriter) -> tuple[list[Resource], list[Resource]]:
    """Every customer and order, in an order that does not depend on the server's."""
    try:
        customers = sorted(
            await w.query_all("customers"), key=lambda c: (str(c.get("key") or ""), c["id"])
        )
        orders = sorted(
            await w.query_all("orders"),
            key=lambda o: (str(o.get("orderNumber") or ""), o["id"]),
        )
    except CommercetoolsWriteError as exc:
        raise SeedError(str(exc)) from None
    return customers, orders


@dataclass
class _Targets:
    email: list[Resource]
    consent: list[Resource]
    deletions: list[Resource]
    states: list[Resource]
    returns: list[Resource]


def _choose_targets(
    customers: list[Resource], orders: list[Resource], fraction: float, rng: random.Random
) -> _Targets:
    """Which records change: disjoint sets of customers, and of orders."""
    count = max(1, round(len(customers) * fraction))
    pool = list(customers)
    rng.shuffle(pool)
    email_targets = pool[:count]
    rest = pool[count:]
    # Prefer customers who answered before, so most flips are CustomFieldChanged; a
    # few without the type show the CustomTypeSet path.
    answered = [c for c in rest if "emailOptIn" in ((c.get("custom") or {}).get("fields") or {})]
    consent_targets = (answered + [c for c in rest if c not in answered])[:count]
    consent_ids = {c["id"] for c in consent_targets}
    delete_targets = [c for c in rest if c["id"] not in consent_ids][: max(1, count // 2)]

    progressing = [o for o in orders if o.get("orderState") in ("Open", "Confirmed")]
    order_count = max(1, round(len(orders) * fraction))
    state_targets = rng.sample(progressing, min(order_count, len(progressing)))
    chosen = {o["id"] for o in state_targets}
    returnable = [
        o
        for o in orders
        if o.get("orderState") == "Complete"
        and not o.get("returnInfo")
        and o["id"] not in chosen
        and o.get("lineItems")
    ]
    return_targets = rng.sample(returnable, min(max(1, order_count // 2), len(returnable)))
    return _Targets(email_targets, consent_targets, delete_targets, state_targets, return_targets)


def _consent_actions(customer: Resource, stamp: str) -> list[dict[str, Any]]:
    """Opt in a customer without the custom type; otherwise flip ``emailOptIn``."""
    custom = customer.get("custom") or {}
    fields = custom.get("fields") or {}
    if not custom:
        return [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "key": CUSTOMER_TYPE_KEY},
                "fields": {"emailOptIn": True, "emailOptInAt": stamp},
            }
        ]
    if fields.get("emailOptIn") is True:
        return [
            {"action": "setCustomField", "name": "emailOptIn", "value": False},
            {"action": "setCustomField", "name": "emailOptOutAt", "value": stamp},
        ]
    return [
        {"action": "setCustomField", "name": "emailOptIn", "value": True},
        {"action": "setCustomField", "name": "emailOptInAt", "value": stamp},
    ]


def _progress_actions(order: Resource) -> list[dict[str, Any]]:
    """One state on: Open -> Confirmed (shipped, paid), Confirmed -> Complete (delivered)."""
    if order["orderState"] == "Open":
        return [
            {"action": "changeOrderState", "orderState": "Confirmed"},
            {"action": "changeShipmentState", "shipmentState": "Shipped"},
            {"action": "changePaymentState", "paymentState": "Paid"},
        ]
    return [
        {"action": "changeOrderState", "orderState": "Complete"},
        {"action": "changeShipmentState", "shipmentState": "Delivered"},
    ]


class _Changes:
    """The writes of one round; each records the id it changed in ``result``."""

    def __init__(
        self, w: CommercetoolsWriter, result: ChangeSummary, at: datetime | None, seed: int
    ) -> None:
        self.w = w
        self.result = result
        self.at = at
        self.seed = seed

    async def change_email(self, customer: Resource) -> None:
        await self.w.update(
            f"/customers/{customer['id']}",
            int(customer["version"]),
            [{"action": "changeEmail", "email": _changed_email(customer, self.seed)}],
            at=self.at,
            what=f"email change of customer {customer.get('key')}",
        )
        self.result.email_changed.append(customer["id"])

    async def flip_consent(self, customer: Resource) -> None:
        stamp = iso(self.at or datetime.now(UTC))
        await self.w.update(
            f"/customers/{customer['id']}",
            int(customer["version"]),
            _consent_actions(customer, stamp),
            at=self.at,
            what=f"consent change of customer {customer.get('key')}",
        )
        self.result.consent_changed.append(customer["id"])

    async def progress_order(self, order: Resource) -> None:
        await self.w.update(
            f"/orders/{order['id']}",
            int(order["version"]),
            _progress_actions(order),
            at=self.at,
            what=f"state change of order {order.get('orderNumber')}",
        )
        self.result.order_state_changed.append(order["id"])

    async def add_return(self, order: Resource) -> None:
        line = order["lineItems"][0]
        await self.w.update(
            f"/orders/{order['id']}",
            int(order["version"]),
            [
                {
                    "action": "addReturnInfo",
                    "returnTrackingId": f"RT-{order.get('orderNumber')}-c{self.seed}",
                    "returnDate": iso(self.at or datetime.now(UTC)),
                    "items": [
                        {
                            "quantity": 1,
                            "lineItemId": line["id"],
                            "shipmentState": "Advised",
                            "comment": "changes round",
                        }
                    ],
                }
            ],
            at=self.at,
            what=f"return for order {order.get('orderNumber')}",
        )
        self.result.returns_added.append(order["id"])

    async def delete(self, customer: Resource) -> None:
        await self.w.delete(
            f"/customers/{customer['id']}",
            int(customer["version"]),
            at=self.at,
            what=f"deletion of customer {customer.get('key')}",
        )
        self.result.customers_deleted.append(customer["id"])


def _changed_email(customer: dict[str, Any], seed_value: int) -> str:
    email = str(customer.get("email") or "")
    local, sep, domain = email.partition("@")
    if not sep:
        return f"{email}.c{seed_value}"
    return f"{local}.c{seed_value}@{domain}"
