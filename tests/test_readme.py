"""The README and the docs name only what exists: every repository path in backticks,
and every dbt model they name (``int_customers__market``, ``marts.dim_customers``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/CONTRACTS.md", "docs/ARCHITECTURE.md")
MODEL = re.compile(
    r"^(?:(?:staging|intermediate|marts|iterable|audit)\.)?"
    r"((?:stg|int|fct|dim)_\w+|(?:iterable|audit)__\w+)$"
)


def _top_level() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {name.split("/")[0] for name in listed}


def _ignored(path: str) -> bool:
    """Files git ignores (``.dlt/secrets.toml``) are the user's, never in the tree."""
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


def _named(doc: str) -> list[str]:
    text = (ROOT / doc).read_text()
    return re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)#\s]+)\)", text)


def test_the_docs_name_only_paths_and_models_that_exist() -> None:
    top = _top_level()
    models = {path.stem for path in (ROOT / "models").rglob("*.sql")}
    missing = []
    for doc in DOCS:
        if not (ROOT / doc).exists():
            continue
        for name in _named(doc):
            if name.startswith(("http", "/", "<")) or "<" in name or "{" in name:
                continue
            path = name.split("#")[0].removeprefix("./")
            if path.split("/")[0] in top and not (ROOT / path).exists() and not _ignored(path):
                missing.append(f"{doc}: {name}")
            model = MODEL.match(name)
            if model and model.group(1) not in models:
                missing.append(f"{doc}: model {name}")
    assert not missing, "named but not in the tree:\n" + "\n".join(missing)


def test_a_missing_path_would_be_noticed() -> None:
    assert "models/intermediate/int_customers__identity_resolution.sql" not in {
        str(p.relative_to(ROOT)) for p in (ROOT / "models").rglob("*.sql")
    }
    assert MODEL.match("int_customers__identity_resolution")
    assert MODEL.match("marts.dim_customers") and not MODEL.match("iterable_project_type")
