"""The Python launcher of the commercetools sandbox: lifecycle, settings, errors."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from ctsync.sandbox.commercetools import launcher
from ctsync.sandbox.commercetools.launcher import (
    CommercetoolsSandbox,
    SandboxError,
    SandboxNotInstalledError,
)

REPO = Path(__file__).resolve().parents[2]


def test_env_uses_the_design_names_and_points_at_the_server(
    commercetools_sandbox: CommercetoolsSandbox,
) -> None:
    env = commercetools_sandbox.env()
    assert env == {
        "SOURCES__COMMERCETOOLS__PROJECT_KEY": "ctsync-test",
        "SOURCES__COMMERCETOOLS__API_URL": commercetools_sandbox.api_url,
        "SOURCES__COMMERCETOOLS__AUTH_URL": commercetools_sandbox.auth_url,
        "SOURCES__COMMERCETOOLS__CLIENT_ID": commercetools_sandbox.client_id,
        "SOURCES__COMMERCETOOLS__CLIENT_SECRET": commercetools_sandbox.client_secret,
    }
    assert env["SOURCES__COMMERCETOOLS__API_URL"].startswith("http://127.0.0.1:")
    token = httpx.post(
        f"{env['SOURCES__COMMERCETOOLS__AUTH_URL']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(
            env["SOURCES__COMMERCETOOLS__CLIENT_ID"],
            env["SOURCES__COMMERCETOOLS__CLIENT_SECRET"],
        ),
    )
    assert token.status_code == 200
    assert len(commercetools_sandbox.client_secret) >= 24


def test_repr_never_shows_the_secret(commercetools_sandbox: CommercetoolsSandbox) -> None:
    text = repr(commercetools_sandbox)
    assert commercetools_sandbox.client_secret not in text
    assert "ctsync-test" in text


@pytest.mark.slow
def test_start_and_stop_a_second_sandbox_with_initial_faults_and_own_credentials() -> None:
    sandbox = CommercetoolsSandbox(
        project_key="other-shop",
        client_id="my-client",
        client_secret="my-secret-value-123",
        faults={"status_503": 1.0, "paths": "/never-matches"},
    )
    with sandbox:
        assert sandbox.running
        assert sandbox.faults()["status_503"] == 1.0
        assert sandbox.faults()["paths"] == "/never-matches"
        with sandbox.client() as client:
            assert client.get("/customers").status_code == 200
        pid = sandbox.pid
        url = sandbox.api_url
    assert not sandbox.running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/health", timeout=2)
    with pytest.raises(SandboxError, match="not running"):
        _ = sandbox.api_url


def test_missing_npm_packages_give_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(launcher, "MOCK_PACKAGE", tmp_path / "node_modules" / "missing")
    with pytest.raises(SandboxNotInstalledError, match=r"\./dev bootstrap"):
        CommercetoolsSandbox().start()


def test_missing_node_gives_a_clear_error() -> None:
    with pytest.raises(SandboxNotInstalledError, match="Node.js"):
        CommercetoolsSandbox(node="/nonexistent/bin/node").start()


@pytest.mark.slow
def test_server_start_failure_reports_the_reason() -> None:
    with pytest.raises(SandboxError, match="project-key"):
        CommercetoolsSandbox(project_key="Not A Valid Key!").start()


@pytest.mark.slow
def test_invalid_initial_faults_fail_at_start() -> None:
    with pytest.raises(SandboxError, match="status_429"):
        CommercetoolsSandbox(faults={"status_429": 2}).start()


@pytest.mark.slow
def test_server_exits_when_its_launcher_process_dies() -> None:
    script = (
        "import sys, time\n"
        "from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox\n"
        "ct = CommercetoolsSandbox().start()\n"
        "print(ct.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 60)
        assert ready, "the launcher did not start the sandbox within 60s"
        node_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(node_pid)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not psutil.pid_exists(node_pid):
                break
            if psutil.Process(node_pid).status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.1)
        else:
            os.kill(node_pid, 15)
            pytest.fail("the Node server outlived its launcher")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)


@pytest.mark.slow
def test_bulk_load_stores_resources_as_given_with_created_messages(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    customers = [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "email": f"Bulk{i}@Example.com",
            "createdAt": f"2021-0{1 + i % 9}-01T00:00:00.000Z",
            "lastModifiedAt": f"2021-0{1 + i % 9}-02T00:00:00.000Z",
            "addresses": [],
        }
        for i in range(25)
    ]
    assert sandbox.bulk_load("customer", customers, messages=True, batch_size=10) == 25
    with sandbox.client() as client:
        body = client.get("/customers", params={"sort": "id asc", "limit": 500}).json()
        assert [c["id"] for c in body["results"]] == [c["id"] for c in customers]
        assert body["results"][3]["createdAt"] == "2021-04-01T00:00:00.000Z"
        assert body["results"][3]["email"] == "bulk3@example.com"
        assert body["results"][3]["version"] == 1
        created = client.get("/messages", params={"limit": 500, "sort": "createdAt asc"}).json()
        assert created["count"] == 25
        assert {m["type"] for m in created["results"]} == {"CustomerCreated"}
        assert created["results"][0]["createdAt"] == "2021-01-01T00:00:00.000Z"
        # Bulk-loaded customers take part in the e-mail uniqueness check of REST creates.
        duplicate = client.post("/customers", json={"email": "bulk0@example.com"})
        assert duplicate.status_code == 400
        assert duplicate.json()["errors"][0]["code"] == "DuplicateField"


@pytest.mark.slow
def test_bulk_load_rejects_bad_input_with_the_record_index(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    with pytest.raises(SandboxError, match=r"resources\[1\] \(customer\) has no email"):
        fresh_commercetools.bulk_load("customer", [{"email": "a@example.com"}, {"id": "x"}])
    with pytest.raises(SandboxError, match="unknown resource type 'gizmo'"):
        fresh_commercetools.bulk_load("gizmo", [{}])
    with fresh_commercetools.client() as client:
        assert client.get("/customers").json()["results"] == []


@pytest.mark.slow
def test_factory_sandboxes_are_isolated_from_the_shared_one(
    fresh_commercetools: CommercetoolsSandbox,
    commercetools_sandbox_factory: Callable[..., CommercetoolsSandbox],
) -> None:
    own = commercetools_sandbox_factory(project_key="isolated", faults={"latency_ms": 0})
    assert own.api_url != fresh_commercetools.api_url
    with own.client() as client:
        assert client.post("/customers", json={"email": "iso@example.com"}).status_code == 201
    fresh_commercetools.reset()
    with own.client() as client:
        assert client.get("/customers").json()["count"] == 1
    with fresh_commercetools.client() as client:
        assert client.get("/customers").json()["count"] == 0
