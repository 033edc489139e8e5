"""`ctsync build`: run `dbt build` on the warehouse with the project's profile.

The job runner calls :func:`run_dbt_build` directly; the command wraps it with a progress
spinner and a summary table. dbt runs in-process (``dbtRunner``), with the repository root
as project and profiles directory, so a fresh clone needs no ``~/.dbt``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctsync.core.config import (
    AUDIT_SCHEMA_ENV,
    AUDIT_SCHEMA_VAR,
    DBT_VARS,
    ConfigError,
    IterableSettings,
    dbt_vars,
    load_settings,
)
from ctsync.core.paths import DBT_PROJECT_DIR

# dbt statuses folded into what a reader needs: did it work, warn, fail, or not run.
_OUTCOMES = {
    "success": "ok",
    "pass": "ok",
    "warn": "warn",
    "error": "error",
    "fail": "error",
    "runtime error": "error",
    "skipped": "skipped",
    "no-op": "ok",
}
_KINDS = ("seed", "model", "test", "unit_test", "snapshot", "operation")


class BuildConfigError(ValueError):
    """The build was configured wrongly (e.g. an unknown Iterable project type)."""


@dataclass(frozen=True)
class NodeProblem:
    """A dbt node that failed or warned."""

    name: str
    resource_type: str
    outcome: str
    message: str


@dataclass(frozen=True)
class NodeOutcome:
    """What happened to one dbt node, and the models it reads (for tests: what it checks)."""

    resource_type: str
    outcome: str
    depends_on: tuple[str, ...] = ()


@dataclass
class BuildResult:
    """What one `dbt build` did."""

    success: bool
    elapsed_seconds: float
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    """Per resource type (model, test, unit_test, seed, ...): outcome -> count."""
    problems: list[NodeProblem] = field(default_factory=list)
    error: str | None = None
    """Set when dbt could not run at all (bad project, unreadable warehouse, ...)."""
    nodes: dict[str, NodeOutcome] = field(default_factory=dict)
    """Every node that ran (or was skipped), by name."""

    @property
    def failures(self) -> list[NodeProblem]:
        return [p for p in self.problems if p.outcome == "error"]

    @property
    def warnings(self) -> list[NodeProblem]:
        return [p for p in self.problems if p.outcome == "warn"]

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())


def build_vars(
    extra: Mapping[str, Any] | None = None, settings: IterableSettings | None = None
) -> dict[str, Any]:
    """dbt vars for a build: every setting dbt shares with the sync (read once, from dlt's
    providers, unless ``settings`` is given), the audit schema, then ``extra``.

    ``extra`` may not set a shared var: dbt and the sync would then disagree (a payload
    built for one project type, sent as another); set ``sync.iterable.*`` instead.
    """
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as error:
            raise BuildConfigError(str(error)) from None
    shared = dbt_vars(settings)
    for name in extra or {}:
        if name in DBT_VARS:
            raise BuildConfigError(
                f"dbt var {name} is a sync setting too: set sync.iterable.{DBT_VARS[name]} "
                f"(SYNC__ITERABLE__{DBT_VARS[name].upper()} or .dlt/config.toml) instead of "
                "--vars, so dbt and the sync read the same value"
            )
        if name == AUDIT_SCHEMA_VAR:
            raise BuildConfigError(
                f"dbt var {AUDIT_SCHEMA_VAR} is the sync's audit schema: set {AUDIT_SCHEMA_ENV} "
                "instead of --vars, so dbt and the sync read the same value"
            )
    return {**shared, **(extra or {})}


def run_dbt_build(
    *,
    warehouse: str | Path | None = None,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    full_refresh: bool = False,
    vars: Mapping[str, Any] | None = None,
    target_path: str | Path | None = None,
    on_node_finished: Callable[[str, str], None] | None = None,
    command: str = "build",
    settings: IterableSettings | None = None,
) -> BuildResult:
    """Run ``dbt build`` against ``warehouse`` (default: ``CTSYNC_WAREHOUSE`` or
    ``warehouse.duckdb``) and report what happened.

    dbt's own files (manifest, compiled SQL, logs) go to ``target_path``, by default
    ``.ctsync/dbt`` beside the warehouse, so two warehouses never share a target folder.
    ``on_node_finished(name, outcome)`` is called as each node completes. ``command="run"``
    runs the models only (no seeds, no tests), for callers that test separately.
    """
    if command not in ("build", "run"):
        raise BuildConfigError(f"command must be 'build' or 'run', got {command!r}")
    from dbt.cli.main import dbtRunner

    from ctsync.core.warehouse import ensure_private, warehouse_path

    path = Path(warehouse).resolve() if warehouse is not None else warehouse_path()
    target = Path(target_path) if target_path else path.parent / ".ctsync" / "dbt"
    merged_vars = build_vars(vars, settings)
    ensure_private(path)  # settings are valid: create the file before dbt does, owner-only
    args = [
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target / "target"),
        "--log-path",
        str(target / "logs"),
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        "--no-use-colors",
    ]
    if merged_vars:
        args += ["--vars", json.dumps(merged_vars)]
    for selector in select or []:
        args += ["--select", selector]
    if select:
        # a test runs only when every model it reads was selected: `--select staging` must
        # not run a test that also reads marts that were not built
        args += ["--indirect-selection", "cautious"]
    for selector in exclude or []:
        args += ["--exclude", selector]
    if full_refresh:
        args.append("--full-refresh")

    callbacks: list[Callable[[Any], None]] = []
    if on_node_finished is not None:

        def _callback(event: Any) -> None:
            if event.info.name == "NodeFinished":
                node = event.data.node_info
                on_node_finished(node.node_name, _OUTCOMES.get(node.node_status, node.node_status))

        callbacks.append(_callback)

    previous = {
        name: os.environ.get(name)
        for name in ("CTSYNC_WAREHOUSE", "DBT_SEND_ANONYMOUS_USAGE_STATS")
    }
    os.environ["CTSYNC_WAREHOUSE"] = str(path)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    started = time.monotonic()
    try:
        outcome = dbtRunner(callbacks=callbacks).invoke(args)  # type: ignore[arg-type]
    finally:
        _release_duckdb()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return _result(outcome, time.monotonic() - started)


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a run.

    Otherwise the file stays locked by this process (other processes cannot write it) and
    opening it here with another configuration (``read_only=True``) fails.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _result(outcome: Any, elapsed: float) -> BuildResult:
    result = BuildResult(success=bool(outcome.success), elapsed_seconds=elapsed)
    run = outcome.result
    if outcome.exception is not None or run is None or not hasattr(run, "results"):
        result.success = False
        result.error = str(outcome.exception or "dbt build did not run")
        return result
    for node_result in run.results:
        node = node_result.node
        kind = (
            node.resource_type.value
            if hasattr(node.resource_type, "value")
            else str(node.resource_type)
        )
        status = str(
            node_result.status.value if hasattr(node_result.status, "value") else node_result.status
        )
        verdict = _OUTCOMES.get(status.lower(), status.lower())
        result.counts.setdefault(kind, Counter())[verdict] += 1
        parents = getattr(getattr(node, "depends_on", None), "nodes", None) or []
        result.nodes[node.name] = NodeOutcome(
            kind, verdict, tuple(str(parent).rsplit(".", 1)[-1] for parent in parents)
        )
        if verdict in ("error", "warn"):
            result.problems.append(
                NodeProblem(
                    name=node.name,
                    resource_type=kind,
                    outcome=verdict,
                    message=(node_result.message or "").strip(),
                )
            )
    return result


def print_summary(result: BuildResult) -> None:
    """A rich table of outcomes per resource type, then every failure and warning."""
    from rich.table import Table

    from ctsync.core.console import make_console

    console = make_console()
    if result.error is not None:
        console.print(f"[red]dbt build could not run:[/red] {result.error}")
        return
    table = Table(title=f"dbt build ({result.elapsed_seconds:.1f}s)")
    table.add_column("kind")
    for outcome in ("ok", "warn", "error", "skipped"):
        table.add_column(outcome, justify="right")
    kinds = [k for k in _KINDS if k in result.counts] + sorted(set(result.counts) - set(_KINDS))
    for kind in kinds:
        counter = result.counts[kind]
        table.add_row(kind, *(str(counter[o]) for o in ("ok", "warn", "error", "skipped")))
    console.print(table)
    for problem in result.problems:
        colour = "red" if problem.outcome == "error" else "yellow"
        console.print(
            f"[{colour}]{problem.outcome.upper()}[/{colour}] {problem.resource_type} "
            f"[bold]{problem.name}[/bold]: {problem.message}"
        )
    verdict = "[green]build ok[/green]" if result.success else "[red]build failed[/red]"
    console.print(verdict)
