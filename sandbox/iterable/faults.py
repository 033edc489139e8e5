"""Rate limits (leaky buckets at Iterable's published rates) and injected faults.

Fault SPEC syntax (``ctsync sandbox iterable --faults SPEC``, ``set_faults(SPEC)``)::

    SPEC  := RULE (";" RULE)*
    RULE  := ENDPOINT ":" KEY "=" VALUE ("," KEY "=" VALUE)*
    ENDPOINT := an endpoint name such as users/bulkUpdate, events/track,
                catalogs/items/bulk (see ``ENDPOINT_LIMITS``), or "*" for every endpoint

Keys (fractions are probabilities 0..1 per request; rules for a named endpoint override
the same keys of the "*" rule):

    500, 502, 503, 429 = fraction answered with that status before anything is applied
    drop       = fraction whose connection is dropped before anything is applied
    hang       = fraction that is applied, then held without an answer for hang_s seconds
                 (past any sane client timeout) before the connection is dropped
    hang_s     = seconds a hung request is held (default 60)
    latency_ms = added latency before every answer
    async_ms   = accepted (200) at once, applied this many ms later (Iterable's documented
                 asynchrony: a GET right after the write may not see it yet)
    async      = fraction of writes that are applied late (default 1 when async_ms is set)
    times      = apply this rule's faults to the next N matching requests only
    after      = let the first N matching requests through untouched, then apply the rule
    hold       = fraction held before anything is applied, without an answer, until the
                 faults are set again (``set_faults``/``reset`` release every held request,
                 which then proceeds normally): lets a test stop a client mid-run for certain
    seed       = random seed ("*" rule only) so runs are repeatable

Example: ``users/bulkUpdate:500=0.2,hang=0.05;*:latency_ms=20``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

# Iterable's published per-project (per-key for catalogs) rates, requests per second.
# Endpoints without a published limit are absent (never throttled).
ENDPOINT_LIMITS: dict[str, float] = {
    "users/update": 500,
    "users/bulkUpdate": 5,
    "users/get": 100,
    "users/getByUserId": 100,
    "users/delete": 100,
    "users/deleteByUserId": 100,
    "users/forget": 3,
    "users/getFields": 3,
    "events/track": 2000,
    "events/trackBulk": 10,
    "lists/get": 100,
    "channels": 100,
    "messageTypes": 100,
    "catalogs/items/put": 1000,
    "catalogs/items/bulk": 100,
    "catalogs/items/list": 100,
    "export/data.json": 4 / 60,
}
# Limits published per minute: the bucket holds a minute's worth (4 requests at once, then
# one every 15 s), not one second's worth.
ENDPOINT_BURST: dict[str, float] = {"export/data.json": 4}
FORGET_DAILY_CAP = 1000

_STATUS_KEYS = ("500", "502", "503", "429")
_FLOAT_KEYS = {
    *_STATUS_KEYS,
    "drop",
    "hang",
    "hang_s",
    "hold",
    "latency_ms",
    "async_ms",
    "async",
}
_INT_KEYS = {"times", "after", "seed"}


class FaultSpecError(ValueError):
    """A fault SPEC that cannot be parsed; the message names the bad part."""


def parse_faults(spec: str, endpoints: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Parse a SPEC string into ``{endpoint: {key: value}}``.

    With ``endpoints``, a rule naming anything else (a typo) is refused.
    """
    rules: dict[str, dict[str, float]] = {}
    for raw in spec.split(";"):
        rule = raw.strip()
        if not rule:
            continue
        endpoint, sep, body = rule.partition(":")
        endpoint = endpoint.strip()
        if not sep or not endpoint:
            raise FaultSpecError(f"fault rule {rule!r}: expected ENDPOINT:KEY=VALUE[,...]")
        if endpoints is not None and endpoint != "*" and endpoint not in endpoints:
            raise FaultSpecError(
                f"fault rule {rule!r}: unknown endpoint {endpoint!r} "
                f"(known: *, {', '.join(endpoints)})"
            )
        settings: dict[str, float] = {}
        for pair in body.split(","):
            pair = pair.strip()
            if not pair:
                continue
            key, eq, value = pair.partition("=")
            key = key.strip()
            if not eq:
                raise FaultSpecError(f"fault rule {rule!r}: {pair!r} is not KEY=VALUE")
            if key not in _FLOAT_KEYS | _INT_KEYS:
                known = ", ".join(sorted(_FLOAT_KEYS | _INT_KEYS))
                raise FaultSpecError(f"fault rule {rule!r}: unknown key {key!r} (known: {known})")
            try:
                number = float(value)
            except ValueError:
                raise FaultSpecError(
                    f"fault rule {rule!r}: {key} needs a number, got {value!r}"
                ) from None
            if (key in _STATUS_KEYS or key in ("drop", "hang", "hold", "async")) and not (
                0 <= number <= 1
            ):
                raise FaultSpecError(f"fault rule {rule!r}: {key} is a fraction in 0..1")
            if number < 0:
                raise FaultSpecError(f"fault rule {rule!r}: {key} must not be negative")
            settings[key] = int(number) if key in _INT_KEYS else number
        rules.setdefault(endpoint, {}).update(settings)
    return rules


@dataclass
class Decision:
    """What the fault layer does to one request."""

    status: int | None = None
    drop: bool = False
    hang_s: float = 0.0
    hold: bool = False
    latency_s: float = 0.0
    async_s: float = 0.0


@dataclass
class FaultPlan:
    rules: dict[str, dict[str, float]] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def build(cls, rules: dict[str, dict[str, float]]) -> FaultPlan:
        seed = rules.get("*", {}).get("seed")
        plan = cls(rules=rules, rng=random.Random(seed))
        plan.remaining = {name: int(r["times"]) for name, r in rules.items() if "times" in r}
        return plan

    def decide(self, endpoint: str, is_write: bool) -> Decision:
        if not self.rules:
            return Decision()
        decision = Decision()
        for name in ("*", endpoint):
            rule = self.rules.get(name)
            if not rule:
                continue
            if "after" in rule:
                passed = self.passed.get(name, 0)
                if passed < rule["after"]:
                    self.passed[name] = passed + 1
                    continue
            if name in self.remaining:
                if self.remaining[name] <= 0:
                    continue
                self.remaining[name] -= 1
            self._apply(rule, decision, is_write)
        return decision

    def _apply(self, rule: dict[str, float], decision: Decision, is_write: bool) -> None:
        rng = self.rng
        if "latency_ms" in rule:
            decision.latency_s = rule["latency_ms"] / 1000
        for key in _STATUS_KEYS:
            fraction = rule.get(key, 0.0)
            if fraction and rng.random() < fraction:
                decision.status = int(key)
        if rule.get("drop") and rng.random() < rule["drop"]:
            decision.drop = True
        if rule.get("hold") and rng.random() < rule["hold"]:
            decision.hold = True
        if rule.get("hang") and rng.random() < rule["hang"]:
            decision.hang_s = rule.get("hang_s", 60.0)
        if is_write and rule.get("async_ms"):
            if rng.random() < rule.get("async", 1.0):
                decision.async_s = rule["async_ms"] / 1000
            else:
                decision.async_s = 0.0


class LeakyBucket:
    """Leaky-bucket meter: each request adds one unit, the bucket drains at ``rate``/s.

    Capacity is one second's worth of requests (at least one), so a client pacing itself
    at the published rate never sees a 429 while a burst above it does.
    """

    __slots__ = ("rate", "capacity", "level", "updated")

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate if capacity is None else capacity)
        self.level = 0.0
        self.updated = time.monotonic()

    def admit(self) -> bool:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.updated) * self.rate)
        self.updated = now
        if self.level + 1 > self.capacity + 1e-9:
            return False
        self.level += 1
        return True


class RateLimiter:
    """Per-endpoint buckets; ``scale`` multiplies every rate, 0 or inf lifts all limits."""

    def __init__(self, scale: float = 1.0) -> None:
        self.buckets: dict[str, LeakyBucket] = {}
        self.forget_day: list[float] = []
        self.forget_daily_cap = FORGET_DAILY_CAP
        self.set_scale(scale)

    def set_scale(self, scale: float) -> None:
        if scale < 0 or math.isnan(scale):
            raise ValueError(f"rate scale must be ≥ 0 (0 or inf lifts limits), got {scale}")
        self.scale = scale
        self.buckets = {}
        self.forget_day = []

    def set_forget_daily_cap(self, cap: int) -> None:
        """A test knob: the daily cap of ``users/forget``; a new "day" starts now."""
        if cap < 0:
            raise ValueError(f"the forget daily cap must be ≥ 0, got {cap}")
        self.forget_daily_cap = cap
        self.forget_day = []

    @property
    def lifted(self) -> bool:
        return self.scale == 0 or math.isinf(self.scale)

    def admit(self, endpoint: str) -> tuple[bool, str]:
        """``(admitted, reason)``; the reason names the limit that refused the request."""
        if self.lifted:
            return True, ""
        rate = ENDPOINT_LIMITS.get(endpoint)
        if rate is None:
            return True, ""
        bucket = self.buckets.get(endpoint)
        if bucket is None:
            bucket = self.buckets[endpoint] = LeakyBucket(
                rate * self.scale, ENDPOINT_BURST.get(endpoint)
            )
        if not bucket.admit():
            return False, f"{rate * self.scale:g} requests/s"
        if endpoint == "users/forget":
            now = time.monotonic()
            window = 86400 / self.scale
            self.forget_day = [t for t in self.forget_day if now - t < window]
            if len(self.forget_day) >= self.forget_daily_cap:
                return False, f"{self.forget_daily_cap} requests per day"
            self.forget_day.append(now)
        return True, ""

    def describe(self) -> dict[str, Any]:
        return {
            name: (None if self.lifted else rate * self.scale)
            for name, rate in ENDPOINT_LIMITS.items()
        }
