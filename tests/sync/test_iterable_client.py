"""The Iterable client's retry budget, 429 handling and auth failure, over httpx.MockTransport."""

from __future__ import annotations

import time

import httpx
import pytest

from ctsync.core.config import IterableSettings
from ctsync.sync.iterable_client import IterableAuthError, IterableClient, IterableTransientError

KEY = "test-key-5f1e9a7c0d2b"


def settings(**overrides: object) -> IterableSettings:
    base: dict[str, object] = dict(
        api_key=KEY,
        api_url="https://api.iterable.test",
        max_attempts=3,
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.01,
        rate_scale=1000.0,
    )
    base.update(overrides)
    return IterableSettings(**base)  # type: ignore[arg-type]


class Script:
    """Answers requests from a list of canned responses (or exceptions), in order."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(body: object | None = None) -> httpx.Response:
    return httpx.Response(200, json=body or {"msg": "", "code": "Success", "params": None})


def test_429_waits_do_not_consume_attempts() -> None:
    script = Script(
        httpx.Response(429, text="Too Many Requests"),
        httpx.Response(429, json={"msg": "slow down", "code": "RateLimitExceeded"}),
        httpx.Response(429, text="Too Many Requests"),
        ok(),
    )
    with IterableClient(settings(max_attempts=1), transport=httpx.MockTransport(script)) as client:
        response = client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
        assert response.status == 200
        assert client.rate_limited_count == 3
    assert len(script.requests) == 4


def test_5xx_timeouts_and_drops_are_retried_until_success() -> None:
    script = Script(
        httpx.Response(503, text="unavailable"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        ok(),
    )
    with IterableClient(settings(max_attempts=4), transport=httpx.MockTransport(script)) as client:
        assert client.call("track_bulk", "POST", "/api/events/trackBulk", {"events": []}).ok
        assert client.retry_count == 3
    assert len(script.requests) == 4


def test_attempts_are_bounded() -> None:
    script = Script(*(httpx.Response(500, text="boom") for _ in range(3)))
    with IterableClient(settings(max_attempts=3), transport=httpx.MockTransport(script)) as client:
        with pytest.raises(IterableTransientError) as caught:
            client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
    assert caught.value.status == 500
    assert "3 attempts" in str(caught.value)
    assert len(script.requests) == 3


def test_401_stops_at_once_without_leaking_the_key() -> None:
    script = Script(
        httpx.Response(401, json={"msg": "Invalid API key", "code": "BadApiKey", "params": {}}),
        ok(),
    )
    with IterableClient(settings(), transport=httpx.MockTransport(script)) as client:
        with pytest.raises(IterableAuthError) as caught:
            client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
    assert len(script.requests) == 1
    assert "401" in str(caught.value) and KEY not in str(caught.value)


def test_api_key_header_content_type_and_base_url() -> None:
    script = Script(ok({"fields": {}}))
    with IterableClient(
        settings(api_url="https://api.eu.iterable.com"), transport=httpx.MockTransport(script)
    ) as client:
        client.call("get_fields", "GET", "/api/users/getFields")
    request = script.requests[0]
    assert request.headers["Api-Key"] == KEY
    assert str(request.url) == "https://api.eu.iterable.com/api/users/getFields"


def test_retry_after_header_is_honoured() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "0.3"}), ok())
    with IterableClient(settings(), transport=httpx.MockTransport(script)) as client:
        started = time.monotonic()
        client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
        assert time.monotonic() - started >= 0.29


def test_unbounded_429_gives_up_after_the_wait_budget() -> None:
    script = Script(*(httpx.Response(429, headers={"Retry-After": "0.05"}) for _ in range(50)))
    with IterableClient(
        settings(max_rate_limit_wait_seconds=0.2), transport=httpx.MockTransport(script)
    ) as client:
        with pytest.raises(IterableTransientError) as caught:
            client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
    assert caught.value.status == 429
    assert 4 <= len(script.requests) <= 6


def test_4xx_answers_are_returned_for_interpretation() -> None:
    body = {"msg": "Invalid JSON body", "code": "BadJsonBody", "params": {"obj.users[0]": "x"}}
    script = Script(httpx.Response(400, json=body))
    with IterableClient(settings(), transport=httpx.MockTransport(script)) as client:
        response = client.call("bulk_update", "POST", "/api/users/bulkUpdate", {"users": []})
    assert (response.status, response.code) == (400, "BadJsonBody")
    assert len(script.requests) == 1


def test_daily_quota_fails_fast_for_the_rest_of_the_run() -> None:
    body = {"msg": "Rate limit exceeded: 1000 requests per day", "code": "RateLimitExceeded"}
    script = Script(httpx.Response(429, json=body), ok())
    with IterableClient(settings(), transport=httpx.MockTransport(script)) as client:
        for _ in range(2):
            with pytest.raises(IterableTransientError) as caught:
                client.call("forget", "POST", "/api/users/forget", {"email": "a@example.com"})
            assert caught.value.reason == "daily_quota_exhausted"
        assert client.call("get_fields", "GET", "/api/users/getFields").ok
    assert len(script.requests) == 2
