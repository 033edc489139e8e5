"""Async writer for the commercetools HTTP API, used by the seeder.

It talks to the API the way a real integration would: OAuth2 client credentials with
HTTP Basic, a bounded number of requests in flight, retries with backoff on 429/5xx and
connection errors. Every write may carry ``X-Sandbox-Timestamp`` so the sandbox server
can backdate ``createdAt``/``lastModifiedAt`` (a real project ignores the header).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import httpx

from ctsync.core.retry import Backoff, retry_after_seconds
from ctsync.ingest.commercetools.client import RETRY_STATUSES as RETRYABLE_STATUSES

# Statuses that say the server did not act on the request: safe to resend even a write
# that is not idempotent (a create, an addReturnInfo). After a 500/504 or a lost response
# a write may have happened, and resending it could duplicate it.
NOT_PROCESSED_STATUSES = frozenset({429, 502, 503})
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
MAX_BACKOFF_SECONDS = 10.0


class CommercetoolsWriteError(RuntimeError):
    """A request the seeder needed was refused; the message names the request and reason."""

    def __init__(self, method: str, path: str, status: int, body: Any, what: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.codes = _error_codes(body)
        self.fields = _error_fields(body)
        reason = _error_message(body)
        subject = f" ({what})" if what else ""
        super().__init__(f"{method} {path}{subject} failed with HTTP {status}: {reason}")


def _error_codes(body: Any) -> list[str]:
    if isinstance(body, dict):
        return [str(e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)]
    return []


def _error_fields(body: Any) -> list[str]:
    if isinstance(body, dict):
        return [str(e.get("field")) for e in body.get("errors") or [] if isinstance(e, dict)]
    return []


def _error_message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:500]
    return str(body)[:500]


def iso(ts: datetime) -> str:
    """commercetools' timestamp form: UTC, milliseconds, trailing Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def token_url(auth_url: str) -> str:
    """Accept either the auth base URL (what the settings hold) or the full token URL."""
    base = auth_url.rstrip("/")
    return base if base.endswith("/oauth/token") else f"{base}/oauth/token"


class CommercetoolsWriter:
    """One authenticated, rate-bounded HTTP session against one project."""

    def __init__(
        self,
        api_url: str,
        auth_url: str,
        project_key: str,
        client_id: str,
        client_secret: str,
        *,
        concurrency: int = 12,
        timeout: float = 60.0,
        max_attempts: int = 6,
        backoff_base: float = 0.2,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._token_url = token_url(auth_url)
        self.project_key = project_key
        self._credentials = (client_id, client_secret)
        # One single-connection client per slot: httpcore's pool scans every connection
        # on each request, which costs more CPU than the request itself at this rate.
        self._clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all_clients: list[httpx.AsyncClient] = []
        self._concurrency = concurrency
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        # Jitter only spreads retries; it must not touch the seeded business randomness.
        self._jitter = random.Random()
        self.requests = 0
        self.retries = 0

    async def __aenter__(self) -> CommercetoolsWriter:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # Loading the CA bundle takes ~0.1 s; do it once, not once per client.
        tls = httpx.create_ssl_context()
        for _ in range(self._concurrency):
            client = httpx.AsyncClient(limits=limits, timeout=self._timeout, verify=tls)
            self._all_clients.append(client)
            self._clients.put_nowait(client)
        self._client = httpx.AsyncClient(timeout=self._timeout, verify=tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._all_clients:
            await client.aclose()
        self._all_clients.clear()
        self._clients = asyncio.Queue()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("CommercetoolsWriter must be used as 'async with'")
        return self._client

    async def _mint_token(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token
            # The mock reads scope only from the query string; the real API accepts both.
            params = {
                "grant_type": "client_credentials",
                "scope": f"manage_project:{self.project_key}",
            }
            for attempt in range(1, self._max_attempts + 1):
                try:
                    response = await self.client.post(
                        self._token_url, params=params, auth=self._credentials
                    )
                except httpx.TransportError as exc:
                    if attempt == self._max_attempts:
                        raise CommercetoolsWriteError(
                            "POST", "/oauth/token", 0, f"connection failed: {type(exc).__name__}"
                        ) from None
                    await self._sleep(attempt)
                    continue
                if response.status_code in RETRYABLE_STATUSES and attempt < self._max_attempts:
                    await self._sleep(attempt, response)
                    continue
                if response.status_code != 200:
                    # The body of a refused token request never echoes the secret, but keep
                    # only its error fields to be sure nothing else leaks.
                    body = _safe_json(response)
                    detail = body.get("error") if isinstance(body, dict) else None
                    raise CommercetoolsWriteError(
                        "POST",
                        "/oauth/token",
                        response.status_code,
                        {
                            "message": f"token request refused ({detail or 'no detail'}); "
                            "check the client id/secret and scopes"
                        },
                    )
                self._token = str(response.json()["access_token"])
                return self._token
            raise AssertionError("unreachable")

    async def _sleep(self, attempt: int, response: httpx.Response | None = None) -> None:
        delay = Backoff(self._backoff_base, MAX_BACKOFF_SECONDS).delay(attempt, self._jitter)
        retry_after = retry_after_seconds(response.headers) if response is not None else None
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_BACKOFF_SECONDS))
        self.retries += 1
        await asyncio.sleep(delay)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        at: datetime | None = None,
        what: str = "",
    ) -> Any:
        """Send one request under the project; return the JSON body or raise a clear error.

        `path` is relative to the project (``/customers``); `at` backdates the write.
        """
        url = f"{self._api_url}/{self.project_key}{path}"
        idempotent = method in ("GET", "HEAD", "DELETE")
        retry_statuses = RETRYABLE_STATUSES if idempotent else NOT_PROCESSED_STATUSES
        headers = {TIMESTAMP_HEADER: iso(at)} if at is not None else {}
        token = self._token or await self._mint_token(None)
        reminted = False
        attempt = 0
        while True:
            attempt += 1
            headers["Authorization"] = f"Bearer {token}"
            client = await self._clients.get()
            self.requests += 1
            try:
                response = await client.request(
                    method, url, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                resendable = idempotent or isinstance(exc, NOT_SENT_ERRORS)
                if attempt >= self._max_attempts or not resendable:
                    raise CommercetoolsWriteError(
                        method,
                        path,
                        0,
                        f"connection failed: {type(exc).__name__}"
                        + ("" if resendable else " (not resent: the write may have happened)"),
                        what,
                    ) from None
                response = None
            finally:
                self._clients.put_nowait(client)
            if response is None:
                await self._sleep(attempt)
                continue
            if response.status_code == 401 and not reminted:
                reminted = True
                token = await self._mint_token(token)
                continue
            if response.status_code in retry_statuses and attempt < self._max_attempts:
                await self._sleep(attempt, response)
                continue
            body = _safe_json(response)
            if response.status_code >= 400:
                raise CommercetoolsWriteError(method, path, response.status_code, body, what)
            return body

    async def create(
        self, path: str, draft: dict[str, Any], *, at: datetime | None = None, what: str = ""
    ) -> dict[str, Any]:
        body = await self.request("POST", path, json=draft, at=at, what=what)
        # POST /customers wraps the resource as {"customer": {...}} (sign-up result).
        if isinstance(body, dict) and "customer" in body and "id" not in body:
            return dict(body["customer"])
        return dict(body)

    async def update(
        self,
        path: str,
        version: int,
        actions: list[dict[str, Any]],
        *,
        at: datetime | None = None,
        what: str = "",
    ) -> dict[str, Any]:
        """Apply update actions; on a version conflict, re-read the version and try once more."""
        try:
            body = await self.request(
                "POST", path, json={"version": version, "actions": actions}, at=at, what=what
            )
        except CommercetoolsWriteError as exc:
            if exc.status != 409:
                raise
            current = await self.request("GET", path, what=what)
            body = await self.request(
                "POST",
                path,
                json={"version": current["version"], "actions": actions},
                at=at,
                what=what,
            )
        return dict(body)

    async def delete(
        self, path: str, version: int, *, at: datetime | None = None, what: str = ""
    ) -> dict[str, Any]:
        try:
            body = await self.request("DELETE", path, params={"version": version}, at=at, what=what)
        except CommercetoolsWriteError as exc:
            if exc.status != 409:
                raise
            current = await self.request("GET", path, what=what)
            body = await self.request(
                "DELETE", path, params={"version": current["version"]}, at=at, what=what
            )
        return dict(body)

    async def query_all(
        self, resource: str, *, where: str | None = None, page_size: int = 500
    ) -> list[dict[str, Any]]:
        """Every row of a resource, by keyset paging on id (the documented way past 10 000)."""
        rows: list[dict[str, Any]] = []
        last_id: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size, "withTotal": "false", "sort": "id asc"}
            wheres = [where] if where else []
            if last_id is not None:
                wheres.append("id > :lastId")
                params["var.lastId"] = last_id
            if wheres:
                params["where"] = wheres
            page = await self.request("GET", f"/{resource}", params=params)
            results = page.get("results", [])
            rows.extend(results)
            if len(results) < page_size:
                return rows
            ids = [str(r["id"]) for r in results]
            if ids != sorted(ids):
                # A server that ignores `sort` (the stock mock) would make the keyset skip
                # rows; offset paging is then the only complete walk.
                return await self._query_by_offset(resource, where, page_size)
            last_id = ids[-1]

    async def _query_by_offset(
        self, resource: str, where: str | None, page_size: int
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": page_size, "offset": len(rows)}
            if where:
                params["where"] = where
            page = await self.request("GET", f"/{resource}", params=params)
            results = page.get("results", [])
            rows.extend(results)
            if len(results) < page_size:
                return rows

    async def total(self, resource: str, *, where: str | None = None) -> int:
        params: dict[str, Any] = {"limit": 1, "withTotal": "true"}
        if where:
            params["where"] = where
        page = await self.request("GET", f"/{resource}", params=params)
        return int(page["total"])


def _safe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:300]}
