"""The receiver over real HTTP (uvicorn on a free loopback port) with a recording job."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from ctsync.app.jobs.receiver import MAX_BODY_BYTES, Receiver, TokenAuth, sns_confirmation_allowed
from ctsync.app.jobs.sns import SnsVerifier, string_to_sign
from ctsync.app.jobs.state import ReceiverState
from ctsync.app.jobs.trigger import DebouncedTrigger, RunFailed
from ctsync.core.redact import register_secret

from ._support import self_signed_certificate, wait_for

pytestmark = pytest.mark.slow

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
    idle_debounce: float | None = None,
    confirmed: list[str] | None = None,
    retry_delay: float = 10.0,
    sns: SnsSigner | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Iterator[tuple[Receiver, str]]:
    state = ReceiverState(tmp_path / "receiver.sqlite")
    # idle_debounce defaults to the whole window: these tests count the runs a few
    # deliveries cause, and must not depend on how fast the test posts them
    trigger = DebouncedTrigger(
        job,
        debounce=debounce,
        idle_debounce=debounce if idle_debounce is None else idle_debounce,
        max_wait=5,
        retry_delay=retry_delay,
        state=state,
    )
    receiver = Receiver(
        trigger,
        state,
        TokenAuth(TOKEN),
        confirm_sns=(confirmed.append if confirmed is not None else None),
        sns_verifier=SnsVerifier(sns.fetch) if sns is not None else None,
        max_body_bytes=max_body_bytes,
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


CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"


class SnsSigner:
    """Signs SNS messages the way AWS does, with a throw-away key and certificate."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization

        self.key, certificate = self_signed_certificate("sns.amazonaws.com")
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def sign(self, message: dict, version: str = "2") -> dict:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signed = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(signature).decode()}


def sns_notification(message_id: str, payload: dict) -> dict:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ct",
        "Message": json.dumps(payload),
        "Timestamp": "2026-11-26T10:00:01.000Z",
    }


def test_sns_subscription_confirmation_only_follows_signed_aws_urls(tmp_path: Path) -> None:
    confirmed: list[str] = []
    signer = SnsSigner()
    with receiver_server(tmp_path, Calls(), confirmed=confirmed, sns=signer) as (_, url):
        good = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
        body = {
            "Type": "SubscriptionConfirmation",
            "MessageId": "x",
            "Token": "abc",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ct",
            "Message": "You have chosen to subscribe",
            "SubscribeURL": good,
            "Timestamp": "2026-11-26T10:00:00.000Z",
        }
        unsigned = httpx.post(url, json=body, headers=bearer())
        assert unsigned.status_code == 400 and "SignatureVersion" in unsigned.json()["error"]
        assert httpx.post(url, json=signer.sign(body), headers=bearer()).status_code == 200
        bad = signer.sign({**body, "SubscribeURL": "http://169.254.169.254/latest/meta-data"})
        assert httpx.post(url, json=bad, headers=bearer()).status_code == 400
        lookalike = signer.sign(
            {**body, "SubscribeURL": "https://sns.attacker-bucket.s3.amazonaws.com/x"}
        )
        assert httpx.post(url, json=lookalike, headers=bearer()).status_code == 400
        assert wait_for(lambda: confirmed == [good])
    assert sns_confirmation_allowed("https://sns.us-east-1.amazonaws.com/x")
    assert sns_confirmation_allowed("https://sns.cn-north-1.amazonaws.com.cn/x")
    assert not sns_confirmation_allowed("https://sns.us-east-1.amazonaws.com.evil.io/x")
    assert not sns_confirmation_allowed("http://sns.us-east-1.amazonaws.com/x")
    assert not sns_confirmation_allowed("https://sns.attacker-bucket.s3.amazonaws.com/x")
    assert not sns_confirmation_allowed("https://sns.eu-west-1.amazonaws.com:8443/x")


def test_sns_notifications_need_a_valid_signature(tmp_path: Path) -> None:
    signer = SnsSigner()
    job = Calls()
    with receiver_server(tmp_path, job, sns=signer) as (receiver, url):
        for version, message_id in (("1", "n-1"), ("2", "n-2")):
            signed = signer.sign(sns_notification(message_id, message(message_id)), version)
            accepted = httpx.post(url, json=signed, headers=bearer())
            assert accepted.status_code == 202, accepted.text
        tampered = signer.sign(sns_notification("n-3", message("n-3")))
        tampered["Message"] = json.dumps(message("n-3", "order", "o-9"))
        refused = httpx.post(url, json=tampered, headers=bearer())
        assert refused.status_code == 400 and "does not verify" in refused.json()["error"]
        foreign = {
            **signer.sign(sns_notification("n-4", message("n-4"))),
            "SigningCertURL": "https://sns.attacker-bucket.s3.amazonaws.com/cert.pem",
        }
        refused = httpx.post(url, json=foreign, headers=bearer())
        assert refused.status_code == 400 and "SigningCertURL" in refused.json()["error"]
        unsigned = httpx.post(url, json=sns_notification("n-5", message("n-5")), headers=bearer())
        assert unsigned.status_code == 400
        assert receiver.state.seen_count() == 2
        assert signer.fetched == [CERT_URL]  # fetched once, then cached


POISON = [
    # the deliveries that used to answer 500 (and so were redelivered forever)
    {"specversion": "1.0", "id": "e1", "type": "t", "source": "s", "data_base64": 12},
    {"specversion": "1.0", "id": "e1", "type": "t", "source": "s", "data_base64": "%%%"},
    {**message("m-x"), "resource": {"typeId": ["customer"], "id": "c-1"}},
    {"specversion": "1.0", "id": ["e"], "type": {"a": 1}, "source": "s"},
    {"message": {"data": "e30=", "attributes": {"ce-specversion": "1.0", "ce-id": 5.5}}},
    {"message": {"data": "e30=", "attributes": "nope"}, "subscription": "s"},
    {"Type": ["Notification"], "MessageId": "x"},
]


def test_poison_deliveries_get_400_with_a_reason(tmp_path: Path) -> None:
    with receiver_server(tmp_path, Calls()) as (_, url):
        for body in POISON:
            response = httpx.post(url, json=body, headers=bearer())
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]
        deep = b"[" * 100_000 + b"]" * 100_000
        response = httpx.post(url, content=deep, headers=bearer())
        assert response.status_code == 400 and "nested too deeply" in response.json()["error"]


def test_a_chunked_body_is_cut_off_at_the_byte_cap(tmp_path: Path) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            sent.append(1)
            yield b" " * 65536

    with receiver_server(tmp_path, Calls(), max_body_bytes=256 * 1024) as (receiver, url):
        response = httpx.post(url, content=chunks(), headers=bearer())
        assert response.status_code == 413
        assert "larger than 262144 bytes" in response.json()["error"]
        assert receiver.rejected == 1
        small = httpx.post(
            url, content=iter([json.dumps(message("m-c")).encode()]), headers=bearer()
        )
        assert small.status_code == 202


def test_seen_ids_are_pruned_while_the_receiver_runs(tmp_path: Path) -> None:
    state = ReceiverState(
        tmp_path / "state.sqlite", retention_seconds=0.2, prune_interval_seconds=0.1
    )
    state.record(["old-1", "old-2"], {})
    assert wait_for(lambda: (state.record(["new"], {}), state.seen_count())[1] == 1, timeout=5)
    state.close()


def test_fuzz_two_thousand_malformed_deliveries_none_answered_5xx(tmp_path: Path) -> None:
    rng = random.Random(20261204)
    job = Calls()
    with receiver_server(tmp_path, job, debounce=30) as (receiver, url):
        statuses: dict[int, int] = {}
        with httpx.Client(headers=bearer(), timeout=10) as client:
            for i in range(2000):
                body, headers = fuzz_case(rng, i)
                response = client.post(url + "/", content=body, headers=headers)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, (body[:300], headers, response.text)
                if response.status_code >= 400:
                    assert response.json()["error"], body[:300]
        assert sum(statuses.values()) == 2000
        assert statuses.get(400, 0) > 1000, statuses  # mostly refused, each with a reason


def _random_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(12 if depth < 3 else 8)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**63), 2**63)
    if choice == 3:
        return rng.random() * 1e300
    if choice == 4:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(12)))
    if choice == 5:
        return rng.choice(["customer", "order", "", "Message", "1.0", "%%%", "e30=", "x" * 600])
    if choice == 6:
        return base64.b64encode(rng.randbytes(rng.randrange(20))).decode()
    if choice == 7:
        return rng.choice(["ResourceUpdated", "ResourceCreated", "ResourceDeleted", "Message"])
    if choice in (8, 9):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(FIELD_NAMES): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


FIELD_NAMES = [
    "notificationType", "resource", "typeId", "id", "type", "version", "createdAt",
    "message", "data", "messageId", "attributes", "subscription", "Type", "MessageId",
    "Message", "SubscribeURL", "detail-type", "detail", "specversion", "source",
    "data_base64", "subject", "time", "ce-specversion", "ce-id", "ce-type", "ce-source",
    "Signature", "SignatureVersion", "SigningCertURL",
]  # fmt: skip


def _mutate(rng: random.Random, value: object, depth: int = 0) -> object:
    """A valid delivery with one or more parts replaced by something of the wrong shape."""
    if isinstance(value, dict):
        out = dict(value)
        for key in list(out):
            roll = rng.random()
            if roll < 0.15:
                out[key] = _random_value(rng)
            elif roll < 0.2:
                del out[key]
            elif roll < 0.6:
                out[key] = _mutate(rng, out[key], depth + 1)
        if rng.random() < 0.2:
            out[rng.choice(FIELD_NAMES)] = _random_value(rng)
        return out
    if isinstance(value, str) and value.startswith("{") and rng.random() < 0.5:
        try:
            return json.dumps(_mutate(rng, json.loads(value), depth + 1))
        except ValueError:
            return value
    return value


def fuzz_case(rng: random.Random, i: int) -> tuple[bytes, dict[str, str]]:
    inner = message(f"f-{i}")
    templates: list[object] = [
        inner,
        {"message": {"data": base64.b64encode(json.dumps(inner).encode()).decode(),
                     "messageId": f"p-{i}", "attributes": {}}, "subscription": "s"},
        sns_notification(f"s-{i}", inner),
        {"id": f"eb-{i}", "detail-type": "Message", "source": "ct", "detail": inner},
        {"specversion": "1.0", "id": f"ce-{i}", "type": "com.commercetools.customer.message.X",
         "source": "/ct", "data": inner},
        [inner, inner],
    ]  # fmt: skip
    headers: dict[str, str] = {}
    kind = i % 10
    if kind < 6:
        body = json.dumps(_mutate(rng, templates[kind])).encode()
    elif kind == 6:
        body = rng.randbytes(rng.randrange(1, 300))
    elif kind == 7:
        depth = rng.randrange(500, 200_000)
        body = (rng.choice(["[", '{"a":']) * depth).encode()
    elif kind == 8:
        headers = {
            "ce-specversion": "1.0",
            **{
                name: rng.choice(["", "x", "%00 \t x", "com.commercetools.order.change.X"])
                for name in ("ce-id", "ce-type", "ce-source")
                if rng.random() < 0.8
            },
        }
        body = json.dumps(_random_value(rng)).encode()
    else:
        headers = {"content-type": "application/cloudevents-batch+json"}
        body = json.dumps(_mutate(rng, [templates[4], templates[4]])).encode()
    if rng.random() < 0.05:
        body = body[: rng.randrange(len(body) + 1)]  # truncated mid-document
    return body, headers


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
    waiting = {"customers", "messages"}

    def failed_and_queued(runs: int) -> bool:
        # the failure is counted before its resources are queued again: wait for both
        return receiver.trigger.stats.failed_runs == runs and receiver.trigger.pending() == waiting

    # the backoff is long, so nothing retries until the test says so (`retry_now`)
    with receiver_server(tmp_path, job, retry_delay=3600) as (receiver, url):
        assert httpx.post(url, json=message("m-1"), headers=bearer()).status_code == 202
        assert wait_for(lambda: failed_and_queued(1))
        public = httpx.get(url + "/healthz")
        assert public.json() == {"status": "retrying", "last_error_class": "run failed"}
        assert "secrets.toml" not in public.text and secret not in public.text
        detailed = httpx.get(url + "/healthz", headers=bearer()).json()
        assert detailed["failed_runs"] >= 1
        assert secret not in detailed["last_error"] and "***" in detailed["last_error"]
        assert detailed["pending_resources"] == ["customers", "messages"]
        assert detailed["stale_seconds"] > 0
        # the same resources come back until a run succeeds; nothing else needed to arrive
        receiver.trigger.retry_now()
        assert wait_for(lambda: failed_and_queued(2))
        receiver.trigger.retry_now()
        assert wait_for(lambda: len(job.resources) == 3, timeout=10)
        assert wait_for(lambda: receiver.trigger.idle())
        assert set(job.resources) == {frozenset({"customers", "messages"})}
        healthy = httpx.get(url + "/healthz", headers=bearer()).json()
        assert healthy["status"] == "ok"
        assert healthy["pending_resources"] == []
        assert healthy["failed_runs"] == 2 and healthy["last_failed_at"] is not None
        assert receiver.state.pending() == set()
