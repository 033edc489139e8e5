"""Field-type locking: Iterable fixes a field's type with the first value it sees.

Types are tracked per category (``user``, ``customEvent:<eventName>``, ``purchase``,
``catalog:<name>``) by dotted path (``defaultAddress.street``), the way
``GET /api/users/getFields`` reports them. A later value of another type fails the whole
request with 400 ``RequestFieldsTypesMismatched``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# The date formats Iterable recognises in string values (Field Data Types / Catalog Items
# docs): "2000-01-01 00:00:00 -0400", "2000-01-01 00:00:00", "2000-01-01T00:00:00.000-0400",
# "2000-01-01", plus ISO with "Z".
_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:"
    r" \d{2}:\d{2}:\d{2}(?: [+-]\d{2}:?\d{2})?"
    r"|T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
    r")?$"
)

# What each locked type accepts: a date string is still a string; an integer fits a
# double field (JSON does not distinguish 3 from 3.0 reliably).
_COMPATIBLE = {
    ("string", "date"),
    ("double", "long"),
}

_TYPE_OF: dict[type, str] = {bool: "boolean", int: "long", float: "double", dict: "object"}

# (locked type, Python class) pairs that need no closer look at the value.
_FITS: set[tuple[str, type]] = {
    ("string", str),
    ("long", int),
    ("double", float),
    ("double", int),
    ("boolean", bool),
    ("object", dict),
}

_INCOMING_TYPES = {
    "string": ["string", "keyword"],
    "long": ["long"],
    "double": ["double"],
    "boolean": ["boolean"],
    "date": ["date"],
    "object": ["object"],
}


def is_date(value: str) -> bool:
    """True when ``value`` is in one of the date formats Iterable types as ``date``."""
    if len(value) < 10 or not value[0].isdigit():
        return False
    match = _DATE_RE.match(value)
    if not match:
        return False
    month, day = int(match.group(2)), int(match.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    if day <= 28:  # valid in every month; only the month ends need the calendar
        return True
    try:
        datetime(int(match.group(1)), month, day)
    except ValueError:
        return False
    return True


def iterable_date(value: str) -> str:
    """An ISO ``T`` timestamp as Iterable stores it on profiles: ``yyyy-MM-dd HH:mm:ss +00:00``.

    Live, ``"2020-08-19T20:50:04.000Z"`` sent to a date field reads back as
    ``"2020-08-19 20:50:04 +00:00"``; other accepted forms are kept as sent.
    """
    if "T" not in value:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +00:00")


def mismatch_entry(expected: str, incoming: str, value: Any, category: str) -> dict[str, Any]:
    """One ``params.validationErrors`` entry as Iterable returns it."""
    offending = value if not isinstance(value, dict | list) else str(value)
    return {
        "incomingTypes": _INCOMING_TYPES.get(incoming, [incoming]),
        "expectedType": expected,
        "_type": "UnexpectedType",
        "offendingValue": offending,
        "category": category.split(":", 1)[0],
    }


class FieldTypeError(Exception):
    """A value's type disagrees with the type its field is locked to."""

    def __init__(self, project_id: int, category: str, errors: dict[str, dict[str, Any]]):
        self.category = category
        self.errors = errors
        first, entry = next(iter(errors.items()))
        kind = category.split(":", 1)[0]
        super().__init__(
            f"Project {project_id}: The request does not have the same data types as the data "
            f"previously submitted. Field '{first}' already exists for type '{kind}' and has a "
            f"data type of '{entry['expectedType']}' but possible types "
            f"'{', '.join(entry['incomingTypes'])}' in the request."
        )


class FieldLimitError(Exception):
    """Creating the request's new fields would pass the project's unique-field limit."""


class SchemaRegistry:
    """Locked field types per category, plus the project's new-field policy."""

    def __init__(self, project_id: int, allow_new_fields: bool = True) -> None:
        self.project_id = project_id
        self.allow_new_fields = allow_new_fields
        self.types: dict[str, dict[str, str]] = {}
        self.limits = {"user": 1000, "customEvent": 8000, "purchase": 8000, "catalog": 350}

    def fields(self, category: str) -> dict[str, str]:
        return self.types.setdefault(category, {})

    def _count(self, kind: str) -> int:
        return sum(len(v) for k, v in self.types.items() if k.split(":", 1)[0] == kind)


class SchemaCheck:
    """Type-checks the records of one request before anything is applied.

    Collects the fields the request would create, so the whole request can be refused
    (type mismatch, field limit) without touching state, then ``commit()`` locks them.
    """

    def __init__(self, registry: SchemaRegistry, create_new_fields: bool | None = None):
        self.registry = registry
        self.allow = registry.allow_new_fields if create_new_fields is None else create_new_fields
        self.pending: dict[str, dict[str, str]] = {}
        self.created: list[str] = []
        self._created_set: set[str] = set()
        self._known: dict[str, dict[str, str]] = {}
        self.filtered: list[str] = []

    def check(self, category: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
        """Check ``data`` against ``category``; return it without filtered-out fields.

        Raises ``FieldTypeError`` on a mismatch with a locked or pending type.
        """
        if not data:
            return data
        known = self._known.get(category)
        if known is None:
            known = self._known[category] = dict(self.registry.fields(category))
        pending = self.pending.setdefault(category, {})
        errors: dict[str, dict[str, Any]] = {}
        dropped: set[str] = set()
        # An explicit stack and a fast path for values that fit their locked type: this
        # runs for every field of every record of every bulk request.
        normalize = category == "user"  # profiles only: that is what was observed live
        dated: dict[str, str] = {}
        stack: list[tuple[str, Any]] = [("", data)]
        while stack:
            prefix, obj = stack.pop()
            for key, value in obj.items():
                path = prefix + key
                values = value if type(value) is list else (value,)
                for item in values:
                    cls = type(item)
                    expected = known.get(path)
                    if expected is not None and (expected, cls) in _FITS:
                        if cls is dict:
                            stack.append((path + ".", item))
                        continue
                    kind: str | None
                    if cls is str:
                        kind = "date" if item[:1].isdigit() and is_date(item) else "string"
                    else:
                        kind = _TYPE_OF.get(cls)
                        if kind is None:
                            continue
                    if expected is None:
                        if dropped and any(path.startswith(d + ".") for d in dropped):
                            continue
                        if not self.allow:
                            dropped.add(path)
                            if path not in self.filtered:
                                self.filtered.append(path)
                            continue
                        pending[path] = known[path] = kind
                        if path not in self._created_set:
                            self._created_set.add(path)
                            self.created.append(path)
                    elif expected != kind and (expected, kind) not in _COMPATIBLE:
                        errors.setdefault(path, mismatch_entry(expected, kind, item, category))
                        continue
                    if cls is dict:
                        stack.append((path + ".", item))
                    elif normalize and kind == "date" and not prefix and item is value:
                        dated[key] = iterable_date(item)
        if errors:
            raise FieldTypeError(self.registry.project_id, category, errors)
        if dropped:
            data = _without(data, dropped)
        if dated:
            # A copy: the caller's body (captured for inspection) keeps what was sent.
            data = {**data, **dated}
        return data

    def commit(self) -> None:
        for category, new in self.pending.items():
            if not new:
                continue
            kind = category.split(":", 1)[0]
            limit = self.registry.limits.get(kind)
            if limit is not None and self.registry._count(kind) + len(new) > limit:
                raise FieldLimitError(
                    f"Project {self.registry.project_id}: creating {len(new)} new {kind} "
                    f"field(s) would exceed the limit of {limit} unique fields"
                )
        for category, new in self.pending.items():
            self.registry.fields(category).update(new)


def _without(data: dict[str, Any], dropped: set[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path in dropped:
            continue
        if isinstance(value, dict):
            out[key] = _without(value, dropped, path + ".")
        elif isinstance(value, list):
            out[key] = [
                _without(v, dropped, path + ".") if isinstance(v, dict) else v for v in value
            ]
        else:
            out[key] = value
    return out
