"""Run lock, settings from dlt providers, and secret redaction."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctsync.core.config import EU_API_URL, US_API_URL, ConfigError, IterableSettings, load_settings
from ctsync.core.lock import RunLockHeld, lock_path_for, run_lock
from ctsync.core.redact import install_log_redaction, redact, register_secret
from ctsync.core.transport import INSECURE_ENV


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    target = tmp_path / "w.duckdb"
    with run_lock(target, holder="ctsync sync") as path:
        assert path == lock_path_for(target)
        # The holder file names the pid and, since the lock covers every command, the command.
        assert path.read_text().splitlines() == [str(os.getpid()), "ctsync sync"]
        with pytest.raises(RunLockHeld) as caught:
            with run_lock(target):
                pass
        assert caught.value.pid == os.getpid()
        assert caught.value.command == "ctsync sync"
        assert str(path) in str(caught.value)
    with run_lock(target):  # released on exit
        pass


def test_lock_of_a_killed_holder_is_released(tmp_path: Path) -> None:
    target = tmp_path / "w.duckdb"
    code = (
        "import sys, time; from ctsync.core.lock import run_lock\n"
        f"with run_lock({str(target)!r}):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(RunLockHeld) as caught:
            with run_lock(target):
                pass
        assert caught.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            with run_lock(target):
                break
        except RunLockHeld:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC__ITERABLE__API_KEY", "env-secret-key-1")
    monkeypatch.setenv("SYNC__ITERABLE__PROJECT_TYPE", "userId")
    monkeypatch.setenv("SYNC__ITERABLE__RATE_LIMITS__BULK_UPDATE", "2.5")
    monkeypatch.setenv("SYNC__ITERABLE__BATCH_SIZES__USERS", "250")
    monkeypatch.setenv("SYNC__ITERABLE__CONCURRENCY", "7")
    monkeypatch.delenv("SYNC__ITERABLE__API_URL", raising=False)
    settings = load_settings()
    assert settings.api_key == "env-secret-key-1"
    assert settings.api_url == US_API_URL
    assert settings.project_type == "userId"
    assert settings.rate_for("bulk_update") == 2.5
    assert settings.rate_for("track_bulk") == 10.0
    assert settings.batch_size_for("users") == 250
    assert settings.concurrency == 7
    assert "env-secret-key-1" not in repr(settings)

    monkeypatch.setenv("SYNC__ITERABLE__DATA_CENTER", "EU")
    assert load_settings().api_url == EU_API_URL
    monkeypatch.setenv("SYNC__ITERABLE__API_URL", "http://127.0.0.1:9/")
    assert load_settings().api_url == "http://127.0.0.1:9"
    monkeypatch.setenv("SYNC__ITERABLE__PROJECT_TYPE", "emailish")
    with pytest.raises(ConfigError, match="project_type"):
        load_settings()


def test_published_defaults() -> None:
    settings = IterableSettings(api_key="x" * 10)
    assert settings.rate_for("bulk_update") == 5.0
    assert settings.rate_for("track_bulk") == 10.0
    assert settings.rate_for("forget") == 3.0
    assert settings.rate_for("get_fields") == 3.0
    assert settings.rate_for("catalog_bulk") == 100.0
    assert settings.batch_size_for("users") == 1000
    assert settings.max_body_bytes <= 4 * 1024 * 1024
    assert IterableSettings(api_key="x" * 10, rate_scale=3).rate_for("bulk_update") == 15.0
    with pytest.raises(ConfigError, match="API key"):
        IterableSettings().require_api_key()


def test_redaction_in_text_and_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-live-0123456789abcdef"
    register_secret(secret)
    install_log_redaction()
    assert redact(f"url?api_key={secret}&x=1") == "url?api_key=***&x=1"
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("sending with key %s", secret)
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        logging.getLogger("other").exception("failed")
    assert secret not in caplog.text
    assert "sending with key ***" in caplog.text

    # records made without a logger (handlers that build their own) are scrubbed as well
    factory = logging.getLogRecordFactory()
    record = factory("x", logging.INFO, __file__, 1, "k=%s", (secret,), None)
    assert record.getMessage() == "k=***"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.iterable.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:1", True),
        ("http://[::1]:9", True),
        ("http://api.iterable.com", False),
        ("http://10.0.0.5:80", False),
        ("http://0.0.0.0:9", False),
        ("ftp://api.iterable.com", False),
    ],
)
def test_plain_http_only_to_loopback(
    url: str, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INSECURE_ENV, raising=False)
    if allowed:
        assert IterableSettings(api_key="k" * 10, api_url=url).api_url == url
    else:
        with pytest.raises(ConfigError, match="sync.iterable.api_url"):
            IterableSettings(api_key="k" * 10, api_url=url)


def test_insecure_allows_plain_http_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INSECURE_ENV, "1")
    assert IterableSettings(api_url="http://10.0.0.5").api_url == "http://10.0.0.5"
    with pytest.raises(ConfigError, match="not an http"):
        IterableSettings(api_url="ftp://10.0.0.5")


def test_secrets_are_registered_when_settings_load(caplog: pytest.LogCaptureFixture) -> None:
    from ctsync.ingest.commercetools.source import CommercetoolsSettings

    install_log_redaction()
    secret = "ct-secret-registered-at-load-7f3a9"
    CommercetoolsSettings(project_key="p", client_id="c", client_secret=secret)
    assert redact(f"oauth failed for {secret}") == "oauth failed for ***"


@pytest.mark.slow
def test_the_cli_refuses_http_to_other_hosts_unless_insecure(tmp_path: Path) -> None:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "SYNC__", "CTSYNC_"))
    }
    env = {
        **clean,
        "SOURCES__COMMERCETOOLS__PROJECT_KEY": "p",
        "SOURCES__COMMERCETOOLS__CLIENT_ID": "id",
        "SOURCES__COMMERCETOOLS__CLIENT_SECRET": "secret-abcdef-123",
        "SOURCES__COMMERCETOOLS__API_URL": "http://0.0.0.0:9",
        "SOURCES__COMMERCETOOLS__AUTH_URL": "http://0.0.0.0:9",
        "SOURCES__COMMERCETOOLS__MAX_ATTEMPTS": "1",
        "SYNC__ITERABLE__API_KEY": "key-abcdef-123",
        "SYNC__ITERABLE__API_URL": "http://127.0.0.1:9",
        "CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "COLUMNS": "250",
    }
    ctsync = Path(sys.executable).parent / "ctsync"
    refused = subprocess.run(
        [str(ctsync), "run", "--no-progress"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "unencrypted" in refused.stderr and "--insecure" in refused.stderr
    assert not (tmp_path / "w.duckdb").exists()  # refused before anything ran
    insecure = subprocess.run(
        [str(ctsync), "--insecure", "run", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "unencrypted" not in insecure.stderr  # past the check: the ingest itself ran
    assert insecure.returncode == 1
    assert "ingest" in insecure.stdout + insecure.stderr
