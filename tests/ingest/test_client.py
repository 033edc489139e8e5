"""The commercetools HTTP client against an in-memory API (httpx.MockTransport)."""

from __future__ import annotations

import base64
import logging
import uuid
from urllib.parse import parse_qsl

import httpx
import pytest

from ctsync.ingest.commercetools.client import (
    CommercetoolsAuthError,
    CommercetoolsConfigError,
    CommercetoolsError,
    Endpoints,
    RetryPolicy,
)


def _customers(n: int) -> list[dict[str, str]]:
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"customer-{i}")),
            "lastModifiedAt": f"2024-01-{1 + i % 28:02d}T10:00:00.000Z",
            "email": f"c{i}@example.com",
        }
        for i in range(n)
    ]


def _query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def test_token_request_uses_http_basic_and_scopes(fake_ct, make_client) -> None:
    client = make_client()
    client._credentials = type(client._credentials)(
        fake_ct.client_id, fake_ct.client_secret, ("view_customers:p", "view_orders:p")
    )
    client.get("customers", {"limit": "1"})
    token_request = fake_ct.token_requests[0]
    expected = base64.b64encode(f"{fake_ct.client_id}:{fake_ct.client_secret}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    body = dict(parse_qsl(token_request.content.decode()))
    assert body == {"grant_type": "client_credentials", "scope": "view_customers:p view_orders:p"}
    assert fake_ct.client_secret not in token_request.content.decode()
    assert fake_ct.client_secret not in str(token_request.url)
    assert dict(_query(token_request))["scope"] == "view_customers:p view_orders:p"


def test_keyset_paging_reads_every_row_once_without_offset(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(1234)
    client = make_client()
    pages = list(client.paginate("customers", page_size=500))
    ids = [row["id"] for page in pages for row in page]
    assert [len(p) for p in pages] == [500, 500, 234]
    assert len(ids) == len(set(ids)) == 1234
    assert ids == sorted(ids)
    for i, request in enumerate(fake_ct.api_requests):
        query = _query(request)
        assert ("sort", "id asc") in query and ("withTotal", "false") in query
        assert ("limit", "500") in query
        assert not any(name == "offset" for name, _ in query)
        assert (("where", "id > :lastId") in query) == (i > 0)
    assert dict(_query(fake_ct.api_requests[1]))["var.lastId"] == ids[499]


def test_keyset_paging_ands_the_incremental_predicate(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(600)
    since = "2024-01-20T00:00:00.000Z"
    client = make_client()
    rows = [
        r
        for page in client.paginate(
            "customers", where=["lastModifiedAt >= :since"], variables={"since": since}
        )
        for r in page
    ]
    expected = [r for r in fake_ct.data["customers"] if r["lastModifiedAt"] >= since]
    assert 0 < len(rows) == len(expected) < 600
    assert {r["id"] for r in rows} == {r["id"] for r in expected}


def test_page_that_does_not_advance_is_an_error_not_a_loop(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(30)
    fake_ct.honour_sort = False
    client = make_client()
    with pytest.raises(CommercetoolsError, match="does not honour sort=id asc"):
        list(client.paginate("customers", page_size=10))
    assert len(fake_ct.api_requests) == 1


def test_429_and_503_are_retried_honouring_retry_after(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(5)
    client = make_client()
    client.token()
    fake_ct.faults.extend([(429, {"Retry-After": "0.7"}), 503, 502, 504])
    client.retry = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=5)
    body = client.get("customers", {"limit": "10"})
    assert len(body["results"]) == 5
    assert client.sleeps[0] == pytest.approx(0.7)
    assert len(client.sleeps) == 4
    assert client.stats.retried_statuses == {429: 1, 503: 1, 502: 1, 504: 1}


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base=1.0, backoff_max=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delay = policy.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_connection_errors_are_retried_then_reported(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(3)
    client = make_client()
    client.token()
    fake_ct.faults.append(httpx.ConnectError("connection refused"))
    assert len(client.get("customers", {})["results"]) == 3
    fake_ct.faults.extend([httpx.ConnectError("refused")] * 4)
    with pytest.raises(CommercetoolsError, match="unreachable.*after 4 attempts"):
        client.get("customers", {})


def test_retries_give_up_after_max_attempts(fake_ct, make_client) -> None:
    client = make_client()
    client.token()
    fake_ct.faults.extend([503] * 4)
    with pytest.raises(CommercetoolsError, match="HTTP 503"):
        client.get("customers", {})
    assert len(fake_ct.api_requests) == 4


def test_expired_token_is_reminted_once_on_401(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(3)
    client = make_client()
    client.get("customers", {})
    fake_ct.revoke_tokens()
    assert len(client.get("customers", {})["results"]) == 3
    assert len(fake_ct.token_requests) == 2
    assert client.stats.reauthentications == 1


def test_a_second_401_after_reminting_fails_clearly(fake_ct, make_client) -> None:
    client = make_client()
    client.token()
    fake_ct.faults.extend([401, None, 401])
    with pytest.raises(CommercetoolsAuthError, match="freshly minted token"):
        client.get("customers", {})


def test_token_is_refreshed_before_it_expires(fake_ct, make_client) -> None:
    fake_ct.data["customers"] = _customers(3)
    fake_ct.token_ttl = 600
    client = make_client(refresh_margin_seconds=60)
    client.get("customers", {})
    fake_ct.now = 500.0  # still valid at the server, inside the client's refresh margin
    client.get("customers", {})
    fake_ct.now = 541.0
    client.get("customers", {})
    assert len(fake_ct.token_requests) == 2
    assert client.stats.reauthentications == 0


def test_bad_credentials_name_the_client_but_never_the_secret(fake_ct, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-8s7d6f"
    client = make_client(secret=wrong)
    with pytest.raises(CommercetoolsAuthError) as excinfo:
        client.get("customers", {})
    message = str(excinfo.value)
    assert fake_ct.client_id in message and "HTTP 401" in message
    assert "invalid_client" in message
    assert wrong not in message and wrong not in repr(excinfo.value)
    assert wrong not in caplog.text
    assert wrong not in repr(client._credentials)


def test_endpoints_from_region_or_explicit_urls() -> None:
    from_region = Endpoints.resolve("europe-west1.gcp", None, None)
    assert from_region.api_url == "https://api.europe-west1.gcp.commercetools.com"
    assert from_region.token_url == "https://auth.europe-west1.gcp.commercetools.com/oauth/token"
    explicit = Endpoints.resolve("ignored", "http://127.0.0.1:1/", "http://127.0.0.1:2")
    assert explicit == Endpoints("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert explicit.token_url == "http://127.0.0.1:2/oauth/token"
    with pytest.raises(CommercetoolsConfigError, match="REGION"):
        Endpoints.resolve(None, "http://only-api", None)
