"""What seeding a shop and a round of changes share: their errors, their summaries and
the worker pool that runs their writes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while seeding."""


class SeedError(RuntimeError):
    """Seeding could not complete; the message says which record and why."""


@dataclass
class SeedSummary:
    """Exact counts of what `seed()` wrote, for tests to reconcile loads against.

    - `customers`: registered customers (including the malformed and shared-email ones);
      `customers_by_store` counts store memberships, so a customer in two stores counts
      twice and a global customer (`customers_global`, no stores) not at all.
    - `customers_shared_email`: customers whose email another customer (in another
      store) also has; `customers_without_consent`: no `emailOptIn` field at all.
    - `guests`: distinct emails of orders without a customer; `guest_orders` their orders.
    - `orders` includes `guest_orders`; `orders_imported` came through `/orders/import`
      (no cart), the rest were checked out from a cart.
    - `carts` includes the ordered ones; `carts_by_kind` splits them into `ordered`,
      `active` (touched in the last day) and `abandoned` (idle 2-30 days, with items).
    - `types`: the customer type `ctsync-customer` and the store type `ctsync-store`.
    """

    project_key: str
    seed: int
    now: str
    customers: int = 0
    customers_by_store: dict[str, int] = field(default_factory=dict)
    customers_global: int = 0
    customers_multi_store: int = 0
    customers_shared_email: int = 0
    customers_without_consent: int = 0
    customers_opted_in: int = 0
    customers_malformed_email: int = 0
    customers_missing_name: int = 0
    deleted_customers: int = 0
    guests: int = 0
    guests_reusing_customer_email: int = 0
    guests_malformed_email: int = 0
    orders: int = 0
    guest_orders: int = 0
    orders_imported: int = 0
    orders_by_state: dict[str, int] = field(default_factory=dict)
    orders_by_shipment_state: dict[str, int] = field(default_factory=dict)
    orders_by_payment_state: dict[str, int] = field(default_factory=dict)
    orders_by_store: dict[str, int] = field(default_factory=dict)
    orders_with_returns: int = 0
    order_lines: int = 0
    carts: int = 0
    carts_by_kind: dict[str, int] = field(default_factory=dict)
    products: int = 0
    product_variants: int = 0
    product_types: int = 0
    categories: int = 0
    stores: int = 0
    channels: int = 0
    customer_groups: int = 0
    types: int = 0
    project_settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChangeSummary:
    """What one `apply_changes()` round changed: resource ids per kind of change."""

    seed: int
    email_changed: list[str] = field(default_factory=list)
    consent_changed: list[str] = field(default_factory=list)
    order_state_changed: list[str] = field(default_factory=list)
    returns_added: list[str] = field(default_factory=list)
    customers_deleted: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def total(self) -> int:
        return (
            len(self.email_changed)
            + len(self.consent_changed)
            + len(self.order_state_changed)
            + len(self.returns_added)
            + len(self.customers_deleted)
        )


def blocking(function: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """A blocking twin of the coroutine function `function`, with its signature, defaults
    and checks (written once, on the async one)."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(function(*args, **kwargs))

    run.__name__ = run.__qualname__ = function.__name__.removesuffix("_async")
    return run


async def run_pool(
    jobs: Iterable[Callable[[], Awaitable[None]]],
    workers: int,
    on_done: Callable[[int], None],
) -> None:
    """Run jobs with a fixed number of workers; the first failure stops the pool."""
    queue = list(jobs)
    queue.reverse()
    done = 0
    on_done(0)

    async def worker() -> None:
        nonlocal done
        while queue:
            job = queue.pop()
            await job()
            done += 1
            on_done(done)

    tasks = [asyncio.create_task(worker()) for _ in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def bind(
    fn: Callable[[dict[str, Any]], Awaitable[None]], item: dict[str, Any]
) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await fn(item)

    return job
