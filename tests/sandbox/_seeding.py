"""Helpers for the commercetools seeder tests: read the seeded sandbox back."""

from __future__ import annotations

from typing import Any

import httpx

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox

RESOURCES = [
    "customers",
    "orders",
    "carts",
    "products",
    "categories",
    "stores",
    "customer-groups",
    "types",
    "channels",
    "product-types",
]


def fetch_all(client: httpx.Client, resource: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    last_id = None
    while True:
        query: dict[str, Any] = {"limit": 500, "sort": "id asc", "withTotal": "false", **params}
        wheres = [params["where"]] if "where" in params else []
        if last_id:
            wheres.append("id > :lastId")
            query["var.lastId"] = last_id
        if wheres:
            query["where"] = wheres
        response = client.get(f"/{resource}", params=query)
        response.raise_for_status()
        page = response.json()["results"]
        rows.extend(page)
        if len(page) < 500:
            return rows
        last_id = page[-1]["id"]


def snapshot(ct: CommercetoolsSandbox) -> dict[str, Any]:
    with ct.client() as client:
        data: dict[str, Any] = {name: fetch_all(client, name) for name in RESOURCES}
        data["messages"] = fetch_all(client, "messages")
        # httpx would add a trailing slash to a relative "", which is another route.
        data["project"] = client.get(f"{ct.api_url}/{ct.project_key}").json()
    return data
