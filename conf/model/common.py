"""Model pieces shared by several blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

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


EnvKind = Literal["interface", "script", "user", "group", "file"]


@dataclass(frozen=True)
class EnvRef:
    """Something the configuration expects to find on the machine.

    Model classes that name interfaces, scripts, users or files expose them
    through an `env_refs()` method returning these, and check-config looks them
    up on the machine it runs on.
    """

    kind: EnvKind
    name: str
    loc: Loc
    what: str  # for the message, e.g. "interface of vrrp_instance VI_1"


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


@dataclass(frozen=True)
class TrackRefParser:
    """`NAME [weight N [reverse|noreverse]]`, as keepalived's alloc_track_* read it.

    keepalived reads weights in [-254, 254] and turns +/-254 into +/-253 where the
    limit is 253. A bad weight falls back to the tracked object's own weight.
    """

    limit: int  # 253 or 254
    what: str  # "track_script", ... for messages
    noreverse: bool = True  # track_interface knows only `reverse`

    def __call__(self, stmt: Stmt, cx: Cx) -> TrackRef:
        words = stmt.words
        name = words[0]
        if len(words) == 1:
            return TrackRef(name, loc=stmt.loc)
        if words[1] != "weight":
            raise ArgError(f"unknown {self.what} {name} option '{words[1]}' - ignoring")
        if len(words) == 2:
            raise ArgError(f"weight without value specified for {self.what} {name} - ignoring")
        weight: int | None
        try:
            weight = parse_int(words[2], -254, 254)
        except ArgError:
            cx.error(stmt, f"{self.what} {name}: weight '{words[2]}' must be in [-{self.limit}, {self.limit}]; ignored")
            weight = None
        if weight is not None and abs(weight) > self.limit:
            cx.error(
                stmt, f"weight for {name} cannot be {weight}; setting to {self.limit if weight > 0 else -self.limit}"
            )
            weight = self.limit if weight > 0 else -self.limit
        reverse: bool | None = None
        if len(words) >= 4:
            if words[3] == "reverse":
                reverse = True
            elif words[3] == "noreverse" and self.noreverse:
                reverse = False
            else:
                cx.error(stmt, f"unknown {self.what} {name} weight option '{words[3]}' - ignoring")
        if len(words) > 4:
            cx.warning(stmt, f"extra words '{' '.join(words[4:])}' ignored")
        return TrackRef(name, weight, reverse, loc=stmt.loc)


@dataclass(frozen=True)
class NameRef:
    """A name referring to another block (a sync group member, a track_group member)."""

    name: str
    loc: Loc = field(default=NOWHERE, compare=False)

    def to_json(self) -> str:
        return self.name


def parse_name_refs(stmt: Stmt, cx: Cx) -> list[NameRef]:
    return [NameRef(word, stmt.loc) for word in stmt.words]


def format_name_ref(ref: NameRef) -> str:
    return ref.name


def format_track_ref(ref: TrackRef) -> str:
    return ref.format()
