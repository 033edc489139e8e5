"""Iterable's official Swagger 2.0 file, compiled into fast validators.

The emulator validates request bodies with these validators (so a bad body fails the
way Iterable fails: 400 ``BadJsonBody`` naming the offending path), and the conformance
tests validate every request and response against them.

A copy of ``api-docs.json`` (Iterable/api-client, MIT) ships beside this module so that
a fresh clone works without ``../shared``; sha256 58c536dc…b9ce.

Two deliberate readings of Swagger 2.0, both matching what Iterable's Play-JSON backend
does live:

* optional properties accept ``null`` (Play reads ``Option`` fields with
  ``readNullable``; live responses carry ``"params": null``);
* ``JsObject`` / ``JsValue`` are Play's own JSON types, serialised as plain JSON, so they
  validate as "any value" rather than as ``{"underlying": ...}``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastjsonschema

SPEC_PATH = Path(__file__).with_name("api-docs.json")

_JSON_TYPE_NAMES = {
    "boolean": "Boolean",
    "integer": "Number",
    "number": "Number",
    "string": "String",
    "array": "Array",
    "object": "Object",
}

Validator = Callable[[Any], Any]


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The parsed Swagger document."""
    with SPEC_PATH.open("rb") as handle:
        spec: dict[str, Any] = json.load(handle)
    return spec


def _convert(node: Any, required: bool = True) -> Any:
    """One Swagger 2.0 schema node as a draft-04 JSON Schema node."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in ("JsObject", "JsValue"):
            return {}
        ref = {"$ref": node["$ref"]}
        return ref if required else {"anyOf": [ref, {"type": "null"}]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        # Swagger-only keywords; its formats (int64, double, date-time) carry no check
        # Iterable enforces at the JSON layer.
        if key in ("description", "example", "xml", "discriminator", "readOnly", "title"):
            continue
        if key.startswith("x-"):
            continue
        if key == "format":
            continue
        if key == "properties":
            req = set(node.get("required", []))
            out[key] = {name: _convert(sub, name in req) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value)
        elif key == "allOf":
            out[key] = [_convert(item) for item in value]
        else:
            out[key] = copy.deepcopy(value)
    if not required and "type" in out:
        kind = out["type"]
        out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@functools.lru_cache(maxsize=1)
def json_schema_definitions() -> dict[str, Any]:
    """All Swagger ``definitions`` converted to JSON Schema."""
    return {name: _convert(node) for name, node in load_spec()["definitions"].items()}


@functools.cache
def definition_validator(name: str) -> Validator:
    """A compiled validator for one Swagger definition (compiled once per process)."""
    schema = {"$ref": f"#/definitions/{name}", "definitions": json_schema_definitions()}
    return fastjsonschema.compile(schema)


@dataclass
class Operation:
    """One (method, path) of the Swagger file with its body and response definitions."""

    method: str
    path: str
    operation_id: str
    body_definition: str | None
    responses: dict[str, str | None] = field(default_factory=dict)
    body_required: bool = False


@functools.lru_cache(maxsize=1)
def operations() -> dict[tuple[str, str], Operation]:
    """Every operation of the spec keyed by (METHOD, swagger path)."""
    out: dict[tuple[str, str], Operation] = {}
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            body_def = None
            body_required = False
            for param in op.get("parameters", []):
                if param.get("in") == "body":
                    ref = param.get("schema", {}).get("$ref")
                    body_def = ref.rsplit("/", 1)[-1] if ref else None
                    body_required = bool(param.get("required"))
            responses: dict[str, str | None] = {}
            for status, resp in op.get("responses", {}).items():
                ref = (resp.get("schema") or {}).get("$ref")
                responses[status] = ref.rsplit("/", 1)[-1] if ref else None
            out[(method.upper(), path)] = Operation(
                method=method.upper(),
                path=path,
                operation_id=op.get("operationId", ""),
                body_definition=body_def,
                responses=responses,
                body_required=body_required,
            )
    return out


def _type_message(expected: Any) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    for kind in kinds:
        if kind != "null":
            return f"{_JSON_TYPE_NAMES.get(kind, str(kind).capitalize())} value expected"
    return "Invalid value"


def _play_path(path: list[str]) -> str:
    """``['data', 'users', '1', 'preferUserId']`` → ``obj.users[1].preferUserId``."""
    out = "obj"
    for part in path[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def explain(error: fastjsonschema.JsonSchemaValueException) -> dict[str, str]:
    """Iterable's ``BadJsonBody`` params for a validation error: ``{path: reason}``."""
    path = list(error.path or ["data"])
    rule = error.rule
    if rule == "required" and isinstance(error.value, dict):
        missing = [name for name in error.rule_definition or [] if name not in error.value]
        name = missing[0] if missing else "?"
        return {_play_path([*path, name]): "Missing required field"}
    if rule == "type":
        return {_play_path(path): _type_message(error.rule_definition)}
    if rule == "enum":
        return {_play_path(path): f"Value must be one of {error.rule_definition}"}
    return {_play_path(path): error.message.replace("data", "obj", 1)}


def validate(definition: str, value: Any) -> dict[str, str] | None:
    """``None`` when ``value`` matches ``definition``, else the BadJsonBody params."""
    try:
        definition_validator(definition)(value)
    except fastjsonschema.JsonSchemaValueException as error:
        return explain(error)
    return None
