"""Per-endpoint pacing at Iterable's published rates, shared by every worker thread.

Iterable meters with a leaky bucket, so the safe schedule is evenly spaced requests:
each limiter hands out start times ``1/rate`` apart (burst 1 by default). A 429 pushes the
schedule back for every thread at once, instead of each thread hammering on its own, and
halves that endpoint's pace (down to 1/16 of its rate); every answer that is not a 429
gives back a little of it (additive increase), so an endpoint that Iterable meters
tighter than configured settles just under its real limit while the others keep theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Hands out send slots at most `rate` per second (with up to `burst` back to back)."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.current_rate = rate
        self.interval = 1.0 / rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # The earliest time the next request may start; `burst` slots may be banked.
        self._next = clock()
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds it waited."""
        with self._lock:
            now = self._clock()
            earliest = now - (self.burst - 1) * self.interval
            slot = max(self._next, earliest)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.waited_seconds += wait
            return wait
        return 0.0

    def throttle(self) -> None:
        """Iterable answered 429: halve the pace (multiplicative decrease)."""
        with self._lock:
            self.current_rate = max(self.rate / 16, self.current_rate / 2)
            self.interval = 1.0 / self.current_rate

    def succeeded(self) -> None:
        """An answer that was not a 429: recover toward the configured rate."""
        if self.current_rate >= self.rate:
            return
        with self._lock:
            self.current_rate = min(self.rate, self.current_rate + self.rate / 32)
            self.interval = 1.0 / self.current_rate

    def pause(self, seconds: float) -> None:
        """Delay every future slot by at least `seconds` from now (after a 429)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


class RateLimiters:
    """One limiter per endpoint key, created on first use."""

    def __init__(self, rate_for: Callable[[str], float]) -> None:
        self._rate_for = rate_for
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(endpoint)
            if limiter is None:
                rate = self._rate_for(endpoint)
                # A tenth of a second's worth may go back to back (at least 1): a sender
                # that fell behind (a busy CPU, a slow answer) catches up on the slots it
                # missed, and no one-second leaky bucket at `rate` is ever overfilled.
                limiter = RateLimiter(rate, burst=max(1, int(rate / 10)))
                self._limiters[endpoint] = limiter
            return limiter
