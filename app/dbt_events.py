"""dbt builds every log event through protobuf's JSON parser: a direct fill of the message.

dbt fires several events per query and per node (a query, its status, the connection used,
the node's start and end, ...), at every log level: each is built as a protobuf message by
``google.protobuf.json_format.ParseDict`` twice (the event's data, then the message around
it with the event's info), before any logger decides to drop it. ``ParseDict`` walks the
dict in pure Python with its JSON checks: in an incremental build on the 100k bench
warehouse it was a fifth of the time the build held the GIL (py-spy, ``--gil``).

:func:`fill` sets the fields directly for the values dbt gives (strings, integers, booleans,
doubles, enum names, nested dicts, lists, string maps, timestamps as RFC 3339 strings, a
node's ``meta`` as a ``Struct``; keys by field name or JSON name), with the checks
``ParseDict`` makes on them. Anything else (a string for a number, a whole float for an
integer, a value out of range, a JSON type it does not know, an unknown key) goes to
``ParseDict`` itself on a cleared message, so every event is built as before and a bad one
fails as before.

dbt's file logger then formats every event into a line (timestamp, thread, the message
scrubbed of secrets) before its Python logger drops the debug ones, those of every query at
the file's default level ``info``: :func:`install` asks the logger's level first. And a
debug event that no logger writes and no callback reads (a callback says which events it
reads with :func:`listens_to`; one that does not reads them all) is dropped before dbt
builds the message around it.

Measured on the 100k bench warehouse: see ``bench/RESULTS.md`` and the CHANGELOG.

`install()` is idempotent and leaves dbt as it is when its ``ParseDict``, its loggers or its
event manager are not the ones this was written against (dbt-common 1.x with protobuf's
``json_format``).
"""

from __future__ import annotations

import calendar
import logging
import math
import os
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

log = logging.getLogger(__name__)

_TIMESTAMP = "google.protobuf.Timestamp"
_STRUCT = "google.protobuf.Struct"
_WELL_KNOWN = "google.protobuf."
_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_SIGNED_32 = frozenset(
    {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
)
_UNSIGNED_32 = frozenset({FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32})
_SIGNED_64 = frozenset(
    {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
)
# ParseDict refuses a string with a lone surrogate (it cannot be encoded as UTF-8)
_LONE_SURROGATE = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
)

_RFC3339_UTC = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
"""The timestamps dbt writes (``datetime_to_json_string``); other forms go to ParseDict."""
_LEVELS = {
    "test": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
"""dbt's event levels as the Python log levels its loggers write them at (``send_to_logger``)."""
_FLOAT_MAX = 3.4028234663852886e38
"""The largest 32-bit float: ParseDict refuses a larger value for a ``float`` field."""

_fields: dict[str, dict[str, FieldDescriptor]] = {}
_lock = threading.Lock()
_stats = {"filled": 0, "parsed": 0, "dropped": 0}


class _Unsupported(Exception):
    """A value :func:`fill` does not convert: ParseDict does."""


def install() -> bool:
    """Route dbt's event construction through :func:`parse_dict`, let its loggers drop an
    event below their level before formatting it, and drop a debug event nothing writes or
    reads before its message is built. True when all three are in place."""
    return _install_parse_dict() & _install_write_line() & _install_fire_event()


def listens_to(callback: Callable[[Any], None], *names: str) -> Callable[[Any], None]:
    """Mark a dbt event callback as reading only the events ``names``: a debug event no logger
    writes and no callback reads is then dropped before dbt builds its message. A callback
    without this mark reads every event."""
    callback.ctsync_event_names = frozenset(names)  # type: ignore[attr-defined]
    return callback


def _install_parse_dict() -> bool:
    import dbt_common.events.base_types as base_types

    current = getattr(base_types, "ParseDict", None)
    if getattr(current, "ctsync_direct", False):
        return True
    if current is not json_format.ParseDict:
        log.warning("dbt's events are not built by protobuf's ParseDict: left as they are")
        return False
    base_types.ParseDict = parse_dict  # type: ignore[attr-defined]
    return True


def _install_write_line() -> bool:
    """dbt's file logger formats every event (timestamp, thread, the message scrubbed of
    every ``DBT_ENV_SECRET_`` variable, read from the environment each time) and only then
    hands the line to a Python logger that drops it when below its level: the debug events
    of every query, at the file's default ``info``. Ask the logger first."""
    from dbt_common.events import logger as event_logger

    logger_class = getattr(event_logger, "_Logger", None)
    current = getattr(logger_class, "write_line", None)
    if getattr(current, "ctsync_leveled", False):
        return True
    is_print_event = getattr(event_logger, "_is_print_event", None)
    if current is None or is_print_event is None or event_logger.send_to_logger is None:
        log.warning("dbt's event loggers are not the expected ones: every event formatted")
        return False

    def write_line(self: Any, msg: Any) -> None:
        python_logger = getattr(self, "_python_logger", None)
        if python_logger is not None:
            level = _LEVELS.get("error" if is_print_event(msg) else msg.info.level)
            if level is not None and not python_logger.isEnabledFor(level):
                return  # send_to_logger would drop the line
        current(self, msg)

    write_line.ctsync_leveled = True  # type: ignore[attr-defined]
    logger_class.write_line = write_line  # type: ignore[union-attr]
    return True


def _install_fire_event() -> bool:
    """dbt builds the message around every event it fires (the event's info, a second protobuf
    message) before its loggers and callbacks look at it. A debug event that every logger drops
    at its level, with no callback that reads it, is dropped before that. Warnings, errors and
    everything dbt treats as one are fired as before."""
    from dbt_common.events import event_manager

    manager_class = getattr(event_manager, "EventManager", None)
    current = getattr(manager_class, "fire_event", None)
    if getattr(current, "ctsync_heard", False):
        return True
    if current is None or not hasattr(event_manager, "msg_from_base_event"):
        log.warning("dbt's event manager is not the expected one: every event built")
        return False

    def fire_event(
        self: Any,
        e: Any,
        level: Any = None,
        node: Any = None,
        force_warn_or_error_handling: bool = False,
    ) -> None:
        if not force_warn_or_error_handling and _unheard(self, e, level):
            _count("dropped")
            return
        current(
            self,
            e,
            level=level,
            node=node,
            force_warn_or_error_handling=force_warn_or_error_handling,
        )

    fire_event.ctsync_heard = True  # type: ignore[attr-defined]
    manager_class.fire_event = fire_event  # type: ignore[union-attr]
    return True


def _unheard(manager: Any, event: Any, level: Any) -> bool:
    """Would nothing write or read this event? Only a debug (or test) event can be."""
    name = (level.value if level is not None else event.level_tag().value) or ""
    if name not in ("debug", "test") or os.environ.get("DBT_TEST_BINARY_SERIALIZATION"):
        return False
    for logger in manager.loggers:
        if not hasattr(logger, "_python_logger"):
            return False  # not one of dbt's loggers: it may write anything
        python_logger = logger._python_logger
        if python_logger is not None and python_logger.isEnabledFor(_LEVELS[name]):
            return False
    event_name = type(event).__name__
    for callback in manager.callbacks:
        names = getattr(callback, "ctsync_event_names", None)
        if names is None:
            names = _dbt_callback_events(callback)
        if names is None or event_name in names:
            return False
    return True


def _dbt_callback_events(callback: Any) -> frozenset[str] | None:
    """The events a callback dbt adds itself reads (None: every event, as far as we know)."""
    from dbt import tracking

    if callback is getattr(tracking, "track_behavior_change_warn", None):
        return frozenset({"BehaviorChangeEvent"})  # a warning: never dropped anyway
    return None


def parse_dict(js: Any, message: Message, *args: Any, **kwargs: Any) -> Message:
    """``json_format.ParseDict`` with the same result, faster for what dbt passes."""
    if not args and not kwargs and isinstance(js, dict):
        try:
            fill(message, js)
        except _Unsupported:
            message.Clear()
        else:
            _count("filled")
            return message
    _count("parsed")
    return json_format.ParseDict(js, message, *args, **kwargs)


parse_dict.ctsync_direct = True  # type: ignore[attr-defined]


def stats() -> dict[str, int]:
    """How many messages were filled directly, how many went to ParseDict, and how many
    events were dropped unheard."""
    return dict(_stats)


def fill(message: Message, js: dict[str, Any]) -> None:
    """Set ``message``'s fields from ``js``; :class:`_Unsupported` when ParseDict must."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name.startswith(_WELL_KNOWN):
        raise _Unsupported(descriptor.full_name)  # JSON forms of their own: ParseDict's
    fields = _fields_by_key(descriptor)
    for key, value in js.items():
        field = fields.get(key)
        if field is None or field.containing_oneof is not None:
            raise _Unsupported(key)
        if value is None:
            if field.message_type is not None and field.message_type.full_name.startswith(
                _WELL_KNOWN
            ):
                raise _Unsupported(key)  # a null Value is set, not cleared
            message.ClearField(field.name)
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _fill_map(getattr(message, field.name), field.message_type, value)
        elif field.is_repeated:
            _fill_repeated(getattr(message, field.name), field, value)
        elif field.message_type is not None:
            sub = getattr(message, field.name)
            sub.SetInParent()
            _fill_message(sub, value)
        else:
            setattr(message, field.name, _scalar(field, value))


def _fill_message(sub: Message, value: Any) -> None:
    name = sub.DESCRIPTOR.full_name
    if name == _TIMESTAMP:
        _fill_timestamp(sub, value)
    elif name == _STRUCT:
        if type(value) is not dict or not _json_value(value):
            raise _Unsupported(name)
        sub.update(value)  # type: ignore[attr-defined]
    elif type(value) is dict:
        fill(sub, value)
    else:
        raise _Unsupported(name)


def _fill_timestamp(sub: Message, value: Any) -> None:
    """``Timestamp.FromJsonString`` for ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``, without strptime."""
    match = _RFC3339_UTC.fullmatch(value) if type(value) is str else None
    if match is None:
        raise _Unsupported(_TIMESTAMP)
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
        when = datetime(year, month, day, hour, minute, second)  # checks the date
    except ValueError:
        raise _Unsupported(_TIMESTAMP) from None
    fraction = match.group(7)
    sub.seconds = calendar.timegm(when.timetuple())  # type: ignore[attr-defined]
    sub.nanos = round(float("0." + fraction) * 1e9) if fraction else 0  # type: ignore[attr-defined]


def _fill_map(container: Any, entry: Descriptor, value: Any) -> None:
    if type(value) is not dict:
        raise _Unsupported(entry.full_name)
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    if key_field.type != FieldDescriptor.TYPE_STRING or value_field.message_type is not None:
        raise _Unsupported(entry.full_name)
    container.clear()
    for key, item in value.items():
        if item is None:
            raise _Unsupported(entry.full_name)
        container[_scalar(key_field, key)] = _scalar(value_field, item)


def _fill_repeated(container: Any, field: FieldDescriptor, value: Any) -> None:
    if type(value) not in (list, tuple):
        raise _Unsupported(field.name)
    del container[:]
    for item in value:
        if item is None:
            raise _Unsupported(field.name)
        if field.message_type is not None:
            _fill_message(container.add(), item)
        else:
            container.append(_scalar(field, item))


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        # a str subclass too (dbt's string enums), set as it is, as ParseDict does
        if isinstance(value, str) and (value.isascii() or not _LONE_SURROGATE.search(value)):
            return value
    elif kind in _INTEGERS:
        if type(value) is int and _in_range(kind, value):
            return value
    elif kind == FieldDescriptor.TYPE_BOOL:
        if type(value) is bool:
            return value
    elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if type(value) is int:
            value = float(value)
        if type(value) is float and math.isfinite(value):
            if kind == FieldDescriptor.TYPE_DOUBLE or -_FLOAT_MAX <= value <= _FLOAT_MAX:
                return value
    elif kind == FieldDescriptor.TYPE_ENUM:
        if type(value) is str and value in field.enum_type.values_by_name:
            return field.enum_type.values_by_name[value].number
    raise _Unsupported(field.name)


def _in_range(kind: int, value: int) -> bool:
    if kind in _SIGNED_32:
        return -(2**31) <= value < 2**31
    if kind in _UNSIGNED_32:
        return 0 <= value < 2**32
    if kind in _SIGNED_64:
        return -(2**63) <= value < 2**63
    return 0 <= value < 2**64


def _json_value(value: Any) -> bool:
    """Only what ParseDict reads into a Struct the way ``Struct.update`` does."""
    if value is None or type(value) in (bool, str):
        return True
    if type(value) in (int, float):
        return math.isfinite(value)
    if type(value) is dict:
        return all(type(key) is str and _json_value(item) for key, item in value.items())
    if type(value) in (list, tuple):
        return all(_json_value(item) for item in value)
    return False


def _fields_by_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """The keys ParseDict accepts for a message's fields: the JSON name first, then the
    field's own name (a key that is one field's JSON name and another's name is the first)."""
    fields = _fields.get(descriptor.full_name)
    if fields is None:
        fields = {field.name: field for field in descriptor.fields}
        fields.update({field.json_name: field for field in descriptor.fields})
        with _lock:
            _fields[descriptor.full_name] = fields
    return fields


def _count(name: str) -> None:
    with _lock:
        _stats[name] += 1
