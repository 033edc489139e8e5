"""Write a planned shop through the API: project settings and reference data, then each
customer or guest with their orders (checked out from a cart or imported), order state
changes, returns and open carts. ``seeder.seed()`` plans the shop and drives this."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from ctsync.sandbox.commercetools.documents.base import CUSTOMER_TYPE_KEY
from ctsync.sandbox.commercetools.seed_catalog import (
    COUNTRIES,
    CURRENCIES,
    CUSTOMER_GROUPS,
    LANGUAGES,
    ProductPlan,
    category_drafts,
    channel_drafts,
    customer_type_draft,
    product_type_drafts,
    store_drafts,
    store_type_draft,
)
from ctsync.sandbox.commercetools.seed_client import (
    CommercetoolsWriteError,
    CommercetoolsWriter,
    iso,
)
from ctsync.sandbox.commercetools.seed_common import ProgressCallback, SeedError, SeedSummary
from ctsync.sandbox.commercetools.seed_people import (
    HISTORY_DAYS,
    BasketPlan,
    CartPlan,
    CustomerPlan,
    GuestPlan,
    OrderPlan,
)

# Messages are the only place deletions show up; keep them as long as the API allows.
MESSAGE_RETENTION_DAYS = 90


class ShopSeeder:
    """Writes one planned shop: reference data first, then each shopper's history."""

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
        self, plan: BasketPlan, customer_id: str | None, group_key: str | None
    ) -> dict[str, Any]:
        """The cart an order is checked out from, or a cart left open (no address yet)."""
        address = plan.address if isinstance(plan, OrderPlan) else None
        draft: dict[str, Any] = {
            "currency": plan.market.currency,
            "country": plan.market.country,
            "locale": plan.market.language,
            "store": {"typeId": "store", "key": plan.market.store_key},
            "lineItems": [{"sku": line.sku, "quantity": line.quantity} for line in plan.lines],
            "shippingAddress": _order_address(address, plan.market.country),
            "billingAddress": _order_address(address, plan.market.country),
        }
        if plan.customer_email:
            draft["customerEmail"] = plan.customer_email
        if customer_id:
            draft["customerId"] = customer_id
        if plan.anonymous_id:
            draft["anonymousId"] = plan.anonymous_id
        if group_key:
            draft["customerGroup"] = {"typeId": "customer-group", "key": group_key}
        return draft

    async def _order(self, plan: OrderPlan, customer_id: str | None, group_key: str | None) -> None:
        what = f"order {plan.order_number}"
        order = await self._place(plan, customer_id, group_key, what)
        actions: list[dict[str, Any]] = []
        if order.get("orderState") != plan.order_state:
            actions.append({"action": "changeOrderState", "orderState": plan.order_state})
        if order.get("shipmentState") != plan.shipment_state:
            actions.append({"action": "changeShipmentState", "shipmentState": plan.shipment_state})
        if order.get("paymentState") != plan.payment_state:
            actions.append({"action": "changePaymentState", "paymentState": plan.payment_state})
        if order.get("locale") != plan.market.language:
            actions.append({"action": "setLocale", "locale": plan.market.language})
        if actions:
            order = await self.w.update(
                f"/orders/{order['id']}",
                int(order["version"]),
                actions,
                at=plan.state_changed_at,
                what=what,
            )
        if plan.return_at is not None:
            await self._return(plan, order, what)

    async def _place(
        self, plan: OrderPlan, customer_id: str | None, group_key: str | None, what: str
    ) -> dict[str, Any]:
        """The order, checked out from a new cart or imported (``plan.via``)."""
        if plan.via != "cart":
            return await self.w.create(
                "/orders/import",
                self._import_draft(plan, customer_id),
                at=plan.created_at,
                what=what,
            )
        cart = await self.w.create(
            "/carts",
            self._cart_draft(plan, customer_id, group_key),
            at=plan.created_at - timedelta(minutes=4),
            what=f"cart for {what}",
        )
        return await self.w.create(
            "/orders",
            {
                "cart": {"typeId": "cart", "id": cart["id"]},
                "version": cart["version"],
                "orderNumber": plan.order_number,
            },
            at=plan.created_at,
            what=what,
        )

    async def _return(self, plan: OrderPlan, order: dict[str, Any], what: str) -> None:
        assert plan.return_at is not None
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
            f"/orders/{order['id']}",
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
            "store": {"typeId": "store", "key": plan.market.store_key},
            "country": plan.market.country,
            "locale": plan.market.language,
            "totalPrice": {"currencyCode": plan.market.currency, "centAmount": plan.total},
            "lineItems": [
                {
                    "productId": self.product_ids[line.product_key],
                    "name": line.name,
                    "variant": {"sku": line.sku},
                    "price": {
                        "value": {
                            "currencyCode": plan.market.currency,
                            "centAmount": line.cent_amount,
                        }
                    },
                    "quantity": line.quantity,
                }
                for line in plan.lines
            ],
            "orderState": plan.order_state,
            "shipmentState": plan.shipment_state,
            "paymentState": plan.payment_state,
            "shippingAddress": _order_address(plan.address, plan.market.country),
            "billingAddress": _order_address(plan.address, plan.market.country),
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
            self._cart_draft(plan, customer_id, group_key),
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
