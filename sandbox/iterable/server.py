"""Run the emulator under uvicorn (uvloop + httptools) on a loopback socket.

``python -m ctsync.sandbox.iterable.server --port 0 --ready-file F`` is what ``IterableEmulator``
starts in a subprocess: a separate process keeps the server off the test's GIL. It binds
the socket itself, writes ``{"port": N}`` as one JSON line on stdout once listening, and
exits when its stdin closes (the parent died or stopped it).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import sys
import threading
from typing import Any

import orjson
import uvicorn

from ctsync.sandbox.iterable.app import API_KEY_ENV, EmulatorApp
from ctsync.sandbox.iterable.wire import install_log_filter


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def make_server(app: EmulatorApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        # Hung (fault-injected) requests must not hold up Ctrl-C.
        timeout_graceful_shutdown=2,
        limit_concurrency=None,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    install_log_filter()
    return server


def serve(app: EmulatorApp, sock: socket.socket, on_ready: Any = None) -> None:
    """Serve until interrupted; ``on_ready`` runs once the socket accepts requests."""
    server = make_server(app)

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and on_ready is not None:
            on_ready()
        await task

    import uvloop

    uvloop.run(main())


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(1024):
            pass
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Iterable API emulator (subprocess entry)")
    parser.add_argument("--port", type=int, default=0)
    # The key normally arrives in the environment, where `ps` does not show it.
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV))
    parser.add_argument("--project-type", default="hybrid")
    parser.add_argument("--rate-scale", default="1")
    parser.add_argument("--faults", default="")
    parser.add_argument("--capture", action="store_true")
    parser.add_argument("--watch-stdin", action="store_true")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error(f"an API key is required (--api-key or {API_KEY_ENV})")
    scale = math.inf if args.rate_scale == "inf" else float(args.rate_scale)
    app = EmulatorApp(args.api_key, args.project_type, scale, args.faults, args.capture)
    try:
        sock = bind(port=args.port)
    except OSError as error:
        sys.stderr.write(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}\n")
        sys.exit(1)
    port = sock.getsockname()[1]
    if args.watch_stdin:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()

    def ready() -> None:
        sys.stdout.write(orjson.dumps({"port": port, "pid": os.getpid()}).decode() + "\n")
        sys.stdout.flush()

    serve(app, sock, ready)


if __name__ == "__main__":
    main()
