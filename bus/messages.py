"""Typed messages of the node bus, encoded with msgpack.

Every message is a msgpack map carrying the schema version (`v`) and its type
(`t`). Decoding checks every field's type and size; anything else raises
`BadFrame` with the reason, which receivers count and drop.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import msgpack

SCHEMA_VERSION = 1
MAX_NAME = 256  # keys, topics and publisher names
MAX_DEPTH = 32  # nesting of state values and event data

Value = Any  # msgpack-representable data: None, bool, int, float, str, bytes, list, dict


class BadFrame(ValueError):
    """A frame that is not a valid bus message; `reason` names the counter it goes to."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ----------------------------------------------------------------- publisher -> hub


@dataclass(frozen=True)
class Hello:
    """A publisher (re)introduces itself; the hub answers with Welcome."""

    TYPE: ClassVar[str] = "hello"
    name: str
    epoch: int
    pid: int


@dataclass(frozen=True)
class StateSync:
    """The publisher's complete state: keys it owned before and does not list are deleted."""

    TYPE: ClassVar[str] = "sync"
    name: str
    epoch: int
    seq: int
    items: dict[str, Value]


@dataclass(frozen=True)
class StateSet:
    """One key set (or deleted, with `deleted`)."""

    TYPE: ClassVar[str] = "set"
    name: str
    epoch: int
    seq: int
    key: str
    value: Value = None
    deleted: bool = False


@dataclass(frozen=True)
class EventPost:
    """An event as its publisher posts it; the hub gives it the node's sequence number.

    `seq` orders the publisher's messages on the way to the hub and may change when
    they are sent again; `id` names the event for good, so that the hub takes it once.
    """

    TYPE: ClassVar[str] = "post"
    name: str
    epoch: int
    seq: int
    id: int
    topic: str
    data: dict[str, Value]
    time: float  # wall clock when it happened, for people reading it


@dataclass(frozen=True)
class Ping:
    """`sent` is the last sequence number the publisher sent: the hub can tell it missed some."""

    TYPE: ClassVar[str] = "ping"
    name: str
    epoch: int
    sent: int


# ----------------------------------------------------------------- hub -> publisher


@dataclass(frozen=True)
class Welcome:
    """The hub knows the publisher; `acked` is the last of its messages the hub has."""

    TYPE: ClassVar[str] = "welcome"
    hub_epoch: int
    acked: int


@dataclass(frozen=True)
class Ack:
    TYPE: ClassVar[str] = "ack"
    hub_epoch: int
    acked: int


@dataclass(frozen=True)
class Unknown:
    """The hub does not know this publisher (it restarted): say Hello again."""

    TYPE: ClassVar[str] = "unknown"
    hub_epoch: int


# ------------------------------------------------------------ hub -> subscribers (PUB)


@dataclass(frozen=True)
class StateUpdate:
    TYPE: ClassVar[str] = "state"
    hub_epoch: int
    seq: int  # state sequence of the node, +1 per update
    key: str
    value: Value
    deleted: bool
    publisher: str


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[str] = "event"
    hub_epoch: int
    seq: int  # event sequence of the node, +1 per event
    topic: str
    data: dict[str, Value]
    publisher: str
    publisher_epoch: int
    time: float


@dataclass(frozen=True)
class PublisherInfo:
    """What the hub knows of a publisher (a service)."""

    epoch: int
    pid: int
    synced: bool  # its complete state has arrived since it (or the hub) started
    last_seen: float  # seconds since the hub last heard from it

    def to_map(self) -> dict[str, Value]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Heartbeat:
    TYPE: ClassVar[str] = "heartbeat"
    hub_epoch: int
    state_seq: int
    event_seq: int
    publishers: dict[str, Value]  # name -> PublisherInfo map
    counters: dict[str, Value]


# ----------------------------------------------------------- subscriber <-> hub (REQ)


@dataclass(frozen=True)
class SnapshotRequest:
    TYPE: ClassVar[str] = "snapshot?"
    prefix: str = ""


@dataclass(frozen=True)
class Snapshot:
    TYPE: ClassVar[str] = "snapshot"
    hub_epoch: int
    state_seq: int  # the snapshot reflects every update up to this one
    event_seq: int  # the last event so far
    items: dict[str, Value]  # key -> {"value": ..., "publisher": ...}
    publishers: dict[str, Value]
    counters: dict[str, Value]


@dataclass(frozen=True)
class ResumeRequest:
    """Events after `after` of epoch `hub_epoch` (0: whatever the current epoch is)."""

    TYPE: ClassVar[str] = "resume?"
    hub_epoch: int
    after: int
    limit: int = 0  # 0: as many as the hub gives in one reply


@dataclass(frozen=True)
class Resume:
    """Events in order. `missed` counts events that can no longer be delivered: the history
    was shorter than the gap, or the hub restarted (`epoch_changed`). The request's cursor
    comes back with the reply, so that a late answer to an older request is recognised."""

    TYPE: ClassVar[str] = "resume"
    request_epoch: int
    request_after: int
    hub_epoch: int
    events: list[Value]  # Event maps
    missed: int
    epoch_changed: bool
    last_seq: int  # the newest event the hub has
    more: bool  # the reply was cut at the limit: ask again after the last event given


@dataclass(frozen=True)
class Batch:
    """Several published messages in one frame: what the hub had ready at once.

    Under load this costs one send and one receive for many messages; alone, a
    message travels on its own.
    """

    TYPE: ClassVar[str] = "batch"
    messages: list[Value]  # each a message map, as encode() would write it without "v"


Message = Union[  # noqa: UP007 - a runtime union used for isinstance and the type registry
    Hello,
    StateSync,
    StateSet,
    EventPost,
    Ping,
    Welcome,
    Ack,
    Unknown,
    StateUpdate,
    Event,
    Heartbeat,
    SnapshotRequest,
    Snapshot,
    ResumeRequest,
    Resume,
    Batch,
]

_TYPES: dict[str, type[Any]] = {cls.TYPE: cls for cls in typing.get_args(Message)}


def encode(message: Message) -> bytes:
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "t": message.TYPE}
    for name, _check, _default in _field_specs(type(message)):
        body[name] = getattr(message, name)
    packed = msgpack.packb(body, use_bin_type=True)
    assert isinstance(packed, bytes)
    return packed


def to_map(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {"t": message.TYPE}
    for name, _check, _default in _field_specs(type(message)):
        body[name] = getattr(message, name)
    return body


def encode_batch(messages: list[Message]) -> bytes:
    return encode(Batch([to_map(m) for m in messages]))


def unbatch(batch: Batch) -> list[Message]:
    """The messages of a batch, each checked as a frame of its own would be."""
    out: list[Message] = []
    for body in batch.messages:
        kind = body.get("t") if isinstance(body, dict) else None
        cls = _TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None or cls is Batch:
            raise BadFrame("unknown_type", f"in a batch: {_describe(kind)}")
        out.append(_build(cls, body))
    return out


def decode(frame: bytes, max_size: int) -> Message:
    """Decode and check one frame; raises BadFrame with a counter name as its reason."""
    if len(frame) > max_size:
        raise BadFrame("oversized", f"{len(frame)} bytes")
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadFrame("undecodable", type(exc).__name__) from None
    if not isinstance(body, dict):
        raise BadFrame("undecodable", "not a map")
    if body.get("v") != SCHEMA_VERSION:
        raise BadFrame("schema_version", _describe(body.get("v")))
    kind = body.get("t")
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadFrame("unknown_type", _describe(kind))
    message: Message = _build(cls, body)
    return message


FieldSpec = tuple[str, Callable[[Any], bool], Any]
_FIELD_SPECS: dict[type[Any], tuple[FieldSpec, ...]] = {}


def _field_specs(cls: type[Any]) -> tuple[FieldSpec, ...]:
    """(name, checker, default) of each field, resolved once per class: type hints are slow to evaluate."""
    specs = _FIELD_SPECS.get(cls)
    if specs is None:
        hints = typing.get_type_hints(cls)
        specs = tuple((f.name, _CHECKERS.get(hints[f.name], _check_value), f.default) for f in dataclasses.fields(cls))
        _FIELD_SPECS[cls] = specs
    return specs


def _build(cls: type[Any], body: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name, check, default in _field_specs(cls):
        if name in body:
            value = body[name]
        elif default is not dataclasses.MISSING:
            value = default
        else:
            raise BadFrame("bad_field", f"{_label(cls)}.{name} missing")
        if not check(value):
            raise BadFrame("bad_field", f"{_label(cls)}.{name}")
        values[name] = value
    return cls(**values)


def _describe(value: Any) -> str:
    """A short, safe description of any decoded value: repr() of deep nesting would recurse without end."""
    if isinstance(value, (int, float, bool)) or value is None:
        return repr(value)
    if isinstance(value, (str, bytes)):
        return repr(value[:30])
    return type(value).__name__


def _label(cls: type[Any]) -> str:
    return str(getattr(cls, "TYPE", cls.__name__))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**64


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME


_SCALARS = (bool, int, float, str, bytes, type(None))


def _check_value(value: Any, depth: int = 0) -> bool:
    """msgpack data with string map keys, nested at most MAX_DEPTH deep (loops, not generators: it is hot)."""
    if isinstance(value, _SCALARS):
        return True
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                return False
            if not isinstance(item, _SCALARS) and not _check_value(item, depth + 1):
                return False
        return True
    if isinstance(value, list):
        for item in value:  # noqa: SIM110 - a plain loop: all() with a generator is slower here
            if not isinstance(item, _SCALARS) and not _check_value(item, depth + 1):
                return False
        return True
    return False


def _is_map(value: Any) -> bool:
    return isinstance(value, dict) and _check_value(value)


_CHECKERS: dict[Any, Callable[[Any], bool]] = {
    int: _is_int,
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: _is_name,
    bool: lambda v: isinstance(v, bool),
    dict[str, Value]: _is_map,
    list[Value]: lambda v: isinstance(v, list) and _check_value(v),
    Any: _check_value,
}


def event_from_map(data: Mapping[str, Any]) -> Event:
    """An Event carried inside a Resume reply."""
    return typing.cast(Event, _build(Event, data))


def event_to_map(event: Event) -> dict[str, Value]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


def publisher_info(data: Mapping[str, Any]) -> PublisherInfo | None:
    try:
        return typing.cast(PublisherInfo, _build(PublisherInfo, data))
    except BadFrame:
        return None


def new_epoch() -> int:
    """A new random epoch for every process start (63 bits: fits msgpack's signed ints)."""
    return int.from_bytes(os.urandom(8), "big") >> 1


def new_publisher_epoch() -> int:
    """A publisher's epoch: its start time in nanoseconds, so that a later start has a larger epoch."""
    return time.time_ns()


@dataclass
class Counters:
    """Drop counters by reason, and other counts a component reports."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

    def as_map(self) -> dict[str, Value]:
        return dict(self.values)

    def drop(self, log: logging.Logger, where: str, reason: str, detail: str = "") -> None:
        """Count a dropped frame under `drop_<reason>` and say so, without flooding the log."""
        name = f"drop_{reason}"
        self.add(name)
        count = self.values[name]
        if count <= 10 or count % 1000 == 0:
            log.warning("%s: dropped a frame (%s%s), %d so far", where, reason, f": {detail}" if detail else "", count)
