"""dbt's Jinja is compiled once per source (`ctsync.app.dbt_jinja`): each render still binds
its own context, native and text rendering stay apart, and a template error is dbt's."""

from __future__ import annotations

import dbt.clients.jinja as dbt_jinja
import dbt_common.clients.jinja as common_jinja
import pytest
from dbt_common.exceptions import CompilationError

from ctsync.app import dbt_jinja as cache


def test_a_source_is_compiled_once_and_rendered_with_each_context() -> None:
    assert cache.install() and cache.install()  # idempotent
    assert dbt_jinja.get_template is common_jinja.get_template
    source = "select {{ n * 2 }} as doubled -- {{ name }} ctsync-test-once"
    before = cache.stats()
    rendered = [
        dbt_jinja.get_rendered(source, {"n": n, "name": name}) for n, name in ((1, "a"), (21, "b"))
    ]
    assert rendered == [
        "select 2 as doubled -- a ctsync-test-once",
        "select 42 as doubled -- b ctsync-test-once",
    ]
    after = cache.stats()
    assert after["compiled"] - before["compiled"] == 1
    assert after["reused"] - before["reused"] == 1


def test_native_and_text_rendering_are_compiled_apart() -> None:
    cache.install()
    source = "{{ [1, 2] + [n] }}"
    native = dbt_jinja.get_rendered(source, {"n": 3}, native=True)
    text = dbt_jinja.get_rendered(source, {"n": 3})
    assert native == [1, 2, 3]
    assert text == "[1, 2, 3]"


def test_a_template_error_is_still_a_dbt_compilation_error() -> None:
    cache.install()
    with pytest.raises(CompilationError):
        dbt_jinja.get_rendered("{{ ctsync_unclosed ", {})
