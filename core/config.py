"""Iterable settings, read through dlt's configuration providers.

Section ``sync.iterable``: environment variables (``SYNC__ITERABLE__API_KEY``,
``SYNC__ITERABLE__API_URL``, ``SYNC__ITERABLE__RATE_LIMITS__BULK_UPDATE``, ...),
``.dlt/config.toml`` and ``.dlt/secrets.toml`` (``[sync.iterable] api_key = "..."``).
Defaults follow Iterable's published limits; endpoints for which Iterable publishes no
limit get a conservative one, overridable like the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from ctsync.core.names import PROJECT_TYPES, TRANSIENT_REASONS, TRANSIENT_REASONS_VAR
from ctsync.core.redact import mask, register_secret
from ctsync.core.retry import DEFAULT_BACKOFF
from ctsync.core.transport import InsecureTransportError, check_url

US_API_URL = "https://api.iterable.com"
EU_API_URL = "https://api.eu.iterable.com"
DELETION_METHODS = ("delete", "forget")
USER_ID_FIELDS = ("customer_id", "customer_number", "external_id")
PURCHASE_CURRENCIES = ("base", "order")
# Objects whose sync deletes something in Iterable: each has a mass-deletion guard.
DELETING_OBJECTS = ("users", "user_deletions", "catalog_items", "carts")

# Requests per second, per endpoint. Published: bulkUpdate 5/s, trackBulk 10/s, user
# DELETE 100/s, forget 3/s, getFields 3/s, catalog bulk 100/s (per key). Not published:
# bulkUpdateSubscriptions, trackPurchase, updateCart, catalog create, updateEmail (users/update:
# 500/s, shared with every other caller of the project); values chosen to
# stay well under the single-call limits Iterable does publish (update 500/s).
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "bulk_update": 5.0,
    "bulk_update_subscriptions": 5.0,
    "track_purchase": 100.0,
    "update_cart": 100.0,
    "track_bulk": 10.0,
    "catalog_bulk": 100.0,
    "catalog_bulk_delete": 100.0,
    "catalog_create": 10.0,
    "user_delete": 100.0,
    "user_update": 100.0,
    "update_email": 10.0,
    "forget": 3.0,
    "get_fields": 3.0,
    # consent: list and group writes (not published), settings reads (100/s published)
    "lists_subscribe": 10.0,
    "lists_unsubscribe": 10.0,
    "subscriptions_subscribe": 10.0,
    "subscriptions_unsubscribe": 10.0,
    "subscription_user_subscribe": 100.0,
    "subscription_user_unsubscribe": 100.0,
    "get_lists": 100.0,
    "get_channels": 100.0,
    "get_messageTypes": 100.0,
}

# Seconds to wait for an answer on single-record endpoints (capped by `timeout_seconds`;
# `sync.iterable.timeouts.<endpoint>` sets any endpoint's own). Single-record
# endpoints answer in well under a second, so a request that has not answered in a few
# seconds is stalled: it is abandoned and retried (each of them is idempotent: purchases
# carry their id, a cart write replaces the cart, profile writes and deletions set a state)
# rather than holding a worker for the full bulk timeout.
DEFAULT_TIMEOUTS: dict[str, float] = {
    "track_purchase": 10.0,
    "update_cart": 10.0,
    "user_update": 10.0,
    "update_email": 10.0,
    "user_delete": 10.0,
    "forget": 10.0,
    "subscription_user_subscribe": 10.0,
    "subscription_user_unsubscribe": 10.0,
}

# Records per request for the bulk endpoints (Iterable: no count cap for bulkUpdate, only
# 4 MB; catalog bulk allows 1000 items; 1000 is the practice everywhere else).
DEFAULT_BATCH_SIZES: dict[str, int] = {
    "users": 1000,
    "subscriptions": 1000,
    "events": 1000,
    "catalog_items": 1000,
}


# Settings that take one of a few values, and those values.
_CHOICES: dict[str, tuple[str, ...]] = {
    "project_type": PROJECT_TYPES,
    "user_deletion_method": DELETION_METHODS,
    "user_id_field": USER_ID_FIELDS,
    "purchase_currency": PURCHASE_CURRENCIES,
}


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it and says how to set it."""


# The DuckDB file: this variable, else `warehouse.duckdb` (`ctsync.core.warehouse`).
WAREHOUSE_ENV = "CTSYNC_WAREHOUSE"

# The schema of the sync's state and audit tables (ledger, runs, changelog, rejections):
# one setting, read by every Python reader through `audit_schema()` and passed to dbt as
# the var `ctsync_audit_schema` (`dbt_vars`), whose default in dbt_project.yml is the same.
AUDIT_SCHEMA_ENV = "CTSYNC_AUDIT_SCHEMA"
DEFAULT_AUDIT_SCHEMA = "ctsync"
AUDIT_SCHEMA_VAR = "ctsync_audit_schema"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def audit_schema() -> str:
    """The audit schema: ``CTSYNC_AUDIT_SCHEMA``, else ``ctsync``. It goes into SQL as an
    identifier, so only lowercase letters, digits and underscores are accepted."""
    value = os.environ.get(AUDIT_SCHEMA_ENV, "").strip() or DEFAULT_AUDIT_SCHEMA
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{AUDIT_SCHEMA_ENV} must be a lowercase SQL identifier (letters, digits, "
            f"underscores, not starting with a digit), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class IterableSettings:
    api_key: str = field(default="", repr=False)
    api_url: str = US_API_URL
    project_type: str = "hybrid"
    timeout_seconds: float = 30.0
    # Per-endpoint timeouts set by the operator (`sync.iterable.timeouts.<endpoint>`).
    timeouts: dict[str, float] = field(default_factory=dict)
    rate_limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    rate_scale: float = 1.0
    batch_sizes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BATCH_SIZES))
    max_body_bytes: int = 4_000_000
    max_attempts: int = 5
    backoff_base_seconds: float = DEFAULT_BACKOFF.base_seconds
    backoff_max_seconds: float = DEFAULT_BACKOFF.max_seconds
    max_rate_limit_wait_seconds: float = 600.0
    concurrency: int = 4
    # Single-record endpoints (trackPurchase, updateCart, ...): requests in flight are sized
    # to the endpoint's rate and observed latency (Little's law), never above this cap;
    # requests stalled past a few typical latencies do not count against it.
    max_inflight: int = 64
    user_deletion_method: str = "delete"
    catalog_name: str = "products"
    max_user_id_length: int = 52
    page_size: int = 2000
    # Mass-deletion guard: a run that would delete more than this share of the users
    # Iterable holds (and more than `mass_delete_min_records`) stops before sending
    # anything. A broken ingest or an identity change looks exactly like that; 1.0 disables.
    max_delete_fraction: float = 0.1
    mass_delete_min_records: int = 100
    # Per object (`sync.iterable.delete_guards.<object>.max_delete_fraction` / `.min_records`):
    # (fraction, min records); what is not set falls back to the two settings above.
    delete_guards: dict[str, tuple[float | None, int | None]] = field(default_factory=dict)
    # Settings dbt needs too: `ctsync build` passes them as dbt vars (`dbt_vars`), so the
    # payloads dbt builds and the requests the sync makes never disagree.
    user_id_field: str = "customer_id"
    base_currency: str = "EUR"
    # Currency of a purchase's `total` and item prices (and of carts): "base" converts to
    # `base_currency` (the order's own currency and amounts go in dataFields), "order" keeps
    # each order's currency.
    purchase_currency: str = "base"
    # First sync: events that happened more than this many days before it are recorded as
    # acknowledged without being sent (no journey fires for the past). None sends all.
    event_backfill_days: int | None = 7
    # The same switch for purchases; None (default) sends the whole history.
    purchase_backfill_days: int | None = None

    def __post_init__(self) -> None:
        register_secret(self.api_key)
        try:
            check_url(self.api_url, "sync.iterable.api_url")
        except InsecureTransportError as exc:
            raise ConfigError(str(exc)) from None
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"sync.iterable.{name} must be one of {', '.join(allowed)}, got {value!r} "
                    f"(set SYNC__ITERABLE__{name.upper()})"
                )
        if len(self.base_currency) != 3 or not self.base_currency.isalpha():
            raise ConfigError(
                "sync.iterable.base_currency must be an ISO 4217 code such as EUR, "
                f"got {self.base_currency!r}"
            )
        for name in ("event_backfill_days", "purchase_backfill_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"sync.iterable.{name} must be zero or more (or unset)")
        for name in (
            "timeout_seconds",
            "rate_scale",
            "max_attempts",
            "concurrency",
            "page_size",
            "max_inflight",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"sync.iterable.{name} must be positive")
        for endpoint, rate in self.rate_limits.items():
            if rate <= 0:
                raise ConfigError(f"sync.iterable.rate_limits.{endpoint} must be positive")
        for endpoint, seconds in self.timeouts.items():
            if seconds <= 0:
                raise ConfigError(f"sync.iterable.timeouts.{endpoint} must be positive")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={mask(self.api_key) if f.name == 'api_key' else repr(getattr(self, f.name))}"
            for f in fields(self)
        )
        return f"IterableSettings({shown})"

    def rate_for(self, endpoint: str) -> float:
        """Requests per second allowed on `endpoint`, scaled by `rate_scale`."""
        return self.rate_limits.get(endpoint, 10.0) * self.rate_scale

    def timeout_for(self, endpoint: str) -> float:
        """Seconds to wait for an answer on `endpoint`: its own setting, else the
        single-record default (at most `timeout_seconds`), else `timeout_seconds`."""
        if endpoint in self.timeouts:
            return self.timeouts[endpoint]
        if endpoint in DEFAULT_TIMEOUTS:
            return min(DEFAULT_TIMEOUTS[endpoint], self.timeout_seconds)
        return self.timeout_seconds

    def batch_size_for(self, obj: str) -> int:
        return self.batch_sizes.get(obj, 1000)

    def require_api_key(self) -> None:
        if not self.api_key:
            raise ConfigError(
                "No Iterable API key: set SYNC__ITERABLE__API_KEY or api_key under "
                "[sync.iterable] in .dlt/secrets.toml"
            )

    def delete_guard(self, obj: str) -> tuple[float, int]:
        """(max share of what Iterable holds, min records) before `obj`'s deletions stop."""
        fraction, minimum = self.delete_guards.get(obj, (None, None))
        return (
            self.max_delete_fraction if fraction is None else fraction,
            self.mass_delete_min_records if minimum is None else minimum,
        )


_SCALARS: dict[str, type] = {
    "timeout_seconds": float,
    "rate_scale": float,
    "max_body_bytes": int,
    "max_attempts": int,
    "backoff_base_seconds": float,
    "backoff_max_seconds": float,
    "max_rate_limit_wait_seconds": float,
    "concurrency": int,
    "max_inflight": int,
    "max_user_id_length": int,
    "page_size": int,
    "max_delete_fraction": float,
    "mass_delete_min_records": int,
}


def load_settings(**overrides: Any) -> IterableSettings:
    """Settings from dlt's providers (env, .dlt/*.toml), then `overrides` on top."""
    import dlt

    def get(key: str, typ: type | None = None, secret: bool = False) -> Any:
        provider = dlt.secrets if secret else dlt.config
        name = f"sync.iterable.{key}"
        try:
            return provider.get(name, typ) if typ is not None else provider.get(name)
        except Exception as exc:  # dlt raises on values it cannot coerce
            raise ConfigError(f"{name}: cannot read value ({type(exc).__name__})") from None

    values: dict[str, Any] = {}
    api_key = get("api_key", secret=True)
    if api_key:
        values["api_key"] = str(api_key)
    api_url = get("api_url")
    data_center = get("data_center")
    if api_url:
        values["api_url"] = str(api_url).rstrip("/")
    elif data_center:
        centre = str(data_center).upper()
        if centre not in ("US", "EU"):
            raise ConfigError(f"sync.iterable.data_center must be US or EU, got {data_center!r}")
        values["api_url"] = EU_API_URL if centre == "EU" else US_API_URL
    for key in (
        "project_type",
        "user_deletion_method",
        "catalog_name",
        "user_id_field",
        "purchase_currency",
    ):
        value = get(key)
        if value:
            values[key] = str(value).strip()
    base_currency = get("base_currency")
    if base_currency:
        values["base_currency"] = str(base_currency).strip().upper()
    for key in ("event_backfill_days", "purchase_backfill_days"):
        value = get(key)
        if value is not None and str(value).strip() != "":
            text = str(value).strip().lower()
            if text in ("none", "all", "off"):
                values[key] = None
                continue
            try:
                values[key] = int(text)
            except ValueError:
                raise ConfigError(
                    f"sync.iterable.{key} must be a whole number of days or 'all', got {value!r}"
                ) from None
    for key, typ in _SCALARS.items():
        value = get(key, typ)
        if value is not None:
            values[key] = value

    def per_key(table: str, keys: Iterable[str], typ: type) -> dict[str, Any]:
        """`sync.iterable.<table>.<key>` for each key that is set."""
        found = ((key, get(f"{table}.{key}", typ)) for key in keys)
        return {key: typ(value) for key, value in found if value is not None}

    values["rate_limits"] = {
        **DEFAULT_RATE_LIMITS,
        **per_key("rate_limits", DEFAULT_RATE_LIMITS, float),
    }
    values["timeouts"] = per_key("timeouts", DEFAULT_RATE_LIMITS, float)
    values["batch_sizes"] = {
        **DEFAULT_BATCH_SIZES,
        **per_key("batch_sizes", DEFAULT_BATCH_SIZES, int),
    }
    guards: dict[str, tuple[float | None, int | None]] = {}
    for obj in DELETING_OBJECTS:
        fraction = get(f"delete_guards.{obj}.max_delete_fraction", float)
        minimum = get(f"delete_guards.{obj}.min_records", int)
        if fraction is not None or minimum is not None:
            guards[obj] = (
                float(fraction) if fraction is not None else None,
                int(minimum) if minimum is not None else None,
            )
    values["delete_guards"] = guards
    values.update(overrides)
    return IterableSettings(**values)


INLINE_KEYS = 5000
"""Up to this many keys are written into a query as a list of literals, which DuckDB pushes
down to the scans under views and joins; more are read by a subquery (DuckDB compares a long
literal list key by key with every row). The default of the dbt var
`ctsync_inline_changed_keys` (tests/sync/test_shared_settings.py holds them equal); the sync
uses it for the keys of open rejections."""

# dbt var <- IterableSettings attribute, for every setting both dbt and the sync need.
# dbt_project.yml carries the same defaults (tests/sync/test_shared_settings.py holds them
# equal); `ctsync build` and `ctsync run` always pass the configured values.
DBT_VARS: dict[str, str] = {
    "iterable_project_type": "project_type",
    "user_deletion_method": "user_deletion_method",
    "iterable_user_id_field": "user_id_field",
    "base_currency": "base_currency",
    "purchase_currency": "purchase_currency",
    "event_backfill_days": "event_backfill_days",
    "purchase_backfill_days": "purchase_backfill_days",
}


def dbt_vars(settings: IterableSettings) -> dict[str, Any]:
    """The dbt vars that must agree with the sync's settings, from `settings`, the audit
    schema, and the rejection reasons the sync retries on its own."""
    shared = {var: getattr(settings, attribute) for var, attribute in DBT_VARS.items()}
    return {
        **shared,
        AUDIT_SCHEMA_VAR: audit_schema(),
        TRANSIENT_REASONS_VAR: list(TRANSIENT_REASONS),
    }
