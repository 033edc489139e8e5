"""How many requests a single-record endpoint (trackPurchase, updateCart, updateEmail, ...)
keeps in flight: sized to the endpoint's rate and its measured latency, with requests
stalled on the wire leaving the window so one slow answer never blocks the rest."""

from __future__ import annotations

import math

from ctsync.core.config import IterableSettings
from ctsync.core.names import IterableObject, Operation
from ctsync.sync.iterable_client import IterableClient

# The window of requests in flight is at least `concurrency` and at most `max_inflight`; a
# request on the wire longer than STALL_FACTOR typical latencies (and at least
# STALL_MIN_SECONDS) is stalled and leaves the window.
STALL_FACTOR = 5.0
STALL_MIN_SECONDS = 0.5
# Latency assumed for an endpoint before its first answer.
INITIAL_LATENCY_SECONDS = 0.2
# Per-object endpoint of single-record requests, for the window's rate and latency.
SINGLE_ENDPOINTS: dict[tuple[str, str], str] = {
    (IterableObject.PURCHASES, Operation.UPSERT): "track_purchase",
    (IterableObject.CARTS, Operation.UPSERT): "update_cart",
    (IterableObject.CARTS, Operation.DELETE): "update_cart",
    (IterableObject.USERS, Operation.MOVE): "update_email",
    (IterableObject.USERS, Operation.UPDATE): "user_update",
    (IterableObject.USERS, Operation.DELETE): "user_delete",
    (IterableObject.USER_DELETIONS, Operation.UPSERT): "user_delete",
}


def single_window(client: IterableClient, settings: IterableSettings, endpoint: str) -> int:
    """Requests to keep in flight on a single-record endpoint: its rate times its typical
    latency, doubled for headroom (Little's law), within [concurrency, max_inflight]."""
    latency = client.latency(endpoint) or INITIAL_LATENCY_SECONDS
    rate = client.limiters.get(endpoint).current_rate if endpoint else 10.0
    wanted = math.ceil(rate * latency * 2) + 1
    return max(settings.concurrency, min(settings.max_inflight, wanted))


def stalled(client: IterableClient) -> int:
    """Requests stalled on the wire: they leave the window (the tasks in flight stay at
    most `max_inflight`)."""
    return client.stalled(STALL_FACTOR, STALL_MIN_SECONDS)
