"""What every generated document shares: seeded randomness, ids, money and dates, the
fixed reference data (markets, groups, categories, names) and ``Scale``."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Document = dict[str, Any]

_NAMESPACE = uuid.UUID("6f1c1d3e-2b7a-4c55-9a0e-7d9b1f0c2a11")

# Markets: store key, country, locale, currency, fraction digits, tax rate, distribution channel.
STORES: tuple[tuple[str, str, str, str, int, float, str], ...] = (
    ("de-store", "DE", "de-DE", "EUR", 2, 0.19, "web-de"),
    ("nl-store", "NL", "nl-NL", "EUR", 2, 0.21, "web-nl"),
    ("us-store", "US", "en-US", "USD", 2, 0.0, "web-us"),
    ("jp-store", "JP", "ja-JP", "JPY", 0, 0.10, "web-jp"),
)
CUSTOMER_GROUPS: tuple[tuple[str, str], ...] = (
    ("retail", "Retail"),
    ("vip", "VIP"),
    ("wholesale", "Wholesale"),
)
# Category tree: key, parent key, English name.
CATEGORIES: tuple[tuple[str, str | None, str], ...] = (
    ("women", None, "Women"),
    ("men", None, "Men"),
    ("home", None, "Home"),
    ("women-clothing", "women", "Clothing"),
    ("women-shoes", "women", "Shoes"),
    ("men-clothing", "men", "Clothing"),
    ("men-shoes", "men", "Shoes"),
    ("women-dresses", "women-clothing", "Dresses"),
    ("men-shirts", "men-clothing", "Shirts"),
    ("home-kitchen", "home", "Kitchen"),
    ("home-decor", "home", "Decor"),
)
LEAF_CATEGORIES = (
    "women-dresses",
    "women-shoes",
    "men-shirts",
    "men-shoes",
    "home-kitchen",
    "home-decor",
)
CUSTOMER_TYPE_KEY = "ctsync-customer"
STORE_TYPE_KEY = "ctsync-store"
PREFERRED_CHANNELS = ("email", "sms", "push", "none")
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Lars",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Yuki",
)
LAST_NAMES = (
    "de Vries",
    "Müller",
    "Smith",
    "Tanaka",
    "Jansen",
    "Schmidt",
    "Brown",
    "Sato",
    "Bakker",
    "Fischer",
    "Miller",
    "Suzuki",
)
PRODUCT_WORDS = ("Linen", "Cotton", "Wool", "Leather", "Canvas", "Silk", "Oak", "Ceramic")
PRODUCT_NOUNS = {
    "women-dresses": ("Dress", "Kleid", "Jurk", "ドレス"),
    "women-shoes": ("Pump", "Pumps", "Pump", "パンプス"),
    "men-shirts": ("Shirt", "Hemd", "Overhemd", "シャツ"),
    "men-shoes": ("Sneaker", "Sneaker", "Sneaker", "スニーカー"),
    "home-kitchen": ("Mug", "Becher", "Mok", "マグ"),
    "home-decor": ("Vase", "Vase", "Vaas", "花瓶"),
}
ORDER_STATES = ("Open", "Confirmed", "Complete", "Complete", "Complete", "Cancelled")


def stable_id(kind: str, key: str | int, seed: int = 0) -> str:
    """A UUID that depends only on the kind, key and seed."""
    return str(uuid.uuid5(_NAMESPACE, f"{seed}:{kind}:{key}"))


def seeded_rng(seed: int, kind: str, index: int) -> random.Random:
    digest = hashlib.blake2b(f"{seed}:{kind}:{index}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def money(cents: int, currency: str, digits: int) -> Document:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cents,
        "fractionDigits": digits,
    }


def client() -> Document:
    return {"clientId": "ctsync-sandbox-client", "isPlatformClient": False}


@dataclass(frozen=True)
class Scale:
    """How many documents of each kind to generate and the clock they are generated against."""

    customers: int = 100
    orders: int = 300
    carts: int = 40
    products: int = 24
    seed: int = 0
    # Everything happens in the 400 days before `now`; carts in the last 10 days.
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    # Every Nth customer reuses (with other casing) the email of the customer before it,
    # in another store: commercetools allows that for store-scoped customers.
    duplicate_email_every: int = 25
    # Every Nth order is a guest checkout (no customerId).
    guest_order_every: int = 10
    # Every Nth customer has been deleted (absent from customers, present as a message).
    deleted_customer_every: int = 40
    # Every Nth customer changed email (a CustomerEmailChanged message).
    email_changed_every: int = 30
