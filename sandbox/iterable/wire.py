"""Bytes in and out of the ASGI server: reading a capped request body, answering, and
dropping a connection on purpose (the ``drop`` and ``hang`` faults)."""

from __future__ import annotations

import logging
from typing import Any

_HEADERS_JSON = (b"content-type", b"application/json")


class DropConnection(Exception):
    """Raised inside the app to make uvicorn close the connection mid-answer."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DropConnection):
            return False
        return "returned without completing response" not in record.getMessage()


def install_log_filter() -> None:
    """Keep uvicorn from logging the connections the emulator drops on purpose."""
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


async def read_all(receive: Any, cap: int | None = None) -> bytes | None:
    """The request body; ``None`` when it exceeds ``cap`` (the rest is drained)."""
    chunks: list[bytes] = []
    size = 0
    too_big = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if cap is not None and size > cap:
            too_big = True
            chunks = []
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body"):
            break
    if too_big:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(
    send: Any, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def drop(send: Any) -> None:
    # Headers promise a body that never comes, then the app returns: uvicorn closes the
    # socket, which the client sees as a broken connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_HEADERS_JSON, (b"content-length", b"1000")],
        }
    )
