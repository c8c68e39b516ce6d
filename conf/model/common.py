"""Model pieces shared by several blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from conf.diagnostics import Loc
from conf.schema import NOWHERE, ArgError, Cx
from conf.tree import Stmt
from conf.values import parse_int

# keepalived checks interface names as the kernel does: dev_name_valid() in net/core/dev.c.
IFNAMSIZ = 16
_BAD_IFNAME = re.compile(r"[/:\s]")


def check_ifname(name: str) -> str:
    if not name or len(name) >= IFNAMSIZ or name in (".", "..") or _BAD_IFNAME.search(name):
        raise ArgError(f"interface name '{name}' too long or invalid")
    return name


@dataclass(frozen=True)
class TrackRef:
    """One line of a track_script / track_file / track_process / track_bfd / track_interface block.

    `weight` and `reverse` are None when the line does not set them: the tracked
    object's own settings apply (for interfaces, weight 0).
    """

    name: str
    weight: int | None = None
    reverse: bool | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "weight": self.weight, "reverse": self.reverse}

    def format(self) -> str:
        text = self.name
        if self.weight is not None:
            text += f" weight {self.weight}"
            if self.reverse is not None:
                text += " reverse" if self.reverse else " noreverse"
        return text


def track_ref_parser(low: int, high: int, allow_noreverse: bool = True) -> TrackRefParser:
    return TrackRefParser(low, high, allow_noreverse)


@dataclass(frozen=True)
class TrackRefParser:
    low: int
    high: int
    allow_noreverse: bool

    def __call__(self, stmt: Stmt, cx: Cx) -> TrackRef:
        words = stmt.words
        name = words[0]
        weight: int | None = None
        reverse: bool | None = None
        rest = list(words[1:])
        if rest and rest[0] == "weight":
            if len(rest) < 2:
                raise ArgError(f"'{name}': weight is missing its value")
            try:
                weight = parse_int(rest[1], self.low, self.high)
            except ArgError as exc:
                cx.error(stmt, f"'{name}': weight {exc.message}; using the tracked object's weight")
            rest = rest[2:]
            if rest and rest[0] == "reverse":
                reverse = True
                rest = rest[1:]
            elif rest and rest[0] in ("noreverse", "no_reverse") and self.allow_noreverse:
                reverse = False
                rest = rest[1:]
        if rest:
            cx.error(stmt, f"'{name}': unexpected '{' '.join(rest)}' ignored")
        return TrackRef(name, weight, reverse, loc=stmt.loc)


def format_track_ref(ref: TrackRef) -> str:
    return ref.format()
