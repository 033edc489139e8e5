"""Start and control the commercetools sandbox server (Node) from Python.

    with CommercetoolsSandbox(project_key="demo") as ct:
        os.environ.update(ct.env())      # SOURCES__COMMERCETOOLS__* for dlt
        ct.set_faults(status_429=0.1, seed=1)
        ...
        print(ct.stats()["max_offset"])

The server is `server/server.mjs` next to this file: `@labdigital/commercetools-mock` with
the corrections ctsync needs (sort, paging caps, withTotal, /messages, backdating with
X-Sandbox-Timestamp, fault injection). Admin endpoints live under `/_sandbox/` and need
no token.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

import httpx

if TYPE_CHECKING:
    from ctsync.sandbox.commercetools.seed_common import ChangeSummary, SeedSummary

SANDBOX_DIR = Path(__file__).resolve().parent
SERVER_SCRIPT = SANDBOX_DIR / "server" / "server.mjs"
MOCK_PACKAGE = SANDBOX_DIR / "node_modules" / "@labdigital" / "commercetools-mock"

DEFAULT_PROJECT_KEY = "ctsync-sandbox"


class SandboxError(RuntimeError):
    """The sandbox could not be started or did not answer as expected."""


class SandboxNotInstalledError(SandboxError):
    """Node or the sandbox's npm packages are missing."""


class CommercetoolsSandbox:
    """A commercetools API stand-in on a loopback port, run as a Node subprocess.

    Use as a context manager, or call `start()` / `stop()`. Client credentials are generated
    unless given; the server accepts only them (HTTP Basic on `/oauth/token`).
    """

    def __init__(
        self,
        project_key: str = DEFAULT_PROJECT_KEY,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        faults: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        node: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.project_key = project_key
        self.client_id = client_id or f"ctsync-{secrets.token_hex(6)}"
        self._client_secret = client_secret or secrets.token_urlsafe(24)
        self._initial_faults = dict(faults or {})
        self.host = host
        self._requested_port = port
        self._node = node
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._port: int | None = None
        self._admin: httpx.Client | None = None

    def __repr__(self) -> str:
        # Never the secret: this object ends up in pytest failure output and logs.
        state = f"port={self._port}" if self.running else "stopped"
        return f"CommercetoolsSandbox(project_key={self.project_key!r}, {state})"

    # -- lifecycle -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        node = self._find_node()
        if not MOCK_PACKAGE.is_dir():
            raise SandboxNotInstalledError(
                f"the commercetools sandbox's npm packages are missing ({MOCK_PACKAGE} not found); "
                "run `./dev bootstrap` (or `npm ci` in sandbox/commercetools/) first"
            )
        cmd = [
            node,
            str(SERVER_SCRIPT),
            "--port",
            str(self._requested_port),
            "--host",
            self.host,
            "--project-key",
            self.project_key,
            "--exit-on-stdin-close",
        ]
        env = dict(os.environ)
        env["CT_SANDBOX_CLIENT_ID"] = self.client_id
        env["CT_SANDBOX_CLIENT_SECRET"] = self._client_secret
        if self._initial_faults:
            env["CT_SANDBOX_FAULTS"] = json.dumps(self._initial_faults)
        # stderr goes to a file: nobody drains a pipe after startup, and a full pipe
        # would block the server.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._process = subprocess.Popen(
            cmd,
            cwd=SANDBOX_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        try:
            ready = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._port = int(ready["port"])
        self._admin = httpx.Client(base_url=self.api_url, timeout=10.0)
        return self

    def _find_node(self) -> str:
        node = shutil.which(self._node or "node")
        if not node:
            raise SandboxNotInstalledError(
                f"Node.js ({self._node or 'node'!r}) was not found; install Node 20 or newer, "
                "then run `./dev bootstrap`"
            )
        return node

    def _wait_ready(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        box: dict[str, str] = {}

        def read() -> None:
            box["line"] = stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self._startup_timeout)
        line = box.get("line")
        if line is None:
            raise SandboxError(
                "the commercetools sandbox did not report ready within "
                f"{self._startup_timeout:.0f}s{self._stderr_tail()}"
            )
        try:
            ready: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            ready = {}
        if not ready.get("ready"):
            code = self._process.wait(timeout=5) if not line else self._process.poll()
            raise SandboxError(
                f"the commercetools sandbox failed to start (exit code {code}, first line {line!r})"
                f"{self._stderr_tail()}"
            )
        return ready

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read()[-2000:].strip()
        except (OSError, ValueError):
            return ""
        return f"; server stderr:\n{text}" if text else ""

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connection settings ------------------------------------------------------

    @property
    def pid(self) -> int:
        """Process id of the Node server."""
        if self._process is None or not self.running:
            raise SandboxError("the commercetools sandbox is not running; call start() first")
        return self._process.pid

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            raise SandboxError("the commercetools sandbox is not running; call start() first")
        return self._port

    @property
    def api_url(self) -> str:
        """API base URL; resources are at `{api_url}/{project_key}/{resource}`."""
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """Auth base URL; the token endpoint is `{auth_url}/oauth/token`."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.auth_url}/oauth/token"

    @property
    def client_secret(self) -> str:
        return self._client_secret

    def env(self) -> dict[str, str]:
        """The DESIGN.md environment settings that point ctsync at this sandbox."""
        return {
            "SOURCES__COMMERCETOOLS__PROJECT_KEY": self.project_key,
            "SOURCES__COMMERCETOOLS__API_URL": self.api_url,
            "SOURCES__COMMERCETOOLS__AUTH_URL": self.auth_url,
            "SOURCES__COMMERCETOOLS__CLIENT_ID": self.client_id,
            "SOURCES__COMMERCETOOLS__CLIENT_SECRET": self.client_secret,
        }

    # -- convenience for tests and seeders ---------------------------------------

    def seed(self, **options: Any) -> SeedSummary:
        """Seed this sandbox's project over HTTP (`seeder.seed`, with its `options`)."""
        from ctsync.sandbox.commercetools.seeder import seed

        return seed(*self._seeder_arguments(), **options)

    def apply_changes(self, **options: Any) -> ChangeSummary:
        """A round of changes to this sandbox's project (`seeder.apply_changes`)."""
        from ctsync.sandbox.commercetools.seeder import apply_changes

        return apply_changes(*self._seeder_arguments(), **options)

    def _seeder_arguments(self) -> tuple[str, str, str, str, str]:
        return (self.api_url, self.auth_url, self.project_key, self.client_id, self.client_secret)

    def token(self, scope: str | None = None) -> str:
        """Mint an access token with the sandbox's client credentials (HTTP Basic)."""
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        response = httpx.post(
            self.token_url, data=data, auth=(self.client_id, self.client_secret), timeout=10.0
        )
        if response.status_code != 200:
            raise SandboxError(
                f"token request to the sandbox failed: HTTP {response.status_code} "
                f"{response.text[:300]}"
            )
        return str(response.json()["access_token"])

    def client(self, *, timeout: float = 30.0) -> httpx.Client:
        """An httpx client with base URL `{api_url}/{project_key}` and a fresh bearer token."""
        return httpx.Client(
            base_url=f"{self.api_url}/{self.project_key}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=timeout,
        )

    # -- admin API ------------------------------------------------------------------

    def _admin_request(self, method: str, path: str, body: Any = None) -> Any:
        if self._admin is None or not self.running:
            raise SandboxError("the commercetools sandbox is not running; call start() first")
        response = self._admin.request(method, f"/_sandbox/{path}", json=body)
        if response.status_code >= 400:
            raise SandboxError(
                f"sandbox admin {method} /_sandbox/{path} failed: HTTP {response.status_code} "
                f"{response.text[:500]}"
            )
        return response.json()

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault configuration (unset settings return to their defaults).

        Settings: status_429, status_502, status_503, status_504 (fractions 0..1 of
        requests), sequence (statuses from 401/429/500/502/503/504 returned, in order, to
        the next matching requests before the fractions apply), latency_ms (delay of every
        matching request), retry_after_seconds, token_ttl_seconds (None = no expiry), paths
        (regex on the URL path; None = every API request, not /oauth), seed (int or None).
        """
        result: dict[str, Any] = self._admin_request("POST", "faults", faults)
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin_request("GET", "faults")
        return result

    def clear_faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin_request("DELETE", "faults")
        return result

    def stats(self) -> dict[str, Any]:
        """Request counts by path and status, max offset/limit seen, faults injected."""
        result: dict[str, Any] = self._admin_request("GET", "stats")
        return result

    def reset_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin_request("DELETE", "stats")
        return result

    def bulk_load(
        self,
        type_id: str,
        resources: Iterable[dict[str, Any]],
        *,
        messages: bool = False,
        batch_size: int = 1000,
    ) -> int:
        """Store complete resources as given (no drafts, no validation), in batches.

        For tests and benchmarks that need many rows fast. `type_id` is the storage type
        ("customer", "order", "cart", "category", ...). Missing id/version/createdAt/
        lastModifiedAt are filled in; with `messages=True` customers and orders get their
        CustomerCreated/OrderCreated message dated at their createdAt. Returns the count.
        """
        stored = 0
        batch: list[dict[str, Any]] = []
        for resource in resources:
            batch.append(resource)
            if len(batch) >= batch_size:
                stored += self._bulk(type_id, batch, messages)
                batch = []
        if batch:
            stored += self._bulk(type_id, batch, messages)
        return stored

    def _bulk(self, type_id: str, batch: list[dict[str, Any]], messages: bool) -> int:
        body = {"resources": batch, "messages": messages}
        result = self._admin_request("POST", f"bulk/{type_id}", body)
        return int(result["stored"])

    def reset(self) -> None:
        """Delete all data and messages, clear faults and stats (issued tokens stay valid)."""
        self._admin_request("POST", "reset")
