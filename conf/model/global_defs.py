"""global_defs and the other global blocks (stub: completed separately)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conf.diagnostics import Loc
from conf.schema import NOWHERE, Block, Cx, kw, name_header
from conf.tree import Stmt
from conf.values import Str

if TYPE_CHECKING:
    from conf.model.config import Config


@dataclass(frozen=True, kw_only=True)
class GlobalDefs(Block):
    block_keyword = "global_defs"

    router_id: str | None = kw(Str())


@dataclass(frozen=True)
class LinkbeatInterface:
    name: str
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class InterfaceDelay:
    name: str
    loc: Loc = field(default=NOWHERE, compare=False)


def parse_linkbeat_interface(stmt: Stmt, cx: Cx) -> LinkbeatInterface:
    return LinkbeatInterface(stmt.words[0], stmt.loc)


def format_linkbeat_interface(item: LinkbeatInterface) -> str:
    return item.name


def parse_interface_delay(stmt: Stmt, cx: Cx) -> InterfaceDelay:
    return InterfaceDelay(stmt.words[0], stmt.loc)


def format_interface_delay(item: InterfaceDelay) -> str:
    return item.name


@dataclass(frozen=True, kw_only=True)
class TrackGroup(Block):
    block_keyword = "track_group"

    name: str = ""
    header = name_header("track_group")

    def header_text(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class GarpGroup(Block):
    block_keyword = "garp_group"


def validate_global(config: Config, cx: Cx) -> Config:
    return config
