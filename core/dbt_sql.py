"""dbt's SQL, rendered without dbt: Python never restates a rule the dbt project defines.

The audit tables' DDL (``macros/ctsync_audit_tables.sql``) and the ``iterable__<object>_changes``
diff (``macros/ctsync_iterable.sql`` and the ``models/iterable/*_changes.sql`` models) are
rendered here with plain Jinja2 and the few dbt functions they use (``ref``, ``source``,
``var``, ``config``, ``return``, ``adapter.dispatch``, ``dbt.type_string``), as DuckDB
spells them. A dbt function they do not use is undefined here, and rendering fails loudly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from ctsync.core.paths import MACROS_DIR, MODELS_DIR

_NO_DEFAULT = object()


class _Adapter:
    """``adapter.dispatch``: the DuckDB implementation of a macro, else its default."""

    def __init__(self) -> None:
        self.macros: Any = None

    def dispatch(self, name: str, macro_namespace: str | None = None) -> Callable[..., Any]:
        for prefix in ("duckdb__", "default__"):
            macro = getattr(self.macros, prefix + name, None)
            if macro is not None:
                return macro  # type: ignore[no-any-return]
        raise LookupError(f"no duckdb__{name} or default__{name} macro in {MACROS_DIR}")


class _Dbt:
    """dbt's own cross-database macros that the rendered SQL uses, as DuckDB spells them."""

    @staticmethod
    def type_string() -> str:
        return "varchar"

    @staticmethod
    def type_timestamp() -> str:
        return "timestamp"

    @staticmethod
    def type_bigint() -> str:
        return "bigint"

    @staticmethod
    def hash(field: str) -> str:
        return f"md5(cast({field} as varchar))"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)


# dbt's own block tags (generic tests) are not Jinja: they are left out, nothing here runs them
_DBT_BLOCKS = re.compile(r"{%-?\s*test\b.*?{%-?\s*endtest\s*-?%}", re.DOTALL)


@functools.cache
def _macro_source() -> str:
    sources = (path.read_text() for path in sorted(MACROS_DIR.glob("*.sql")))
    return "\n".join(_DBT_BLOCKS.sub("", source) for source in sources)


@functools.cache
def _model_schemas() -> dict[str, str]:
    """Model name -> schema: the model's top folder (macros/generate_schema_name.sql)."""
    return {path.stem: path.relative_to(MODELS_DIR).parts[0] for path in MODELS_DIR.rglob("*.sql")}


def render(sql: str, variables: Mapping[str, Any] | None = None, **context: Any) -> str:
    """Render ``sql`` (a model, or a call of one of the project's macros) with every macro
    in ``macros/``; ``variables`` are the dbt vars it reads, ``context`` plain Jinja names.
    ``source('ctsync', table)`` is ``<var ctsync_audit_schema>.<table>``."""
    values = dict(variables or {})

    def var(name: str, default: Any = _NO_DEFAULT) -> Any:
        if name in values:
            return values[name]
        if default is _NO_DEFAULT:
            raise KeyError(f"dbt var {name!r} is needed to render this SQL outside dbt")
        return default

    def ref(name: str) -> str:
        return f"{_model_schemas()[name]}.{name}"

    def source(source_name: str, table: str) -> str:
        if source_name != "ctsync":
            raise LookupError(f"source {source_name!r} is only available inside dbt")
        return f"{var('ctsync_audit_schema')}.{table}"

    adapter = _Adapter()
    names: dict[str, Any] = {
        "var": var,
        "ref": ref,
        "source": source,
        "config": lambda *args, **kwargs: "",
        "return": lambda value: value,
        "adapter": adapter,
        "dbt": _Dbt(),
        **context,
    }
    environment = _environment()
    macros = environment.from_string(_macro_source()).make_module(names)
    adapter.macros = macros
    exported = {name: getattr(macros, name) for name in macros.__dict__ if not name.startswith("_")}
    return environment.from_string(sql).render({**names, **exported})
