"""A thin, thread-safe Iterable REST client on httpx.

It paces each endpoint with its own limiter, waits out 429s without spending an attempt
(and slows that endpoint down adaptively), gives each endpoint its own timeout, retries
5xx, timeouts and dropped connections with jittered exponential backoff, and
hands every other answer (2xx and 4xx) back to the caller to interpret. A 401 raises
`IterableAuthError` at once: no point retrying a key Iterable refuses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ctsync.core.config import IterableSettings
from ctsync.core.redact import redact
from ctsync.core.retry import RETRYABLE_STATUSES, Backoff, retry_after_seconds
from ctsync.sync.rate_limit import RateLimiters

log = logging.getLogger("ctsync.sync.iterable")


class IterableError(RuntimeError):
    """Base class; messages never contain the API key."""


class IterableAuthError(IterableError):
    """Iterable answered 401: the key is wrong, disabled or lacks permissions."""


class IterableTransientError(IterableError):
    """Retries exhausted on 5xx / timeouts / connection errors (retried on the next run)."""

    def __init__(
        self, message: str, status: int | None = None, reason: str = "transient_error"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    text: str

    @property
    def code(self) -> str | None:
        """Iterable's `code` (`IterableApiResponse` and `ErrorHttpResponse` shapes alike)."""
        if isinstance(self.body, dict):
            code = self.body.get("code")
            return str(code) if code is not None else None
        return None

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("msg") or self.body.get("message") or "")
        return self.text[:500]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class IterableClient:
    """Call Iterable endpoints by key (`bulk_update`, `track_bulk`, ...) with pacing and retries."""

    def __init__(
        self,
        settings: IterableSettings,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings.require_api_key()
        self.settings = settings
        self.backoff = Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds)
        self.limiters = RateLimiters(settings.rate_for)
        self._http = httpx.Client(
            base_url=settings.api_url,
            headers={"Api-Key": settings.api_key, "Content-Type": "application/json"},
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            # bulk workers plus the single-record window (docs: sync/engine.py)
            limits=httpx.Limits(
                max_connections=max(4, settings.concurrency * 2) + settings.max_inflight,
                max_keepalive_connections=max(4, settings.concurrency * 2) + settings.max_inflight,
            ),
        )
        self._counts_lock = threading.Lock()
        self.request_counts: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self.rate_limited_count = 0
        self.retry_count = 0
        # Endpoints whose daily quota (forget: 1000 a day) is spent: waiting seconds won't help.
        self._exhausted: set[str] = set()
        # Per endpoint: a moving average of answer latency (seconds), and the start times
        # of the requests on the wire now (to tell a stalled request from a busy endpoint).
        self._latency: dict[str, float] = {}
        self._on_wire: dict[int, tuple[str, float]] = {}
        self._wire_ids = iter(range(1 << 62))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IterableClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def total_requests(self) -> int:
        with self._counts_lock:
            return sum(self.request_counts.values())

    def call(self, endpoint: str, method: str, path: str, body: Any = None) -> ApiResponse:
        """Send one logical request; returns the first non-retryable answer.

        Raises `IterableAuthError` on 401 and `IterableTransientError` once `max_attempts`
        failures (or `max_rate_limit_wait_seconds` of 429 waiting) are used up.
        """
        content = orjson.dumps(body) if body is not None else None
        return self.call_raw(endpoint, method, path, content)

    def call_raw(self, endpoint: str, method: str, path: str, content: bytes | None) -> ApiResponse:
        if endpoint in self._exhausted:
            raise IterableTransientError(
                f"daily quota of {endpoint} is used up; retried on a later run",
                status=429,
                reason="daily_quota_exhausted",
            )
        limiter = self.limiters.get(endpoint)
        failures = 0
        rate_limited_wait = 0.0
        rate_limited_streak = 0
        while True:
            limiter.acquire()
            self._count(endpoint)
            try:
                response = self._send(endpoint, method, path, content)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failures += 1
                reason = f"{type(exc).__name__} on {method} {path}"
                if failures >= self.settings.max_attempts:
                    raise IterableTransientError(
                        redact(f"{reason}: gave up after {failures} attempts")
                    ) from None
                self._note_retry(reason, failures)
                continue
            status = response.status_code
            with self._counts_lock:
                self.status_counts[status] += 1
            if status == 429:
                if "per day" in response.text.lower():
                    with self._counts_lock:
                        self._exhausted.add(endpoint)
                    raise IterableTransientError(
                        f"daily quota of {endpoint} is used up; retried on a later run",
                        status=429,
                        reason="daily_quota_exhausted",
                    )
                rate_limited_streak += 1
                wait = retry_after_seconds(response.headers)
                if wait is None:
                    wait = self.backoff.delay(rate_limited_streak)
                    wait = max(wait, limiter.interval)
                limiter.throttle()
                limiter.pause(wait)
                rate_limited_wait += wait
                with self._counts_lock:
                    self.rate_limited_count += 1
                if rate_limited_wait > self.settings.max_rate_limit_wait_seconds:
                    raise IterableTransientError(
                        f"rate limited on {method} {path} for {rate_limited_wait:.0f}s; giving up",
                        status=429,
                    )
                continue
            rate_limited_streak = 0
            limiter.succeeded()
            if status == 401:
                raise IterableAuthError(
                    "Iterable refused the API key (401) on "
                    f"{method} {path}: check SYNC__ITERABLE__API_KEY (server-side key, right "
                    "project and data centre). Nothing further was sent or acknowledged."
                )
            if status in RETRYABLE_STATUSES:
                failures += 1
                reason = f"HTTP {status} on {method} {path}"
                if failures >= self.settings.max_attempts:
                    raise IterableTransientError(
                        f"{reason}: gave up after {failures} attempts", status=status
                    )
                self._note_retry(reason, failures, retry_after_seconds(response.headers))
                continue
            return ApiResponse(status=status, body=_json_or_none(response), text=response.text)

    def _send(self, endpoint: str, method: str, path: str, content: bytes | None) -> httpx.Response:
        started = time.monotonic()
        with self._counts_lock:
            wire_id = next(self._wire_ids)
            self._on_wire[wire_id] = (endpoint, started)
        try:
            response = self._http.request(
                method, path, content=content, timeout=self.settings.timeout_for(endpoint)
            )
        finally:
            with self._counts_lock:
                del self._on_wire[wire_id]
        elapsed = time.monotonic() - started
        with self._counts_lock:
            previous = self._latency.get(endpoint)
            self._latency[endpoint] = (
                elapsed if previous is None else 0.8 * previous + 0.2 * min(elapsed, 4 * previous)
            )
        return response

    def latency(self, endpoint: str) -> float | None:
        """Typical seconds to an answer on `endpoint` (moving average), None before one."""
        with self._counts_lock:
            return self._latency.get(endpoint)

    def stalled(self, factor: float, min_seconds: float) -> int:
        """Requests on the wire for longer than `factor` times their endpoint's typical
        latency (and at least `min_seconds`): stalled, not merely busy."""
        now = time.monotonic()
        with self._counts_lock:
            return sum(
                1
                for endpoint, started in self._on_wire.values()
                if now - started > max(min_seconds, factor * self._latency.get(endpoint, 0.0))
            )

    def _count(self, endpoint: str) -> None:
        with self._counts_lock:
            self.request_counts[endpoint] += 1

    def _note_retry(self, reason: str, failures: int, hinted: float | None = None) -> None:
        with self._counts_lock:
            self.retry_count += 1
        delay = hinted if hinted is not None else self.backoff.delay(failures)
        log.info("%s; retry %d in %.2fs", reason, failures, delay)
        time.sleep(delay)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def fetch_user_field_types(client: IterableClient) -> dict[str, str]:
    """Field types Iterable has locked for user profiles (`GET /api/users/getFields`)."""
    try:
        response = client.call("get_fields", "GET", "/api/users/getFields")
    except IterableTransientError as exc:
        log.warning("getFields unavailable (%s); checking types within the run only", exc)
        return {}
    if not response.ok or not isinstance(response.body, dict):
        log.warning(
            "getFields answered HTTP %s; checking types within the run only", response.status
        )
        return {}
    fields = response.body.get("fields") or {}
    if not isinstance(fields, dict):
        return {}
    return {str(name): str(kind).lower() for name, kind in fields.items()}
