"""Keep secrets out of logs, exception text and anything written to the warehouse.

Secrets are registered once (the API key, as soon as settings are loaded) and every log
record created afterwards is scrubbed, whichever logger or handler it goes through: a
record factory sees each record before any handler, which a per-logger filter would not
(records propagated from child loggers skip the parent's filters).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact` and the log filter mask it from now on."""
    # Very short values would mask ordinary words; real API keys are long.
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: Any) -> str:
    """`text` as a string with every registered secret replaced by ``***``."""
    result = str(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in result:
            result = result.replace(secret, MASK)
    return result


def mask(value: str | None) -> str:
    """How a secret is shown to humans: that it is set, never what it is."""
    return MASK if value else "<unset>"


def _scrub(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not hide the record
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None


def install_log_redaction() -> None:
    """Scrub every log record created from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
