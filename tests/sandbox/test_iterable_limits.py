"""Rate limits, body cap, fault injection, asynchrony and inspection of the emulator."""

from __future__ import annotations

import math
import threading
import time

import httpx
import pytest

from ctsync.sandbox.iterable import EmulatorError, IterableEmulator
from ctsync.sandbox.iterable.conformance import CheckedClient
from ctsync.sandbox.iterable.faults import FaultSpecError, LeakyBucket, parse_faults

# ---------------------------------------------------------------- rate limits


def _burst(api: CheckedClient, count: int) -> list[int]:
    return [
        api.post("/api/users/bulkUpdate", {"users": [{"email": f"r{n}@example.com"}]}).status_code
        for n in range(count)
    ]


@pytest.mark.slow
def test_bulk_update_is_limited_to_five_per_second(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    successes, elapsed, refused = _until_429(
        iterable_api, "POST", "/api/users/bulkUpdate", {"users": []}
    )
    assert refused is not None and 5 <= successes <= 5 + elapsed * 5 + 1
    assert refused.json()["code"] == "RateLimitExceeded"
    assert "5 requests/s" in refused.json()["msg"]
    time.sleep(0.45)  # the bucket drains 5 units/s: two slots free again
    assert iterable_api.post("/api/users/bulkUpdate", {"users": []}).status_code == 200


@pytest.mark.slow
def test_refused_request_applies_nothing(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_rate_scale(0.001)  # one request, then one per 200 s
    first = iterable_api.post("/api/users/bulkUpdate", {"users": [{"email": "a@example.com"}]})
    second = iterable_api.post("/api/users/bulkUpdate", {"users": [{"email": "b@example.com"}]})
    assert (first.status_code, second.status_code) == (200, 429)
    assert [u["email"] for u in fresh_iterable.users()] == ["a@example.com"]
    assert fresh_iterable.counters()["users/bulkUpdate"] == {200: 1, 429: 1}


def test_rate_scale_multiplies_and_zero_or_inf_lifts(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_rate_scale(2)
    assert fresh_iterable.config()["limits"]["users/bulkUpdate"] == 10
    successes, elapsed, refused = _until_429(
        iterable_api, "POST", "/api/users/bulkUpdate", {"users": []}
    )
    assert refused is not None and 10 <= successes <= 10 + elapsed * 10 + 1
    for lifted in (0, math.inf):
        fresh_iterable.set_rate_scale(lifted)
        assert _burst(iterable_api, 30) == [200] * 30


def _until_429(
    api: CheckedClient, method: str, path: str, body: dict | None, limit: int = 200
) -> tuple[int, float, httpx.Response | None]:
    """Requests back to back: (successes before the first 429, seconds, that 429)."""
    started = time.monotonic()
    for sent in range(limit):
        response = api.request(method, path, body)
        if response.status_code == 429:
            return sent, time.monotonic() - started, response
        assert response.status_code < 300, response.text
    return limit, time.monotonic() - started, None


@pytest.mark.parametrize(
    ("method", "path", "body", "endpoint", "rate", "scale"),
    [
        ("POST", "/api/events/trackBulk", {"events": []}, "events/trackBulk", 10, 1),
        ("GET", "/api/users/getFields", None, "users/getFields", 3, 1),
        ("POST", "/api/users/forget", {"userId": "gone"}, "users/forget", 3, 1),
        # 100/s is about what one test client manages on a busy machine: scale it down.
        ("GET", "/api/channels", None, "channels", 100, 0.05),
        ("POST", "/api/users/update", {"email": "u@example.com"}, "users/update", 500, 0.01),
    ],
)
def test_published_rates_per_endpoint(
    iterable_api: CheckedClient,
    fresh_iterable: IterableEmulator,
    method: str,
    path: str,
    body: dict | None,
    endpoint: str,
    rate: int,
    scale: float,
) -> None:
    fresh_iterable.set_rate_scale(scale)
    allowed = rate * scale
    assert fresh_iterable.config()["limits"][endpoint] == pytest.approx(allowed)
    successes, elapsed, refused = _until_429(iterable_api, method, path, body)
    assert refused is not None
    # A full bucket (one second's worth) plus what drained while the burst ran.
    assert max(1, allowed) <= successes <= max(1, allowed) + elapsed * allowed + 1


@pytest.mark.slow
def test_limits_are_per_endpoint(iterable_api: CheckedClient) -> None:
    assert _until_429(iterable_api, "POST", "/api/users/bulkUpdate", {"users": []})[2]
    # users/getFields has its own 3/s bucket; updateSubscriptions has no published limit.
    assert [iterable_api.get("/api/users/getFields").status_code for _ in range(4)][:3] == [200] * 3
    statuses = [
        iterable_api.post(
            "/api/users/updateSubscriptions", {"email": "s@example.com", "emailListIds": [31]}
        ).status_code
        for _ in range(20)
    ]
    assert statuses == [200] * 20


def test_leaky_bucket_drains_at_rate() -> None:
    bucket = LeakyBucket(rate=10)
    assert all(bucket.admit() for _ in range(10))
    assert not bucket.admit()
    bucket.updated -= 0.25  # as if 250 ms passed: 2.5 units drained
    assert bucket.admit() and bucket.admit()
    assert not bucket.admit()


# ---------------------------------------------------------------- body cap


@pytest.mark.slow
def test_body_over_four_megabytes_is_413_batch_too_large(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_rate_scale(0)
    users = [
        {"email": f"big{n}@example.com", "dataFields": {"blob": "x" * 1000}} for n in range(4000)
    ]
    response = iterable_api.post("/api/users/bulkUpdate", {"users": users})
    assert response.status_code == 413
    assert response.json()["code"] == "BatchTooLarge"
    assert fresh_iterable.users() == []
    under = iterable_api.post("/api/users/bulkUpdate", {"users": users[:3500]})
    assert under.status_code == 200 and under.json()["successCount"] == 3500


# ---------------------------------------------------------------- fault spec


def test_fault_spec_parsing_and_errors() -> None:
    rules = parse_faults(
        "users/bulkUpdate:500=0.2,hang=0.05;*:latency_ms=20,seed=7", ["users/bulkUpdate"]
    )
    assert rules == {
        "users/bulkUpdate": {"500": 0.2, "hang": 0.05},
        "*": {"latency_ms": 20.0, "seed": 7},
    }
    for bad, reason in [
        ("users/bulkUpdate", "expected ENDPOINT"),
        ("users/bulkUpdate:500", "not KEY=VALUE"),
        ("users/bulkUpdate:boom=1", "unknown key"),
        ("users/bulkUpdate:500=2", "fraction"),
        ("users/bulkUpdate:hold=2", "fraction"),
        ("users/bulkUpdate:latency_ms=abc", "needs a number"),
        ("users/bulkUpdte:500=1", "unknown endpoint"),
    ]:
        with pytest.raises(FaultSpecError, match=reason):
            parse_faults(bad, ["users/bulkUpdate"])


def test_set_faults_refuses_bad_spec_before_sending(fresh_iterable: IterableEmulator) -> None:
    with pytest.raises(FaultSpecError):
        fresh_iterable.set_faults("nope:500=1")
    assert fresh_iterable.config()["faults"] == ""


# ---------------------------------------------------------------- faults


def test_injected_5xx_for_the_next_n_requests_apply_nothing(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_faults("users/update:503=1,times=2")
    statuses = [
        iterable_api.post("/api/users/update", {"email": f"f{n}@example.com"}).status_code
        for n in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert [u["email"] for u in fresh_iterable.users()] == ["f2@example.com"]
    assert fresh_iterable.counters()["users/update"] == {503: 2, 200: 1}


@pytest.mark.slow
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_fraction_of_5xx_is_roughly_respected(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator, status: int
) -> None:
    fresh_iterable.set_faults(f"*:seed=3;events/track:{status}=0.5")
    statuses = [
        iterable_api.post(
            "/api/events/track", {"email": "a@example.com", "eventName": "x"}
        ).status_code
        for _ in range(60)
    ]
    assert set(statuses) == {200, status}
    assert 15 <= statuses.count(status) <= 45
    assert len(fresh_iterable.events()) == statuses.count(200)


@pytest.mark.slow
def test_seeded_faults_repeat(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    runs = []
    for _ in range(2):
        fresh_iterable.reset(faults="*:seed=11;channels:500=0.5")
        runs.append([iterable_api.get("/api/channels").status_code for _ in range(20)])
    assert runs[0] == runs[1] and 500 in runs[0]


def test_dropped_connection_applies_nothing(fresh_iterable: IterableEmulator) -> None:
    fresh_iterable.set_faults("users/update:drop=1,times=1")
    with httpx.Client(
        base_url=fresh_iterable.api_url, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        with pytest.raises(httpx.TransportError):
            client.post("/api/users/update", json={"email": "d@example.com"})
        assert client.post("/api/users/update", json={"email": "e@example.com"}).status_code == 200
    assert [u["email"] for u in fresh_iterable.users()] == ["e@example.com"]


@pytest.mark.slow
def test_hold_after_n_keeps_a_request_unapplied_until_released(
    fresh_iterable: IterableEmulator,
) -> None:
    fresh_iterable.set_faults("users/update:after=1,hold=1")
    with httpx.Client(
        base_url=fresh_iterable.api_url, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        assert client.post("/api/users/update", json={"email": "a@example.com"}).status_code == 200
        answers: list[int] = []
        second = threading.Thread(
            target=lambda: answers.append(
                client.post("/api/users/update", json={"email": "b@example.com"}).status_code
            )
        )
        second.start()
        deadline = time.monotonic() + 30
        while fresh_iterable.held() == 0:
            assert time.monotonic() < deadline, "the second request was never held"
            time.sleep(0.01)
        assert fresh_iterable.user(email="b@example.com") is None  # held: nothing applied
        assert answers == []
        fresh_iterable.set_faults("")  # releases it
        second.join(timeout=30)
    assert answers == [200]
    assert fresh_iterable.held() == 0
    assert fresh_iterable.user(email="b@example.com") is not None


@pytest.mark.slow
def test_hang_applies_but_never_answers_within_client_timeout(
    fresh_iterable: IterableEmulator,
) -> None:
    fresh_iterable.set_faults("users/update:hang=1,hang_s=3,times=1")
    with httpx.Client(
        base_url=fresh_iterable.api_url, timeout=0.5, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/api/users/update", json={"email": "h@example.com"})
    assert fresh_iterable.user(email="h@example.com") is not None


@pytest.mark.slow
def test_latency_is_added(iterable_api: CheckedClient, fresh_iterable: IterableEmulator) -> None:
    fresh_iterable.set_faults("*:latency_ms=150")
    started = time.perf_counter()
    assert iterable_api.get("/api/channels").status_code == 200
    assert time.perf_counter() - started >= 0.15


@pytest.mark.slow
def test_accepted_then_applied_later(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_faults("users/bulkUpdate:async_ms=300")
    response = iterable_api.post(
        "/api/users/bulkUpdate", {"users": [{"email": "late@example.com", "dataFields": {"n": 1}}]}
    )
    assert response.status_code == 200 and response.json()["successCount"] == 1
    assert iterable_api.get("/api/users/late@example.com").json() == {}
    assert fresh_iterable.config()["pending"] == 1
    deadline = time.monotonic() + 5
    while fresh_iterable.user(email="late@example.com") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh_iterable.user(email="late@example.com")["dataFields"]["n"] == 1


@pytest.mark.slow
def test_async_track_returns_id_and_flush_applies_now(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_faults("events/track:async_ms=60000")
    answer = iterable_api.post("/api/events/track", {"email": "a@example.com", "eventName": "x"})
    event_id = answer.json()["params"]["id"]
    assert fresh_iterable.events() == []
    assert fresh_iterable.flush() == 1
    assert [e["id"] for e in fresh_iterable.events()] == [event_id]


@pytest.mark.slow
def test_late_failure_is_recorded_not_answered(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post(
        "/api/users/bulkUpdate",
        {
            "users": [
                {"email": "a@example.com", "userId": "ua"},
                {"email": "b@example.com", "userId": "ub"},
            ]
        },
    )
    fresh_iterable.set_faults("users/update:async_ms=60000")
    # A conflict depends on stored users, so it only surfaces when the write is applied.
    conflict = {"email": "a@example.com", "userId": "ub"}
    assert iterable_api.post("/api/users/update", conflict).status_code == 200
    fresh_iterable.flush()
    errors = fresh_iterable.deferred_errors()
    assert [(e["endpoint"], e["status"]) for e in errors] == [("users/update", 409)]
    assert fresh_iterable.user(email="a@example.com")["userId"] == "ua"


# ---------------------------------------------------------------- inspection


@pytest.mark.slow
def test_request_log_and_counters(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/users/update", {"email": "a@example.com"})
    iterable_api.post("/api/users/update", {"email": "bad"})
    iterable_api.get("/api/channels")
    log = fresh_iterable.requests()
    assert [(r["method"], r["endpoint"], r["status"]) for r in log] == [
        ("POST", "users/update", 200),
        ("POST", "users/update", 400),
        ("GET", "channels", 200),
    ]
    assert log[0]["bytes"] == len(b'{"email":"a@example.com"}')
    assert all(r["ms"] >= 0 and r["responseBytes"] > 0 for r in log)
    assert [r["status"] for r in fresh_iterable.requests(endpoint="users/update")] == [200, 400]
    assert len(fresh_iterable.requests(limit=1)) == 1
    assert fresh_iterable.counters() == {"users/update": {200: 1, 400: 1}, "channels": {200: 1}}


def test_reset_clears_state_and_switches_project_type(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/users/update", {"email": "a@example.com", "dataFields": {"n": 1}})
    fresh_iterable.set_faults("*:latency_ms=1")
    config = fresh_iterable.reset(project_type="email")
    assert config["project_type"] == "email" and config["faults"] == ""
    assert fresh_iterable.env()["SYNC__ITERABLE__PROJECT_TYPE"] == "email"
    assert fresh_iterable.users() == [] and fresh_iterable.counters() == {}
    fields = iterable_api.get("/api/users/getFields").json()["fields"]
    assert "n" not in fields and fields["emailListIds"] == "long"
    with pytest.raises(EmulatorError, match="project_type"):
        fresh_iterable._call("POST", "reset", {"project_type": "phone"})


def test_unknown_path_and_wrong_method(fresh_iterable: IterableEmulator) -> None:
    with httpx.Client(
        base_url=fresh_iterable.api_url, headers={"Api-Key": fresh_iterable.api_key}
    ) as client:
        assert client.get("/api/nothing/here").status_code == 404
        wrong = client.put("/api/users/bulkUpdate", json={})
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "BadParams"


@pytest.mark.slow
def test_emulator_with_own_settings_starts_and_stops() -> None:
    with IterableEmulator(
        project_type="userId", rate_scale=math.inf, faults="channels:500=1", api_key="k-test"
    ) as emu:
        assert emu.env() == {
            "SYNC__ITERABLE__API_URL": emu.api_url,
            "SYNC__ITERABLE__API_KEY": "k-test",
            "SYNC__ITERABLE__PROJECT_TYPE": "userId",
        }
        with CheckedClient(emu.api_url, "k-test") as client:
            assert client.get("/api/channels").status_code == 500
        assert emu.config()["rate_scale"] is None
        proc = emu._proc
    assert proc is not None and proc.poll() is not None
    with pytest.raises(EmulatorError):
        emu.users()


@pytest.mark.slow
def test_forget_has_a_daily_cap(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    # Scaled so the 3/s bucket never refuses; the 1000-per-day cap still applies.
    fresh_iterable.set_rate_scale(1000)  # 3000/s bucket, 86.4 s "day"
    statuses = [
        iterable_api.post("/api/users/forget", {"userId": f"u{n}"}).status_code for n in range(1000)
    ]
    assert statuses == [200] * 1000
    refused = iterable_api.post("/api/users/forget", {"userId": "one-more"})
    assert refused.status_code == 429
    assert "1000 requests per day" in refused.json()["msg"]


def test_the_forget_cap_is_a_test_knob_and_a_new_day_restores_the_quota(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_rate_scale(1000)  # the 3/s bucket never refuses here
    assert fresh_iterable.set_forget_quota(2)["forget_daily_cap"] == 2
    statuses = [
        iterable_api.post("/api/users/forget", {"userId": f"u{n}"}).status_code for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    fresh_iterable.set_forget_quota(2)  # tomorrow
    assert iterable_api.post("/api/users/forget", {"userId": "u3"}).status_code == 200
    assert fresh_iterable.reset()["forget_daily_cap"] == 1000


def test_api_key_is_not_on_the_server_command_line(fresh_iterable: IterableEmulator) -> None:
    proc = fresh_iterable._proc
    assert proc is not None
    cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read()
    assert fresh_iterable.api_key.encode() not in cmdline


def test_async_accept_still_checks_types_and_identifiers_at_once(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    iterable_api.post("/api/users/update", {"email": "a@example.com", "dataFields": {"n": 1}})
    iterable_api.post("/api/users/forget", {"email": "gone@example.com"})
    fresh_iterable.set_faults("users/bulkUpdate:async_ms=60000;events/track:async_ms=60000")
    mismatch = iterable_api.post(
        "/api/users/bulkUpdate", {"users": [{"email": "a@example.com", "dataFields": {"n": "one"}}]}
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["code"] == "RequestFieldsTypesMismatched"
    accepted = iterable_api.post(
        "/api/users/bulkUpdate",
        {"users": [{"email": "b@example.com"}, {"email": "nope"}, {"email": "gone@example.com"}]},
    ).json()
    assert (accepted["successCount"], accepted["failCount"]) == (1, 2)
    assert accepted["failedUpdates"]["invalidEmails"] == ["nope"]
    assert accepted["failedUpdates"]["forgottenEmails"] == ["gone@example.com"]
    bad_id = iterable_api.post(
        "/api/events/track", {"email": "a@example.com", "eventName": "x", "id": "no spaces"}
    )
    assert bad_id.status_code == 400
    assert fresh_iterable.config()["pending"] == 1
    fresh_iterable.flush()
    assert fresh_iterable.user(email="b@example.com") is not None
    assert fresh_iterable.user(email="nope") is None


@pytest.mark.slow
def test_cli_style_shutdown_is_not_held_by_a_hung_request() -> None:
    with IterableEmulator(faults="users/update:hang=1,hang_s=120") as other:
        with httpx.Client(
            base_url=other.api_url, timeout=0.3, headers={"Api-Key": other.api_key}
        ) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.post("/api/users/update", json={"email": "h@example.com"})
        proc = other._proc
        assert proc is not None
        started = time.monotonic()
        proc.send_signal(2)  # SIGINT, as Ctrl-C on `ctsync sandbox iterable`
        proc.wait(timeout=20)
        assert time.monotonic() - started < 10


@pytest.mark.slow
def test_start_failure_reports_the_reason() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(EmulatorError, match="did not start.*Address already in use"):
            IterableEmulator(port=busy.getsockname()[1]).start()


@pytest.mark.slow
def test_refusals_of_large_bodies_keep_the_connection_usable(
    iterable_api: CheckedClient, fresh_iterable: IterableEmulator
) -> None:
    fresh_iterable.set_rate_scale(0.001)
    big = {
        "users": [
            {"email": f"u{n}@example.com", "dataFields": {"pad": "x" * 500}} for n in range(3000)
        ]
    }  # about 1.7 MB
    assert iterable_api.post("/api/users/bulkUpdate", {"users": []}).status_code == 200
    for _ in range(3):  # refused (429) while the body is still arriving, same connection
        assert iterable_api.post("/api/users/bulkUpdate", big).status_code == 429
    with httpx.Client(base_url=fresh_iterable.api_url) as anonymous:
        assert anonymous.post("/api/users/bulkUpdate", json=big).status_code == 401
        assert anonymous.get("/api/channels").status_code == 401
    assert iterable_api.get("/api/channels").status_code == 200
    refused = fresh_iterable.requests(endpoint="users/bulkUpdate")[1]
    assert refused["status"] == 429 and refused["bytes"] > 1_000_000
