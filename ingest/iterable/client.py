"""A small read-only client for Iterable's export and settings endpoints.

The export endpoints allow 4 requests per minute per project: the client keeps a sliding
one-minute window of its own requests and waits before a fifth, and a 429 waits (without
spending an attempt) before trying again. 5xx answers and dropped connections are retried
with the shared backoff. The API key travels only in the ``Api-Key`` header.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from ctsync.core.config import IterableSettings
from ctsync.core.redact import redact
from ctsync.core.retry import RETRYABLE_STATUSES, Backoff, retry_after_seconds

log = logging.getLogger("ctsync.ingest.iterable")

EXPORT_REQUESTS_PER_MINUTE = 4
# A deferrable export waits for the budget only when that takes less than this.
DEFER_AFTER_SECONDS = 1.0


class IterableSourceError(RuntimeError):
    """Reading Iterable failed; the message says why, without the key."""


class ExportDeferred(Exception):
    """The export budget of this minute is spent and the caller chose not to wait."""


class IterableReadClient:
    def __init__(
        self,
        settings: IterableSettings,
        transport: httpx.BaseTransport | None = None,
        export_per_minute: int = EXPORT_REQUESTS_PER_MINUTE,
    ) -> None:
        settings.require_api_key()
        self.settings = settings
        self.backoff = Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds)
        self.export_per_minute = export_per_minute
        # rate_scale multiplies every published rate (the emulator's tests lift limits).
        self.window_seconds = 60.0 / settings.rate_scale
        self._export_times: deque[float] = deque()
        self.requests = 0
        self.rate_limited = 0
        self.waited_seconds = 0.0
        self._http = httpx.Client(
            base_url=settings.api_url,
            headers={"Api-Key": settings.api_key},
            timeout=httpx.Timeout(max(settings.timeout_seconds, 120.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IterableReadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace_export(self, defer: bool) -> None:
        times = self._export_times
        while True:
            now = time.monotonic()
            while times and now - times[0] >= self.window_seconds:
                times.popleft()
            if len(times) < self.export_per_minute:
                times.append(now)
                return
            wait = self.window_seconds - (now - times[0])
            if defer and wait > DEFER_AFTER_SECONDS:
                raise ExportDeferred
            self.waited_seconds += wait
            log.info("export limit (%d/min): waiting %.1fs", self.export_per_minute, wait)
            time.sleep(wait)

    def _get(
        self, path: str, params: dict[str, str], export: bool, defer: bool = False
    ) -> httpx.Response:
        failures = 0
        limited_wait = 0.0
        while True:
            if export:
                self._pace_export(defer)
            self.requests += 1
            try:
                response = self._http.get(path, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failures += 1
                if failures >= self.settings.max_attempts:
                    raise IterableSourceError(
                        redact(f"{type(exc).__name__} on GET {path}: gave up after {failures}")
                    ) from None
                time.sleep(self.backoff.delay(failures))
                continue
            status = response.status_code
            if status == 429:
                self.rate_limited += 1
                if defer and self.window_seconds / self.export_per_minute > DEFER_AFTER_SECONDS:
                    raise ExportDeferred
                wait = retry_after_seconds(response.headers)
                if wait is None:
                    wait = self.window_seconds / self.export_per_minute if export else 1.0
                limited_wait += wait
                if limited_wait > self.settings.max_rate_limit_wait_seconds:
                    raise IterableSourceError(f"rate limited on GET {path} for {limited_wait:.0f}s")
                self.waited_seconds += wait
                time.sleep(wait)
                continue
            if status == 401:
                raise IterableSourceError(
                    f"Iterable refused the API key (401) on GET {path}: check "
                    "SYNC__ITERABLE__API_KEY"
                )
            if status in RETRYABLE_STATUSES:
                failures += 1
                if failures >= self.settings.max_attempts:
                    raise IterableSourceError(f"HTTP {status} on GET {path}: gave up")
                time.sleep(retry_after_seconds(response.headers) or self.backoff.delay(failures))
                continue
            if status != 200:
                raise IterableSourceError(
                    redact(f"HTTP {status} on GET {path} {params}: {response.text[:300]}")
                )
            return response

    def export(
        self, data_type: str, start: str, end: str, defer: bool = False
    ) -> Iterator[dict[str, Any]]:
        """``GET /api/export/data.json`` for [start, end) (``yyyy-MM-dd HH:mm:ss +00:00``).

        With ``defer``, a spent budget raises ``ExportDeferred`` instead of waiting."""
        response = self._get(
            "/api/export/data.json",
            {"dataTypeName": data_type, "startDateTime": start, "endDateTime": end},
            export=True,
            defer=defer,
        )
        for line in response.content.splitlines():
            if line.strip():
                yield orjson.loads(line)

    def get_json(self, path: str) -> Any:
        return orjson.loads(self._get(path, {}, export=False).content)
