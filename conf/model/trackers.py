"""Tracked objects: vrrp_script, track_file and vrrp_track_process.

Ranges, defaults and messages follow keepalived/vrrp/vrrp_parser.c and
keepalived/trackers/track_file.c (2.2.7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.schema import ArgError, Block, Cx, Scope, Value, kw, name_header
from conf.tree import Stmt
from conf.values import AtLeastOne, Flag, Float, Int, Script, ScriptValue, Str, UserGroup, Words, parse_int

UINT_MAX_SECONDS = 4294  # keepalived keeps timers in microseconds in an unsigned int


@dataclass(frozen=True)
class Weight:
    """`weight N [reverse]` of a tracked object."""

    value: int = 0
    reverse: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "reverse": self.reverse}


class WeightValue(Value[Weight]):
    max_args = 2

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Weight:
        value = parse_int(args[0], self.low, self.high)
        reverse = False
        if len(args) > 1:
            if args[1] == "reverse":
                reverse = True
            else:
                cx.error(stmt, f"unknown weight option '{args[1]}'; ignored")
        return Weight(value, reverse)

    def format(self, value: Weight) -> str:
        return f"{value.value}{' reverse' if value.reverse else ''}"


@dataclass(frozen=True, kw_only=True)
class VrrpScript(Block):
    block_keyword = "vrrp_script"

    name: str = ""
    script: Script | None = kw(ScriptValue(with_user=False))
    interval: int = kw(AtLeastOne(UINT_MAX_SECONDS), default=1)
    # Unset means the interval: keepalived kills a script still running when the next one is due.
    timeout: int | None = kw(AtLeastOne(UINT_MAX_SECONDS))
    weight: Weight = kw(WeightValue(-253, 253), default=Weight())
    rise: int = kw(Int(1, 2**31 - 1), default=1)
    fall: int = kw(Int(1, 2**31 - 1), default=1)
    user: tuple[str, str | None] | None = kw(UserGroup())
    init_fail: bool = kw(Flag(accepts_bool=False), default=False)

    header = name_header("vrrp_script")

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.script is None:
            cx.error(self.loc, f"no script set for vrrp_script {self.name} - removing")
            return None
        return self


class TrackFileInit(Value[tuple[int, bool]]):
    """`init_file [VALUE] [overwrite]`: (value, overwrite)."""

    min_args = 0
    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[int, bool]:
        value = 0
        overwrite = False
        for word in args:
            if word[:1].isdigit() or word[:1] == "-":
                try:
                    value = parse_int(word, -(2**31), 2**31 - 1)
                except ArgError:
                    cx.error(stmt, f"track file init value {word} is invalid; using 0")
                    continue
                if not -254 <= value <= 254:
                    cx.error(stmt, f"track file init value {value} is outside sensible range [-254, 254]")
            elif word == "overwrite":
                overwrite = True
            else:
                cx.error(stmt, f"unknown track file init option {word}")
        return value, overwrite

    def format(self, value: tuple[int, bool]) -> str:
        return f"{value[0]}{' overwrite' if value[1] else ''}"


@dataclass(frozen=True, kw_only=True)
class TrackFile(Block):
    block_keyword = "track_file"

    name: str = ""
    file: str | None = kw(Str(), once=True)
    weight: Weight = kw(WeightValue(-254, 254), default=Weight(1), once=True)
    init_file: tuple[int, bool] | None = kw(TrackFileInit())

    header = name_header("track_file")

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.file is None:
            cx.error(self.loc, f"no file set for track_file {self.name} - ignoring")
            return None
        return self


class ParamMatch(Value[str]):
    """`param_match [initial|partial]`; alone it means an exact match of the parameters."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            return "exact"
        if args[0] in ("initial", "partial"):
            return args[0]
        raise ArgError(f"invalid param_match type {args[0]}")

    def format(self, value: str) -> str:
        return "" if value == "exact" else value


@dataclass(frozen=True, kw_only=True)
class TrackProcess(Block):
    block_keyword = "vrrp_track_process"

    name: str = ""
    # The process name, then the parameters to match (a quoted first word is one name).
    process: tuple[str, ...] = kw(Words(), default=(), once=True)
    param_match: str | None = kw(ParamMatch())
    # keepalived 2.2.7 defaults this weight to 0 (the man page says 1): losing quorum means FAULT.
    weight: Weight = kw(WeightValue(-254, 254), default=Weight(0), once=True)
    quorum: int = kw(Int(1, 65535), default=1)
    quorum_max: int = kw(Int(0, 65535), default=65535)
    fork_delay: float = kw(Float(0.000001, 3600), default=0.0)
    terminate_delay: float = kw(Float(0.000001, 3600), default=0.0)
    # `delay` sets both fork_delay and terminate_delay; completion applies it.
    delay: float | None = kw(Float(0.000001, 3600))
    full_command: bool = kw(Flag(accepts_bool=False), default=False)

    header = name_header("vrrp_track_process")

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if not self.process:
            cx.error(self.loc, f"track process '{self.name}' process name not specified - ignoring")
            return None
        changes: dict[str, Any] = {}
        if self.delay is not None:
            if "fork_delay" not in self.locs:
                changes["fork_delay"] = self.delay
            if "terminate_delay" not in self.locs:
                changes["terminate_delay"] = self.delay
            changes["delay"] = None
        quorum, quorum_max = self.quorum, self.quorum_max
        if "quorum_max" in self.locs and quorum_max == 0 and "quorum" not in self.locs:
            changes["quorum"] = 0
        elif quorum > quorum_max:
            cx.error(self.where("quorum"), "quorum is greater than quorum_max - ignoring")
            changes["quorum"] = min(1, quorum_max)
        if len(self.process) > 1 or self.param_match is not None:
            changes["full_command"] = True
            if self.param_match is None:
                changes["param_match"] = "exact"
        return self.replace(**changes)
