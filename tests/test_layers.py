"""Imports run one way: each layer imports only the layers it is allowed to (LAYERS, the one
place the order is written down; docs/ARCHITECTURE.md draws it), and every ``ctsync.``
import names a module that exists (mypy's ``ignore_missing_imports`` would not notice)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# package -> the packages its modules may import (besides their own). A module belongs to
# the longest package that prefixes its name: ctsync.app.cli is the top of ctsync.app.
LAYERS: dict[str, frozenset[str]] = {
    "ctsync.core": frozenset(),
    "ctsync.ingest": frozenset({"ctsync.core"}),
    "ctsync.sync": frozenset({"ctsync.core"}),
    # the sandboxes stand in for the SaaS APIs; commercetools' documents are loaded through
    # the ingest's own raw-table definitions, so a test double never drifts from a real load
    "ctsync.sandbox": frozenset({"ctsync.core", "ctsync.ingest"}),
    "ctsync.app": frozenset({"ctsync.core", "ctsync.ingest", "ctsync.sync", "ctsync.sandbox"}),
    "ctsync.app.cli": frozenset(
        {"ctsync.core", "ctsync.ingest", "ctsync.sync", "ctsync.sandbox", "ctsync.app"}
    ),
}
DIRECTORIES = {"core", "ingest", "sync", "app", "sandbox"}


def _modules() -> dict[str, Path]:
    modules = {}
    for directory in sorted(DIRECTORIES):
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules["ctsync." + ".".join(parts)] = path
    return modules


MODULES = _modules()


def _layer(module: str) -> str:
    owners = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    assert owners, f"{module} is in no layer: add its package to LAYERS"
    return max(owners, key=len)


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    found = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from ctsync.app import cli` imports the module ctsync.app.cli
            found += [
                (node.lineno, f"{name}.{alias.name}")
                for alias in node.names
                if f"{name}.{alias.name}" in MODULES
            ]
    return [(line, name) for line, name in found if name.split(".")[0] in ("ctsync", *DIRECTORIES)]


def test_every_package_is_in_a_layer() -> None:
    assert MODULES, "no modules found"
    for module in MODULES:
        _layer(module)


def test_imports_run_downward_only() -> None:
    wrong = []
    for module, path in MODULES.items():
        own = _layer(module)
        for line, name in _imports(module, path):
            if not name.startswith("ctsync."):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name} (not under ctsync.)")
                continue
            target = _layer(name)
            if target != own and target not in LAYERS[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {name} ({target})")
    assert not wrong, "imports that run back up or sideways:\n" + "\n".join(wrong)


def test_every_ctsync_import_exists() -> None:
    missing = []
    for module, path in MODULES.items():
        for line, name in _imports(module, path):
            if name.startswith("ctsync.") and name not in MODULES:
                missing.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not missing, "\n".join(missing)


def test_the_check_sees_a_back_import(tmp_path: Path) -> None:
    """The test itself can fail: a core module importing the sync layer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ctsync.sync.engine import run_sync\n")
    imports = _imports("ctsync.core.bad", bad)
    assert imports == [(1, "ctsync.sync.engine")]
    assert _layer("ctsync.sync.engine") not in LAYERS[_layer("ctsync.core.bad")]
