"""Packaging that pyproject.toml cannot say: the layer directories stay at the top of the
repository (``core/``, ``ingest/``, ``sync/``, ``app/``, ``sandbox/``) and install as
``ctsync.<layer>``, so no generic top-level name (``sync``, ``ingest``) reaches
site-packages; and a wheel carries the dbt project (``dbt_project.yml``, ``profiles.yml``,
``models/``, ``macros/``, ``seeds/``, ``tests/dbt/``) as package data of ``ctsync.core``,
where ``ctsync.core.paths`` finds it with ``importlib.resources``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

LAYERS = ("core", "ingest", "sync", "app", "sandbox")
DBT_PROJECT = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/dbt")
HERE = Path(__file__).resolve().parent


class BuildWithDbtProject(build_py):
    """Copy the dbt project into the wheel (an editable install reads it in the checkout)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ctsync" / "core" / "dbt_project"
        for name in DBT_PROJECT:
            source = HERE / name
            if source.is_dir():
                shutil.copytree(
                    source,
                    target / name,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(
    package_dir={f"ctsync.{layer}": layer for layer in LAYERS},
    packages=[
        package
        for layer in LAYERS
        for package in (
            f"ctsync.{layer}",
            *(f"ctsync.{layer}.{sub}" for sub in find_packages(layer, exclude=["*node_modules*"])),
        )
    ],
    cmdclass={"build_py": BuildWithDbtProject},
)
