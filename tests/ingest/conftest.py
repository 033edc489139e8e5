"""Fixtures of the ingest tests.

``FakeCommercetools`` is an in-memory commercetools stand-in for ``httpx.MockTransport``
unit tests of the client.

It implements just what the ingest uses, strictly: Basic-auth client credentials, bearer
tokens that expire, ``limit`` ≤ 500, ``offset`` ≤ 10 000, ``sort``, ``where`` predicates of
the forms ``<field> >= :var`` / ``<field> > :var`` (AND-ed), and scripted faults. The
end-to-end tests run against the real sandbox server instead.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest

from ctsync.ingest.commercetools.client import (
    ClientCredentials,
    CommercetoolsClient,
    Endpoints,
    RetryPolicy,
)

PREDICATE = re.compile(r"^\s*(\w+)\s*(>=|>|<=|<|=)\s*:(\w+)\s*$")


@dataclass
class FakeCommercetools:
    project_key: str = "fake-project"
    client_id: str = "fake-client"
    client_secret: str = "fake-secret-Zq9!x"
    token_ttl: int = 172800
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: deque[Any] = field(default_factory=deque)
    """Responses to serve before normal ones, one per request: an int status,
    ``(status, headers)``, an exception instance to raise (connection errors) or ``None``
    (serve this request normally)."""
    honour_sort: bool = True
    requests: list[httpx.Request] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    now: float = 0.0
    _counter: itertools.count = field(default_factory=itertools.count)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    @property
    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/oauth/token")]

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/oauth/token")]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            if isinstance(fault, Exception):
                raise fault
            status, headers = fault if isinstance(fault, tuple) else (fault, {})
            return httpx.Response(
                status,
                headers=headers,
                json={"statusCode": status, "message": "injected", "errors": [{"code": "X"}]},
            )
        if request.url.path.endswith("/oauth/token"):
            return self._token(request)
        return self._query(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if header != f"Basic {expected}":
            return httpx.Response(
                401,
                json={
                    "statusCode": 401,
                    "message": "Please provide valid client credentials.",
                    "errors": [{"code": "invalid_client", "message": "bad client"}],
                    "error": "invalid_client",
                },
            )
        token = f"tok-{next(self._counter)}"
        self.tokens[token] = self.now + self.token_ttl
        return httpx.Response(
            200,
            json={"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl},
        )

    def _query(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or self.tokens[token] <= self.now:
            return httpx.Response(
                401,
                json={"statusCode": 401, "message": "invalid_token", "error": "invalid_token"},
            )
        parts = request.url.path.strip("/").split("/")
        if parts[0] != self.project_key or len(parts) != 2:
            return httpx.Response(404, json={"statusCode": 404, "message": "not found"})
        rows = list(self.data.get(parts[1], []))
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        variables = {k[4:]: unquote(v) for k, v in query if k.startswith("var.")}
        limit = int(dict(query).get("limit", 20))
        offset = int(dict(query).get("offset", 0))
        if limit > 500 or offset > 10000:
            return httpx.Response(
                400, json={"statusCode": 400, "message": "limit/offset out of range"}
            )
        for name, value in query:
            if name != "where":
                continue
            match = PREDICATE.match(value)
            if not match:
                return httpx.Response(400, json={"statusCode": 400, "message": f"bad {value}"})
            field_name, op, var = match.groups()
            bound = variables[var]
            rows = [r for r in rows if _compare(str(r.get(field_name, "")), op, bound)]
        sorts = [v for k, v in query if k == "sort"]
        if self.honour_sort and sorts:
            field_name, _, direction = sorts[0].partition(" ")
            rows.sort(key=lambda r: str(r.get(field_name, "")), reverse=direction == "desc")
        page = rows[offset : offset + limit]
        return httpx.Response(
            200, json={"limit": limit, "offset": offset, "count": len(page), "results": page}
        )


def _compare(left: str, op: str, right: str) -> bool:
    return {
        ">=": left >= right,
        ">": left > right,
        "<=": left <= right,
        "<": left < right,
        "=": left == right,
    }[op]


@pytest.fixture
def fake_ct() -> FakeCommercetools:
    return FakeCommercetools()


@pytest.fixture
def make_client(fake_ct: FakeCommercetools) -> Callable[..., CommercetoolsClient]:
    """A client wired to ``fake_ct`` whose clock is the fake's and whose sleeps are recorded."""
    clients: list[CommercetoolsClient] = []

    def factory(**kwargs: Any) -> CommercetoolsClient:
        sleeps: list[float] = []
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=1))
        client = CommercetoolsClient(
            Endpoints("http://ct.test", "http://auth.ct.test"),
            fake_ct.project_key,
            ClientCredentials(fake_ct.client_id, kwargs.pop("secret", fake_ct.client_secret)),
            transport=fake_ct.transport(),
            sleep=sleeps.append,
            clock=lambda: fake_ct.now,
            **kwargs,
        )
        client.sleeps = sleeps  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield factory  # type: ignore[misc]
    for client in clients:
        client.close()
