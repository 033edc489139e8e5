"""`ctsync serve`: an HTTP receiver for commercetools subscription deliveries.

Per request: authenticate (shared token, compared in constant time), parse the delivery
(`ctsync.app.jobs.deliveries`), record new message ids and their resources in the state file,
answer 202 at once, and let the debounced trigger start an incremental run for the
affected resources. Redelivered messages are acknowledged and ignored.

Accepted credentials, whichever the transport can send:
`Authorization: Bearer <token>` (EventBridge connections, CloudEvents senders),
`Authorization: Basic <user:token>` (SNS endpoint URL `https://user:token@host/`),
`X-Ctsync-Token: <token>` (EventBridge API-key connections), `?token=<token>` (Pub/Sub push URL).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ctsync.app.alerts import AlertSettings, send, stale_alert
from ctsync.app.jobs.deliveries import DeliveryError, parse_delivery
from ctsync.app.jobs.sns import SnsSignatureError, SnsVerifier, is_sns_url
from ctsync.app.jobs.state import ReceiverState
from ctsync.app.jobs.trigger import (
    DEFAULT_DEBOUNCE,
    DEFAULT_IDLE_DEBOUNCE,
    DEFAULT_MAX_WAIT,
    DebouncedTrigger,
)

log = logging.getLogger("ctsync.jobs.receiver")

MAX_BODY_BYTES = 10 * 1024 * 1024  # Pub/Sub's message cap; commercetools' own cap is lower
MIN_TOKEN_LENGTH = 16
TOKEN_HEADER = "x-ctsync-token"
UNAUTHORIZED = (
    "unauthorized: send the shared token as a Bearer token, a Basic password, "
    "an X-Ctsync-Token header or a ?token= query parameter"
)


class ReceiverError(RuntimeError):
    """The receiver could not start; the message says why."""


class TokenAuth:
    """Checks a request against one shared token; the token never appears in any output."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, request: Request) -> bool:
        if self._token is None:
            return True
        candidates: list[str] = []
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
                candidates.append(decoded.partition(":")[2])
            except (binascii.Error, UnicodeDecodeError, ValueError):
                pass
        if TOKEN_HEADER in request.headers:
            candidates.append(request.headers[TOKEN_HEADER])
        if "token" in request.query_params:
            candidates.append(request.query_params["token"])
        # Compare every candidate so timing does not reveal which credential form matched.
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(candidate.encode(), self._token)
        return matched


def receiver_token() -> str | None:
    """The shared token: `SYNC__RECEIVER__TOKEN` or `[sync.receiver] token` in secrets.toml."""
    import dlt

    from ctsync.core.redact import register_secret

    value: Any = dlt.secrets.get("sync.receiver.token")
    token = str(value) if value else None
    register_secret(token)
    return token


def check_token(token: str | None) -> None:
    """A guessable token protects nothing: refuse short ones before listening."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ReceiverError(
            f"the receiver token is {len(token)} characters long; use at least "
            f"{MIN_TOKEN_LENGTH} random characters (e.g. `openssl rand -hex 24`)"
        )


def sns_confirmation_allowed(url: str) -> bool:
    """Only follow SubscribeURLs that point at AWS SNS over HTTPS (no request forgery)."""
    return is_sns_url(url)


class BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, read as it streams in, abandoned as soon as it passes `limit` bytes: a
    chunked upload has no Content-Length to refuse up front."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class StalenessWatch:
    """Alerts once when changes have waited longer than the freshness limit (runs keep
    failing, or none can start), and again only after the data was fresh in between."""

    def __init__(self, trigger: DebouncedTrigger, settings: AlertSettings) -> None:
        self.trigger = trigger
        self.settings = settings
        self.alerted = False

    def check(self) -> bool:
        """True when this check sent an alert."""
        minutes = self.trigger.stale_seconds() / 60
        if minutes == 0:
            self.alerted = False
            return False
        if self.alerted or minutes <= self.settings.max_staleness_minutes:
            return False
        self.alerted = True
        return send(self.settings, *stale_alert(minutes, self.settings))

    def run(self, stop: threading.Event, interval: float = 60.0) -> None:
        while not stop.wait(interval):
            self.check()


class Receiver:
    """The receiver's moving parts, shared by the HTTP handlers and `/healthz`."""

    def __init__(
        self,
        trigger: DebouncedTrigger,
        state: ReceiverState,
        auth: TokenAuth,
        *,
        confirm_sns: Callable[[str], None] | None = None,
        sns_verifier: SnsVerifier | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.trigger = trigger
        self.state = state
        self.auth = auth
        self.confirm_sns = confirm_sns or _confirm_sns_subscription
        self.sns_verifier = sns_verifier or SnsVerifier()
        self.max_body_bytes = max_body_bytes
        self.started_at = time.time()
        self.received = 0
        self.duplicates = 0
        self.rejected = 0
        self._counter_lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/{path:path}", self.deliver, methods=["POST"]),
            ],
        )

    async def healthz(self, request: Request) -> JSONResponse:
        """Status and the last error's class for anyone (load balancers, probes); the
        counters, pending work, staleness and the (redacted) last error only with the token."""
        stats = self.trigger.stats
        failing = stats.consecutive_failures > 0
        public = {
            "status": "retrying" if failing else "ok",
            "last_error_class": stats.last_error_class if failing else None,
        }
        if self.auth.enabled and not self.auth.check(request):
            return JSONResponse(public)
        return JSONResponse(
            {
                **public,
                "uptime_seconds": round(time.time() - self.started_at, 1),
                "authentication": "token" if self.auth.enabled else "disabled",
                "received": self.received,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "running": self.trigger.running,
                "pending_resources": sorted(self.trigger.pending()),
                "stale_seconds": round(self.trigger.stale_seconds(), 1),
                "runs": stats.runs,
                "failed_runs": stats.failed_runs,
                "consecutive_failures": stats.consecutive_failures,
                "postponed_runs": stats.retries,
                "next_retry_in_seconds": stats.next_retry_in,
                "last_run_resources": stats.last_resources,
                "last_succeeded_at": _iso(stats.last_succeeded_at),
                "last_failed_at": _iso(stats.last_failed_at),
                "last_error": stats.last_error,
            }
        )

    async def deliver(self, request: Request) -> JSONResponse:
        if not self.auth.check(request):
            self._count("rejected")
            log.warning("refused a delivery from %s: missing or wrong token", _client(request))
            return JSONResponse(
                {"error": UNAUTHORIZED},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="ctsync"'},
            )
        try:
            body = await read_capped(request, self.max_body_bytes)
        except BodyTooLarge:
            self._count("rejected")
            return JSONResponse(
                {"error": f"body larger than {self.max_body_bytes} bytes"}, status_code=413
            )
        try:
            delivery = parse_delivery(request.headers, body)
            if delivery.sns_message is not None:
                self.sns_verifier.verify(delivery.sns_message)
        except (DeliveryError, SnsSignatureError) as exc:
            return self._refuse(request, str(exc))
        except Exception as exc:  # a shape nobody foresaw: still the sender's fault, not ours
            return self._refuse(request, f"malformed delivery ({type(exc).__name__})")

        if delivery.sns_subscribe_url is not None:
            return self._sns_subscription(delivery.sns_subscribe_url)

        resources_of = {n.dedupe_key: n.ingest_resources for n in delivery.notifications}
        new_keys = self.state.record([n.dedupe_key for n in delivery.notifications], resources_of)
        duplicates = len(delivery.notifications) - len(new_keys)
        resources: set[str] = set().union(*(resources_of[key] for key in new_keys))
        self._count("received", len(delivery.notifications))
        self._count("duplicates", duplicates)
        if resources:
            self.trigger.notify(resources, persisted=True)
        log.info(
            "%s delivery: %d notification(s), %d duplicate(s), queued %s",
            delivery.transport,
            len(delivery.notifications),
            duplicates,
            ", ".join(sorted(resources)) or "nothing",
        )
        return JSONResponse(
            {
                "accepted": len(new_keys),
                "duplicates": duplicates,
                "transport": delivery.transport,
                "resources": sorted(resources),
            },
            status_code=202,
        )

    def _refuse(self, request: Request, reason: str) -> JSONResponse:
        """400: queues must not redeliver a poison message forever (they do on 5xx)."""
        self._count("rejected")
        log.warning("refused a delivery from %s: %s", _client(request), reason)
        return JSONResponse({"error": reason}, status_code=400)

    def _sns_subscription(self, url: str) -> JSONResponse:
        if not sns_confirmation_allowed(url):
            log.warning("SNS subscription confirmation with a SubscribeURL outside AWS SNS ignored")
            return JSONResponse(
                {"error": "SubscribeURL is not an https://sns.<region>.amazonaws.com URL"},
                status_code=400,
            )
        threading.Thread(target=self.confirm_sns, args=(url,), daemon=True).start()
        return JSONResponse({"confirming": True}, status_code=200)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counter_lock:
            setattr(self, name, getattr(self, name) + amount)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown client"


def _confirm_sns_subscription(url: str) -> None:
    try:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        log.info("confirmed the SNS subscription")
    except httpx.HTTPError as exc:
        log.error(
            "could not confirm the SNS subscription (%s); open the SubscribeURL by hand",
            type(exc).__name__,
        )


def serve(
    job: Callable[[frozenset[str], threading.Event], Any],
    *,
    host: str,
    port: int,
    token: str | None,
    state_path: str,
    debounce: float = DEFAULT_DEBOUNCE,
    idle_debounce: float = DEFAULT_IDLE_DEBOUNCE,
    max_wait: float = DEFAULT_MAX_WAIT,
    retry_delay: float = 10.0,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    alerts: AlertSettings | None = None,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Run the receiver until SIGINT/SIGTERM; a run in progress stops after its current stage."""
    import uvicorn

    check_token(token)
    if (tls_cert is None) != (tls_key is None):
        raise ReceiverError("give both --tls-cert and --tls-key, or neither")
    state = ReceiverState(state_path)
    trigger = DebouncedTrigger(
        job,
        debounce=debounce,
        idle_debounce=idle_debounce,
        max_wait=max_wait,
        retry_delay=retry_delay,
        state=state,
    )
    receiver = Receiver(trigger, state, TokenAuth(token))
    config = uvicorn.Config(
        receiver.app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    server = uvicorn.Server(config)
    stopping = threading.Event()
    _stop_on_signals(server, trigger, stopping)
    trigger.start()
    if alerts is not None and alerts.enabled:
        watch = StalenessWatch(trigger, alerts)
        threading.Thread(
            target=watch.run, args=(stopping,), name="ctsync-staleness", daemon=True
        ).start()
    if on_started is not None:
        watcher = threading.Thread(target=_announce, args=(server, on_started), daemon=True)
        watcher.start()
    # uvicorn runs in a worker thread so that the signals stay ours: uvicorn's own handlers
    # would re-raise the signal after shutdown and kill the process mid-stage.
    thread = threading.Thread(target=server.run, name="ctsync-receiver-http", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    finally:
        server.should_exit = True
        log.info("stopping: a run in progress finishes its current stage first")
        trigger.stop()
        state.close()
    if not server.started:
        raise ReceiverError(
            f"could not listen on {host}:{port} (is the port in use?); choose another with --port"
        )


def _stop_on_signals(server: Any, trigger: DebouncedTrigger, stopping: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop accepting, let a running job finish its stage, exit 0.
    A second SIGINT: stop now."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stopping.set()
        log.warning(
            "received %s: no new runs; a run in progress stops after its current stage",
            signal.Signals(signum).name,
        )
        trigger.stop_event.set()
        server.should_exit = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _announce(server: Any, on_started: Callable[[int], None]) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    sockets = [s for srv in server.servers for s in srv.sockets]
    on_started(sockets[0].getsockname()[1] if sockets else 0)
