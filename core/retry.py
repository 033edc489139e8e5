"""Backoff schedules for the Iterable client.

Two different budgets: failures (5xx, timeouts, dropped connections) consume attempts and
back off exponentially with full jitter; rate-limit answers (429) wait without consuming an
attempt (a wait is not a failure), bounded only by a total waiting time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 520, 522, 524})


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 0.5
    max_seconds: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """`base_seconds`, 2×, 4×, ... before retry number `attempt` (1-based), never more
        than `max_seconds`."""
        return float(min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1))))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number `attempt` (1-based)."""
        ceiling = self.ceiling(attempt)
        return (rng or random).uniform(ceiling / 2, ceiling)


DEFAULT_BACKOFF = Backoff()
"""The backoff every client starts from unless configured otherwise."""


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta-seconds or HTTP-date), if any.

    Iterable documents no such header, but proxies in front of it may send one; honour it
    when present, capped so a bogus value cannot stall a run for hours.
    """
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), 300.0)
