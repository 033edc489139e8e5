"""The dbt DAG runs one way: staging -> intermediate -> marts -> iterable -> audit.

A model's layer is its folder under models/ (its fqn); a model may read its own layer or an
earlier one, never a later one. Marts read no other mart (dbt's structure guide): logic that
a fact and a dimension share lives in an intermediate model both read. `int_iterable__*`
live in models/iterable/intermediate/, so they belong to the iterable layer (their schema
stays `intermediate`). Read from the manifest.json of a real `dbt parse`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctsync.core.paths import DBT_PROJECT_DIR as PROJECT_DIR

pytestmark = pytest.mark.slow

LAYERS = ("staging", "intermediate", "marts", "iterable", "audit")


def layer_violations(manifest: dict[str, Any]) -> list[str]:
    """Every `model (layer) -> model (later layer)` ref in `manifest`, and every mart that
    reads another mart, as text."""
    nodes = manifest["nodes"]
    problems = []
    for node in nodes.values():
        if node["resource_type"] != "model":
            continue
        layer = node["fqn"][1]
        for parent_id in node["depends_on"]["nodes"]:
            parent = nodes.get(parent_id)
            if parent is None or parent["resource_type"] != "model":
                continue  # seeds and sources sit below every layer
            parent_layer = parent["fqn"][1]
            if LAYERS.index(parent_layer) > LAYERS.index(layer) or (
                layer == parent_layer == "marts" and parent["name"] != node["name"]
            ):
                problems.append(f"{node['name']} ({layer}) reads {parent['name']} ({parent_layer})")
    return sorted(problems)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("dbt_parse")
    result = dbtRunner().invoke(
        [
            "parse",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target / "target"),
            "--log-path",
            str(target / "logs"),
            "--log-level",
            "none",
            "--no-partial-parse",
        ]
    )
    assert result.success, result.exception
    data: dict[str, Any] = json.loads((target / "target" / "manifest.json").read_text())
    return data


def test_every_model_sits_in_a_known_layer(manifest: dict[str, Any]) -> None:
    layers = {
        node["name"]: node["fqn"][1]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    assert layers, "the manifest has no models"
    assert {name: layer for name, layer in layers.items() if layer not in LAYERS} == {}
    # the Iterable layer's intermediate models keep the schema the sync queries
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"].startswith("int_"):
            assert node["schema"].endswith("intermediate"), node["name"]


def test_no_model_reads_a_later_layer(manifest: dict[str, Any]) -> None:
    assert layer_violations(manifest) == []


def test_the_check_sees_a_backward_ref_and_a_mart_reading_a_mart() -> None:
    def model(name: str, layer: str, *parents: str) -> dict[str, Any]:
        return {
            "resource_type": "model",
            "name": name,
            "fqn": ["ctsync", layer, name],
            "depends_on": {"nodes": [f"model.ctsync.{p}" for p in parents]},
        }

    nodes = [
        model("stg_orders", "staging"),
        model("fct_orders", "marts", "stg_orders"),
        model("int_customers__facts", "intermediate", "fct_orders", "stg_orders"),
        model("dim_customers", "marts", "int_customers__facts", "fct_orders"),
        model("iterable__users", "iterable", "int_customers__facts", "fct_orders"),
        model("iterable__users_changes", "iterable", "iterable__users"),
        model("audit__outcomes", "audit", "iterable__users"),
    ]
    manifest = {"nodes": {f"model.ctsync.{n['name']}": n for n in nodes}}
    assert layer_violations(manifest) == [
        "dim_customers (marts) reads fct_orders (marts)",
        "int_customers__facts (intermediate) reads fct_orders (marts)",
    ]
    assert Path(PROJECT_DIR, "dbt_project.yml").is_file()
