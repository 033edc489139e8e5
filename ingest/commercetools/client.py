"""A small commercetools HTTP client: OAuth2 client credentials, retries, keyset paging.

Written on httpx rather than dlt's requests-based REST client because three commercetools
rules do not fit dlt's stock helpers: the token endpoint wants HTTP Basic auth (dlt's
``OAuth2ClientCredentials`` posts the secret in the form body), a 401 must re-mint the token
once, and paging must be keyset (``sort=id asc`` + ``where=id > :lastId``) so no query ever
needs an offset above the API's 10 000 cap.

The client secret lives only in :class:`ClientCredentials` and in the Basic header of token
requests; it is never part of a URL, a log line or an exception message.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import orjson

from ctsync.core.retry import DEFAULT_BACKOFF, Backoff, retry_after_seconds

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT_SECONDS = 60.0
REGIONS = (
    "europe-west1.gcp",
    "us-central1.gcp",
    "australia-southeast1.gcp",
    "eu-central-1.aws",
    "us-east-2.aws",
)


class CommercetoolsError(Exception):
    """A commercetools request failed for good (after retries, or not retryable)."""


class CommercetoolsAuthError(CommercetoolsError):
    """commercetools refused the client credentials or the token."""


class CommercetoolsConfigError(CommercetoolsError):
    """The configuration cannot work (missing project key, no region and no URLs, …)."""


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    auth_url: str

    @classmethod
    def resolve(cls, region: str | None, api_url: str | None, auth_url: str | None) -> Endpoints:
        """Explicit URLs win; otherwise both URLs follow from the region."""
        if api_url and auth_url:
            return cls(api_url.rstrip("/"), auth_url.rstrip("/"))
        if not region:
            raise CommercetoolsConfigError(
                "commercetools: set sources.commercetools.region (e.g. europe-west1.gcp) or both "
                "sources.commercetools.api_url and sources.commercetools.auth_url "
                "(env SOURCES__COMMERCETOOLS__REGION / __API_URL / __AUTH_URL)"
            )
        region = region.strip()
        return cls(
            (api_url or f"https://api.{region}.commercetools.com").rstrip("/"),
            (auth_url or f"https://auth.{region}.commercetools.com").rstrip("/"),
        )

    @property
    def token_url(self) -> str:
        return (
            self.auth_url
            if self.auth_url.endswith("/oauth/token")
            else f"{self.auth_url}/oauth/token"
        )


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()


@dataclass
class RetryPolicy:
    """How many attempts, and how long between them; a server's ``Retry-After`` wins.

    The backoff curve and the ``Retry-After`` parsing are the project's one definition in
    ``ctsync.core.retry``, shared with the Iterable client and the sandbox seeder.
    """

    max_attempts: int = 6
    backoff_base: float = DEFAULT_BACKOFF.base_seconds
    backoff_max: float = DEFAULT_BACKOFF.max_seconds

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None:
            retry_after = retry_after_seconds(response.headers)
            if retry_after is not None:
                return min(retry_after, self.backoff_max)
        return Backoff(self.backoff_base, self.backoff_max).delay(attempt)


DEFAULT_RETRY = RetryPolicy()


@dataclass
class ClientStats:
    """What the client did; read by tests, the summary and the benchmark."""

    requests: int = 0
    pages: int = 0
    rows: int = 0
    retries: int = 0
    token_mints: int = 0
    reauthentications: int = 0
    retried_statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def retried(self, status: int) -> None:
        with self.lock:
            self.retries += 1
            self.retried_statuses[status] = self.retried_statuses.get(status, 0) + 1


def _basic_header(creds: ClientCredentials) -> str:
    # Plain id:secret like curl -u and the commercetools SDKs; commercetools secrets are
    # URL-safe, so RFC 6749's form-encoding step would change nothing for them.
    pair = f"{creds.client_id}:{creds.client_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _error_detail(response: httpx.Response) -> str:
    """The API's own error text, short; commercetools errors never echo credentials."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        codes = [e.get("code") for e in body.get("errors", []) if isinstance(e, dict)]
        message = body.get("message") or body.get("error_description") or body.get("error")
        parts = [str(message)] if message else []
        if codes:
            parts.append(f"codes: {', '.join(str(c) for c in codes)}")
        return "; ".join(parts) or str(body)[:200]
    return str(body)[:200]


def _check_ascending_ids(path: str, ids: Sequence[Any], after: str | None) -> None:
    """Keyset paging is only complete if every page is in strict id order past ``after``.

    A server that ignores ``sort`` (the commercetools mock did) would make the loop skip
    and repeat rows silently; this turns that into an error.
    """
    previous = after
    for current in ids:
        if not isinstance(current, str):
            raise CommercetoolsError(f"commercetools GET /{path}: a result has no string id")
        if previous is not None and current <= previous:
            raise CommercetoolsError(
                f"commercetools GET /{path}: id {current!r} came after {previous!r}; "
                f"the server does not honour sort=id asc, so keyset paging would miss rows"
            )
        previous = current


class CommercetoolsClient:
    """Thread-safe: resources may page in parallel threads over one client."""

    def __init__(
        self,
        endpoints: Endpoints,
        project_key: str,
        credentials: ClientCredentials,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        refresh_margin_seconds: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not project_key:
            raise CommercetoolsConfigError(
                "commercetools: sources.commercetools.project_key is not set "
                "(env SOURCES__COMMERCETOOLS__PROJECT_KEY)"
            )
        if not credentials.client_id or not credentials.client_secret:
            raise CommercetoolsConfigError(
                "commercetools: client_id and client_secret are required "
                "(env SOURCES__COMMERCETOOLS__CLIENT_ID / SOURCES__COMMERCETOOLS__CLIENT_SECRET)"
            )
        self.endpoints = endpoints
        self.project_key = project_key
        self._credentials = credentials
        self.retry = retry or RetryPolicy()
        self.refresh_margin_seconds = refresh_margin_seconds
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"User-Agent": "ctsync-ingest", "Accept": "application/json"},
        )
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CommercetoolsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, request_factory: Callable[[], httpx.Request], what: str) -> httpx.Response:
        """Send with retries on 429/5xx and transport errors; returns the final response."""
        attempt = 0
        while True:
            attempt += 1
            self.stats.add(requests=1)
            try:
                response = self._http.send(request_factory())
            except httpx.TransportError as exc:
                if attempt >= self.retry.max_attempts:
                    raise CommercetoolsError(
                        f"commercetools unreachable for {what} after {attempt} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                self.stats.retried(0)
                delay = self.retry.delay(attempt)
                logger.warning(
                    "commercetools %s: %s, retry %d in %.1fs",
                    what,
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                self._sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_attempts:
                self.stats.retried(response.status_code)
                delay = self.retry.delay(attempt, response)
                logger.warning(
                    "commercetools %s: HTTP %d, retry %d in %.1fs",
                    what,
                    response.status_code,
                    attempt,
                    delay,
                )
                self._sleep(delay)
                continue
            return response

    def _mint_token(self) -> None:
        creds = self._credentials
        data = {"grant_type": "client_credentials"}
        if creds.scopes:
            data["scope"] = " ".join(creds.scopes)
        url = self.endpoints.token_url
        # scope goes in the query too: the real API reads it from the form body, the
        # commercetools mock only from the query string (reference §6).
        params = {"scope": data["scope"]} if creds.scopes else None
        response = self._send(
            lambda: self._http.build_request(
                "POST",
                url,
                params=params,
                data=data,
                headers={"Authorization": _basic_header(creds)},
            ),
            "token request",
        )
        if response.status_code in (400, 401, 403):
            raise CommercetoolsAuthError(
                f"commercetools refused the client credentials of client id "
                f"{creds.client_id!r} at {url}: HTTP {response.status_code} "
                f"({_error_detail(response)}). Check sources.commercetools.client_id / "
                f"client_secret / scopes."
            )
        if response.status_code != 200:
            raise CommercetoolsError(
                f"commercetools token request to {url} failed: HTTP {response.status_code} "
                f"({_error_detail(response)})"
            )
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise CommercetoolsAuthError(
                f"commercetools token response from {url} has no access_token"
            ) from None
        # Refresh ahead of expiry so a long page loop never sends a token that dies in flight.
        margin = min(self.refresh_margin_seconds, expires_in / 2)
        self._token = token
        self._token_expires_at = self._clock() + expires_in - margin
        self.stats.add(token_mints=1)

    def token(self, force: bool = False) -> str:
        with self._token_lock:
            if force or self._token is None or self._clock() >= self._token_expires_at:
                self._mint_token()
            assert self._token is not None
            return self._token

    def get(self, path: str, params: Sequence[tuple[str, str]] | Mapping[str, str]) -> Any:
        """GET ``{api_url}/{project_key}/{path}`` (``path=""``: the project itself), parsed;
        re-mints the token once on 401."""
        content = self.get_bytes(path, params)
        try:
            return orjson.loads(content)
        except ValueError:
            raise CommercetoolsError(
                f"commercetools GET /{path} returned a body that is not JSON"
            ) from None

    def get_bytes(self, path: str, params: Sequence[tuple[str, str]] | Mapping[str, str]) -> bytes:
        """Like :meth:`get`, the body as it came."""
        url = f"{self.endpoints.api_url}/{self.project_key}" + (f"/{path}" if path else "")
        query = httpx.QueryParams(dict(params) if isinstance(params, Mapping) else tuple(params))
        reauthenticated = False
        while True:
            token = self.token()
            headers = {"Authorization": f"Bearer {token}"}
            response = self._send(
                lambda headers=headers: self._http.build_request(  # type: ignore[misc]
                    "GET", url, params=query, headers=headers
                ),
                f"GET /{path}",
            )
            if response.status_code == 401 and not reauthenticated:
                reauthenticated = True
                self.stats.add(reauthentications=1)
                logger.info("commercetools GET /%s: 401, minting a new token", path)
                with self._token_lock:
                    if self._token == token:
                        self._token = None
                continue
            if response.status_code == 401:
                raise CommercetoolsAuthError(
                    f"commercetools rejected a freshly minted token on GET /{path}: "
                    f"{_error_detail(response)}. Check the API client's scopes."
                )
            if response.status_code == 403:
                raise CommercetoolsAuthError(
                    f"commercetools denied GET /{path} (HTTP 403: {_error_detail(response)}). "
                    f"The API client needs the view scope for this resource."
                )
            if response.status_code != 200:
                raise CommercetoolsError(
                    f"commercetools GET /{path} failed: HTTP {response.status_code} "
                    f"({_error_detail(response)})"
                )
            return response.content

    def paginate(
        self,
        path: str,
        *,
        where: Sequence[str] = (),
        variables: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        page_size: int = 500,
        after_id: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of results in id order: the documented "iterate over all elements" pattern.

        Every page asks ``sort=id asc``, ``withTotal=false`` and, after the first, adds
        ``where=id > :lastId``; the extra ``where`` predicates are AND-ed by the API. Stops on
        a short page. No ``offset`` is ever sent.
        """
        for page in self.paginate_pages(
            path,
            _results,
            where=where,
            variables=variables,
            params=params,
            page_size=page_size,
            after_id=after_id,
        ):
            yield page.results

    def paginate_pages(
        self,
        path: str,
        decode: Callable[[bytes], PageT],
        *,
        where: Sequence[str] = (),
        variables: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        page_size: int = 500,
        after_id: str | None = None,
    ) -> Iterator[PageT]:
        """Like :meth:`paginate`, each body made a page by ``decode`` (which names the
        documents' ids in order, for the next page's ``where=id > :lastId``). ``decode``
        raises ``ValueError`` for a body that is not a page of results."""
        last_id = after_id
        while True:
            query: list[tuple[str, str]] = [
                ("limit", str(page_size)),
                ("withTotal", "false"),
                ("sort", "id asc"),
            ]
            query.extend((params or {}).items())
            query.extend(("where", predicate) for predicate in where)
            for name, value in (variables or {}).items():
                query.append((f"var.{name}", value))
            if last_id is not None:
                query.append(("where", "id > :lastId"))
                query.append(("var.lastId", last_id))
            content = self.get_bytes(path, query)
            try:
                page = decode(content)
            except ValueError as exc:
                raise CommercetoolsError(f"commercetools GET /{path}: {exc}") from None
            self.stats.add(pages=1, rows=len(page.ids))
            if page.ids:
                _check_ascending_ids(path, page.ids, last_id)
                last_id = page.ids[-1]
                yield page
            if len(page.ids) < page_size:
                return


class Page(Protocol):
    ids: list[str]


PageT = TypeVar("PageT", bound=Page)


@dataclass
class ResultsPage:
    results: list[dict[str, Any]]
    ids: list[str]


def _results(content: bytes) -> ResultsPage:
    try:
        body = orjson.loads(content)
    except ValueError:
        raise ValueError("returned a body that is not JSON") from None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise ValueError("response has no 'results' list")
    ids = [row.get("id") if isinstance(row, dict) else None for row in results]
    return ResultsPage(results, ids)  # type: ignore[arg-type]  # checked as the ids are
