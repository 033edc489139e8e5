"""The adversarial suite: every unusual record of `ctsync.sandbox.commercetools.adversarial`,
written
through the commercetools API, scored after one `ctsync run` against the Iterable emulator.

Every case must score: its outcome (delivered / rejected / not_sent) and reason in
`audit.audit__record_outcomes`, and for delivered records the values in the payload that
Iterable acknowledged; records of people whose deletion Iterable acknowledged must be
purged from the warehouse (`ctsync.sync_purges`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ctsync.sandbox.commercetools.adversarial import ABSENT, Case, Expect, Shop
from ctsync.sandbox.commercetools.adversarial_cases import CASES
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.iterable.emulator import IterableEmulator

from ._support import ctsync, fresh_shop, job_env, tail

pytestmark = pytest.mark.slow


def _path(payload: Any, dotted: str) -> Any:
    value = payload
    for part in dotted.split("."):
        if isinstance(value, list):
            value = value[int(part)] if int(part) < len(value) else ABSENT
        elif isinstance(value, dict):
            value = value.get(part, ABSENT)
        else:
            return ABSENT
        if value is None:
            return ABSENT
    return value


def _score(
    con: duckdb.DuckDBPyConnection, case: Case, ids: list[str], expect: Expect
) -> str | None:
    source_id = ids[expect.record]
    if expect.outcome == "purged":
        assert expect.person is not None
        purged = con.execute(
            "select count(*) from ctsync.sync_purges where key_hash = md5(?)",
            [ids[expect.person]],
        ).fetchall()
        leftover = con.execute(
            "select count(*) from audit.audit__record_outcomes where object = ? and source_id = ?",
            [expect.object, source_id],
        ).fetchall()
        if purged != [(1,)] or leftover != [(0,)]:
            return f"{expect.object}: expected purged, purges {purged}, outcome rows {leftover}"
        return None
    found = con.execute(
        "select outcome, reason_code, record_key from audit.audit__record_outcomes "
        "where object = ? and source_id = ?",
        [expect.object, source_id],
    ).fetchall()
    if len(found) != 1:
        return f"{len(found)} outcome rows for {expect.object} {source_id}"
    outcome, reason, record_key = found[0]
    if (outcome, reason if expect.reason else None) != (expect.outcome, expect.reason):
        return f"{expect.object}: expected {expect.outcome}/{expect.reason}, got {outcome}/{reason}"
    if expect.fields:
        [(payload,)] = con.execute(
            f"select payload from iterable.iterable__{expect.object} where record_key = ?",
            [record_key],
        ).fetchall()
        data = json.loads(payload)
        for dotted, wanted in expect.fields.items():
            got = _path(data, dotted)
            if wanted is ABSENT:
                if got is not ABSENT:
                    return f"{dotted}: expected absent/null, got {got!r}"
            elif got != wanted:
                return f"{dotted}: expected {wanted!r}, got {got!r}"
    return None


def test_every_adversarial_case_scores(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
) -> None:
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)
    ct = commercetools_sandbox
    fresh_shop(ct, iterable_emulator, customers=3, seed=5)
    written: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    with ct.client() as client:
        shop = Shop(client)
        for case in CASES:
            try:
                written[case.name] = case.write(shop)
            except Exception as exc:  # a case that cannot be written does not score
                failures[case.name] = f"write failed: {exc}"
    warehouse = tmp_path / "warehouse.duckdb"
    run = ctsync(tmp_path, job_env(ct, iterable_emulator, warehouse), "run", "--no-progress")
    assert run.returncode == 0, tail(run)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for case in CASES:
            if case.name in failures:
                continue
            for expect in case.expect:
                problem = _score(con, case, written[case.name], expect)
                if problem:
                    failures[case.name] = problem
                    break
        pending = con.execute(
            "select object, outcome, count(*) from audit.audit__record_outcomes "
            "where outcome is null or outcome = 'pending' group by all"
        ).fetchall()
    ct.reset()
    report = "\n".join(f"- {name}: {problem}" for name, problem in failures.items())
    assert not failures, f"{len(failures)} of {len(CASES)} case(s) did not score:\n{report}"
    assert pending == []
