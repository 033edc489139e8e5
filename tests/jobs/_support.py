"""Helpers for the tests that drive the `ctsync` command line end to end: the command in a
clean environment pointed at the sandboxes, the warehouse it writes, the runs it records."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seeder import SeedSummary
from ctsync.sandbox.environment import sandbox_environment
from ctsync.sandbox.iterable.emulator import IterableEmulator

CTSYNC = Path(sys.executable).parent / "ctsync"
OK = ("succeeded", "succeeded_with_rejections")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ctsync setting, plus `settings`."""
    return sandbox_environment(**settings)


def job_env(
    ct: CommercetoolsSandbox, emulator: IterableEmulator, warehouse: Path, **settings: str
) -> dict[str, str]:
    """A clean environment pointed at both sandboxes and `warehouse` (output 200 columns wide,
    so no line a test reads is wrapped), plus `settings`."""
    return sandbox_environment(
        ct, emulator, CTSYNC_WAREHOUSE=str(warehouse), COLUMNS="200", **settings
    )


def ctsync(
    folder: Path, env: dict[str, str], *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run `ctsync *args` in `folder` with exactly `env`; the caller checks the outcome."""
    return subprocess.run(
        [str(CTSYNC), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tail(done: subprocess.CompletedProcess[str], chars: int = 4000) -> str:
    """The end of a command's output, for an assertion message."""
    return done.stdout[-chars:] + done.stderr[-chars:]


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def run_ids(warehouse: Path) -> set[str]:
    """Every run the warehouse has recorded (none before the first command made it)."""
    if not warehouse.exists():
        return set()
    return {str(row[0]) for row in query(warehouse, "select run_id from ctsync.sync_runs")}


def new_run(
    folder: Path, env: dict[str, str], warehouse: Path, expect_exit: int = 0
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`ctsync run` once: the id of the one run it recorded, and the command's outcome."""
    known = run_ids(warehouse)
    done = ctsync(folder, env, "run", "--no-progress")
    assert done.returncode == expect_exit, tail(done)
    [run_id] = run_ids(warehouse) - known
    return run_id, done


BACK_TO_BACK_RATE_SCALE = 60
"""Iterable's rates lifted ×60 (emulator and client: `fresh_shop(rate_scale=...)` and
`SYNC__ITERABLE__RATE_SCALE`) for tests whose runs follow each other within seconds and read
Iterable's state back: at Iterable's own 4 exports a minute, the first run spends the budget
and the next run's read-back is deferred (on a fast machine, always), which such a test does
not exercise (tests/ingest/test_iterable_source.py tests the deferral, tests/jobs/test_runner.py
how a run reports it)."""


def fresh_shop(
    ct: CommercetoolsSandbox,
    emulator: IterableEmulator,
    project_type: str = "hybrid",
    *,
    capture: bool | None = None,
    rate_scale: float = 1.0,
    **options: Any,
) -> SeedSummary:
    """Both sandboxes emptied (the emulator as a `project_type` project, capturing requests
    if `capture`, its rates × `rate_scale`), then the seeder's shop (`options`: customers,
    seed, ...)."""
    ct.reset()
    emulator.reset(project_type=project_type, capture=capture, rate_scale=rate_scale)
    return ct.seed(**options)


def delete_customer(ct: CommercetoolsSandbox, customer: dict[str, Any]) -> None:
    """Delete a customer in commercetools, at its current version."""
    with ct.client() as api:
        current = api.get(f"/customers/{customer['id']}").json()
        response = api.delete(
            f"/customers/{customer['id']}", params={"version": current["version"]}
        )
        assert response.status_code == 200, response.text


def iterable_api(
    emulator: IterableEmulator, method: str, path: str, body: Any = None, **params: str
) -> httpx.Response:
    """A request to the emulator's public API, as another Iterable client would send it."""
    return httpx.request(
        method,
        f"{emulator.api_url}{path}",
        json=body,
        params=params or None,
        headers={"Api-Key": emulator.api_key},
        timeout=10,
    )


@contextmanager
def serving(
    folder: Path, env: dict[str, str], *args: str
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """`ctsync serve *args` running until the block ends (killed then if it still runs): the
    process, its URL (once it says it listens) and the stderr lines read so far."""
    process = subprocess.Popen(
        [str(CTSYNC), "serve", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"listening on (https?://[\d.]+:\d+)/", line)
            url = found.group(1) if found else None
        assert url, "serve did not start: " + "".join(lines)
        yield process, url, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def terminate(process: subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGTERM, as a service manager stops the command: it must exit 0."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=timeout) == 0


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `predicate` holds within `timeout` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def self_signed_certificate(common_name: str, ip_address: str | None = None) -> tuple[Any, Any]:
    """A throw-away RSA key and a self-signed certificate for `common_name` (and, as its
    subject alternative name, `ip_address`), valid from yesterday to tomorrow."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
    )
    if ip_address:
        san = x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(ip_address))])
        builder = builder.add_extension(san, False)
    return key, builder.sign(key, hashes.SHA256())
