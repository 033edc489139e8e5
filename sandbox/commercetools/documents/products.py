"""Products as ProductProjections (``/product-projections?staged=false``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from ctsync.sandbox.commercetools.documents.base import (
    LEAF_CATEGORIES,
    PRODUCT_NOUNS,
    PRODUCT_WORDS,
    Document,
    Scale,
    iso,
    money,
    seeded_rng,
    stable_id,
)


@dataclass(frozen=True)
class ProductFacts:
    product_id: str
    key: str
    category: str
    names: dict[str, str]
    variants: tuple[tuple[int, str, dict[str, int]], ...]  # (variant id, sku, {currency: cents})


def product_facts(scale: Scale, index: int) -> ProductFacts:
    rng = seeded_rng(scale.seed, "product", index)
    category = LEAF_CATEGORIES[index % len(LEAF_CATEGORIES)]
    word = PRODUCT_WORDS[rng.randrange(len(PRODUCT_WORDS))]
    nouns = PRODUCT_NOUNS[category]
    names = {
        "en": f"{word} {nouns[0]} {index}",
        "de-DE": f"{word} {nouns[1]} {index}",
        "nl-NL": f"{word} {nouns[2]} {index}",
        "ja-JP": f"{nouns[3]} {index}",
    }
    base_eur = rng.randrange(900, 15000)
    variants = []
    for variant_id, size in enumerate(("S", "M", "L")[: 2 + index % 2], start=1):
        cents = base_eur + (variant_id - 1) * 100
        prices = {"EUR": cents, "USD": cents + cents // 10, "JPY": cents * 16 // 10}
        variants.append((variant_id, f"SKU-{index:05d}-{size}", prices))
    return ProductFacts(
        stable_id("product", index, scale.seed),
        f"product-{index:05d}",
        category,
        names,
        tuple(variants),
    )


def variant_document(
    scale: Scale, facts: ProductFacts, variant: tuple[int, str, dict[str, int]]
) -> Document:
    variant_id, sku, prices = variant
    return {
        "id": variant_id,
        "sku": sku,
        "key": sku.lower(),
        "prices": [
            {
                "id": stable_id("price", f"{sku}-{currency}", scale.seed),
                "value": money(cents, currency, 0 if currency == "JPY" else 2),
            }
            for currency, cents in prices.items()
        ],
        "images": [
            {
                "url": f"https://images.example.com/{sku.lower()}.jpg",
                "dimensions": {"w": 800, "h": 800},
            }
        ],
        "attributes": [{"name": "size", "value": sku.rsplit("-", 1)[1]}],
        "assets": [],
    }


def products(scale: Scale) -> Iterator[Document]:
    created = scale.now - timedelta(days=700)
    for index in range(scale.products):
        facts = product_facts(scale, index)
        slug = {locale: name.lower().replace(" ", "-") for locale, name in facts.names.items()}
        data = {
            "name": facts.names,
            "description": {"en": f"{facts.names['en']}, made to last."},
            "categories": [
                {"typeId": "category", "id": stable_id("category", facts.category, scale.seed)}
            ],
            "categoryOrderHints": {},
            "slug": slug,
            "masterVariant": variant_document(scale, facts, facts.variants[0]),
            "variants": [variant_document(scale, facts, v) for v in facts.variants[1:]],
            "searchKeywords": {},
            "attributes": [],
        }
        # Ingest reads /product-projections?staged=false: the published current data,
        # flattened from masterData.current. Unpublished products are not returned at all.
        if index % 12 == 11:
            continue
        yield {
            "id": facts.product_id,
            "version": 3,
            "key": facts.key,
            "productType": {
                "typeId": "product-type",
                "id": stable_id("product-type", "apparel", scale.seed),
            },
            **data,
            "hasStagedChanges": False,
            "published": True,
            "createdAt": iso(created + timedelta(hours=index)),
            "lastModifiedAt": iso(created + timedelta(hours=index, days=30)),
        }
