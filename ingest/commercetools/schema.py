"""The one definition of the raw commercetools tables in ``raw_commercetools``.

Both the API source (``ctsync.ingest.commercetools.source``) and any raw-data generator (tests,
``bench/transform.py``) load through :func:`make_resource`, so the column names are exactly
what dlt's normalizer makes of commercetools JSON with these hints:

- snake_case names; nested objects flattened with ``__`` (``custom.fields.newsletterOptIn``
  becomes ``custom__fields__newsletter_opt_in``, ``totalPrice.centAmount`` becomes
  ``total_price__cent_amount``);
- lists at the first level become child tables linked by ``_dlt_parent_id`` → ``_dlt_id``
  (``orders__line_items``, ``customers__addresses``, ``orders__return_info``, and one level
  further ``orders__return_info__items``, …); merge
  loading also adds ``_dlt_root_id`` (the root row's ``_dlt_id``) to every nested row;
- anything deeper than :data:`MAX_TABLE_NESTING` levels, and the columns listed in
  ``json_columns``, stay JSON (DuckDB ``JSON``): localized strings (``name``, ``slug``,
  ``description``: ``{"en": "...", "de-DE": "..."}``), price lists, attribute lists.

Products come from ``/product-projections`` with ``staged=false``: the current (published)
data, already flattened from ``masterData.current``, which is what customers can buy and what
Iterable's catalog should show. Unpublished products are therefore not loaded.

Messages are merged on ``id`` too: a message never changes, and the look-back window fetches
some of them twice. Their cursor is ``createdAt`` (``sequenceNumber`` is per resource, not
global, so it cannot order all messages). The payload fields whose type varies with the
custom field or message type (``value``, ``previousValue``, ``oldValue``) are stored as JSON
*text* (``true``, ``"gold"``, ``{"key": ...}``) so they never split into ``__v_<type>``
variant columns.

``password`` (the customer's password hash) is removed before anything is stored, from a
customer and from the customer a message embeds (``CustomerCreated`` carries the whole
customer).

Documents reach dlt as Arrow tables (:mod:`ctsync.ingest.commercetools.arrow` applies the rules
above page by page) and DuckDB as Parquet files (``LOADER_FILE_FORMAT``): dlt's row-by-row
JSON normalizer took longer than fetching the data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import dlt
import pyarrow as pa
from dlt.common.destination import TLoaderFileFormat
from dlt.common.pipeline import LoadInfo
from dlt.extract.items_transform import ItemTransform, YieldMapItem
from dlt.extract.resource import DltResource

from ctsync.ingest.commercetools.arrow import (
    PAGE,
    PageConverter,
    concat_parts,
    prune_replaced_children,
    with_load_id,
)

DATASET_NAME = "raw_commercetools"
MAX_TABLE_NESTING = 2
PAGE_SIZE = 500
BATCH_ROWS = 5000
LOADER_FILE_FORMAT: TLoaderFileFormat = "parquet"
DROPPED_FIELDS: frozenset[str] = frozenset({"password"})

_LOCALIZED = ("name", "slug", "description", "meta_title", "meta_description", "meta_keywords")
_LINE_ITEM_JSON = (
    "name",
    "product_slug",
    "discounted_price_per_quantity",
    "taxed_price_portions",
    "per_method_tax_rate",
    "state",
    "variant__prices",
    "variant__attributes",
    "variant__images",
    "variant__assets",
    "price__value",
    "price__discounted",
    "taxed_price__tax_portions",
)
_CUSTOM_LINE_ITEM_JSON = ("name", "slug", "money", "state", "discounted_price_per_quantity")
_ORDER_LIKE_JSON = (
    "taxed_price__tax_portions",
    "taxed_shipping_price__tax_portions",
    "payment_info__payments",
    "shipping_info__deliveries",
    "shipping_info__tax_rate",
    "shipping_info__shipping_rate",
    "shipping",
    "item_shipping_addresses",
    "discount_codes",
    "direct_discounts",
    "refused_gifts",
    "sync_info",
    "warnings",
)


@dataclass(frozen=True)
class RawTable:
    """How one commercetools resource lands in ``raw_commercetools``."""

    name: str
    endpoint: str
    """Path below ``{api_url}/{project_key}/``."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Fixed query parameters sent with every page (e.g. ``staged=false``)."""
    primary_key: str = "id"
    write_disposition: str = "merge"
    cursor_field: str = "lastModifiedAt"
    """The API field the incremental load advances on (``where=<field> >= :since``)."""
    json_columns: tuple[str, ...] = ()
    """Root-table columns (normalized names) kept as JSON instead of flattened."""
    nested_json_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per child table (path below the root, normalized): columns kept as JSON."""
    json_text_fields: tuple[str, ...] = ()
    """Top-level API fields of varying type, stored as JSON text."""
    max_table_nesting: int = MAX_TABLE_NESTING
    drops_secrets: bool = False
    """True for resources that may carry ``password`` hashes (at any depth)."""

    def columns(self) -> dict[str, dict[str, Any]]:
        hints: dict[str, dict[str, Any]] = {c: {"data_type": "json"} for c in self.json_columns}
        for api_field in self.json_text_fields:
            hints[_snake(api_field)] = {"data_type": "text"}
        # Keyed by the API name: dlt's incremental adds its cursor hint under that name too,
        # and two spellings of one column would collide after normalization.
        hints[self.cursor_field] = {"data_type": "timestamp", "nullable": True}
        hints[self.primary_key] = {"data_type": "text", "nullable": False}
        return hints


def _snake(api_field: str) -> str:
    out = []
    for char in api_field:
        if char.isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


TABLES: dict[str, RawTable] = {
    table.name: table
    for table in (
        RawTable(
            name="customers",
            endpoint="customers",
            json_columns=(
                "shipping_address_ids",
                "billing_address_ids",
                "customer_group_assignments",
            ),
            drops_secrets=True,
        ),
        RawTable(
            name="orders",
            endpoint="orders",
            json_columns=_ORDER_LIKE_JSON,
            nested_json_columns={
                "line_items": _LINE_ITEM_JSON,
                "custom_line_items": _CUSTOM_LINE_ITEM_JSON,
            },
        ),
        RawTable(
            name="carts",
            endpoint="carts",
            json_columns=_ORDER_LIKE_JSON,
            nested_json_columns={
                "line_items": _LINE_ITEM_JSON,
                "custom_line_items": _CUSTOM_LINE_ITEM_JSON,
            },
        ),
        RawTable(
            name="products",
            endpoint="product-projections",
            params={"staged": "false"},
            json_columns=(
                *_LOCALIZED,
                "search_keywords",
                "category_order_hints",
                "attributes",
                "master_variant__prices",
                "master_variant__attributes",
                "master_variant__images",
                "master_variant__assets",
                "master_variant__availability",
            ),
            nested_json_columns={
                "variants": ("prices", "attributes", "images", "assets", "availability"),
            },
        ),
        RawTable(
            name="categories",
            endpoint="categories",
            json_columns=(*_LOCALIZED, "assets"),
        ),
        RawTable(name="customer_groups", endpoint="customer-groups"),
        RawTable(
            name="stores",
            endpoint="stores",
            json_columns=(
                "name",
                "languages",
                "countries",
                "distribution_channels",
                "supply_channels",
                "product_selections",
            ),
        ),
        RawTable(
            name="types",
            endpoint="types",
            json_columns=("name", "description", "resource_type_ids"),
            nested_json_columns={
                "field_definitions": ("label", "input_hint", "type__element_type", "type__values"),
            },
        ),
        RawTable(
            name="messages",
            endpoint="messages",
            cursor_field="createdAt",
            max_table_nesting=1,
            json_columns=(
                "customer",
                "order",
                "cart",
                "return_info",
                "line_item",
                "address",
                "addresses",
                "stores",
                "custom_line_item",
                "payment",
                "delivery",
                "parcel",
                "shipping_info",
                "shipping_address",
                "billing_address",
                "name_all_locales",
            ),
            json_text_fields=("value", "previousValue", "oldValue"),
            drops_secrets=True,
        ),
    )
}

RESOURCE_NAMES: tuple[str, ...] = tuple(TABLES)

DELETION_MESSAGES: dict[str, tuple[str, str]] = {
    "customers": ("customer", "CustomerDeleted"),
    "orders": ("order", "OrderDeleted"),
    "products": ("product", "ProductDeleted"),
    "categories": ("category", "CategoryDeleted"),
    "stores": ("store", "StoreDeleted"),
    "customer_groups": ("customer-group", "CustomerGroupDeleted"),
}
"""Raw table → (message ``resource.typeId``, message ``type``) that announces a deletion.

Polling ``lastModifiedAt`` never sees a deleted resource; these messages do, and the ingest
removes the rows they name (see ``ctsync.ingest.pipeline.apply_deletions``)."""

RECONCILED_RESOURCES: dict[str, str] = {
    **{name: type_id for name, (type_id, _) in DELETION_MESSAGES.items()},
    "carts": "cart",
}
"""Raw table → ``resource.typeId`` of what id reconciliation checks for deletions
(``ctsync.ingest.pipeline.reconcile_deletions``): every resource with a deletion message, plus
carts, which commercetools deletes (by hand or after ``deleteDaysAfterLastModification``)
without any message, so comparing ids is the only way to notice."""


def table(resource_name: str) -> RawTable:
    """The :class:`RawTable` of ``resource_name``, or a ``KeyError`` naming the valid ones."""
    try:
        return TABLES[resource_name]
    except KeyError:
        raise KeyError(
            f"unknown commercetools resource {resource_name!r}; "
            f"known resources: {', '.join(RESOURCE_NAMES)}"
        ) from None


def _strip_secrets(document: dict[str, Any]) -> dict[str, Any]:
    """Drop secret fields at the top level and in embedded resources one level down.

    That covers where commercetools puts password hashes (a customer, and the customer a
    ``CustomerCreated`` message embeds) without walking every nested list of every row,
    which would cost more than the rest of the extraction.
    """
    out = {}
    for key, value in document.items():
        if key in DROPPED_FIELDS:
            continue
        if isinstance(value, dict) and not DROPPED_FIELDS.isdisjoint(value):
            value = {k: v for k, v in value.items() if k not in DROPPED_FIELDS}
        out[key] = value
    return out


def prepare_document(raw: RawTable, document: dict[str, Any]) -> dict[str, Any]:
    """Apply the storage rules that hints cannot express: drop secrets, encode varying fields.

    Raises ``ValueError`` naming the resource and record when the document has no primary key.
    """
    if not isinstance(document, dict):
        raise ValueError(
            f"{raw.name}: expected a JSON object per record, got {type(document).__name__}"
        )
    if not document.get(raw.primary_key):
        raise ValueError(
            f"{raw.name}: record without {raw.primary_key!r} "
            f"(keys: {', '.join(sorted(document)[:10])}); cannot merge it"
        )
    if raw.drops_secrets:
        document = _strip_secrets(document)
    for api_field in raw.json_text_fields:
        if api_field in document:
            document = dict(document)
            document[api_field] = json.dumps(document[api_field], separators=(",", ":"))
    return document


def apply_hints(resource: DltResource, resource_name: str) -> DltResource:
    """Give ``resource`` the table name, keys and JSON columns of ``resource_name``.

    Child tables get their hints from :func:`arrow_items` as they appear.
    """
    raw = table(resource_name)
    resource.apply_hints(
        table_name=raw.name,
        primary_key=raw.primary_key,
        write_disposition=raw.write_disposition,  # type: ignore[arg-type]
        columns=cast(Any, raw.columns()),
    )
    resource.max_table_nesting = raw.max_table_nesting
    return resource


class _PageStep(YieldMapItem):
    """Like dlt's ``add_yield_map`` step, but a list (a page) reaches the function whole.

    Placed after dlt's incremental step (affinity 1), which needs the documents.
    """

    placement_affinity: ClassVar[float] = 1.05

    def __call__(self, item: Any, meta: Any = None) -> Any:
        yield from self._f(item)


def arrow_items(
    resource_name: str,
    known: Mapping[str, Mapping[str, str]] | None = None,
    converter: PageConverter | None = None,
) -> ItemTransform[Any, Any]:
    """A dlt step: a list of prepared documents, or of stand-ins of converted pages'
    documents (:func:`page_rows`), → one Arrow table per raw table.

    The root table merges on ``id`` with the resource's hints; each child table is a table
    variant that is appended to (see :mod:`ctsync.ingest.commercetools.arrow`), declared with its
    JSON columns as they appear. Add it after the incremental step, if any
    (``resource.add_step(arrow_items(name))``). ``known``: the column types the warehouse
    already has (table → column → dlt data type), so a column keeps its type. ``converter``:
    the one that converted the pages (default: a new one).
    """
    raw = table(resource_name)
    converter = converter or PageConverter(raw, known)
    declared: set[str] = set()

    def tables(item: Any) -> Iterator[tuple[str, list[pa.Table], set[str] | None]]:
        if isinstance(item, pa.Table) and PAGE in item.column_names:
            yield from converter.pages.tables(item)
            return
        documents = item if isinstance(item, list) else [item]
        for name, arrow_table in converter.tables(documents):
            yield name, [arrow_table], None

    def step(item: Any) -> Iterator[Any]:
        if item is None or not len(item):
            return
        load_id = dlt.current.load_package_state()["load_id"]
        for name, parts, json_columns in tables(item):
            new_json = converter.new_json_columns(name, json_columns)
            columns: Any = {c: {"name": c, "data_type": "json"} for c in sorted(new_json)}
            for part in concat_parts(parts):
                arrow_table = with_load_id(part, load_id)
                if name == raw.name:
                    if columns:
                        hints = dlt.mark.make_hints(columns=columns)
                        yield dlt.mark.with_hints(arrow_table, hints)
                        columns = {}
                    else:
                        yield arrow_table
                    continue
                if name not in declared:
                    # A variant starts as a copy of the root table's hints (merge on id, the
                    # root's column types); an empty table with these hints clears them first.
                    declared.add(name)
                    reset = dlt.mark.make_hints(
                        table_name=name, write_disposition="append", primary_key=[], columns={}
                    )
                    yield dlt.mark.with_hints(
                        arrow_table.slice(0, 0), reset, create_table_variant=True
                    )
                if columns:
                    hints = dlt.mark.make_hints(table_name=name, columns=columns)
                    yield dlt.mark.with_hints(arrow_table, hints, create_table_variant=True)
                    columns = {}
                else:
                    yield dlt.mark.with_table_name(arrow_table, name)

    return _PageStep(step)


def batches(pages: Iterable[Any], rows: int = BATCH_ROWS) -> Iterator[Any]:
    """Pages (lists or Arrow tables) or single documents regrouped into lists (or tables) of
    about ``rows`` documents.

    dlt spends milliseconds per item it extracts, whatever its size: a few large Arrow
    tables cost far less than one per page.
    """
    batch: list[Any] = []
    tables: list[pa.Table] = []
    table_rows = 0
    for item in pages:
        if isinstance(item, pa.Table):
            tables.append(item)
            table_rows += item.num_rows
            if table_rows >= rows:
                yield pa.concat_tables(tables)
                tables, table_rows = [], 0
            continue
        if isinstance(item, list):
            batch.extend(item)
        else:
            batch.append(item)
        if len(batch) >= rows:
            yield batch
            batch = []
    if batch:
        yield batch
    if tables:
        yield pa.concat_tables(tables)


def known_columns(
    pipeline: dlt.Pipeline, schema_name: str | None = None
) -> dict[str, dict[str, str]]:
    """Table → column → dlt data type, from the schema dlt stored (default: its default)."""
    name = schema_name or pipeline.default_schema_name
    if not name or name not in pipeline.schema_names:
        return {}
    return {
        table_name: {
            column: str(spec["data_type"])
            for column, spec in table_schema.get("columns", {}).items()
            if spec.get("data_type")
        }
        for table_name, table_schema in pipeline.schemas[name].tables.items()
    }


def make_resource(
    resource_name: str,
    documents: Iterable[Any],
    known: Mapping[str, Mapping[str, str]] | None = None,
) -> DltResource:
    """A dlt resource loading commercetools documents (as the API returns them) with the raw hints.

    ``documents`` may yield single documents or lists of documents (pages); ``known`` are the
    column types the target already has (:func:`known_columns`).
    """
    raw = table(resource_name)

    def pages() -> Iterator[list[dict[str, Any]]]:
        for batch in batches(documents):
            yield [prepare_document(raw, doc) for doc in batch]

    resource = dlt.resource(pages, name=raw.name)
    resource.add_step(arrow_items(resource_name, known))
    return apply_hints(resource, resource_name)


def disable_intermediate_compression() -> None:
    """Skip gzip on dlt's temporary extract/normalize files (a fifth of normalize time).

    Set through dlt's environment provider, so ``DATA_WRITER__DISABLE_COMPRESSION=false``
    set by a user still wins.
    """
    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")


def truncate_staging_after_load() -> None:
    """Empty dlt's staging dataset (``raw_commercetools_staging``) once a load has completed.

    A merge load writes the rows into the staging tables first and merges them from there;
    after the load they are dead weight in the warehouse file (a full refresh left a whole
    copy of the raw tables). dlt truncates them after the load package is committed, so
    the loaded data never depends on it. ``LOAD__TRUNCATE_STAGING_DATASET=false`` keeps them.
    """
    os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")


def raw_pipeline(
    warehouse: str | Path,
    pipelines_dir: str | Path | None = None,
    pipeline_name: str = "ctsync_raw_documents",
) -> dlt.Pipeline:
    """A dlt pipeline writing ``raw_commercetools`` in the DuckDB file ``warehouse``.

    ``pipelines_dir`` defaults to ``.ctsync/dlt`` beside the warehouse file, so the state
    travels with the warehouse and separate warehouses never share it.
    """
    warehouse = Path(warehouse).resolve()
    disable_intermediate_compression()
    truncate_staging_after_load()
    if pipelines_dir is None:
        pipelines_dir = warehouse.parent / ".ctsync" / "dlt"
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(pipelines_dir),
    )


def load_documents(
    target: dlt.Pipeline | str | Path,
    resource_name: str,
    documents: Iterable[Any],
) -> LoadInfo:
    """Load commercetools JSON documents into ``raw_commercetools.<resource_name>``, no HTTP.

    ``target`` is a dlt pipeline (its destination and dataset are used as they are) or the
    path of a DuckDB file (a pipeline from :func:`raw_pipeline`). Rows merge on ``id``.
    """
    return load_resources(target, {resource_name: documents})


def load_resources(
    target: dlt.Pipeline | str | Path,
    documents_by_resource: Mapping[str, Iterable[Any]],
) -> LoadInfo:
    """Like :func:`load_documents` for several resources in one dlt run (one load package)."""
    pipeline = target if isinstance(target, dlt.Pipeline) else raw_pipeline(target)
    known = known_columns(pipeline)
    resources = [make_resource(name, docs, known) for name, docs in documents_by_resource.items()]
    info = pipeline.run(resources, loader_file_format=LOADER_FILE_FORMAT)
    info.raise_on_failed_jobs()
    prune_children(pipeline, documents_by_resource, info.loads_ids)
    return info


def prune_children(
    pipeline: dlt.Pipeline, resource_names: Iterable[str], load_ids: Iterable[str]
) -> dict[str, int]:
    """Remove the child rows that reloaded documents left behind (see ``arrow``)."""
    with pipeline.sql_client() as client:
        con = client.native_connection
        return prune_replaced_children(con, pipeline.dataset_name, resource_names, load_ids)
