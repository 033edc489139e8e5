"""The deterministic plan of shoppers: registered customers, guests, their carts and orders.

Everything here is computed from one seeded ``random.Random`` and a fixed "now", before
any request is sent, so the business content of a seeded project (emails, names, order
numbers, lines, totals, states, timestamps) depends only on (customers, seed, now).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ctsync.sandbox.commercetools.documents.base import LOYALTY_TIERS, PREFERRED_CHANNELS
from ctsync.sandbox.commercetools.seed_catalog import (
    MARKET_BY_STORE,
    MARKETS,
    Market,
    ProductPlan,
)

HISTORY_DAYS = 730

FIRST_NAMES = {
    "DE": ["Anna", "Lukas", "Lea", "Felix", "Mia", "Jonas", "Sophie", "Paul", "Marie", "Leon"],
    "GB": ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Emily", "Noah", "Grace"],
    "US": ["James", "Olivia", "Liam", "Emma", "Ethan", "Mia", "Mason", "Ella", "Lucas", "Chloe"],
    "FR": ["Louis", "Camille", "Hugo", "Chloe", "Arthur", "Ines", "Jules", "Lea", "Adam", "Manon"],
}
LAST_NAMES = {
    "DE": ["Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"],
    "GB": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas"],
    "US": ["Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Lee", "Walker"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"],
}
STREETS = {
    "DE": ["Hauptstrasse", "Bahnhofstrasse", "Gartenweg", "Lindenallee"],
    "GB": ["High Street", "Station Road", "Church Lane", "Park Avenue"],
    "US": ["Main Street", "Oak Avenue", "Maple Drive", "Elm Street"],
    "FR": ["Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin", "Boulevard Voltaire"],
}
US_STATES = {"New York": "NY", "Austin": "TX", "Seattle": "WA"}
SALUTATIONS = {
    "DE": ["Frau", "Herr"],
    "GB": ["Ms", "Mr"],
    "US": ["Ms.", "Mr."],
    "FR": ["Madame", "Monsieur"],
}

# Malformed addresses a real shop accumulates (typos, imports from old systems).
MALFORMED_EMAILS = [
    "{local}@@example",
    "no-at-sign.{local}.example.com",
    "{local}@example",
    "{local}@exa mple.com",
]


def _weighted(rng: random.Random, choices: list[tuple[Any, float]]) -> Any:
    values = [c[0] for c in choices]
    weights = [c[1] for c in choices]
    return rng.choices(values, weights=weights, k=1)[0]


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end] (milliseconds would not survive every API)."""
    if end <= start:
        return start
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randint(0, seconds))


@dataclass
class LinePlan:
    sku: str
    product_key: str
    name: dict[str, str]
    quantity: int
    cent_amount: int  # unit price in the order's currency

    @property
    def total(self) -> int:
        return self.cent_amount * self.quantity


@dataclass(kw_only=True)
class BasketPlan:
    """What an order and a cart share: their market, lines and shopper."""

    market: Market
    created_at: datetime
    lines: list[LinePlan]
    customer_email: str | None
    anonymous_id: str | None = None


@dataclass(kw_only=True)
class OrderPlan(BasketPlan):
    order_number: str
    order_state: str
    shipment_state: str
    payment_state: str
    state_changed_at: datetime
    via: str  # "cart" (checkout) or "import" (migrated from an older shop)
    address: dict[str, Any] | None = None
    return_at: datetime | None = None
    return_line: int = 0
    return_quantity: int = 1
    return_shipment_state: str = "Returned"

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)


@dataclass(kw_only=True)
class CartPlan(BasketPlan):
    kind: str  # "active" (touched in the last day) or "abandoned" (idle for days)
    touched_at: datetime | None = None  # a later addLineItem, so lastModifiedAt > createdAt
    extra_line: LinePlan | None = None


@dataclass
class CustomerPlan:
    index: int
    key: str
    customer_number: str
    external_id: str
    email: str
    first_name: str | None
    last_name: str | None
    market: Market
    stores: list[str]
    locale: str
    salutation: str | None
    group_key: str | None
    date_of_birth: str | None
    addresses: list[dict[str, Any]]
    custom_fields: dict[str, Any] | None
    created_at: datetime
    orders: list[OrderPlan] = field(default_factory=list)
    carts: list[CartPlan] = field(default_factory=list)
    shares_email_with: str | None = None  # key of the customer in another store
    malformed_email: bool = False
    missing_name: bool = False

    def draft(self) -> dict[str, Any]:
        draft: dict[str, Any] = {
            "key": self.key,
            "customerNumber": self.customer_number,
            "externalId": self.external_id,
            "email": self.email,
            # A throwaway password: ingestion must drop the stored hash, so seed one.
            "password": f"seed-{self.key}",
            "isEmailVerified": not self.malformed_email and self.index % 3 != 0,
            "stores": [{"typeId": "store", "key": s} for s in self.stores],
            "addresses": self.addresses,
            "locale": self.locale,
        }
        if self.group_key:
            draft["customerGroup"] = {"typeId": "customer-group", "key": self.group_key}
        if self.salutation:
            draft["salutation"] = self.salutation
        if self.addresses:
            draft["defaultShippingAddress"] = 0
            draft["defaultBillingAddress"] = 0
            draft["shippingAddresses"] = list(range(len(self.addresses)))
            draft["billingAddresses"] = [0]
        if self.first_name:
            draft["firstName"] = self.first_name
        if self.last_name:
            draft["lastName"] = self.last_name
        if self.date_of_birth:
            draft["dateOfBirth"] = self.date_of_birth
        if self.custom_fields is not None:
            draft["custom"] = {
                "type": {"typeId": "type", "key": "ctsync-customer"},
                "fields": self.custom_fields,
            }
        return draft


@dataclass
class GuestPlan:
    email: str
    orders: list[OrderPlan] = field(default_factory=list)
    carts: list[CartPlan] = field(default_factory=list)
    reuses_customer_email: bool = False
    malformed_email: bool = False


@dataclass
class ShopperPlan:
    customers: list[CustomerPlan]
    guests: list[GuestPlan]


class _Planner:
    def __init__(self, rng: random.Random, now: datetime, products: list[ProductPlan]) -> None:
        self.rng = rng
        self.now = now
        self.skus: list[tuple[ProductPlan, dict[str, Any]]] = [
            (product, variant) for product in products for variant in product.variants
        ]
        self.order_seq = 0

    def lines(self, currency: str, count: int) -> list[LinePlan]:
        picked = self.rng.sample(self.skus, count)
        return [
            LinePlan(
                sku=variant["sku"],
                product_key=product.key,
                name=product.name,
                quantity=_weighted(self.rng, [(1, 75), (2, 20), (3, 5)]),
                cent_amount=product.prices[variant["sku"]][currency],
            )
            for product, variant in picked
        ]

    def address(
        self, market: Market, first: str | None, last: str | None, key: str
    ) -> dict[str, Any]:
        city, postal = self.rng.choice(market.cities)
        address: dict[str, Any] = {
            "key": key,
            "country": market.country,
            "city": city,
            "postalCode": postal,
            "streetName": self.rng.choice(STREETS[market.country]),
            "streetNumber": str(self.rng.randint(1, 180)),
        }
        if first:
            address["firstName"] = first
        if last:
            address["lastName"] = last
        if market.country == "US":
            address["state"] = US_STATES[city]
        return address

    def order(
        self,
        market: Market,
        created_at: datetime,
        email: str | None,
        *,
        anonymous_id: str | None = None,
        address: dict[str, Any] | None = None,
    ) -> OrderPlan:
        self.order_seq += 1
        rng = self.rng
        age_days = (self.now - created_at).total_seconds() / 86400
        if age_days < 3:
            state = _weighted(rng, [("Open", 60), ("Confirmed", 30), ("Cancelled", 10)])
        elif age_days < 14:
            state = _weighted(
                rng, [("Open", 5), ("Confirmed", 50), ("Complete", 35), ("Cancelled", 10)]
            )
        else:
            state = _weighted(rng, [("Confirmed", 7), ("Complete", 85), ("Cancelled", 8)])
        shipment, payment = {
            "Open": ("Pending", "Pending"),
            "Confirmed": (rng.choice(["Ready", "Shipped"]), "Paid"),
            "Complete": ("Delivered", "Paid"),
            "Cancelled": ("Canceled", rng.choice(["Failed", "CreditOwed"])),
        }[state]
        latest = self.now - timedelta(minutes=5)
        changed = min(
            _between(rng, created_at + timedelta(hours=1), created_at + timedelta(days=5)), latest
        )
        changed = max(changed, created_at)
        lines = self.lines(market.currency, _weighted(rng, [(1, 35), (2, 35), (3, 20), (4, 10)]))
        plan = OrderPlan(
            order_number=f"{market.country}-{self.order_seq:08d}",
            market=market,
            created_at=created_at,
            lines=lines,
            order_state=state,
            shipment_state=shipment,
            payment_state=payment,
            state_changed_at=changed,
            via="import" if rng.random() < 0.2 else "cart",
            customer_email=email,
            anonymous_id=anonymous_id,
            address=address,
        )
        if state == "Complete" and rng.random() < 0.12:
            plan.return_at = min(
                _between(rng, changed + timedelta(days=1), changed + timedelta(days=20)), latest
            )
            plan.return_at = max(plan.return_at, changed)
            plan.return_line = rng.randrange(len(lines))
            plan.return_quantity = rng.randint(1, lines[plan.return_line].quantity)
            plan.return_shipment_state = rng.choice(["Returned", "Returned", "Advised"])
        return plan

    def cart(
        self, market: Market, after: datetime, email: str | None, anonymous_id: str | None = None
    ) -> CartPlan:
        rng = self.rng
        kind = _weighted(rng, [("abandoned", 70), ("active", 30)])
        if kind == "active":
            created = _between(rng, self.now - timedelta(hours=20), self.now - timedelta(hours=1))
        else:
            created = _between(rng, self.now - timedelta(days=30), self.now - timedelta(days=2))
        created = max(created, after + timedelta(minutes=1))
        lines = self.lines(market.currency, _weighted(rng, [(1, 50), (2, 35), (3, 15)]))
        plan = CartPlan(
            kind=kind,
            market=market,
            created_at=created,
            lines=lines,
            customer_email=email,
            anonymous_id=anonymous_id,
        )
        if rng.random() < 0.5:
            taken = {line.sku for line in lines}
            candidates = [line for line in self.lines(market.currency, 5) if line.sku not in taken]
            if candidates:
                plan.extra_line = candidates[0]
                plan.touched_at = created + timedelta(minutes=rng.randint(2, 50))
        return plan


def _email_local(first: str | None, last: str | None, index: int, prefix: str = "") -> str:
    parts = [p.lower() for p in (first, last) if p]
    if not parts:
        parts = ["customer"]
    return prefix + ".".join(parts) + f".{index:06d}"


def plan_shoppers(
    customers: int, rng: random.Random, now: datetime, products: list[ProductPlan]
) -> ShopperPlan:
    """Plan `customers` registered customers and about a fifth as many guests."""
    planner = _Planner(rng, now, products)
    market_weights = [(m, m.weight) for m in MARKETS]
    indexes = list(range(customers))

    # Rare cases get a floor so that even a 100-customer test project holds each of them.
    def pick(count: int, pool: list[int]) -> set[int]:
        return set(rng.sample(pool, min(len(pool), count)))

    malformed = pick(max(2, customers // 100), indexes[1:])
    missing_name = pick(max(2, customers // 50), [i for i in indexes if i not in malformed])
    # Customer 0 is never malformed, global or a twin, so every twin has an original.
    global_customers = pick(max(1, customers // 20), [i for i in indexes[1:] if i not in malformed])
    no_original = malformed | global_customers
    twins = pick(max(3, customers // 50), [i for i in indexes[1:] if i not in no_original])
    no_original |= twins
    single_store = global_customers | twins
    multi_store = pick(max(2, customers // 12), [i for i in indexes if i not in single_store])
    originals: list[CustomerPlan] = []  # who a later twin may share an email with

    plans: list[CustomerPlan] = []
    for index in indexes:
        market: Market = _weighted(rng, market_weights)
        first: str | None = rng.choice(FIRST_NAMES[market.country])
        last: str | None = rng.choice(LAST_NAMES[market.country])
        if index in missing_name:
            if rng.random() < 0.5:
                first = None
            else:
                first, last = None, None
        local = _email_local(first, last, index)
        email = f"{local}@{market.email_domain}"
        shares_with = None
        if index in twins:
            if originals:
                original = rng.choice(originals)
                market = rng.choice([m for m in MARKETS if m.store_key not in original.stores])
                email = original.email
                shares_with = original.key
                original.shares_email_with = original.shares_email_with or f"cust-{index:07d}"
        if index in malformed:
            email = rng.choice(MALFORMED_EMAILS).format(local=local)

        stores: list[str] = [] if index in global_customers else [market.store_key]
        if index in multi_store:
            stores.append(rng.choice([m.store_key for m in MARKETS if m is not market]))
        created = _between(rng, now - timedelta(days=HISTORY_DAYS), now - timedelta(days=2))

        addresses = [planner.address(market, first, last, "home")]
        if rng.random() < 0.2:
            addresses.append(planner.address(market, first, last, "work"))

        custom: dict[str, Any] | None = None
        consent_roll = rng.random()
        if consent_roll >= 0.2:
            custom = {
                "loyaltyTier": _weighted(
                    rng, list(zip(LOYALTY_TIERS, [50, 30, 15, 5], strict=True))
                ),
                "preferredChannel": rng.choice(PREFERRED_CHANNELS),
            }
            if consent_roll >= 0.3:  # the rest carry the type but never answered
                opted_in_at = created + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
                if rng.random() < 0.6:
                    custom["emailOptIn"] = True
                    custom["emailOptInAt"] = _iso(opted_in_at)
                else:
                    custom["emailOptIn"] = False
                    if rng.random() < 0.3:
                        custom["emailOptInAt"] = _iso(opted_in_at)
                        custom["emailOptOutAt"] = _iso(
                            _between(rng, opted_in_at, now - timedelta(days=1))
                        )
            if rng.random() < 0.6:
                digits = "".join(str(rng.randint(0, 9)) for _ in range(8))
                custom["phone"] = (
                    f"{market.phone_prefix}{digits}" if rng.random() > 0.03 else f"0{digits[:4]}-"
                )
                if rng.random() < 0.35:
                    custom["smsOptIn"] = True
                    custom["smsOptInAt"] = _iso(
                        created + timedelta(minutes=rng.randint(0, 10 * 24 * 60))
                    )
        dob = None
        if rng.random() < 0.85:
            dob = f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        plan = CustomerPlan(
            index=index,
            key=f"cust-{index:07d}",
            customer_number=f"C{index + 100000:07d}",
            external_id=f"crm-{(index * 7919 + 13) % 10_000_000:07d}",
            email=email,
            first_name=first,
            last_name=last,
            market=market,
            stores=stores,
            locale=market.language,
            salutation=rng.choice(SALUTATIONS[market.country]) if first else None,
            group_key=_weighted(rng, [("standard", 70), ("vip", 15), ("wholesale", 5), (None, 10)]),
            date_of_birth=dob,
            addresses=addresses,
            custom_fields=custom,
            created_at=created,
            shares_email_with=shares_with,
            malformed_email=index in malformed,
            missing_name=index in missing_name,
        )
        if index not in no_original:
            originals.append(plan)
        n_orders = _weighted(
            rng, [(0, 12), (1, 20), (2, 22), (3, 18), (4, 12), (5, 8), (6, 5), (8, 3)]
        )
        times = sorted(
            _between(rng, created + timedelta(hours=1), now - timedelta(minutes=10))
            for _ in range(n_orders)
        )
        for at in times:
            order_market = market
            if len(stores) > 1 and rng.random() < 0.3:
                order_market = MARKET_BY_STORE[stores[1]]
            plan.orders.append(
                planner.order(
                    order_market,
                    at,
                    email,
                    address=addresses[0] if order_market is market else None,
                )
            )
        if rng.random() < 0.15:
            plan.carts.append(planner.cart(market, created, email))
        plans.append(plan)

    guests: list[GuestPlan] = []
    usable = list({p.email: p for p in plans if not p.malformed_email}.values())
    n_guests = max(5, customers // 5)
    malformed_guests = pick(max(1, n_guests // 100), list(range(1, n_guests)))
    for g in range(n_guests):
        market = _weighted(rng, market_weights)
        first = rng.choice(FIRST_NAMES[market.country])
        last = rng.choice(LAST_NAMES[market.country])
        reuse = bool(usable) and rng.random() < 0.1
        if g in malformed_guests:
            email = f"guest-{g:06d}-at-{market.email_domain}"
        elif reuse:
            # pop, so each reused address stands for one guest (the summary counts guests
            # as distinct order emails)
            email = usable.pop(rng.randrange(len(usable))).email
        else:
            email = f"{_email_local(first, last, g, 'guest.')}@{market.email_domain}"
        guest = GuestPlan(
            email=email,
            reuses_customer_email=reuse and g not in malformed_guests,
            malformed_email=g in malformed_guests,
        )
        n_orders = _weighted(rng, [(1, 70), (2, 25), (3, 5)])
        times = sorted(
            _between(rng, now - timedelta(days=HISTORY_DAYS), now - timedelta(minutes=10))
            for _ in range(n_orders)
        )
        for at in times:
            anonymous_id = f"anon-{g:06d}-{planner.order_seq + 1:08d}"
            guest.orders.append(
                planner.order(
                    market,
                    at,
                    email,
                    anonymous_id=anonymous_id,
                    address=planner.address(market, first, last, "shipping"),
                )
            )
        if rng.random() < 0.1:
            guest.carts.append(planner.cart(market, times[0], email, f"anon-{g:06d}-cart"))
        guests.append(guest)
    return ShopperPlan(customers=plans, guests=guests)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
