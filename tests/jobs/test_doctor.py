"""`ctsync doctor` against the real sandboxes: healthy, wrong credentials, unreachable, unset."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import clean_env, ctsync

pytestmark = pytest.mark.slow


def doctor(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return ctsync(cwd, clean_env(COLUMNS="250", **env), "doctor", "--timeout", "5", timeout=120)


def lines(result: subprocess.CompletedProcess[str], check: str) -> str:
    return "\n".join(line for line in result.stdout.splitlines() if check in line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_doctor_passes_against_healthy_sandboxes(
    commercetools_sandbox: CommercetoolsSandbox, iterable_emulator: IterableEmulator, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    env = {
        **commercetools_sandbox.env(),
        **iterable_emulator.env(),
        "CTSYNC_WAREHOUSE": str(warehouse),
        "SYNC__RECEIVER__TOKEN": "receiver-token-123",
    }
    result = doctor(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✔" in lines(result, "commercetools credentials")
    assert "✔" in lines(result, "commercetools API")
    assert "accepted" in lines(result, "iterable API key")
    assert "All checks passed" in result.stdout
    for secret in (
        commercetools_sandbox.client_secret,
        iterable_emulator.api_key,
        "receiver-token-123",
    ):
        assert secret not in result.stdout + result.stderr


def test_doctor_names_each_broken_credential_and_exits_1(
    commercetools_sandbox: CommercetoolsSandbox, iterable_emulator: IterableEmulator, tmp_path: Path
) -> None:
    wrong_secret = "definitely-not-the-secret-123"
    wrong_key = "definitely-not-the-key-456"
    env = {
        **commercetools_sandbox.env(),
        "SOURCES__COMMERCETOOLS__CLIENT_SECRET": wrong_secret,
        **iterable_emulator.env(),
        "SYNC__ITERABLE__API_KEY": wrong_key,
        "CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    result = doctor(tmp_path, env)
    assert result.returncode == 1
    assert "✘" in lines(result, "commercetools credentials")
    assert "view_* scopes" in result.stdout or "client id/secret" in result.stdout
    assert "refused the API key (401)" in result.stdout
    assert "does not exist yet" in lines(result, "warehouse")  # a warning, not a failure
    assert wrong_secret not in result.stdout + result.stderr
    assert wrong_key not in result.stdout + result.stderr


def test_doctor_reports_unreachable_services(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "SOURCES__COMMERCETOOLS__PROJECT_KEY": "p",
        "SOURCES__COMMERCETOOLS__CLIENT_ID": "id",
        "SOURCES__COMMERCETOOLS__CLIENT_SECRET": "secret-value-789",
        "SOURCES__COMMERCETOOLS__API_URL": dead,
        "SOURCES__COMMERCETOOLS__AUTH_URL": dead,
        "SYNC__ITERABLE__API_KEY": "key-value-000000",
        "SYNC__ITERABLE__API_URL": dead,
        "CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    result = doctor(tmp_path, env)
    assert result.returncode == 1
    commercetools = lines(result, "commercetools API")
    assert "✘" in commercetools and "Connection refused" in commercetools
    assert f"check that {dead} is reachable" in commercetools
    iterable = lines(result, "iterable API")
    assert "✘" in iterable and f"check that {dead} is reachable" in iterable


def test_doctor_without_any_configuration_says_what_to_set(tmp_path: Path) -> None:
    result = doctor(tmp_path, {"CTSYNC_WAREHOUSE": str(tmp_path / "w.duckdb")})
    assert result.returncode == 1
    assert "SOURCES__COMMERCETOOLS__PROJECT_KEY" in result.stdout
    assert "SYNC__ITERABLE__API_KEY" in result.stdout
    assert "SYNC__RECEIVER__TOKEN" in result.stdout


def test_doctor_checks_every_consent_rule_against_the_iterable_project(
    fresh_iterable: IterableEmulator, tmp_path: Path
) -> None:
    """Each seed row's list / channel / message type must exist, with the right medium."""
    from ctsync.app import doctor
    from ctsync.core.config import IterableSettings
    from ctsync.sync import consent
    from ctsync.sync.iterable_client import IterableClient

    settings = IterableSettings(
        api_key=fresh_iterable.api_key, api_url=fresh_iterable.api_url, rate_scale=100.0
    )
    with IterableClient(settings) as client:
        good = doctor._consent_rules(client)
        assert good.status == doctor.OK, good.message
        seed = tmp_path / "rules.csv"
        seed.write_text(
            "consent_attribute,iterable_kind,iterable_id,iterable_name,source_of_truth\n"
            "email,email_list,77,Newsletter,commercetools\n"
            "sms,channel,11,Marketing Email,opt_out_wins\n"
        )
        original = consent.RULES_PATH
        consent.RULES_PATH = seed
        try:
            bad = doctor._consent_rules(client)
        finally:
            consent.RULES_PATH = original
    assert bad.status == doctor.FAIL
    assert "line 2" in bad.message and "no list 77" in bad.message
    assert "line 3" in bad.message and "Email channel, not SMS" in bad.message
