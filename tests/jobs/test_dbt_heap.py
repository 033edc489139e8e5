"""Python's collector leaves what exists before a dbt build alone while it runs, and gets it
back afterwards (`ctsync.app.transform.heap_set_aside`)."""

from __future__ import annotations

import gc
import weakref

from ctsync.app.transform import heap_set_aside


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_what_existed_before_is_set_aside_during_the_build_and_collected_after() -> None:
    assert gc.get_freeze_count() == 0
    before = _Node()
    gone_before = weakref.ref(before)
    with heap_set_aside():
        assert gc.get_freeze_count() > 0
        during = _Node()
        gone_during = weakref.ref(during)
        del before, during
        gc.collect()
        assert gone_before() is not None  # set aside: not walked, not collected
        assert gone_during() is None  # made during the build: collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone_before() is None  # put back: collected, not leaked


def test_a_heap_frozen_by_someone_else_is_left_as_it_is() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with heap_set_aside():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen  # not unfrozen under its owner
    finally:
        gc.unfreeze()
