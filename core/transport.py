"""Transport rules for the two APIs: credentials never travel over plain HTTP to another host.

`http://` is fine for the sandboxes on loopback; anywhere else it would send the
commercetools client secret and the Iterable API key in clear text. It is refused unless
the operator passes `ctsync --insecure` (which sets `CTSYNC_INSECURE=1` for the process and
the dlt/dbt work it starts).
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

INSECURE_ENV = "CTSYNC_INSECURE"


class InsecureTransportError(ValueError):
    """A URL that would send credentials in clear text (or is not http(s) at all)."""


def insecure_allowed() -> bool:
    return os.environ.get(INSECURE_ENV, "").strip().lower() in ("1", "true", "yes")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, setting: str) -> str:
    """`url` if it may carry credentials; otherwise raise naming `setting`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise InsecureTransportError(f"{setting}: {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InsecureTransportError(
            f"{setting}: {url!r} is not an http(s) URL (e.g. https://api.example.com)"
        )
    if parts.scheme == "http" and not is_loopback(host) and not insecure_allowed():
        raise InsecureTransportError(
            f"{setting}: {url} would send credentials unencrypted to {host}; use https:// "
            "(plain http:// is allowed only for loopback hosts, or with `ctsync --insecure`)"
        )
    return url
