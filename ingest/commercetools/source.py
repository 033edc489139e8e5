"""The dlt source for commercetools: one incremental resource per table of ``schema.TABLES``.

Configuration comes from dlt's providers under ``sources.commercetools`` (environment
``SOURCES__COMMERCETOOLS__<NAME>``, ``.dlt/config.toml``, ``.dlt/secrets.toml``):

| key | meaning |
| --- | --- |
| ``project_key`` | commercetools project key (required) |
| ``region`` | e.g. ``europe-west1.gcp``; ignored when both URLs are set |
| ``api_url``, ``auth_url`` | explicit base URLs (the sandbox prints them) |
| ``client_id``, ``client_secret`` | API client credentials (secret: secrets.toml or env) |
| ``scopes`` | space- or comma-separated scopes; empty = all scopes of the API client |
| ``start_date`` | first load starts at this ``lastModifiedAt``/``createdAt`` (ISO date/time) |
| ``lookback_seconds`` | re-read window before the last cursor (default 300) |
| ``page_size``, ``max_attempts``, ``backoff_base``, ``backoff_max``, ``timeout`` | tuning |

Config is read explicitly rather than injected into the source function's arguments so the
secret never enters dlt's resolved-config trace.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import dlt
import pyarrow as pa
from dlt.common.configuration.specs import BaseConfiguration
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from ctsync.core.redact import register_secret
from ctsync.core.transport import InsecureTransportError, check_url
from ctsync.ingest.commercetools import schema
from ctsync.ingest.commercetools.arrow import PageConverter
from ctsync.ingest.commercetools.client import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT_SECONDS,
    ClientCredentials,
    CommercetoolsClient,
    CommercetoolsConfigError,
    Endpoints,
    RetryPolicy,
)

SECTION = "sources.commercetools"
DEFAULT_START = "1970-01-01T00:00:00.000Z"

PREFETCH_PAGES = 2 * schema.BATCH_ROWS // schema.PAGE_SIZE
"""Pages fetched and converted ahead of dlt, per resource: two of dlt's batches, so the
paging goes on while dlt writes a batch (a converted page is Arrow tables, a few MB)."""
T = TypeVar("T")

ProgressCallback = Callable[[str, int], None]
"""Called with (resource name, rows in the page just fetched), possibly from worker threads."""


@dataclass
class CommercetoolsSettings:
    project_key: str
    client_id: str
    client_secret: str = field(repr=False)
    region: str | None = None
    api_url: str | None = None
    auth_url: str | None = None
    scopes: tuple[str, ...] = ()
    start_date: str = DEFAULT_START
    lookback_seconds: float = 300.0
    page_size: int = schema.PAGE_SIZE
    max_attempts: int = DEFAULT_RETRY.max_attempts
    backoff_base: float = DEFAULT_RETRY.backoff_base
    backoff_max: float = DEFAULT_RETRY.backoff_max
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        register_secret(self.client_secret)  # before anything can log or raise with it

    @property
    def endpoints(self) -> Endpoints:
        endpoints = Endpoints.resolve(self.region, self.api_url, self.auth_url)
        try:
            check_url(endpoints.api_url, "sources.commercetools.api_url")
            check_url(endpoints.auth_url, "sources.commercetools.auth_url")
        except InsecureTransportError as exc:
            raise CommercetoolsConfigError(f"commercetools: {exc}") from None
        return endpoints

    def client(self, **kwargs: Any) -> CommercetoolsClient:
        return CommercetoolsClient(
            self.endpoints,
            self.project_key,
            ClientCredentials(self.client_id, self.client_secret, self.scopes),
            retry=RetryPolicy(self.max_attempts, self.backoff_base, self.backoff_max),
            timeout=self.timeout,
            **kwargs,
        )


def normalize_start_date(value: str | date | None) -> str:
    """ISO-8601 UTC with milliseconds like commercetools' own, so string order = time order."""
    if value is None or value == "":
        return DEFAULT_START
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise CommercetoolsConfigError(
                f"commercetools: start_date {text!r} is not an ISO-8601 date or date-time "
                f"(e.g. 2024-01-31 or 2024-01-31T12:00:00Z)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def _get(key: str, secret: bool = False) -> Any:
    accessor = dlt.secrets if secret else dlt.config
    value: Any = accessor.get(f"{SECTION}.{key}")
    if value is None and not secret:
        # client_id is often kept next to the secret; accept it from either provider.
        value = dlt.secrets.get(f"{SECTION}.{key}")
    return value


def load_settings(**overrides: Any) -> CommercetoolsSettings:
    """Read ``sources.commercetools.*`` from dlt's providers; ``overrides`` win when not None."""

    def pick(key: str, secret: bool = False) -> Any:
        if overrides.get(key) is not None:
            return overrides[key]
        return _get(key, secret)

    missing = [
        f"SOURCES__COMMERCETOOLS__{key.upper()}"
        for key, secret in (("project_key", False), ("client_id", False), ("client_secret", True))
        if not pick(key, secret)
    ]
    if missing:
        raise CommercetoolsConfigError(
            f"commercetools configuration incomplete: set {', '.join(missing)} "
            f"(or the same keys under [sources.commercetools] in .dlt/config.toml / secrets.toml)"
        )
    scopes = pick("scopes")
    if isinstance(scopes, str):
        scopes = tuple(s for s in re.split(r"[\s,]+", scopes) if s)
    settings = CommercetoolsSettings(
        project_key=str(pick("project_key")),
        client_id=str(pick("client_id")),
        client_secret=str(pick("client_secret", True)),
        region=pick("region"),
        api_url=pick("api_url"),
        auth_url=pick("auth_url"),
        scopes=tuple(scopes or ()),
        start_date=normalize_start_date(pick("start_date")),
    )
    for key, cast in (
        ("lookback_seconds", float),
        ("page_size", int),
        ("max_attempts", int),
        ("backoff_base", float),
        ("backoff_max", float),
        ("timeout", float),
    ):
        value = pick(key)
        if value is not None:
            try:
                setattr(settings, key, cast(value))
            except (TypeError, ValueError):
                raise CommercetoolsConfigError(
                    f"commercetools: {key} must be a number, got {value!r}"
                ) from None
    if not 1 <= settings.page_size <= 500:
        raise CommercetoolsConfigError(
            f"commercetools: page_size must be between 1 and 500 (the API's limit cap), "
            f"got {settings.page_size}"
        )
    settings.endpoints  # noqa: B018 - fail early on a config with neither region nor URLs
    return settings


def api_resource(
    client: CommercetoolsClient,
    resource_name: str,
    *,
    start_date: str = DEFAULT_START,
    lookback_seconds: float = 300.0,
    page_size: int = schema.PAGE_SIZE,
    progress: ProgressCallback | None = None,
    known_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> DltResource:
    """An incremental dlt resource paging one commercetools endpoint by id keyset.

    ``known_columns``: table → column → dlt data type already in the warehouse.
    """
    raw = schema.table(resource_name)
    converter = PageConverter(raw, known_columns)

    def fetch(
        cursor: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            raw.cursor_field,
            initial_value=start_date,
            lag=lookback_seconds or None,
            on_cursor_value_missing="include",
        ),
    ) -> Iterator[pa.Table]:
        # ">=" so rows sharing the boundary timestamp are re-read; merge on id absorbs them.
        # dlt's look-back arithmetic re-renders the cursor with microseconds; commercetools
        # (and the sandbox's string comparison) expect its own millisecond form.
        since = normalize_start_date(cursor.start_value or start_date)
        # The window closes when the run starts. A row changed while we page could sort
        # before the keyset position already passed; without the bound, rows changed later
        # in the run would push the cursor past it and it would never be read. With it,
        # every change made during the run is left for the next run.
        until = normalize_start_date(datetime.now(UTC))
        pages = client.paginate_pages(
            raw.endpoint,
            converter.convert_body,
            where=[f"{raw.cursor_field} >= :since", f"{raw.cursor_field} < :until"],
            variables={"since": since, "until": until},
            params=raw.params,
            page_size=page_size,
        )

        def stand_ins() -> Iterator[pa.Table]:
            for page in pages:
                if progress is not None:
                    progress(raw.name, len(page))
                yield converter.pages.stand_ins(page)

        # Pages are fetched and converted to Arrow tables ahead, in a thread of their own per
        # resource, while dlt works on the previous batch: the API never waits for the
        # client, and DuckDB converts them without holding Python's GIL.
        yield from schema.batches(prefetch(stand_ins(), depth=PREFETCH_PAGES))

    # spec: nothing to take from dlt's configuration (the settings come in explicitly); the
    # default would resolve every field of the incremental from every provider, per run
    resource = dlt.resource(fetch, name=raw.name, parallelized=True, spec=BaseConfiguration)
    # after the incremental step, which reads the cursor from the documents' stand-ins
    resource.add_step(schema.arrow_items(resource_name, known_columns, converter))
    return schema.apply_hints(resource, resource_name)


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Run ``items`` in a thread, ``depth`` items ahead of the consumer; errors re-raised here.

    Closing the returned generator (the consumer stops early) stops the thread after the
    item it is producing.
    """
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("done", None))
        except BaseException as exc:  # handed to the consumer
            buffer.put(("error", exc))

    thread = threading.Thread(target=produce, name="ctsync-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)


@dlt.source(name="commercetools", max_table_nesting=schema.MAX_TABLE_NESTING)
def commercetools_source(
    client: CommercetoolsClient,
    resources: Sequence[str] | None = None,
    start_date: str = DEFAULT_START,
    lookback_seconds: float = 300.0,
    page_size: int = schema.PAGE_SIZE,
    progress: ProgressCallback | None = None,
    known_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> list[DltResource]:
    """All commercetools resources of ``schema.TABLES`` (or the named subset)."""
    names = list(resources) if resources else list(schema.RESOURCE_NAMES)
    for name in names:
        schema.table(name)
    return [
        api_resource(
            client,
            name,
            start_date=start_date,
            lookback_seconds=lookback_seconds,
            page_size=page_size,
            progress=progress,
            known_columns=known_columns,
        )
        for name in names
    ]


def build_source(
    settings: CommercetoolsSettings,
    client: CommercetoolsClient,
    resources: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    known_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> DltSource:
    return commercetools_source(
        client,
        resources=resources,
        start_date=settings.start_date,
        lookback_seconds=settings.lookback_seconds,
        page_size=settings.page_size,
        progress=progress,
        known_columns=known_columns,
    )
