"""Check HTTP exchanges with the emulator against Iterable's Swagger file.

``CheckedClient`` wraps ``httpx.Client``: every request it sends and every answer it gets
is validated against the Swagger schemas of the operation, immediately, so a test fails
at the exchange that broke the contract. Usable against any Iterable-compatible server.

Documented allowances (the Swagger file is silent or the live API is known to differ):

* 429 (rate limit), 413 (body cap), 500/502/503 (faults) are undeclared in the spec but
  are how Iterable fails; their bodies must still be ``IterableApiResponse``.
* 409 ``ForgottenUserError`` / conflict answers are allowed on every single-record write
  (the reference lists them for all single writes; the spec declares 409 only on some).
* A missing catalog or item answers 404 in ``ErrorHttpResponse``'s live shape
  (``{"error","message","code","data"}``, ``error`` a string).
* ``ApiResponseUser.email`` is required by the spec, but a user of a userID-based or
  hybrid project may have no email; such a user validates without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ctsync.sandbox.iterable import spec

UNDECLARED_OK = {413, 429, 500, 502, 503}
_CATALOG_404_KEYS = {"error", "message", "code", "data"}


@dataclass
class Exchange:
    method: str
    path: str
    operation: tuple[str, str] | None
    request: Any
    status: int
    response: Any


def find_operation(method: str, path: str) -> spec.Operation | None:
    """The Swagger operation a concrete request path belongs to."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    best: spec.Operation | None = None
    best_literals = -1
    for (op_method, op_path), op in spec.operations().items():
        if op_method != method:
            continue
        pattern = op_path.strip("/").split("/")
        if len(pattern) != len(parts):
            continue
        literals = 0
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                continue
            if want != got:
                break
            literals += 1
        else:
            # Literal segments beat parameters: /api/users/getFields is not /{email}.
            if literals > best_literals:
                best, best_literals = op, literals
    return best


def check_exchange(method: str, path: str, request: Any, status: int, response: Any) -> list[str]:
    """Every way this exchange departs from the Swagger file (empty when it conforms)."""
    problems: list[str] = []
    op = find_operation(method, path)
    if op is None:
        return [f"{method} {path}: no such operation in the Swagger file"]
    where = f"{method} {op.path} → {status}"
    request_ok = True
    if op.body_definition is not None and request is not None:
        errors = spec.validate(op.body_definition, request)
        if errors:
            request_ok = False
            if 200 <= status < 300:
                problems.append(
                    f"{where}: request violates {op.body_definition} {errors} "
                    "but the server accepted it"
                )
    declared = str(status) in op.responses
    definition = op.responses.get(str(status))
    if 200 <= status < 300:
        if not declared and not (status == 200 and "202" in op.responses):
            problems.append(f"{where}: status not declared (declared: {sorted(op.responses)})")
        if definition is not None:
            problems += _check_body(where, definition, response)
        return problems
    if status == 404 and isinstance(response, dict) and set(response) == _CATALOG_404_KEYS:
        if "catalogs" not in op.path or not isinstance(response["error"], str):
            problems.append(f"{where}: ErrorHttpResponse shape outside catalogs")
        return problems
    if status == 409 and isinstance(response, dict) and op.body_definition is not None:
        return problems + _check_body(where, "IterableApiResponse", response)
    if not declared and status not in UNDECLARED_OK:
        problems.append(f"{where}: status not declared (declared: {sorted(op.responses)})")
    if status == 400 and not request_ok and isinstance(response, dict):
        if response.get("code") != "BadJsonBody":
            problems.append(
                f"{where}: invalid request answered {response.get('code')}, expected BadJsonBody"
            )
    problems += _check_body(where, definition or "IterableApiResponse", response)
    return problems


def _check_body(where: str, definition: str, body: Any) -> list[str]:
    errors = spec.validate(definition, body)
    if errors and definition == "UserResponse" and isinstance(body, dict):
        user = body.get("user")
        if isinstance(user, dict) and "email" not in user:
            errors = spec.validate(definition, {**body, "user": {**user, "email": ""}})
    return [f"{where}: response violates {definition}: {errors}"] if errors else []


@dataclass
class CheckedClient:
    """An ``httpx.Client`` for the Iterable API that validates every exchange."""

    base_url: str
    api_key: str
    timeout: float = 30.0
    exchanges: list[Exchange] = field(default_factory=list)
    covered: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._client = httpx.Client(
            base_url=self.base_url, timeout=self.timeout, headers={"Api-Key": self.api_key}
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CheckedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if content is not None:
            kwargs["content"] = content
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        elif json is not None:
            kwargs["json"] = json
        response = self._client.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as error:
            raise AssertionError(
                f"{method} {path}: answer is not JSON: {response.text[:200]!r}"
            ) from error
        op = find_operation(method, path)
        self.exchanges.append(
            Exchange(
                method, path, (op.method, op.path) if op else None, json, response.status_code, body
            )
        )
        if op is not None:
            self.covered.add((op.method, op.path))
        problems = check_exchange(method, path, json, response.status_code, body)
        if problems:
            raise AssertionError("Swagger conformance: " + "; ".join(problems))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, json, **kwargs)

    def delete(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, json, **kwargs)
