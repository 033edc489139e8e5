"""Deterministic commercetools-shaped JSON documents, at any scale, as streams.

Every document is a pure function of ``(seed, kind, index)``: the same arguments give the
same bytes, and generating order 2 999 999 does not require generating the orders before
it. That lets tests build a small raw warehouse and the transform benchmark a large one
from the same shapes, and lets orders reference customers and products without holding
them in memory.

Shapes follow the commercetools HTTP API as documented in the TypeScript SDK (Customer,
Order, Cart, Product, Category, Store, CustomerGroup, Type, Message): camelCase names,
``TypedMoney`` as ``{type, currencyCode, centAmount, fractionDigits}``, localized strings
as ``{locale: text}`` maps, references as ``{typeId, id}`` and store key references as
``{typeId: "store", key}``. Customer passwords are never generated (ingest drops them).

Products are ProductProjections (``/product-projections?staged=false``), as ingest reads them.
Load everything into ``raw_commercetools`` with :func:`load_raw`, which goes through the ingest
helper so the raw schema is exactly the one a real ingest produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ctsync.sandbox.commercetools.documents.base import (
    CATEGORIES,
    CUSTOMER_GROUPS,
    CUSTOMER_TYPE_KEY,
    LEAF_CATEGORIES,
    LOYALTY_TIERS,
    ORDER_STATES,
    PREFERRED_CHANNELS,
    STORE_TYPE_KEY,
    STORES,
    Document,
    Scale,
    stable_id,
)
from ctsync.sandbox.commercetools.documents.customers import customer_document, customers
from ctsync.sandbox.commercetools.documents.messages import messages
from ctsync.sandbox.commercetools.documents.orders import (
    cart_document,
    carts,
    order_document,
    orders,
)
from ctsync.sandbox.commercetools.documents.products import products
from ctsync.sandbox.commercetools.documents.reference import (
    categories,
    customer_groups,
    stores,
    types,
)

__all__ = [
    "CATEGORIES",
    "CUSTOMER_GROUPS",
    "CUSTOMER_TYPE_KEY",
    "GENERATORS",
    "LEAF_CATEGORIES",
    "LOYALTY_TIERS",
    "ORDER_STATES",
    "PREFERRED_CHANNELS",
    "STORES",
    "STORE_TYPE_KEY",
    "Document",
    "Scale",
    "cart_document",
    "carts",
    "categories",
    "customer_document",
    "customer_groups",
    "customers",
    "documents",
    "load_raw",
    "messages",
    "order_document",
    "orders",
    "products",
    "stable_id",
    "stores",
    "types",
]

GENERATORS: dict[str, Callable[[Scale], Iterator[Document]]] = {
    "stores": stores,
    "customer_groups": customer_groups,
    "types": types,
    "categories": categories,
    "products": products,
    "customers": customers,
    "orders": orders,
    "carts": carts,
    "messages": messages,
}


def documents(scale: Scale) -> dict[str, Iterator[Document]]:
    """One stream per raw resource name (``raw_commercetools.<name>``)."""
    return {name: generator(scale) for name, generator in GENERATORS.items()}


def load_raw(warehouse: str | Path, scale: Scale) -> None:
    """Generate every resource at ``scale`` and load it into ``raw_commercetools`` via dlt."""
    from ctsync.ingest.commercetools.schema import load_resources

    load_resources(warehouse, {name: _pages(stream) for name, stream in documents(scale).items()})


def _pages(stream: Iterator[Document], size: int = 500) -> Iterator[list[Document]]:
    page: list[Document] = []
    for document in stream:
        page.append(document)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
