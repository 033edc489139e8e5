"""dbt's log events are filled directly (`ctsync.app.dbt_events`), with the message protobuf's
``ParseDict`` would build, and what it does not convert goes to ``ParseDict`` itself.

Every event a real build fires is compared in `tests/models/test_dbt_build.py`."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import dbt_common.events.base_types as base_types
import pytest
from dbt.adapters.contracts.connection import ConnectionState
from dbt.adapters.events import adapter_types_pb2 as adapter_types
from dbt.adapters.events.types import SQLQuery
from dbt.events import core_types_pb2 as core_types
from google.protobuf import json_format
from google.protobuf.message import Message

from ctsync.app import dbt_events

NODE_INFO = {
    "node_path": "iterable/iterable__users.sql",
    "node_name": "iterable__users",
    "unique_id": "model.ctsync.iterable__users",
    "resource_type": "model",
    "materialized": "incremental",
    "node_status": "started",
    "node_started_at": "2026-12-05T16:00:00.123456",
    "node_finished_at": "",
    "meta": {"owner": "data", "tier": 1, "tags": ["a", None, 2.5], "nested": {"on": True}},
    "node_relation": {"database": "warehouse", "schema": "main", "alias": "iterable__users"},
    "node_checksum": "abc",
}


def _both(message_type: type[Message], js: dict[str, Any]) -> tuple[Any, Any]:
    """What ParseDict and parse_dict each give: the message, or the error's type."""
    results = []
    for parse in (json_format.ParseDict, dbt_events.parse_dict):
        try:
            results.append(parse(copy.deepcopy(js), message_type()))
        except Exception as error:  # noqa: BLE001 - the error's type is compared
            results.append(type(error))
    return results[0], results[1]


@pytest.mark.parametrize(
    ("message_type", "js"),
    [
        (adapter_types.SQLQuery, {"conn_name": "c", "sql": "select 1", "node_info": NODE_INFO}),
        (
            adapter_types.SQLQueryStatus,
            {"status": "OK", "elapsed": 0.25, "query_id": None, "node_info": NODE_INFO},
        ),
        (
            adapter_types.SQLQueryMsg,
            {
                "info": {
                    "level": "debug",
                    "msg": "On model.ctsync.x: select 1 ✓",
                    "invocation_id": "f00",
                    "extra": {"KEY": "value"},
                    "ts": "2026-12-05T16:00:00.123456Z",
                    "pid": 4242,
                    "thread": "Thread-1 (worker)",
                    "code": "E016",
                    "name": "SQLQuery",
                }
            },
        ),
        (
            adapter_types.NewConnectionOpening,
            {"connection_state": ConnectionState.INIT, "node_info": {}},
        ),
        (
            core_types.NodeFinished,
            {
                "node_info": NODE_INFO,
                "run_result": {
                    "status": "success",
                    "message": "OK",
                    "timing_info": [
                        {
                            "name": "compile",
                            "started_at": "2026-12-05T16:00:00.1Z",
                            "completed_at": "2026-12-05T16:00:00.2Z",
                        }
                    ],
                    "thread": "Thread-2",
                    "execution_time": 1,
                    "adapter_response": {"_message": "OK", "rows_affected": -1},
                    "num_failures": 0,
                },
            },
        ),
        (adapter_types.SQLQuery, {"connName": "c", "sql": "select 1"}),  # a JSON name
        (adapter_types.SQLQueryMsg, {"info": {"ts": "2026-12-05T16:00:00Z"}}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": "1999-02-28T23:59:59.123456789Z"}}),
        (core_types.MainReportArgs, {"args": {"select": "['a']", "threads": "2"}}),
        (core_types.LogTestResult, {"name": "t", "index": 3, "num_failures": 0, "group": None}),
    ],
)
def test_what_dbt_passes_is_filled_as_parse_dict_builds_it(
    message_type: type[Message], js: dict[str, Any]
) -> None:
    before = dbt_events.stats()
    expected, filled = _both(message_type, js)
    assert isinstance(expected, Message)
    assert filled == expected
    assert filled.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert dbt_events.stats()["filled"] == before["filled"] + 1
    assert dbt_events.stats()["parsed"] == before["parsed"]


@pytest.mark.parametrize(
    ("message_type", "js"),
    [
        (core_types.LogTestResult, {"index": "3"}),  # a string for an integer
        (core_types.LogTestResult, {"index": 2**40}),  # out of an int32's range
        (core_types.LogTestResult, {"index": 3.0}),  # a whole float for an integer
        (core_types.LogTestResult, {"index": True}),  # a boolean for an integer
        (core_types.LogTestResult, {"execution_time": float("nan")}),
        (core_types.LogTestResult, {"execution_time": 1e39}),  # too large for a float
        (core_types.LogTestResult, {"execution_time": "1.5"}),
        (core_types.LogTestResult, {"execution_time": True}),
        (core_types.LogTestResult, {"name": 7}),  # a number for a string
        (core_types.LogTestResult, {"name": "\ud800"}),  # a lone surrogate
        (core_types.LogTestResult, {"no_such_field": 1}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": "yesterday"}}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": 1733400000}}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": "2026-12-05T17:00:00.5+01:00"}}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": "2026-02-30T16:00:00Z"}}),
        (adapter_types.SQLQueryMsg, {"info": {"ts": "2026-12-05t16:00:00Z"}}),
        (adapter_types.SQLQueryMsg, {"info": {"extra": {"k": 1}}}),
        (adapter_types.SQLQuery, {"node_info": {"meta": {"when": object()}}}),
        (adapter_types.SQLQuery, {"node_info": {"meta": {"big": float("inf")}}}),
        (adapter_types.SQLQuery, {"node_info": "not a dict"}),
        (core_types.NodeFinished, {"run_result": {"timing_info": {"name": "x"}}}),
        (core_types.NodeFinished, {"run_result": {"timing_info": [None]}}),
        (core_types.NodeFinished, {"run_result": {"adapter_response": None}}),
    ],
)
def test_what_it_does_not_convert_goes_to_parse_dict(
    message_type: type[Message], js: dict[str, Any]
) -> None:
    before = dbt_events.stats()
    expected, result = _both(message_type, js)
    assert result == expected  # the same message, or the same error
    assert dbt_events.stats()["parsed"] == before["parsed"] + 1
    assert dbt_events.stats()["filled"] == before["filled"]


def test_install_routes_dbt_events_through_it() -> None:
    assert dbt_events.install() and dbt_events.install()  # idempotent
    assert base_types.ParseDict is dbt_events.parse_dict
    before = dbt_events.stats()
    event = SQLQuery(conn_name="c", sql="select 42", node_info=NODE_INFO)
    assert event.sql == "select 42" and event.node_info.meta["tier"] == 1
    assert dbt_events.stats()["filled"] == before["filled"] + 1


def test_a_logger_drops_an_event_below_its_level_before_formatting_it(tmp_path: Path) -> None:
    from dbt_common.events.base_types import EventLevel, msg_from_base_event
    from dbt_common.events.logger import LineFormat, LoggerConfig, _TextLogger
    from dbt_common.events.types import Note

    assert dbt_events.install()
    scrubbed: list[str] = []

    def scrubber(line: str) -> str:
        scrubbed.append(line)
        return line

    path = tmp_path / "dbt.log"
    logger = _TextLogger(
        LoggerConfig(
            name="ctsync-test-dbt-file",
            level=EventLevel.INFO,
            line_format=LineFormat.DebugText,
            scrubber=scrubber,
            output_file_name=str(path),
        )
    )
    for level, text in (
        (EventLevel.DEBUG, "a debug line"),
        (EventLevel.INFO, "an info line"),
        (EventLevel.WARN, "a warning"),
    ):
        logger.write_line(msg_from_base_event(Note(msg=text), level=level))
    logger.flush()
    written = path.read_text()
    assert "an info line" in written and "a warning" in written
    assert "a debug line" not in written
    assert scrubbed == ["an info line", "a warning"]  # the debug event was never formatted
    logging.getLogger("ctsync-test-dbt-file").handlers.clear()


def _manager(tmp_path: Path, level: Any, *callbacks: Any) -> tuple[Any, Path]:
    from dbt_common.events.event_manager import EventManager
    from dbt_common.events.logger import LineFormat, LoggerConfig

    manager = EventManager()
    path = tmp_path / f"dbt-{level.value}.log"
    manager.add_logger(
        LoggerConfig(
            name=f"ctsync-test-dbt-{level.value}",
            level=level,
            line_format=LineFormat.DebugText,
            output_file_name=str(path),
        )
    )
    for callback in callbacks:
        manager.add_callback(callback)
    return manager, path


def _fire_all(manager: Any) -> None:
    from dbt.events.types import NodeFinished
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.types import Note

    manager.fire_event(SQLQuery(conn_name="c", sql="select 'a query'", node_info=NODE_INFO))
    manager.fire_event(NodeFinished(node_info=NODE_INFO, run_result={"status": "success"}))
    manager.fire_event(Note(msg="an info note"), level=EventLevel.INFO)
    manager.fire_event(Note(msg="a debug note"), level=EventLevel.DEBUG)
    manager.fire_event(Note(msg="a warning note"), level=EventLevel.WARN)
    for logger in manager.loggers:
        logger.flush()


def test_a_debug_event_nothing_reads_is_dropped_and_the_rest_is_fired(tmp_path: Path) -> None:
    from dbt_common.events.base_types import EventLevel

    assert dbt_events.install()
    heard: list[str] = []
    callback = dbt_events.listens_to(lambda msg: heard.append(msg.info.name), "NodeFinished")
    manager, path = _manager(tmp_path, EventLevel.INFO, callback)
    before = dbt_events.stats()["dropped"]
    _fire_all(manager)
    # the query and the debug note: no logger writes them, the callback does not read them
    assert dbt_events.stats()["dropped"] == before + 2
    assert heard == ["NodeFinished", "Note", "Note"]  # the info and warning notes
    written = path.read_text()
    assert "an info note" in written and "a warning note" in written
    assert "a query" not in written and "a debug note" not in written


@pytest.mark.parametrize("reader", ["a logger at debug", "a callback of every event"])
def test_a_debug_event_something_reads_is_fired(tmp_path: Path, reader: str) -> None:
    from dbt_common.events.base_types import EventLevel

    assert dbt_events.install()
    heard: list[str] = []
    if reader == "a logger at debug":
        manager, path = _manager(tmp_path, EventLevel.DEBUG)
    else:
        manager, path = _manager(tmp_path, EventLevel.INFO, lambda msg: heard.append(msg.info.name))
    before = dbt_events.stats()["dropped"]
    _fire_all(manager)
    assert dbt_events.stats()["dropped"] == before
    if reader == "a logger at debug":
        assert "select 'a query'" in path.read_text() and "a debug note" in path.read_text()
    else:
        assert heard == ["SQLQuery", "NodeFinished", "Note", "Note", "Note"]
