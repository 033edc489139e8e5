"""A non-editable install works: build the wheel, install it into a fresh virtual
environment (dependencies borrowed from this one), and run ``ctsync build`` there, away
from the checkout, so the dbt project must come from the package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
LEFT_OUT = (".git", ".venv", "node_modules", "build", ".typecheck", "__pycache__", ".ctsync",
            "target", "logs", "*.duckdb", "*.duckdb.wal", "*.egg-info", ".pytest_cache",
            ".ruff_cache", ".mypy_cache", "bench")  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LEFT_OUT), symlinks=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        check=True, cwd=work,
    )  # fmt: skip
    [wheel] = (work / "dist").glob("ctsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"ctsync", wheel.name.split("-py")[0] + ".dist-info"}, tops
    assert "ctsync/core/dbt_project/dbt_project.yml" in names
    assert "ctsync/core/dbt_project/macros/ctsync_iterable.sql" in names

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    target_site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", purelib],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # the dependencies of this environment, without its editable ctsync (a path line in a
    # .pth file adds the directory, not the .pth files in it)
    (target_site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )  # fmt: skip
    return venv


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNC__", "SOURCES__"))}
    env.pop("PYTHONPATH", None)
    env.update(CTSYNC_WAREHOUSE=str(tmp / "w.duckdb"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    return env


def test_the_installed_package_finds_its_dbt_project(installed: Path, tmp_path: Path) -> None:
    python = str(installed / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import ctsync.core.paths as p, ctsync.app.cli; print(p.DBT_PROJECT_DIR)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path),
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(installed), where
    for generic in ("sync", "ingest", "sandbox", "core", "app"):
        found = subprocess.run(
            [python, "-c", f"import importlib.util; print(importlib.util.find_spec({generic!r}))"],
            check=True, capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path),
        ).stdout.strip()  # fmt: skip
        assert found == "None", f"the install added a top-level {generic!r}: {found}"


def test_ctsync_build_runs_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    build = subprocess.run(
        [str(installed / "bin" / "ctsync"), "build", "--select", "staging"],
        capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path),
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    assert "build ok" in build.stdout
