"""``IterableEmulator``: start the emulator in a subprocess and talk to its inspection API.

with IterableEmulator(project_type="hybrid") as emu:
    os.environ.update(emu.env())
    ...  # run the sync against emu.api_url with emu.api_key
    emu.users(); emu.events(); emu.counters()
"""

from __future__ import annotations

import math
import os
import secrets
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from ctsync.sandbox.iterable.app import API_KEY_ENV
from ctsync.sandbox.iterable.faults import parse_faults
from ctsync.sandbox.iterable.routes import ENDPOINTS

_START_TIMEOUT_S = 30.0


class EmulatorError(RuntimeError):
    """The emulator could not be started or refused an inspection call."""


class IterableEmulator:
    """A running emulator on a free loopback port (context manager)."""

    def __init__(
        self,
        project_type: str = "hybrid",
        *,
        api_key: str | None = None,
        rate_scale: float = 1.0,
        faults: str = "",
        capture: bool = False,
        port: int = 0,
    ) -> None:
        parse_faults(faults, ENDPOINTS)  # fail fast, in the caller's process, on a bad spec
        self.project_type = project_type
        self.api_key = api_key or f"emu-{secrets.token_hex(16)}"
        self._rate_scale = rate_scale
        self._faults = faults
        self._capture = capture
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_path: Path | None = None
        self._client: httpx.Client | None = None
        self.api_url = ""

    # ------------------------------------------------------------------ lifecycle

    def _command(self) -> list[str]:
        scale = self._rate_scale
        cmd = [
            sys.executable,
            "-m",
            "ctsync.sandbox.iterable.server",
            "--port",
            str(self._port),
            "--project-type",
            self.project_type,
            "--rate-scale",
            "inf" if math.isinf(scale) else str(scale),
            "--faults",
            self._faults,
            "--watch-stdin",
        ]
        if self._capture:
            cmd.append("--capture")
        return cmd

    def start(self) -> IterableEmulator:
        if self._proc is not None:
            return self
        stderr = tempfile.NamedTemporaryFile(
            prefix="iterable-emulator-", suffix=".log", delete=False
        )
        self._stderr_path = Path(stderr.name)
        root = Path(__file__).resolve().parents[2]
        env = {
            **os.environ,
            API_KEY_ENV: self.api_key,
            "PYTHONPATH": os.pathsep.join(
                [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=str(root),
        )
        stderr.close()
        assert self._proc.stdout is not None
        # The server prints one JSON line once it listens; wait for it without blocking
        # forever on a child that hangs before printing.
        ready, _, _ = select.select([self._proc.stdout], [], [], _START_TIMEOUT_S)
        line = self._proc.stdout.readline() if ready else b""
        if not line:
            detail = self._stderr_tail()
            self.stop()
            raise EmulatorError(
                f"Iterable emulator did not start within {_START_TIMEOUT_S:g} s: {detail}"
            )
        port = orjson.loads(line)["port"]
        self.api_url = f"http://127.0.0.1:{port}"
        self._client = httpx.Client(base_url=self.api_url, timeout=30.0)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr_path is not None:
            self._stderr_path.unlink(missing_ok=True)

    def __enter__(self) -> IterableEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stderr_tail(self) -> str:
        if self._stderr_path is None or not self._stderr_path.exists():
            return "(no output)"
        lines = [ln for ln in self._stderr_path.read_text(errors="replace").splitlines() if ln]
        return lines[-1] if lines else "(no output)"

    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    def env(self) -> dict[str, str]:
        """The DESIGN.md configuration names pointing the sync at this emulator."""
        return {
            "SYNC__ITERABLE__API_URL": self.api_url,
            "SYNC__ITERABLE__API_KEY": self.api_key,
            "SYNC__ITERABLE__PROJECT_TYPE": self.project_type,
        }

    # ------------------------------------------------------------------ control

    def _call(
        self, method: str, name: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        if self._client is None:
            raise EmulatorError("the emulator is not running; use it as a context manager")
        response = self._client.request(method, f"/_emulator/{name}", json=json, params=params)
        if response.status_code >= 400:
            raise EmulatorError(f"/_emulator/{name}: {response.status_code} {response.text}")
        return response.json()

    def reset(
        self,
        project_type: str | None = None,
        *,
        rate_scale: float = 1.0,
        faults: str = "",
        allow_new_fields: bool = True,
        disallowed_event_names: list[str] | tuple[str, ...] = (),
        capture: bool | None = None,
    ) -> dict[str, Any]:
        """Empty state, default limits, no faults; optionally another project type."""
        parse_faults(faults, ENDPOINTS)
        if project_type is not None:
            self.project_type = project_type
        body: dict[str, Any] = {
            "project_type": self.project_type,
            "rate_scale": "inf" if math.isinf(rate_scale) else rate_scale,
            "faults": faults,
            "allow_new_fields": allow_new_fields,
            "disallowed_event_names": list(disallowed_event_names),
        }
        if capture is not None:
            body["capture"] = capture
        return dict(self._call("POST", "reset", body))

    def set_faults(self, spec: str) -> dict[str, Any]:
        """Replace the fault rules (SPEC syntax in ``ctsync.sandbox.iterable.faults``)."""
        parse_faults(spec, ENDPOINTS)
        return dict(self._call("POST", "faults", {"spec": spec}))

    def set_rate_scale(self, scale: float) -> dict[str, Any]:
        """Multiply every published rate by ``scale``; 0 or ``math.inf`` lifts limits."""
        return dict(
            self._call("POST", "rate_scale", {"scale": "inf" if math.isinf(scale) else scale})
        )

    def set_forget_quota(self, daily_cap: int) -> dict[str, Any]:
        """A test knob: ``users/forget`` allows ``daily_cap`` requests a day (Iterable: 1000)
        and a new day starts now; ``reset`` restores 1000."""
        return dict(self._call("POST", "forget_quota", {"daily_cap": daily_cap}))

    def flush(self) -> int:
        """Apply every accepted-but-not-yet-applied write now."""
        return int(self._call("POST", "flush")["applied"])

    def config(self) -> dict[str, Any]:
        return dict(self._call("GET", "config"))

    def held(self) -> int:
        """Requests waiting on a ``hold`` fault; ``set_faults``/``reset`` release them."""
        return int(self.config()["held"])

    # ------------------------------------------------------------------ inspection

    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "users")["users"])

    def user(self, email: str | None = None, user_id: str | None = None) -> dict[str, Any] | None:
        if (email is None) == (user_id is None):
            raise ValueError("pass exactly one of email= or user_id=")
        params: dict[str, Any] = {"email": email} if email is not None else {"userId": user_id}
        found = self._call("GET", "user", params=params)["user"]
        return dict(found) if found is not None else None

    def events(self, event_name: str | None = None) -> list[dict[str, Any]]:
        params = {"eventName": event_name} if event_name is not None else None
        return list(self._call("GET", "events", params=params)["events"])

    def purchases(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "purchases")["purchases"])

    def cart_updates(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "carts")["cartUpdates"])

    def catalog_items(self, name: str) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", f"catalogs/{name}/items")["items"])

    def fields(self) -> dict[str, dict[str, str]]:
        return dict(self._call("GET", "fields")["fields"])

    def forgotten(self) -> dict[str, list[str]]:
        return dict(self._call("GET", "forgotten"))

    def requests(
        self, endpoint: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        if endpoint is not None:
            params["endpoint"] = endpoint
        if limit is not None:
            params["limit"] = limit
        return list(self._call("GET", "requests", params=params or None)["requests"])

    def counters(self) -> dict[str, dict[int, int]]:
        raw = self._call("GET", "counters")["counters"]
        return {ep: {int(s): n for s, n in per.items()} for ep, per in raw.items()}

    def captured(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "captured")["captured"])

    def deferred_errors(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "deferred_errors")["errors"])

    # ------------------------------------------------------------------ consent

    def recipient(self, action: str, **who_and_group: Any) -> dict[str, Any]:
        """Act as the recipient outside the API: ``action`` is ``unsubscribe`` /
        ``subscribe`` (with ``listId=``, ``channelId=`` or ``messageTypeId=``),
        ``sms_stop``, ``complaint`` or ``hard_bounce``; identify with ``email=`` or
        ``userId=``."""
        return dict(self._call("POST", "recipient", {"action": action, **who_and_group}))

    def consent_events(self) -> list[dict[str, Any]]:
        """Every consent event logged, oldest first (``eventType`` names the export type)."""
        return list(self._call("GET", "consent_events")["events"])

    def add_message_type(
        self,
        channel_id: int,
        policy: str = "OptOut",
        name: str | None = None,
        id: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"channelId": channel_id, "subscriptionPolicy": policy}
        if name is not None:
            body["name"] = name
        if id is not None:
            body["id"] = id
        return dict(self._call("POST", "message_types", body))

    def set_bulk_subscription_action(self, enabled: bool) -> None:
        """Whether ``PUT /api/subscriptions/{group}/{id}`` is enabled (a CSM switch live)."""
        self._call("POST", "subscription_settings", {"bulk_action_enabled": enabled})
