"""A resource past commercetools' 10 000 offset cap loads completely by keyset paging."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from ctsync.ingest.commercetools.source import load_settings
from ctsync.ingest.pipeline import run_ingest

ROWS = 10_050


@pytest.mark.slow
def test_more_than_10000_customers_load_without_any_offset(
    fresh_commercetools, tmp_path: Path
) -> None:
    ct = fresh_commercetools
    stored = ct.bulk_load(
        "customer",
        (
            {
                "key": f"bulk-{i:05d}",
                "email": f"bulk{i}@example.com",
                "firstName": "Bulk",
                "lastName": f"Customer {i}",
                "addresses": [],
                "isEmailVerified": False,
                "stores": [],
                "authenticationMode": "Password",
                "lastModifiedAt": f"2025-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                f"{i % 60:02d}.000Z",
            }
            for i in range(ROWS)
        ),
    )
    assert stored == ROWS
    # Offset paging would need offset=10 000 for the last page, the API's hard maximum:
    # the sandbox refuses anything above, like the real API.
    with ct.client() as http:
        refused = http.get("customers", params={"limit": 500, "offset": 10_001})
        assert refused.status_code == 400
    ct.reset_stats()

    settings = load_settings(
        project_key=ct.project_key, client_id=ct.client_id, client_secret=ct.client_secret,
        api_url=ct.api_url, auth_url=ct.auth_url,
    )  # fmt: skip
    summary = run_ingest(
        warehouse=tmp_path / "wh.duckdb", settings=settings, resources=["customers"]
    )

    assert summary.resource("customers").fetched == ROWS
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        row = con.execute(
            "select count(*), count(distinct id), count(distinct key) "
            "from raw_commercetools.customers"
        ).fetchone()
    assert row == (ROWS, ROWS, ROWS)
    stats = ct.stats()
    assert stats["max_offset"] in (None, 0)
    pages = stats["requests_by_path"][f"GET /{ct.project_key}/customers"]
    assert pages == {"200": math.ceil(ROWS / 500)}
