"""`ctsync build`: run `dbt build` on the warehouse with the project's profile.

The job runner calls :func:`run_dbt_build` directly; the command wraps it with a progress
spinner and a summary table. dbt runs in-process (``dbtRunner``), with the repository root
as project and profiles directory, so a fresh clone needs no ``~/.dbt``.

Parsing the project costs seconds of CPU, so it is done as seldom as correctness allows:

- in one process, the parsed manifest is kept and handed to the next build
  (``dbtRunner(manifest=...)``) while the project's files, the vars and the warehouse's
  database name (the file's stem) are the same; any change to one of them parses again;
- across processes and warehouses, dbt's partial-parse file is shared through a cache folder
  (``$XDG_CACHE_HOME/ctsync/dbt-parse``, else ``~/.cache/ctsync/dbt-parse``): a new warehouse
  starts from the last parse of the same project instead of parsing from scratch. dbt's own
  check then re-parses exactly the files that changed. That check hashes the profile, whose
  DuckDB ``path`` differs per warehouse although nothing parsed depends on it (the database
  name, which does, stays in the hash): :func:`_path_neutral_profile_hash` leaves it out.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import pprint
import shutil
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctsync.core.config import (
    AUDIT_SCHEMA_ENV,
    AUDIT_SCHEMA_VAR,
    DBT_VARS,
    WAREHOUSE_ENV,
    ConfigError,
    IterableSettings,
    dbt_vars,
    load_settings,
)
from ctsync.core.paths import DBT_PROJECT_DIR

log = logging.getLogger("ctsync.transform")

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

    from ctsync.app import dbt_agate, dbt_events, dbt_jinja
    from ctsync.core.warehouse import ensure_private, warehouse_path

    dbt_jinja.install()  # Jinja compiled once per source, not at every use
    dbt_events.install()  # log events filled directly, not through protobuf's JSON parser
    dbt_agate.install()  # a result's type tester built once per set of text columns

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
        # not the whole manifest.json after every build (the parse writes it once per
        # project state, `_parsed_manifest`); run_results.json is written below
        "--no-write-json",
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

        callbacks.append(dbt_events.listens_to(_callback, "NodeFinished"))

    previous = {
        name: os.environ.get(name) for name in (WAREHOUSE_ENV, "DBT_SEND_ANONYMOUS_USAGE_STATS")
    }
    os.environ[WAREHOUSE_ENV] = str(path)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    started = time.monotonic()
    try:
        manifest = _parsed_manifest(args, merged_vars, path, target / "target")
        with heap_set_aside():
            outcome = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(args)  # type: ignore[arg-type]
        run = outcome.result
        if run is not None and hasattr(run, "write"):
            (target / "target").mkdir(parents=True, exist_ok=True)
            run.write(str(target / "target" / "run_results.json"))
    finally:
        _release_duckdb()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return _result(outcome, time.monotonic() - started)


@contextmanager
def heap_set_aside() -> Iterator[None]:
    """Python's garbage collector leaves what exists before the build alone while it runs.

    A build allocates objects in the hundreds of thousands (a Jinja context of every macro
    per node, twice), so the collector runs its oldest generation several times, and each
    time it walks every object in the process: the parsed manifest, dbt's and DuckDB's
    modules, ... (by hand at 100 000 customers: 0.15 to 0.35 s of an incremental build).
    ``gc.freeze`` sets those aside and ``gc.unfreeze`` puts them back when the build ends,
    so nothing is kept longer than it would have been (garbage among them is collected
    later, not lost). Left as it is when something else in the process froze objects."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# -- parsing once ---------------------------------------------------------------------------

_PARSED_KEEP = 4
"""Manifests kept per process (one per project state, vars and database name): tests and
benchmarks alternate a few configurations; a long-running `serve` needs one."""
_parsed: OrderedDict[str, Any] = OrderedDict()
_parsed_lock = threading.Lock()
_PARSE_FILE = "partial_parse.msgpack"
_SHARED_KEEP = 64


def forget_parsed_manifests() -> None:
    """Drop the manifests this process kept (the next build parses, partially at best)."""
    with _parsed_lock:
        _parsed.clear()


def _project_fingerprint() -> str:
    """A hash of every file dbt parses (models, macros, seeds, data tests, project, profile)."""
    import yaml  # type: ignore[import-untyped]

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    folders: list[str] = []
    for key, default in (
        ("model-paths", ["models"]),
        ("macro-paths", ["macros"]),
        ("seed-paths", ["seeds"]),
        ("test-paths", ["tests"]),
        ("snapshot-paths", ["snapshots"]),
        ("analysis-paths", ["analyses"]),
    ):
        folders += project.get(key) or default
    digest = hashlib.sha256()
    for name in ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml"):
        file = DBT_PROJECT_DIR / name
        if file.is_file():
            digest.update(f"{name}\0".encode() + file.read_bytes() + b"\0")
    for folder in sorted(set(folders)):
        root = DBT_PROJECT_DIR / folder
        if not root.is_dir():
            continue
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in file.parts or file.suffix in (".pyc", ".py"):
                continue
            relative = file.relative_to(DBT_PROJECT_DIR).as_posix()
            digest.update(f"{relative}\0".encode() + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _parse_key(warehouse: Path, merged_vars: Mapping[str, Any]) -> str:
    from dbt.version import __version__ as dbt_version

    return hashlib.sha256(
        "\0".join(
            [
                dbt_version,
                str(DBT_PROJECT_DIR),
                warehouse.stem,
                json.dumps(merged_vars, sort_keys=True, default=str),
                _project_fingerprint(),
            ]
        ).encode()
    ).hexdigest()


def build_fingerprint(warehouse: str | Path, settings: IterableSettings | None = None) -> str:
    """What a build's result depends on besides the data: dbt's version, the project's files,
    the vars of a job's build and the database name. Two builds with the same fingerprint
    compile every model the same way."""
    return _parse_key(Path(warehouse).resolve(), build_vars(None, settings))


def _parse_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctsync" / "dbt-parse"


def _parsed_manifest(
    args: list[str], merged_vars: Mapping[str, Any], warehouse: Path, target: Path
) -> Any:
    """The parsed manifest for this build: kept from an earlier build in this process when
    nothing dbt parses changed, else parsed now (partially, from the shared cache when the
    warehouse's own target folder has no parse yet). None when parsing fails: the build then
    parses itself and reports the error as usual."""
    from dbt.cli.main import dbtRunner

    key = _parse_key(warehouse, merged_vars)
    with _parsed_lock:
        manifest = _parsed.get(key)
        if manifest is not None:
            _parsed.move_to_end(key)
            return manifest
    _path_neutral_profile_hash()
    shared = _parse_cache_dir() / f"{key}.msgpack"
    own = target / _PARSE_FILE
    if not own.exists() and shared.exists():
        _copy_atomically(shared, own)
    parse_args = ["parse", *args[1:]]
    for flag in ("--select", "--exclude", "--indirect-selection"):
        while flag in parse_args:
            at = parse_args.index(flag)
            del parse_args[at : at + 2]
    for switch in ("--full-refresh", "--no-write-json"):  # the parse writes manifest.json
        if switch in parse_args:
            parse_args.remove(switch)
    result = dbtRunner().invoke(parse_args)
    if not result.success or result.result is None:
        return None
    if own.exists():
        _copy_atomically(own, shared)
        _prune(shared.parent, keep=_SHARED_KEEP)
    with _parsed_lock:
        _parsed[key] = result.result
        while len(_parsed) > _PARSED_KEEP:
            _parsed.popitem(last=False)
    return result.result


def _prune(folder: Path, keep: int) -> None:
    """Keep the ``keep`` parse files used last (one per project state, vars and database
    name: every edit of a model makes a new one)."""
    try:
        files = sorted(folder.glob("*.msgpack"), key=lambda f: f.stat().st_mtime, reverse=True)
        for stale in files[keep:]:
            stale.unlink(missing_ok=True)
    except OSError as error:  # another process pruned at the same time
        log.debug("could not prune %s: %s", folder, error)


def _copy_atomically(source: Path, destination: Path) -> None:
    """Copy through a temporary file and a rename: a concurrent reader (another process
    building another warehouse) sees the old file or the new one, never half of one."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    except OSError as error:  # an unwritable cache only costs a parse
        log.debug("could not copy %s to %s: %s", source, destination, error)


def _path_neutral_profile_hash() -> None:
    """Make dbt's partial-parse check ignore the DuckDB file's path.

    dbt re-parses the whole project when the profile's connection settings change, and the
    path changes with every warehouse. What parsing produces depends on the database name
    (the file's stem, still hashed) but not on the folder, so a parse made for one warehouse
    is valid for another; dbt compares every project file's checksum on its own."""
    from dbt.contracts.files import FileHash
    from dbt.parser.manifest import ManifestLoader

    original = ManifestLoader.build_manifest_state_check
    if getattr(original, "ctsync_path_neutral", False):
        return

    def build_manifest_state_check(self: Any) -> Any:
        state = original(self)
        connection = sorted(
            (key, None if key == "path" else value)
            for key, value in self.root_project.credentials.connection_info()
        )
        state.profile_hash = FileHash.from_contents(pprint.pformat(connection))
        return state

    build_manifest_state_check.ctsync_path_neutral = True  # type: ignore[attr-defined]
    ManifestLoader.build_manifest_state_check = build_manifest_state_check  # type: ignore[method-assign]


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
