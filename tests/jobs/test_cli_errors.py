"""Exit codes and messages of the job commands when they cannot start."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

import duckdb
import httpx
import pytest

from ctsync.core.lock import run_lock
from ctsync.sandbox.environment import CONFIG_PREFIXES

from ._support import clean_env, self_signed_certificate, serving, terminate
from ._support import ctsync as run_ctsync

pytestmark = pytest.mark.slow


def ctsync(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ctsync(cwd, clean_env(COLUMNS="200", **env), *args, timeout=120)


def configured(tmp_path: Path) -> dict[str, str]:
    """Complete (if fake) configuration: these tests stop before any network call."""
    return {
        "SOURCES__COMMERCETOOLS__PROJECT_KEY": "p",
        "SOURCES__COMMERCETOOLS__CLIENT_ID": "id",
        "SOURCES__COMMERCETOOLS__CLIENT_SECRET": "secret-abcdef",
        "SOURCES__COMMERCETOOLS__API_URL": "http://127.0.0.1:9",
        "SOURCES__COMMERCETOOLS__AUTH_URL": "http://127.0.0.1:9",
        "SYNC__ITERABLE__API_KEY": "key-abcdef-123",
        "SYNC__ITERABLE__API_URL": "http://127.0.0.1:9",
        "CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }


def test_run_refuses_with_exit_3_when_another_run_holds_the_lock(tmp_path: Path) -> None:
    env = configured(tmp_path)
    with run_lock(tmp_path / "w.duckdb"):
        result = ctsync(env, tmp_path, "run", "--no-progress")
    assert result.returncode == 3
    assert "holds the lock" in result.stderr
    assert f"process {os.getpid()}" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["ingest"],
        ["build"],
        ["sync"],
        ["run", "--no-progress"],
        ["replay"],
        ["reset-state", "--yes"],
    ],
)
def test_every_writing_command_takes_the_lock_and_names_the_holder(
    tmp_path: Path, command: list[str]
) -> None:
    env = configured(tmp_path)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    with run_lock(tmp_path / "w.duckdb", holder="ctsync schedule"):
        result = ctsync(env, tmp_path, *command)
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    assert f"(process {os.getpid()}, `ctsync schedule`) holds the lock" in message
    assert "Traceback" not in result.stderr and "IOException" not in result.stderr


def test_run_without_configuration_fails_before_ingesting(tmp_path: Path) -> None:
    result = ctsync({"CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb")}, tmp_path, "run")
    assert result.returncode == 1
    assert "configuration error" in result.stderr
    assert "SYNC__ITERABLE__API_KEY" in result.stderr
    assert "SOURCES__COMMERCETOOLS__" in result.stderr
    assert "ctsync doctor" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_a_dry_run_needs_no_iterable_key(tmp_path: Path) -> None:
    env = {k: v for k, v in configured(tmp_path).items() if k != "SYNC__ITERABLE__API_KEY"}
    env["SOURCES__COMMERCETOOLS__MAX_ATTEMPTS"] = "1"
    result = ctsync(env, tmp_path, "run", "--dry-run", "--no-progress")
    # It gets past configuration and fails in ingest (nothing listens on port 9).
    assert "configuration error" not in result.stderr
    assert result.returncode == 1
    assert "ingest" in result.stdout and "failed" in result.stdout


def test_bad_options_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ctsync.app.cli import app

    for key in [k for k in os.environ if k.startswith(CONFIG_PREFIXES)]:
        monkeypatch.delenv(key)
    for key, value in configured(tmp_path).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    code, output = invoke("run", "--objects", "unicorns")
    assert code == 2 and "unicorns" in output
    code, output = invoke("run", "--resources", "unicorns")
    assert code == 2 and "unicorns" in output
    code, output = invoke("schedule", "--every", "soon")
    assert code == 2 and "--every" in output
    code, output = invoke("schedule", "--cron", "every minute")
    assert code == 2 and "cron" in output
    code, output = invoke("schedule", "--cron", "* * * * *", "--every", "1m")
    assert code == 2 and "exactly one" in output
    code, output = invoke("serve", "--port", "0")
    assert code == 2 and "SYNC__RECEIVER__TOKEN" in output
    assert not (tmp_path / "w.duckdb").exists()


def test_serve_stops_cleanly_on_sigterm_and_refuses_a_busy_port(tmp_path: Path) -> None:
    env = {**configured(tmp_path), "SYNC__RECEIVER__TOKEN": "a-token-of-some-length"}
    with serving(tmp_path, clean_env(**env), "--port", "0") as (process, url, _):
        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
        health = httpx.get(
            f"{url}/healthz", headers={"X-Ctsync-Token": env["SYNC__RECEIVER__TOKEN"]}, timeout=10
        ).json()
        assert health["authentication"] == "token"
        refused = httpx.post(url, json={}, timeout=10)
        assert refused.status_code == 401

        port = url.rsplit(":", 1)[1]
        busy = ctsync(env, tmp_path, "serve", "--port", port)
        assert busy.returncode == 1
        assert "could not listen" in busy.stderr

        terminate(process)


def test_serve_refuses_a_short_token(tmp_path: Path) -> None:
    env = {**configured(tmp_path), "SYNC__RECEIVER__TOKEN": "short-token"}
    result = ctsync(env, tmp_path, "serve", "--port", "0")
    assert result.returncode == 2
    assert "at least 16" in result.stderr
    assert "short-token" not in result.stderr + result.stdout


def test_serve_speaks_tls_with_tls_cert_and_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key, certificate = self_signed_certificate("127.0.0.1", ip_address="127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {**configured(tmp_path), "SYNC__RECEIVER__TOKEN": "a-token-of-some-length"}
    tls = ("--tls-cert", str(cert_path), "--tls-key", str(key_path))
    with serving(tmp_path, clean_env(**env), "--port", "0", *tls) as (process, url, _):
        assert url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert_path))
        health = httpx.get(f"{url}/healthz", verify=trusted, timeout=10)
        assert health.json()["status"] == "ok"
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/healthz", timeout=5)
        terminate(process)
