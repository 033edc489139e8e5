"""``catalogs/*``: catalogs and their items (PUT replaces, PATCH merges, bulk, list).

Names and item ids are letters, digits and dashes (≤ 255); field names may not contain
periods; an item is at most 30 000 bytes of compact JSON and a bulk call 1000 items.
A missing catalog or item is 404 in Iterable's other error shape (``CatalogNotFound``).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from ctsync.sandbox.iterable.errors import ApiError, CatalogNotFound, check_or_fail, commit
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.project import Project

CATALOG_ITEM_MAX_BYTES = 30_000
CATALOG_BULK_MAX_ITEMS = 1000
_CATALOG_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,255}$")
_ITEM_UPDATE_RECEIVED = {
    "msg": "Catalog item update request received.",
    "code": "Success",
    "params": None,
}


def _compact(value: Any) -> bytes:
    return orjson.dumps(value)


def _dotted_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, child in value.items():
            if "." in key:
                return str(key)
            found = _dotted_key(child)
            if found is not None:
                return found
    elif isinstance(value, list):
        for child in value:
            found = _dotted_key(child)
            if found is not None:
                return found
    return None


def _catalog(project: Project, name: str) -> dict[str, Any]:
    found = project.catalogs.get(name.lower())
    if found is None:
        raise CatalogNotFound(name)
    return found


def op_create_catalog(project: Project, name: str) -> tuple[int, dict[str, Any]]:
    if not _CATALOG_NAME_RE.match(name):
        raise ApiError(
            400,
            "BadParams",
            f"Invalid catalog name {name!r}: letters, digits and dashes only, "
            "at most 255 characters",
        )
    if name.lower() in project.catalogs:
        raise ApiError(400, "BadParams", f"Catalog {name} already exists")
    catalog_id = next(project.catalog_ids)
    project.catalogs[name.lower()] = {"id": catalog_id, "name": name, "items": {}}
    return 201, {
        "msg": f"Catalog {name} created",
        "code": "Success",
        "params": {"id": catalog_id, "name": name, "url": f"/api/catalogs/{name}"},
    }


def op_delete_catalog(project: Project, name: str) -> tuple[int, dict[str, Any]]:
    catalog = _catalog(project, name)
    del project.catalogs[catalog["name"].lower()]
    return 200, {"msg": f"Catalog {catalog['name']} deleted", "code": "Success", "params": None}


def _check_item_shape(item_id: str, value: Any, where: str) -> None:
    if not _CATALOG_NAME_RE.match(item_id):
        raise ApiError(
            400,
            "BadParams",
            f"Invalid item id {item_id!r}: letters, digits and dashes only, at most 255 characters",
            {where: "Invalid item id"},
        )
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "BadJsonBody",
            f"Item {item_id}: value must be an object",
            {where: "Object value expected"},
        )
    size = len(_compact(value))
    if size > CATALOG_ITEM_MAX_BYTES:
        raise ApiError(
            400,
            "BadParams",
            f"Item {item_id} is {size} bytes; catalog items are limited to "
            f"{CATALOG_ITEM_MAX_BYTES} bytes",
            {where: "Item too large"},
        )
    bad = _dotted_key(value)
    if bad is not None:
        raise ApiError(
            400,
            "BadParams",
            f"Item {item_id}: field name {bad!r} contains a period, which "
            "catalog field names may not",
            {where: f"Invalid field name {bad}"},
        )


def _check_item(
    catalog: dict[str, Any], item_id: str, value: Any, check: SchemaCheck, where: str
) -> None:
    _check_item_shape(item_id, value, where)
    check_or_fail(check, f"catalog:{catalog['name'].lower()}", value)


def _store_item(
    catalog: dict[str, Any], item_id: str, value: dict[str, Any], replace: bool
) -> None:
    items = catalog["items"]
    current = items.get(item_id)
    if replace or current is None:
        new_value = copy.deepcopy(value)
    else:
        new_value = dict(current["value"])
        new_value.update(copy.deepcopy(value))
    items[item_id] = {
        "value": new_value,
        "lastModified": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _write_item(
    project: Project, name: str, item_id: str, value: Any, where: str, replace: bool
) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    check = SchemaCheck(project.schema, True)
    _check_item(catalog, item_id, value, check, where)
    commit(check)
    _store_item(catalog, item_id, value, replace=replace)
    return 202, dict(_ITEM_UPDATE_RECEIVED)


def op_put_item(project: Project, name: str, item_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return _write_item(project, name, item_id, body["value"], "obj.value", replace=True)


def op_patch_item(
    project: Project, name: str, item_id: str, body: dict[str, Any]
) -> tuple[int, Any]:
    return _write_item(project, name, item_id, body["update"], "obj.update", replace=False)


def _item_view(catalog: dict[str, Any], item_id: str) -> dict[str, Any]:
    item = catalog["items"][item_id]
    return {
        "catalogName": catalog["name"],
        "itemId": item_id,
        "lastModified": item["lastModified"],
        "size": len(_compact(item["value"])),
        "value": item["value"],
    }


def op_get_item(project: Project, name: str, item_id: str) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    if item_id not in catalog["items"]:
        raise CatalogNotFound(catalog["name"], item_id)
    view = _item_view(catalog, item_id)
    # api-client reads the item from `params`; the Swagger file puts it top level.
    return 200, {**view, "msg": "", "code": "Success", "params": view}


def op_delete_item(project: Project, name: str, item_id: str) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    if item_id not in catalog["items"]:
        raise CatalogNotFound(catalog["name"], item_id)
    del catalog["items"][item_id]
    return 202, {"msg": "Received request to delete item.", "code": "Success", "params": None}


def _sorted_ids(catalog: dict[str, Any], order_by: str | None, ascending: bool) -> list[str]:
    ids = list(catalog["items"])
    if order_by == "itemId":
        ids.sort(reverse=not ascending)
    elif order_by:
        ids.sort(
            key=lambda i: str(catalog["items"][i]["value"].get(order_by, "")),
            reverse=not ascending,
        )
    return ids


def op_list_items(
    project: Project,
    name: str,
    page: int,
    page_size: int,
    order_by: str | None,
    ascending: bool,
) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    if page < 1 or not 1 <= page_size <= 1000:
        raise ApiError(400, "BadParams", "page must be ≥ 1 and pageSize within 1..1000")
    ids = _sorted_ids(catalog, order_by, ascending)
    chosen = ids[(page - 1) * page_size : page * page_size]
    payload: dict[str, Any] = {
        "catalogItemsWithProperties": [_item_view(catalog, i) for i in chosen],
        "totalItemsCount": len(ids),
    }
    base = f"/api/catalogs/{catalog['name']}/items"
    if page * page_size < len(ids):
        payload["nextPageUrl"] = f"{base}?page={page + 1}&pageSize={page_size}"
    if page > 1:
        payload["previousPageUrl"] = f"{base}?page={page - 1}&pageSize={page_size}"
    return 200, {**payload, "msg": "", "code": "Success", "params": payload}


def op_bulk_items(project: Project, name: str, body: dict[str, Any]) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    documents = body["documents"]
    if len(documents) > CATALOG_BULK_MAX_ITEMS:
        raise ApiError(
            400,
            "BatchTooLarge",
            f"{len(documents)} documents in one request; at most "
            f"{CATALOG_BULK_MAX_ITEMS} are accepted",
        )
    check = SchemaCheck(project.schema, True)
    for item_id, value in documents.items():
        _check_item(catalog, item_id, value, check, f"obj.documents.{item_id}")
    commit(check)
    replace = not body["replaceUploadedFieldsOnly"]
    for item_id, value in documents.items():
        _store_item(catalog, item_id, value, replace=replace)
    return 200, {
        "msg": f"Request to bulk-upload documents into {catalog['name']} processed successfully",
        "code": "Success",
        "params": None,
    }


def op_bulk_delete_items(project: Project, name: str, body: dict[str, Any]) -> tuple[int, Any]:
    catalog = _catalog(project, name)
    for item_id in body["itemIds"]:
        catalog["items"].pop(item_id, None)
    return 202, {
        "msg": "Bulk delete catalog items request received.",
        "code": "Success",
        "params": None,
    }
