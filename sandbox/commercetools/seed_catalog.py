"""Reference data the seeder writes before any shopper: markets, channels, groups,
the customer custom type, the category tree, product types and products.

All of it is fixed (or derived from the seed) so that two seeded projects agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# The custom types' keys and the values of their fields are the same in the generated
# documents (`documents/`): the dbt models read them.
from ctsync.sandbox.commercetools.documents.base import (
    CUSTOMER_TYPE_KEY,
    LOYALTY_TIERS,
    STORE_TYPE_KEY,
)

CURRENCIES = ["EUR", "GBP", "USD"]
COUNTRIES = ["DE", "FR", "GB", "US"]
# Store languages must be project languages, so the regional English tags are listed too.
LANGUAGES = ["en", "de", "fr", "en-GB", "en-US"]


@dataclass(frozen=True)
class Market:
    store_key: str
    name: dict[str, str]
    currency: str
    country: str
    language: str
    languages: list[str]
    email_domain: str
    phone_prefix: str
    cities: list[tuple[str, str]]
    weight: float


MARKETS: list[Market] = [
    Market(
        "de-store",
        {"en": "Germany", "de": "Deutschland"},
        "EUR",
        "DE",
        "de",
        ["de", "en"],
        "example.de",
        "+4915",
        [("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667")],
        0.35,
    ),
    Market(
        "uk-store",
        {"en": "United Kingdom"},
        "GBP",
        "GB",
        "en-GB",
        ["en-GB", "en"],
        "example.co.uk",
        "+447",
        [("London", "EC1A 1BB"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 4AP")],
        0.25,
    ),
    Market(
        "us-store",
        {"en": "United States"},
        "USD",
        "US",
        "en-US",
        ["en-US", "en"],
        "example.com",
        "+1555",
        [("New York", "10001"), ("Austin", "73301"), ("Seattle", "98101")],
        0.25,
    ),
    Market(
        "fr-store",
        {"en": "France", "fr": "France"},
        "EUR",
        "FR",
        "fr",
        ["fr", "en"],
        "example.fr",
        "+336",
        [("Paris", "75001"), ("Lyon", "69001"), ("Marseille", "13001")],
        0.15,
    ),
]
MARKET_BY_STORE = {m.store_key: m for m in MARKETS}

CHANNEL_KINDS = ["web", "app"]

CUSTOMER_GROUPS = [("standard", "Standard"), ("vip", "VIP"), ("wholesale", "Wholesale")]


def _field(name: str, label: str, type_: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "label": {"en": label},
        "required": False,
        "type": type_,
        "inputHint": "SingleLine",
    }


def customer_type_draft() -> dict[str, Any]:
    """The customer custom type holding consent and loyalty (the dbt models read these)."""
    return {
        "key": CUSTOMER_TYPE_KEY,
        "name": {"en": "ctsync customer: consent and loyalty"},
        "description": {"en": "Marketing consent per channel, loyalty tier, contact preference"},
        "resourceTypeIds": ["customer"],
        "fieldDefinitions": [
            _field("emailOptIn", "Email marketing opt-in", {"name": "Boolean"}),
            _field("emailOptInAt", "Email opt-in time", {"name": "DateTime"}),
            _field("emailOptOutAt", "Email opt-out time", {"name": "DateTime"}),
            _field("smsOptIn", "SMS marketing opt-in", {"name": "Boolean"}),
            _field("smsOptInAt", "SMS opt-in time", {"name": "DateTime"}),
            _field("phone", "Mobile phone (E.164)", {"name": "String"}),
            _field(
                "loyaltyTier",
                "Loyalty tier",
                {
                    "name": "Enum",
                    "values": [{"key": t, "label": t.capitalize()} for t in LOYALTY_TIERS],
                },
            ),
            _field("preferredChannel", "Preferred contact channel", {"name": "String"}),
        ],
    }


def store_type_draft() -> dict[str, Any]:
    """Stores have no currency field; real projects keep the market's currency on a type."""
    return {
        "key": STORE_TYPE_KEY,
        "name": {"en": "ctsync store: market settings"},
        "resourceTypeIds": ["store"],
        "fieldDefinitions": [
            _field("currency", "Market currency (ISO 4217)", {"name": "String"}),
            _field("country", "Market country (ISO 3166-1)", {"name": "String"}),
            _field("defaultLocale", "Default locale", {"name": "String"}),
        ],
    }


def channel_drafts() -> list[dict[str, Any]]:
    return [
        {
            "key": f"{m.store_key.removesuffix('-store')}-{kind}",
            "roles": ["ProductDistribution"],
            "name": {"en": f"{m.name['en']} {kind}"},
        }
        for m in MARKETS
        for kind in CHANNEL_KINDS
    ]


def store_drafts() -> list[dict[str, Any]]:
    return [
        {
            "key": m.store_key,
            "name": m.name,
            "languages": m.languages,
            "countries": [{"code": m.country}],
            "distributionChannels": [
                {"typeId": "channel", "key": f"{m.store_key.removesuffix('-store')}-{kind}"}
                for kind in CHANNEL_KINDS
            ],
            "custom": {
                "type": {"typeId": "type", "key": STORE_TYPE_KEY},
                "fields": {
                    "currency": m.currency,
                    "country": m.country,
                    "defaultLocale": m.language,
                },
            },
        }
        for m in MARKETS
    ]


# (key, en, de, fr, parent key)
CATEGORIES: list[tuple[str, str, str, str, str | None]] = [
    ("women", "Women", "Damen", "Femme", None),
    ("men", "Men", "Herren", "Homme", None),
    ("home", "Home", "Wohnen", "Maison", None),
    ("women-clothing", "Clothing", "Bekleidung", "Vêtements", "women"),
    ("women-shoes", "Shoes", "Schuhe", "Chaussures", "women"),
    ("men-clothing", "Clothing", "Bekleidung", "Vêtements", "men"),
    ("men-accessories", "Accessories", "Accessoires", "Accessoires", "men"),
    ("home-kitchen", "Kitchen", "Küche", "Cuisine", "home"),
    ("home-living", "Living", "Wohnzimmer", "Salon", "home"),
    ("women-dresses", "Dresses", "Kleider", "Robes", "women-clothing"),
    ("women-tops", "Tops", "Oberteile", "Hauts", "women-clothing"),
    ("women-sneakers", "Sneakers", "Sneaker", "Baskets", "women-shoes"),
    ("men-shirts", "Shirts", "Hemden", "Chemises", "men-clothing"),
    ("men-trousers", "Trousers", "Hosen", "Pantalons", "men-clothing"),
    ("men-watches", "Watches", "Uhren", "Montres", "men-accessories"),
    ("home-cookware", "Cookware", "Kochgeschirr", "Batterie de cuisine", "home-kitchen"),
    ("home-lamps", "Lamps", "Lampen", "Lampes", "home-living"),
]
LEAF_CATEGORIES = [c[0] for c in CATEGORIES if not any(o[4] == c[0] for o in CATEGORIES)]


def _slug(text: str) -> str:
    keep = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in keep.split("-") if part)


def category_drafts() -> list[dict[str, Any]]:
    """Drafts in parent-before-child order; slugs are unique per locale as the API requires."""
    drafts = []
    for position, (key, en, de, fr, parent) in enumerate(CATEGORIES):
        draft: dict[str, Any] = {
            "key": key,
            "externalId": f"cat-{position + 1:03d}",
            "name": {"en": en, "de": de, "fr": fr},
            "slug": {"en": key, "de": f"{_slug(de)}-{key}", "fr": f"{_slug(fr)}-{key}"},
            "orderHint": f"0.{position + 1:03d}",
        }
        if parent:
            draft["parent"] = {"typeId": "category", "key": parent}
        drafts.append(draft)
    return drafts


PRODUCT_TYPES: dict[str, dict[str, Any]] = {
    "apparel": {
        "name": "Apparel",
        "attributes": [("size", "Size"), ("color", "Colour")],
        "sizes": ["XS", "S", "M", "L", "XL"],
        "leaves": ["women-dresses", "women-tops", "men-shirts", "men-trousers"],
    },
    "shoes": {
        "name": "Shoes",
        "attributes": [("size", "Size"), ("color", "Colour")],
        "sizes": ["37", "38", "39", "40", "41", "42", "43"],
        "leaves": ["women-sneakers"],
    },
    "accessories": {
        "name": "Accessories",
        "attributes": [("color", "Colour")],
        "sizes": [],
        "leaves": ["men-watches"],
    },
    "homeware": {
        "name": "Homeware",
        "attributes": [("material", "Material")],
        "sizes": [],
        "leaves": ["home-cookware", "home-lamps"],
    },
}

COLORS = [
    ("black", "Schwarz", "Noir"),
    ("white", "Weiß", "Blanc"),
    ("navy", "Marine", "Marine"),
    ("red", "Rot", "Rouge"),
    ("green", "Grün", "Vert"),
    ("beige", "Beige", "Beige"),
]
MATERIALS = ["steel", "cast iron", "ceramic", "oak", "brass", "glass"]
NOUNS: dict[str, list[tuple[str, str, str]]] = {
    "women-dresses": [
        ("Wrap Dress", "Wickelkleid", "Robe portefeuille"),
        ("Maxi Dress", "Maxikleid", "Robe longue"),
        ("Shirt Dress", "Blusenkleid", "Robe chemise"),
    ],
    "women-tops": [
        ("Linen Blouse", "Leinenbluse", "Blouse en lin"),
        ("Striped Tee", "Ringelshirt", "T-shirt rayé"),
    ],
    "men-shirts": [
        ("Oxford Shirt", "Oxfordhemd", "Chemise Oxford"),
        ("Linen Shirt", "Leinenhemd", "Chemise en lin"),
    ],
    "men-trousers": [
        ("Chinos", "Chinohose", "Chino"),
        ("Wool Trousers", "Wollhose", "Pantalon en laine"),
    ],
    "women-sneakers": [
        ("Court Sneaker", "Court-Sneaker", "Basket court"),
        ("Running Sneaker", "Laufschuh", "Basket de course"),
    ],
    "men-watches": [
        ("Field Watch", "Feldsuhr", "Montre de terrain"),
        ("Dress Watch", "Dresswatch", "Montre habillée"),
    ],
    "home-cookware": [("Dutch Oven", "Bräter", "Cocotte"), ("Skillet", "Pfanne", "Poêle")],
    "home-lamps": [
        ("Desk Lamp", "Schreibtischlampe", "Lampe de bureau"),
        ("Floor Lamp", "Stehlampe", "Lampadaire"),
    ],
}
# Rough FX so that the three price lists look like a real shop's, ending in .99/.00.
FX = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08}


@dataclass
class ProductPlan:
    key: str
    product_type: str
    name: dict[str, str]
    slug: dict[str, str]
    categories: list[str]
    variants: list[dict[str, Any]]
    # sku -> currency -> centAmount, so orders can be priced without asking the server
    prices: dict[str, dict[str, int]] = field(default_factory=dict)

    def draft(self) -> dict[str, Any]:
        variant_drafts = []
        for variant in self.variants:
            sku = variant["sku"]
            variant_drafts.append(
                {
                    "sku": sku,
                    "key": sku.lower(),
                    "attributes": variant["attributes"],
                    "prices": [
                        {
                            "key": f"{sku.lower()}-{currency.lower()}",
                            "value": {"currencyCode": currency, "centAmount": cents},
                        }
                        for currency, cents in self.prices[sku].items()
                    ],
                }
            )
        return {
            "key": self.key,
            "productType": {"typeId": "product-type", "key": self.product_type},
            "name": self.name,
            "slug": self.slug,
            "description": {lang: f"{text}." for lang, text in self.name.items()},
            "categories": [{"typeId": "category", "key": c} for c in self.categories],
            "masterVariant": variant_drafts[0],
            "variants": variant_drafts[1:],
            "publish": True,
        }


def product_type_drafts() -> list[dict[str, Any]]:
    drafts = []
    for key, spec in PRODUCT_TYPES.items():
        drafts.append(
            {
                "key": key,
                "name": spec["name"],
                "description": f"{spec['name']} products",
                "attributes": [
                    {
                        "name": name,
                        "label": {"en": label},
                        "isRequired": False,
                        "type": {"name": "text"},
                        "attributeConstraint": "None",
                        "isSearchable": True,
                        "inputHint": "SingleLine",
                    }
                    for name, label in spec["attributes"]
                ],
            }
        )
    return drafts


def _price(rng: random.Random) -> int:
    return rng.choice([19, 24, 29, 39, 49, 59, 79, 99, 129, 149, 199]) * 100 - 1


def product_plans(rng: random.Random) -> list[ProductPlan]:
    """Two colourways per noun: about 34 products with 1-5 variants each."""
    plans: list[ProductPlan] = []
    for type_key, spec in PRODUCT_TYPES.items():
        for leaf in spec["leaves"]:
            parent = next(c[4] for c in CATEGORIES if c[0] == leaf) or leaf
            for noun_en, noun_de, noun_fr in NOUNS[leaf]:
                for color_en, color_de, color_fr in rng.sample(COLORS, 2):
                    number = len(plans) + 1
                    key = f"prod-{number:03d}"
                    name = {
                        "en": f"{color_en.capitalize()} {noun_en}",
                        "de": f"{noun_de} {color_de}",
                        "fr": f"{noun_fr} {color_fr.lower()}",
                    }
                    slug = {lang: f"{_slug(text)}-{number:03d}" for lang, text in name.items()}
                    sizes = spec["sizes"]
                    picked = (
                        sorted(
                            rng.sample(sizes, min(len(sizes), rng.randint(2, 5))), key=sizes.index
                        )
                        if sizes
                        else [None]
                    )
                    base = _price(rng)
                    variants = []
                    prices: dict[str, dict[str, int]] = {}
                    for size in picked:
                        sku = f"SKU-{number:03d}" + (f"-{size}" if size else "")
                        attributes: list[dict[str, Any]] = []
                        if size:
                            attributes.append({"name": "size", "value": size})
                        if "color" in [a[0] for a in spec["attributes"]]:
                            attributes.append({"name": "color", "value": color_en})
                        if type_key == "homeware":
                            attributes.append({"name": "material", "value": rng.choice(MATERIALS)})
                        variants.append({"sku": sku, "attributes": attributes})
                        prices[sku] = {
                            cur: int(round(base * fx / 100.0)) * 100 - 1 if cur != "EUR" else base
                            for cur, fx in FX.items()
                        }
                    plans.append(
                        ProductPlan(
                            key=key,
                            product_type=type_key,
                            name=name,
                            slug=slug,
                            categories=[leaf, parent] if rng.random() < 0.3 else [leaf],
                            variants=variants,
                            prices=prices,
                        )
                    )
    return plans
