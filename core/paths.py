"""Where ctsync's files are: the dbt project (models, macros, seeds) and its macro files.

An installed wheel carries the dbt project as package data (``ctsync/core/dbt_project``,
copied by setup.py); a checkout (the editable install ``./dev`` makes) has it at the
repository root, beside this package. Nothing else in ctsync builds a path to it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _dbt_project_dir() -> Path:
    packaged = resources.files("ctsync.core").joinpath("dbt_project")
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    raise RuntimeError(
        f"the dbt project is neither packaged ({packaged}) nor in a checkout ({checkout}): "
        "reinstall ctsync (`pip install .`)"
    )


DBT_PROJECT_DIR: Path = _dbt_project_dir()
"""The dbt project directory, which is also its profiles directory (``profiles.yml``)."""
MACROS_DIR: Path = DBT_PROJECT_DIR / "macros"
MODELS_DIR: Path = DBT_PROJECT_DIR / "models"
SEEDS_DIR: Path = DBT_PROJECT_DIR / "seeds"
