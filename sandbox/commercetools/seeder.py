"""Seed a commercetools project with realistic, deterministic commerce data over HTTP.

``seed()`` writes a whole shop (markets, catalogue, customers, guests, carts, orders with
history) through the public API, like an integration would; ``apply_changes()`` writes
"a round of changes" (email changes, consent flips, order progress, returns, deletions)
for incremental loads and message-driven syncs to find.

Both are deterministic for a given seed: the plan is computed from one seeded
``random.Random`` before any request is sent, so ids differ between runs but the business
content (emails, names, order numbers, lines, totals, states) does not.

Writes carry ``X-Sandbox-Timestamp`` so the sandbox server backdates them over the past
two years; against a real project the header is ignored and everything is dated "now".
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime

from ctsync.sandbox.commercetools.seed_catalog import (
    CUSTOMER_GROUPS,
    ProductPlan,
    category_drafts,
    channel_drafts,
    product_plans,
    product_type_drafts,
    store_drafts,
)
from ctsync.sandbox.commercetools.seed_changes import apply_changes, apply_changes_async
from ctsync.sandbox.commercetools.seed_client import (
    CommercetoolsWriteError,
    CommercetoolsWriter,
    iso,
)
from ctsync.sandbox.commercetools.seed_common import (
    ChangeSummary,
    ProgressCallback,
    SeedError,
    SeedSummary,
    blocking,
    run_pool,
)
from ctsync.sandbox.commercetools.seed_people import (
    CustomerPlan,
    GuestPlan,
    plan_shoppers,
)
from ctsync.sandbox.commercetools.seed_shop import ShopSeeder

__all__ = [
    "ChangeSummary",
    "ProgressCallback",
    "SeedError",
    "SeedSummary",
    "apply_changes",
    "apply_changes_async",
    "default_now",
    "seed",
    "seed_async",
]


def default_now() -> datetime:
    """Seeding is dated relative to this minute unless a fixed `now` is given."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def seed_async(
    api_url: str,
    auth_url: str,
    project_key: str,
    client_id: str,
    client_secret: str,
    *,
    customers: int = 1000,
    seed: int = 42,
    now: datetime | None = None,
    concurrency: int = 12,
    progress: ProgressCallback | None = None,
) -> SeedSummary:
    """Seed an empty project; return exact counts of what was written.

    `customers` registered customers are created (about a fifth as many guests shop
    without an account); each has on average about 2.6 orders.
    """
    _check_arguments(customers, concurrency)
    started = time.monotonic()
    now = (now or default_now()).astimezone(UTC)
    rng = random.Random(seed)
    products = product_plans(rng)
    shoppers = plan_shoppers(customers, rng, now, products)
    summary = _summarize_plan(project_key, seed, now, products, shoppers.customers, shoppers.guests)
    report = progress or (lambda phase, done, total: None)

    async with CommercetoolsWriter(
        api_url, auth_url, project_key, client_id, client_secret, concurrency=concurrency
    ) as writer:
        seeder = ShopSeeder(writer, now, products, summary)
        try:
            await seeder.reference_data(report)
        except CommercetoolsWriteError as exc:
            raise SeedError(str(exc)) from None
        await run_pool(
            [seeder.customer_job(plan) for plan in shoppers.customers],
            concurrency,
            lambda done: report("customers", done, len(shoppers.customers)),
        )
        await run_pool(
            [seeder.guest_job(guest) for guest in shoppers.guests],
            concurrency,
            lambda done: report("guests", done, len(shoppers.guests)),
        )
        summary.requests = writer.requests
        summary.retries = writer.retries
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


seed = blocking(seed_async)


def _check_arguments(customers: int, concurrency: int) -> None:
    if customers < 1:
        raise SeedError(f"customers must be at least 1 (got {customers})")
    if concurrency < 1:
        raise SeedError(f"concurrency must be at least 1 (got {concurrency})")


def _summarize_plan(
    project_key: str,
    seed_value: int,
    now: datetime,
    products: list[ProductPlan],
    customers: list[CustomerPlan],
    guests: list[GuestPlan],
) -> SeedSummary:
    all_orders = [o for c in customers for o in c.orders] + [o for g in guests for o in g.orders]
    all_carts = [c for p in customers for c in p.carts] + [c for g in guests for c in g.carts]
    by_store: Counter[str] = Counter()
    for customer in customers:
        by_store.update(customer.stores)
    return SeedSummary(
        project_key=project_key,
        seed=seed_value,
        now=iso(now),
        customers=len(customers),
        customers_by_store=dict(sorted(by_store.items())),
        customers_global=sum(1 for c in customers if not c.stores),
        customers_multi_store=sum(1 for c in customers if len(c.stores) > 1),
        customers_shared_email=sum(1 for c in customers if c.shares_email_with),
        customers_without_consent=sum(
            1 for c in customers if not c.custom_fields or "emailOptIn" not in c.custom_fields
        ),
        customers_opted_in=sum(
            1 for c in customers if c.custom_fields and c.custom_fields.get("emailOptIn") is True
        ),
        customers_malformed_email=sum(1 for c in customers if c.malformed_email),
        customers_missing_name=sum(1 for c in customers if c.missing_name),
        guests=len(guests),
        guests_reusing_customer_email=sum(1 for g in guests if g.reuses_customer_email),
        guests_malformed_email=sum(1 for g in guests if g.malformed_email),
        orders=len(all_orders),
        guest_orders=sum(len(g.orders) for g in guests),
        orders_imported=sum(1 for o in all_orders if o.via == "import"),
        orders_by_state=dict(sorted(Counter(o.order_state for o in all_orders).items())),
        orders_by_shipment_state=dict(
            sorted(Counter(o.shipment_state for o in all_orders).items())
        ),
        orders_by_payment_state=dict(sorted(Counter(o.payment_state for o in all_orders).items())),
        orders_by_store=dict(sorted(Counter(o.market.store_key for o in all_orders).items())),
        orders_with_returns=sum(1 for o in all_orders if o.return_at is not None),
        order_lines=sum(len(o.lines) for o in all_orders),
        # Every checkout goes through a cart, so ordered carts count too.
        carts=len(all_carts) + sum(1 for o in all_orders if o.via == "cart"),
        carts_by_kind=dict(
            sorted(
                (
                    Counter(c.kind for c in all_carts)
                    + Counter({"ordered": sum(1 for o in all_orders if o.via == "cart")})
                ).items()
            )
        ),
        products=len(products),
        product_variants=sum(len(p.variants) for p in products),
        product_types=len(product_type_drafts()),
        categories=len(category_drafts()),
        stores=len(store_drafts()),
        channels=len(channel_drafts()),
        customer_groups=len(CUSTOMER_GROUPS),
        types=2,
    )
