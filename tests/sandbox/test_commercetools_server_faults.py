"""Fault injection, token expiry, statistics and reset of the commercetools sandbox."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox, SandboxError


def api(sandbox: CommercetoolsSandbox, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{sandbox.api_url}/{sandbox.project_key}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


@pytest.mark.slow
def test_429_faults_happen_at_the_configured_rate(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    sandbox.set_faults(status_429=0.25, retry_after_seconds=2, seed=7)
    statuses: Counter[int] = Counter()
    with api(sandbox, token) as client:
        for _ in range(400):
            response = client.get("/customers", params={"limit": 1})
            statuses[response.status_code] += 1
            if response.status_code == 429:
                assert response.headers["retry-after"] == "2"
                body = response.json()
                assert body["statusCode"] == 429
                assert body["errors"][0]["code"] == "TooManyRequests"
    assert set(statuses) == {200, 429}
    # Binomial(400, 0.25): mean 100, sd ~8.7; +-40 is > 4.5 sd.
    assert 60 <= statuses[429] <= 140
    stats = sandbox.stats()
    assert stats["faults_injected"] == {"429": statuses[429]}
    assert stats["requests_by_path"]["GET /ctsync-test/customers"] == {
        "200": statuses[200],
        "429": statuses[429],
    }


@pytest.mark.slow
def test_503_faults_have_overcapacity_body_and_mix_with_429(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    sandbox.set_faults(status_429=0.1, status_503=0.3, seed=11)
    statuses: Counter[int] = Counter()
    with api(sandbox, token) as client:
        for _ in range(400):
            response = client.get("/orders")
            statuses[response.status_code] += 1
            if response.status_code == 503:
                body = response.json()
                assert body["statusCode"] == 503
                assert body["errors"][0]["code"] == "OverCapacity"
    assert 80 <= statuses[503] <= 160
    assert 15 <= statuses[429] <= 70
    assert statuses[200] == 400 - statuses[503] - statuses[429]


@pytest.mark.slow
def test_seeded_faults_are_reproducible(fresh_commercetools: CommercetoolsSandbox) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()

    def run() -> list[int]:
        sandbox.set_faults(status_503=0.5, seed=42)
        with api(sandbox, token) as client:
            return [client.get("/customers").status_code for _ in range(40)]

    first = run()
    assert first == run()
    assert 503 in first and 200 in first


@pytest.mark.slow
def test_fault_paths_regex_limits_where_faults_happen(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    sandbox.set_faults(status_503=1.0, paths=r"/orders")
    with api(sandbox, token) as client:
        assert client.get("/orders").status_code == 503
        assert client.get("/customers").status_code == 200
    # Token requests are outside the default fault scope; a path regex can include them.
    assert sandbox.token()
    sandbox.set_faults(status_503=1.0, paths=r"^/oauth/token$")
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 503


def test_faults_never_hit_the_admin_api(fresh_commercetools: CommercetoolsSandbox) -> None:
    fresh_commercetools.set_faults(status_503=1.0, paths=".*")
    assert fresh_commercetools.stats()["requests_total"] == 0
    assert fresh_commercetools.faults()["status_503"] == 1.0
    fresh_commercetools.clear_faults()
    assert fresh_commercetools.faults()["status_503"] == 0


def test_invalid_fault_settings_are_rejected_with_a_reason(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status_429": 1.5}, "status_429"),
        ({"status_429": 0.6, "status_503": 0.6}, "add up"),
        ({"paths": "("}, "regular expression"),
        ({"token_ttl_seconds": -1}, "token_ttl_seconds"),
        ({"status_418": 0.1}, "unknown fault setting 'status_418'"),
    ]
    for faults, reason in cases:
        with pytest.raises(SandboxError, match=reason):
            fresh_commercetools.set_faults(**faults)
    assert fresh_commercetools.faults()["status_429"] == 0


@pytest.mark.slow
def test_tokens_expire_after_the_configured_ttl(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    sandbox.set_faults(token_ttl_seconds=1)
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.json()["expires_in"] == 1
    token = response.json()["access_token"]
    with api(sandbox, token) as client:
        assert client.get("/customers").status_code == 200
        time.sleep(1.3)
        expired = client.get("/customers")
        assert expired.status_code == 401
        assert expired.json() == {
            "statusCode": 401,
            "message": "invalid_token",
            "errors": [{"code": "invalid_token", "message": "invalid_token"}],
            "error": "invalid_token",
        }
    with api(sandbox, sandbox.token()) as client:
        assert client.get("/customers").status_code == 200
    assert sandbox.stats()["expired_token_rejections"] == 1


@pytest.mark.slow
def test_clearing_the_ttl_makes_old_tokens_valid_again(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    time.sleep(1.1)
    sandbox.set_faults(token_ttl_seconds=1)
    with api(sandbox, token) as client:
        assert client.get("/customers").status_code == 401
        sandbox.clear_faults()
        assert client.get("/customers").status_code == 200


def test_stats_record_paths_statuses_and_paging_extremes(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    with sandbox.client() as client:
        client.get("/customers", params={"limit": 200, "offset": 400})
        client.get("/customers", params={"limit": 50, "offset": 9000})
        client.get("/orders", params={"offset": 12000})
        client.get("/customers/does-not-exist")
    stats = sandbox.stats()
    assert stats["max_offset"] == 12000
    assert stats["max_limit"] == 200
    by_path = stats["requests_by_path"]
    assert by_path["GET /ctsync-test/customers"] == {"200": 2}
    assert by_path["GET /ctsync-test/orders"] == {"400": 1}
    assert by_path["GET /ctsync-test/customers/does-not-exist"] == {"404": 1}
    assert by_path["POST /oauth/token"] == {"200": 1}
    assert stats["tokens_issued"] == 1
    assert stats["requests_total"] == 5
    sandbox.reset_stats()
    assert sandbox.stats()["requests_total"] == 0


@pytest.mark.slow
def test_reset_clears_data_messages_faults_and_stats(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    with api(sandbox, token) as client:
        created = client.post("/customers", json={"email": "r@example.com"})
        assert created.status_code == 201
        customer_id = created.json()["customer"]["id"]
        assert client.get("/messages").json()["count"] == 1
    sandbox.set_faults(status_429=0.5, token_ttl_seconds=100)

    sandbox.reset()

    assert sandbox.faults()["status_429"] == 0
    assert sandbox.faults()["token_ttl_seconds"] is None
    assert sandbox.stats()["requests_total"] == 0
    # Tokens issued before the reset keep working: the session fixture's clients rely on it.
    with api(sandbox, token) as client:
        assert client.get("/customers").json()["results"] == []
        assert client.get("/messages").json()["results"] == []
        assert client.get(f"/customers/{customer_id}").status_code == 404
        again = client.post("/customers", json={"email": "r@example.com"})
        assert again.status_code == 201
        # Sequence numbers start over for the new data.
        assert client.get("/messages").json()["results"][0]["sequenceNumber"] == 1


def test_fault_sequence_answers_the_next_requests_in_order(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    sandbox.set_faults(sequence=[429, 503, 502, 401, 500], paths="/customers")
    with api(sandbox, token) as client:
        assert client.get("/orders").status_code == 200
        got = [client.get("/customers") for _ in range(6)]
    assert [r.status_code for r in got] == [429, 503, 502, 401, 500, 200]
    assert got[0].headers["retry-after"] == "1"
    assert got[1].json()["errors"][0]["code"] == "OverCapacity"
    assert got[3].json()["error"] == "invalid_token"
    assert got[4].json()["errors"][0]["code"] == "General"
    assert sandbox.faults()["sequence"] == []
    assert sandbox.stats()["faults_injected"] == {"429": 1, "503": 1, "502": 1, "401": 1, "500": 1}


@pytest.mark.slow
def test_latency_delays_matching_requests(fresh_commercetools: CommercetoolsSandbox) -> None:
    sandbox = fresh_commercetools
    token = sandbox.token()
    sandbox.set_faults(latency_ms=400, paths="/orders")
    with api(sandbox, token) as client:
        start = time.monotonic()
        assert client.get("/orders").status_code == 200
        slow = time.monotonic() - start
        with pytest.raises(httpx.ReadTimeout):
            client.get("/orders", timeout=0.1)
    assert slow >= 0.4
