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

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.commercetools.seed_catalog import (
    COUNTRIES,
    CURRENCIES,
    CUSTOMER_GROUPS,
    CUSTOMER_TYPE_KEY,
    LANGUAGES,
    ProductPlan,
    category_drafts,
    channel_drafts,
    customer_type_draft,
    product_plans,
    product_type_drafts,
    store_drafts,
    store_type_draft,
)
from sandbox.commercetools.seed_client import CommercetoolsWriteError, CommercetoolsWriter, iso
from sandbox.commercetools.seed_people import (
    HISTORY_DAYS,
    CartPlan,
    CustomerPlan,
    GuestPlan,
    OrderPlan,
    plan_shoppers,
)

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while seeding."""

# Messages are the only place deletions show up; keep them as long as the API allows.
MESSAGE_RETENTION_DAYS = 90


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


def default_now() -> datetime:
    """Seeding is dated relative to this minute unless a fixed `now` is given."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def seed(
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
    return asyncio.run(
        seed_async(
            api_url,
            auth_url,
            project_key,
            client_id,
            client_secret,
            customers=customers,
            seed=seed,
            now=now,
            concurrency=concurrency,
            progress=progress,
        )
    )


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
        seeder = _Seeder(writer, now, products, summary)
        try:
            await seeder.reference_data(report)
        except CommercetoolsWriteError as exc:
            raise SeedError(str(exc)) from None
        await _run_pool(
            [seeder.customer_job(plan) for plan in shoppers.customers],
            concurrency,
            lambda done: report("customers", done, len(shoppers.customers)),
        )
        await _run_pool(
            [seeder.guest_job(guest) for guest in shoppers.guests],
            concurrency,
            lambda done: report("guests", done, len(shoppers.guests)),
        )
        summary.requests = writer.requests
        summary.retries = writer.retries
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _check_arguments(customers: int, concurrency: int) -> None:
    if customers < 1:
        raise SeedError(f"customers must be at least 1 (got {customers})")
    if concurrency < 1:
        raise SeedError(f"concurrency must be at least 1 (got {concurrency})")


async def _run_pool(
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
        orders_by_store=dict(sorted(Counter(o.store_key for o in all_orders).items())),
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


class _Seeder:
    def __init__(
        self,
        writer: CommercetoolsWriter,
        now: datetime,
        products: list[ProductPlan],
        summary: SeedSummary,
    ) -> None:
        self.w = writer
        self.now = now
        self.products = products
        self.summary = summary
        self.product_ids: dict[str, str] = {}
        # Reference data predates every shopper so that joins on time never miss.
        self.genesis = now - timedelta(days=HISTORY_DAYS + 10)

    async def _create(
        self, path: str, draft: dict[str, Any], what: str, at: datetime | None = None
    ) -> dict[str, Any]:
        try:
            return await self.w.create(path, draft, at=at or self.genesis, what=what)
        except CommercetoolsWriteError as exc:
            if "DuplicateField" in exc.codes and exc.status in (400, 409):
                raise SeedError(
                    f"{what} already exists in project {self.w.project_key!r}: seed an empty "
                    "project (restart the sandbox or reset it) rather than seeding twice"
                ) from None
            raise SeedError(str(exc)) from None

    async def reference_data(self, report: ProgressCallback) -> None:
        steps: list[tuple[str, list[tuple[str, dict[str, Any], str]]]] = [
            (
                "types",
                [
                    ("/types", customer_type_draft(), f"type {CUSTOMER_TYPE_KEY}"),
                    ("/types", store_type_draft(), "type ctsync-store"),
                ],
            ),
            ("channels", [("/channels", d, f"channel {d['key']}") for d in channel_drafts()]),
            ("stores", [("/stores", d, f"store {d['key']}") for d in store_drafts()]),
            (
                "customer groups",
                [
                    ("/customer-groups", {"key": key, "groupName": name}, f"customer group {key}")
                    for key, name in CUSTOMER_GROUPS
                ],
            ),
            (
                "product types",
                [("/product-types", d, f"product type {d['key']}") for d in product_type_drafts()],
            ),
        ]
        total = (
            1 + sum(len(items) for _, items in steps) + len(category_drafts()) + len(self.products)
        )
        done = 0
        report("reference data", done, total)
        await self._ensure_empty()
        await self._project_settings()
        done += 1
        for _, items in steps:
            await asyncio.gather(*(self._create(path, draft, what) for path, draft, what in items))
            done += len(items)
            report("reference data", done, total)
        # Parents must exist before children; the draft list is ordered by depth.
        for draft in category_drafts():
            await self._create("/categories", draft, f"category {draft['key']}")
            done += 1
            report("reference data", done, total)

        async def product(plan: ProductPlan) -> None:
            nonlocal done
            created = await self._create("/products", plan.draft(), f"product {plan.key}")
            self.product_ids[plan.key] = created["id"]
            done += 1
            report("reference data", done, total)

        await asyncio.gather(*(product(plan) for plan in self.products))

    async def _ensure_empty(self) -> None:
        """Refuse a project that already holds a shop: keys would clash half-way through."""
        for resource in ("stores", "customers", "products", "orders"):
            page = await self.w.request(
                "GET",
                f"/{resource}",
                params={"limit": 1, "withTotal": "false"},
                what=f"emptiness check of {resource}",
            )
            if page.get("results"):
                raise SeedError(
                    f"project {self.w.project_key!r} already holds {resource}: seed an empty "
                    "project (restart the sandbox or reset it) rather than seeding twice"
                )

    async def _project_settings(self) -> None:
        wanted = {
            "currencies": CURRENCIES,
            "countries": COUNTRIES,
            "languages": LANGUAGES,
            "messages": {"enabled": True, "deleteDaysAfterCreation": MESSAGE_RETENTION_DAYS},
        }
        try:
            project = await self.w.request("GET", "", what="project settings")
            await self.w.update(
                "",
                project["version"],
                [
                    {"action": "changeCurrencies", "currencies": CURRENCIES},
                    {"action": "changeCountries", "countries": COUNTRIES},
                    {"action": "changeLanguages", "languages": LANGUAGES},
                    {
                        "action": "changeMessagesConfiguration",
                        "messagesConfiguration": wanted["messages"],
                    },
                ],
                at=self.genesis,
                what="project settings",
            )
            self.summary.project_settings = wanted
        except CommercetoolsWriteError as exc:
            # Not fatal: a project whose API client lacks manage_project still gets data.
            self.summary.warnings.append(f"project settings not applied: {exc}")

    # -- shoppers ---------------------------------------------------------------------

    def customer_job(self, plan: CustomerPlan) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            try:
                await self._customer(plan)
            except CommercetoolsWriteError as exc:
                raise SeedError(f"customer {plan.key} ({plan.email!r}): {exc}") from None

        return job

    def guest_job(self, guest: GuestPlan) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            try:
                for order in guest.orders:
                    await self._order(order, customer_id=None, group_key=None)
                for cart in guest.carts:
                    await self._cart(cart, customer_id=None, group_key=None)
            except CommercetoolsWriteError as exc:
                raise SeedError(f"guest {guest.email!r}: {exc}") from None

        return job

    async def _customer(self, plan: CustomerPlan) -> None:
        created_at = plan.created_at
        what = f"customer {plan.key}"
        try:
            customer = await self.w.create("/customers", plan.draft(), at=created_at, what=what)
            version = int(customer["version"])
        except CommercetoolsWriteError as exc:
            if not (plan.shares_email_with and "email" in exc.fields):
                raise
            # The real API allows one email per store; a server that enforces project-wide
            # uniqueness gets the same end state through an email change after creation.
            draft = plan.draft() | {"email": f"{plan.key}@placeholder.invalid"}
            customer = await self.w.create("/customers", draft, at=created_at, what=what)
            customer = await self.w.update(
                f"/customers/{customer['id']}",
                int(customer["version"]),
                [{"action": "changeEmail", "email": plan.email}],
                at=created_at,
                what=what,
            )
            version = int(customer["version"])
        # The stock mock drops CustomerDraft.locale/customerGroup/salutation on create;
        # update actions set them wherever the server did not keep them.
        actions: list[dict[str, Any]] = []
        if customer.get("locale") != plan.locale:
            actions.append({"action": "setLocale", "locale": plan.locale})
        if plan.group_key and not customer.get("customerGroup"):
            actions.append(
                {
                    "action": "setCustomerGroup",
                    "customerGroup": {"typeId": "customer-group", "key": plan.group_key},
                }
            )
        if plan.salutation and customer.get("salutation") != plan.salutation:
            actions.append({"action": "setSalutation", "salutation": plan.salutation})
        if actions:
            await self.w.update(
                f"/customers/{customer['id']}",
                version,
                actions,
                at=created_at + timedelta(seconds=1),
                what=what,
            )
        for order in plan.orders:
            await self._order(order, customer_id=customer["id"], group_key=plan.group_key)
        for cart in plan.carts:
            await self._cart(cart, customer_id=customer["id"], group_key=plan.group_key)

    def _cart_draft(
        self,
        store_key: str,
        currency: str,
        country: str,
        locale: str,
        lines: list[Any],
        email: str | None,
        customer_id: str | None,
        anonymous_id: str | None,
        address: dict[str, Any] | None,
        group_key: str | None,
    ) -> dict[str, Any]:
        draft: dict[str, Any] = {
            "currency": currency,
            "country": country,
            "locale": locale,
            "store": {"typeId": "store", "key": store_key},
            "lineItems": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
            "shippingAddress": _order_address(address, country),
            "billingAddress": _order_address(address, country),
        }
        if email:
            draft["customerEmail"] = email
        if customer_id:
            draft["customerId"] = customer_id
        if anonymous_id:
            draft["anonymousId"] = anonymous_id
        if group_key:
            draft["customerGroup"] = {"typeId": "customer-group", "key": group_key}
        return draft

    async def _order(self, plan: OrderPlan, customer_id: str | None, group_key: str | None) -> None:
        what = f"order {plan.order_number}"
        if plan.via == "cart":
            cart = await self.w.create(
                "/carts",
                self._cart_draft(
                    plan.store_key,
                    plan.currency,
                    plan.country,
                    plan.locale,
                    plan.lines,
                    plan.customer_email,
                    customer_id,
                    plan.anonymous_id,
                    plan.address,
                    group_key,
                ),
                at=plan.created_at - timedelta(minutes=4),
                what=f"cart for {what}",
            )
            order = await self.w.create(
                "/orders",
                {
                    "cart": {"typeId": "cart", "id": cart["id"]},
                    "version": cart["version"],
                    "orderNumber": plan.order_number,
                },
                at=plan.created_at,
                what=what,
            )
        else:
            order = await self.w.create(
                "/orders/import",
                self._import_draft(plan, customer_id),
                at=plan.created_at,
                what=what,
            )
        actions: list[dict[str, Any]] = []
        if order.get("orderState") != plan.order_state:
            actions.append({"action": "changeOrderState", "orderState": plan.order_state})
        if order.get("shipmentState") != plan.shipment_state:
            actions.append({"action": "changeShipmentState", "shipmentState": plan.shipment_state})
        if order.get("paymentState") != plan.payment_state:
            actions.append({"action": "changePaymentState", "paymentState": plan.payment_state})
        if order.get("locale") != plan.locale:
            actions.append({"action": "setLocale", "locale": plan.locale})
        path = f"/orders/{order['id']}"
        if actions:
            order = await self.w.update(
                path, int(order["version"]), actions, at=plan.state_changed_at, what=what
            )
        if plan.return_at is not None:
            sku = plan.lines[plan.return_line].sku
            line_id = next(
                (
                    li["id"]
                    for li in order.get("lineItems", [])
                    if (li.get("variant") or {}).get("sku") == sku
                ),
                None,
            )
            if line_id is None:
                raise SeedError(f"{what}: line with SKU {sku} missing from the created order")
            await self.w.update(
                path,
                int(order["version"]),
                [
                    {
                        "action": "addReturnInfo",
                        "returnTrackingId": f"RT-{plan.order_number}",
                        "returnDate": iso(plan.return_at),
                        "items": [
                            {
                                "quantity": plan.return_quantity,
                                "lineItemId": line_id,
                                "shipmentState": plan.return_shipment_state,
                                "comment": "seeded return",
                            }
                        ],
                    }
                ],
                at=plan.return_at,
                what=f"return for {what}",
            )

    def _import_draft(self, plan: OrderPlan, customer_id: str | None) -> dict[str, Any]:
        draft: dict[str, Any] = {
            "orderNumber": plan.order_number,
            "store": {"typeId": "store", "key": plan.store_key},
            "country": plan.country,
            "locale": plan.locale,
            "totalPrice": {"currencyCode": plan.currency, "centAmount": plan.total},
            "lineItems": [
                {
                    "productId": self.product_ids[line.product_key],
                    "name": line.name,
                    "variant": {"sku": line.sku},
                    "price": {
                        "value": {"currencyCode": plan.currency, "centAmount": line.cent_amount}
                    },
                    "quantity": line.quantity,
                }
                for line in plan.lines
            ],
            "orderState": plan.order_state,
            "shipmentState": plan.shipment_state,
            "paymentState": plan.payment_state,
            "shippingAddress": _order_address(plan.address, plan.country),
            "billingAddress": _order_address(plan.address, plan.country),
            "origin": "Customer",
        }
        if plan.order_state == "Complete":
            draft["completedAt"] = iso(plan.state_changed_at)
        if plan.customer_email:
            draft["customerEmail"] = plan.customer_email
        if customer_id:
            draft["customerId"] = customer_id
        return draft

    async def _cart(self, plan: CartPlan, customer_id: str | None, group_key: str | None) -> None:
        cart = await self.w.create(
            "/carts",
            self._cart_draft(
                plan.store_key,
                plan.currency,
                plan.country,
                plan.locale,
                plan.lines,
                plan.customer_email,
                customer_id,
                plan.anonymous_id,
                None,
                group_key,
            ),
            at=plan.created_at,
            what=f"{plan.kind} cart",
        )
        if plan.extra_line is not None and plan.touched_at is not None:
            await self.w.update(
                f"/carts/{cart['id']}",
                int(cart["version"]),
                [
                    {
                        "action": "addLineItem",
                        "sku": plan.extra_line.sku,
                        "quantity": plan.extra_line.quantity,
                    }
                ],
                at=plan.touched_at,
                what=f"{plan.kind} cart",
            )


def _order_address(address: dict[str, Any] | None, country: str) -> dict[str, Any]:
    if not address:
        return {"country": country}
    return {k: v for k, v in address.items() if k != "key"}


# -- a round of changes -----------------------------------------------------------------


def apply_changes(
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
    return asyncio.run(
        apply_changes_async(
            api_url,
            auth_url,
            project_key,
            client_id,
            client_secret,
            fraction=fraction,
            seed=seed,
            at=at,
            concurrency=concurrency,
        )
    )


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
    if not 0 < fraction <= 1:
        raise SeedError(f"fraction must be in (0, 1] (got {fraction})")
    started = time.monotonic()
    rng = random.Random(seed)
    result = ChangeSummary(seed=seed)
    async with CommercetoolsWriter(
        api_url, auth_url, project_key, client_id, client_secret, concurrency=concurrency
    ) as w:
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
        if not customers:
            raise SeedError(f"project {project_key!r} has no customers: seed it first")
        count = max(1, round(len(customers) * fraction))
        pool = list(customers)
        rng.shuffle(pool)
        email_targets = pool[:count]
        rest = pool[count:]
        # Prefer customers who answered before, so most flips are CustomFieldChanged; a
        # few without the type show the CustomTypeSet path.
        answered = [
            c for c in rest if "emailOptIn" in ((c.get("custom") or {}).get("fields") or {})
        ]
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

        async def change_email(customer: dict[str, Any]) -> None:
            await w.update(
                f"/customers/{customer['id']}",
                int(customer["version"]),
                [{"action": "changeEmail", "email": _changed_email(customer, seed)}],
                at=at,
                what=f"email change of customer {customer.get('key')}",
            )
            result.email_changed.append(customer["id"])

        async def flip_consent(customer: dict[str, Any]) -> None:
            stamp = iso(at or datetime.now(UTC))
            custom = customer.get("custom") or {}
            fields = custom.get("fields") or {}
            actions: list[dict[str, Any]]
            if not custom:
                actions = [
                    {
                        "action": "setCustomType",
                        "type": {"typeId": "type", "key": CUSTOMER_TYPE_KEY},
                        "fields": {"emailOptIn": True, "emailOptInAt": stamp},
                    }
                ]
            elif fields.get("emailOptIn") is True:
                actions = [
                    {"action": "setCustomField", "name": "emailOptIn", "value": False},
                    {"action": "setCustomField", "name": "emailOptOutAt", "value": stamp},
                ]
            else:
                actions = [
                    {"action": "setCustomField", "name": "emailOptIn", "value": True},
                    {"action": "setCustomField", "name": "emailOptInAt", "value": stamp},
                ]
            await w.update(
                f"/customers/{customer['id']}",
                int(customer["version"]),
                actions,
                at=at,
                what=f"consent change of customer {customer.get('key')}",
            )
            result.consent_changed.append(customer["id"])

        async def progress_order(order: dict[str, Any]) -> None:
            if order["orderState"] == "Open":
                actions = [
                    {"action": "changeOrderState", "orderState": "Confirmed"},
                    {"action": "changeShipmentState", "shipmentState": "Shipped"},
                    {"action": "changePaymentState", "paymentState": "Paid"},
                ]
            else:
                actions = [
                    {"action": "changeOrderState", "orderState": "Complete"},
                    {"action": "changeShipmentState", "shipmentState": "Delivered"},
                ]
            await w.update(
                f"/orders/{order['id']}",
                int(order["version"]),
                actions,
                at=at,
                what=f"state change of order {order.get('orderNumber')}",
            )
            result.order_state_changed.append(order["id"])

        async def add_return(order: dict[str, Any]) -> None:
            line = order["lineItems"][0]
            await w.update(
                f"/orders/{order['id']}",
                int(order["version"]),
                [
                    {
                        "action": "addReturnInfo",
                        "returnTrackingId": f"RT-{order.get('orderNumber')}-c{seed}",
                        "returnDate": iso(at or datetime.now(UTC)),
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
                at=at,
                what=f"return for order {order.get('orderNumber')}",
            )
            result.returns_added.append(order["id"])

        async def delete(customer: dict[str, Any]) -> None:
            await w.delete(
                f"/customers/{customer['id']}",
                int(customer["version"]),
                at=at,
                what=f"deletion of customer {customer.get('key')}",
            )
            result.customers_deleted.append(customer["id"])

        jobs: list[Callable[[], Awaitable[None]]] = []
        jobs += [_bind(change_email, c) for c in email_targets]
        jobs += [_bind(flip_consent, c) for c in consent_targets]
        jobs += [_bind(progress_order, o) for o in state_targets]
        jobs += [_bind(add_return, o) for o in return_targets]
        jobs += [_bind(delete, c) for c in delete_targets]
        try:
            await _run_pool(jobs, concurrency, lambda done: None)
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


def _bind(
    fn: Callable[[dict[str, Any]], Awaitable[None]], item: dict[str, Any]
) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await fn(item)

    return job


def _changed_email(customer: dict[str, Any], seed_value: int) -> str:
    email = str(customer.get("email") or "")
    local, sep, domain = email.partition("@")
    if not sep:
        return f"{email}.c{seed_value}"
    return f"{local}.c{seed_value}@{domain}"
