"""The receiver over real HTTP (uvicorn on a free loopback port) with a recording job."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from sync.jobs.receiver import Receiver, TokenAuth, sns_confirmation_allowed
from sync.jobs.state import ReceiverState
from sync.jobs.trigger import DebouncedTrigger, RunFailed
from sync.redact import register_secret

TOKEN = "s3cret-token-for-tests"


def message(message_id: str, type_id: str = "customer", resource_id: str = "c-1") -> dict:
    return {
        "notificationType": "Message",
        "projectKey": "demo",
        "id": message_id,
        "version": 1,
        "sequenceNumber": 1,
        "resource": {"typeId": type_id, "id": resource_id},
        "resourceVersion": 2,
        "type": "CustomerFirstNameSet",
        "createdAt": "2026-11-26T10:00:00.000Z",
    }


class Calls:
    """Stands in for the pipeline job. With `gated`, the first run lasts until `release()`."""

    def __init__(self, gated: bool = False) -> None:
        self.resources: list[frozenset[str]] = []
        self.running = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def release(self) -> None:
        self.gate.set()

    def __call__(self, resources: frozenset[str], stop: threading.Event) -> None:
        self.resources.append(resources)
        self.running.set()
        while not self.gate.wait(0.05) and not stop.is_set():
            pass
        self.running.clear()


@contextmanager
def receiver_server(
    tmp_path: Path,
    job: Calls,
    *,
    debounce: float = 0.1,
    confirmed: list[str] | None = None,
    retry_delay: float = 10.0,
) -> Iterator[tuple[Receiver, str]]:
    state = ReceiverState(tmp_path / "receiver.sqlite")
    trigger = DebouncedTrigger(
        job, debounce=debounce, max_wait=5, retry_delay=retry_delay, state=state
    )
    receiver = Receiver(
        trigger,
        state,
        TokenAuth(TOKEN),
        confirm_sns=(confirmed.append if confirmed is not None else None),
    )
    server = uvicorn.Server(
        uvicorn.Config(receiver.app(), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    trigger.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        trigger.stop(10)
        state.close()


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_every_credential_form_is_accepted_and_wrong_ones_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctsync")
    job = Calls()
    with receiver_server(tmp_path, job) as (_, url):
        body = json.dumps(message("m-1"))
        basic = base64.b64encode(f"sns:{TOKEN}".encode()).decode()
        accepted = [
            httpx.post(url + "/", content=body, headers=bearer()),
            httpx.post(
                url + "/ct",
                content=json.dumps(message("m-2")),
                headers={"Authorization": f"Basic {basic}"},
            ),
            httpx.post(
                url + "/", content=json.dumps(message("m-3")), headers={"X-Ctsync-Token": TOKEN}
            ),
            httpx.post(url + f"/push?token={TOKEN}", content=json.dumps(message("m-4"))),
        ]
        assert [r.status_code for r in accepted] == [202, 202, 202, 202]
        wrong_basic = base64.b64encode(b"sns:nope").decode()
        refused = [
            httpx.post(url + "/", content=body),
            httpx.post(url + "/", content=body, headers={"Authorization": "Bearer nope"}),
            httpx.post(url + "/", content=body, headers={"Authorization": f"Basic {wrong_basic}"}),
            httpx.post(url + "/?token=" + TOKEN[:-1], content=body),
        ]
        assert [r.status_code for r in refused] == [401, 401, 401, 401]
        assert "shared token" in refused[0].json()["error"]
        assert refused[0].headers["www-authenticate"].startswith("Bearer")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("ctsync")]
    assert any("missing or wrong token" in line for line in ours)
    assert not any(TOKEN[:8] in line for line in ours)


def test_accepts_with_202_dedupes_and_triggers_one_run_for_the_affected_resources(
    tmp_path: Path,
) -> None:
    job = Calls()
    with receiver_server(tmp_path, job, debounce=1.5) as (receiver, url):
        first = httpx.post(url, content=json.dumps(message("m-1")), headers=bearer())
        assert first.status_code == 202
        assert first.json() == {
            "accepted": 1,
            "duplicates": 0,
            "transport": "platform",
            "resources": ["customers", "messages"],
        }
        redelivered = httpx.post(url, content=json.dumps(message("m-1")), headers=bearer())
        assert redelivered.status_code == 202
        assert redelivered.json()["duplicates"] == 1
        assert redelivered.json()["resources"] == []
        order = {
            "notificationType": "ResourceCreated",
            "resource": {"typeId": "order", "id": "o-1"},
            "version": 1,
            "modifiedAt": "2026-11-26T10:00:00Z",
        }
        envelope = {
            "message": {
                "data": base64.b64encode(json.dumps(order).encode()).decode(),
                "messageId": "p1",
            },
            "subscription": "projects/x/subscriptions/y",
        }
        assert httpx.post(url, json=envelope, headers=bearer()).json()["transport"] == "pubsub"
        assert wait_for(lambda: len(job.resources) == 1)
        assert receiver.trigger.wait_idle(10)
        time.sleep(0.4)
        assert job.resources == [frozenset({"customers", "orders", "messages"})]
        health = httpx.get(url + "/healthz", headers=bearer()).json()
        assert health["received"] == 3
        assert health["duplicates"] == 1
        assert health["runs"] == 1
        assert health["status"] == "ok"


def test_a_restarted_receiver_still_knows_the_messages_it_saw(tmp_path: Path) -> None:
    with receiver_server(tmp_path, Calls()) as (_, url):
        assert httpx.post(url, json=message("m-1"), headers=bearer()).json()["accepted"] == 1
    job = Calls()
    with receiver_server(tmp_path, job) as (_, url):
        again = httpx.post(url, json=message("m-1"), headers=bearer()).json()
        assert again["duplicates"] == 1
        time.sleep(0.3)
    assert len(job.resources) <= 1  # at most the run the first receiver left pending


def test_messages_arriving_during_a_run_trigger_one_follow_up_run(tmp_path: Path) -> None:
    job = Calls(gated=True)
    with receiver_server(tmp_path, job, debounce=0.05) as (receiver, url):
        httpx.post(url, json=message("m-1"), headers=bearer())
        assert job.running.wait(5)
        for i, type_id in enumerate(["order", "cart", "order"]):
            response = httpx.post(url, json=message(f"d-{i}", type_id, f"r-{i}"), headers=bearer())
            assert response.status_code == 202  # acknowledged while the run is busy
        assert job.resources == [frozenset({"customers", "messages"})]
        job.release()
        assert wait_for(lambda: len(job.resources) == 2, timeout=5)
        assert receiver.trigger.wait_idle(5)
        time.sleep(0.3)
        assert job.resources == [
            frozenset({"customers", "messages"}),
            frozenset({"orders", "carts", "messages"}),
        ]


def test_garbage_is_refused_with_the_reason_and_triggers_nothing(tmp_path: Path) -> None:
    job = Calls()
    with receiver_server(tmp_path, job) as (receiver, url):
        response = httpx.post(url, content=b"{oops", headers=bearer())
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["error"]
        response = httpx.post(url, json={"foo": 1}, headers=bearer())
        assert response.status_code == 400
        assert "not a recognised delivery" in response.json()["error"]
        time.sleep(0.3)
        assert job.resources == []
        assert httpx.get(url + "/healthz", headers=bearer()).json()["rejected"] == 2


def test_sns_subscription_confirmation_only_follows_aws_urls(tmp_path: Path) -> None:
    confirmed: list[str] = []
    with receiver_server(tmp_path, Calls(), confirmed=confirmed) as (_, url):
        good = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
        body = {"Type": "SubscriptionConfirmation", "MessageId": "x", "SubscribeURL": good}
        assert httpx.post(url, json=body, headers=bearer()).status_code == 200
        bad = {**body, "SubscribeURL": "http://169.254.169.254/latest/meta-data"}
        assert httpx.post(url, json=bad, headers=bearer()).status_code == 400
        assert wait_for(lambda: confirmed == [good])
    assert sns_confirmation_allowed("https://sns.us-east-1.amazonaws.com/x")
    assert not sns_confirmation_allowed("https://sns.us-east-1.amazonaws.com.evil.io/x")
    assert not sns_confirmation_allowed("http://sns.us-east-1.amazonaws.com/x")


def test_healthz_without_token_shows_only_status_details_need_the_token(tmp_path: Path) -> None:
    with receiver_server(tmp_path, Calls(), debounce=5) as (_, url):
        httpx.post(url, json=message("m-9", "order", "o-1"), headers=bearer())
        health = httpx.get(url + "/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "last_error_class": None}
        detailed = httpx.get(url + "/healthz", headers=bearer()).json()
        assert detailed["pending_resources"] == ["messages", "orders"]
        assert detailed["authentication"] == "token"
        assert detailed["stale_seconds"] >= 0


class FailingCalls(Calls):
    """The pipeline job whose first `failures` runs end failed, as `ctsync serve` reports."""

    def __init__(self, failures: int, secret: str) -> None:
        super().__init__()
        self.failures = failures
        self.secret = secret

    def __call__(self, resources: frozenset[str], stop: threading.Event) -> None:
        super().__call__(resources, stop)
        if len(self.resources) <= self.failures:
            raise RunFailed(
                "failed",
                f"run r{len(self.resources)} failed: ingest failed: 401 for client {self.secret} "
                "reading /home/ops/.dlt/secrets.toml",
            )


def test_a_failed_run_is_retried_and_healthz_shows_it_redacted(tmp_path: Path) -> None:
    secret = "client-secret-in-an-error-0123456789"
    register_secret(secret)
    job = FailingCalls(failures=2, secret=secret)
    with receiver_server(tmp_path, job, retry_delay=0.2) as (receiver, url):
        assert httpx.post(url, json=message("m-1"), headers=bearer()).status_code == 202
        assert wait_for(lambda: receiver.trigger.stats.failed_runs == 1)
        public = httpx.get(url + "/healthz")
        assert public.json() == {"status": "retrying", "last_error_class": "run failed"}
        assert "secrets.toml" not in public.text and secret not in public.text
        detailed = httpx.get(url + "/healthz", headers=bearer()).json()
        assert detailed["failed_runs"] >= 1
        assert secret not in detailed["last_error"] and "***" in detailed["last_error"]
        assert detailed["pending_resources"] == ["customers", "messages"]
        assert detailed["stale_seconds"] > 0
        # the same resources come back until a run succeeds; nothing else needed to arrive
        assert wait_for(lambda: len(job.resources) == 3, timeout=10)
        assert wait_for(lambda: receiver.trigger.idle())
        assert set(job.resources) == {frozenset({"customers", "messages"})}
        healthy = httpx.get(url + "/healthz", headers=bearer()).json()
        assert healthy["status"] == "ok"
        assert healthy["pending_resources"] == []
        assert healthy["failed_runs"] == 2 and healthy["last_failed_at"] is not None
        assert receiver.state.pending() == set()
