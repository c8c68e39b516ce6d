"""Address, route and rule lines (stub: completed separately)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conf.diagnostics import Loc
from conf.schema import NOWHERE, Cx
from conf.tree import Stmt


@dataclass(frozen=True)
class StaticAddress:
    text: str
    loc: Loc = field(default=NOWHERE, compare=False)


VirtualAddress = StaticAddress


@dataclass(frozen=True)
class RouteEntry:
    text: str
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class RuleEntry:
    text: str
    loc: Loc = field(default=NOWHERE, compare=False)


def parse_static_address(stmt: Stmt, cx: Cx) -> StaticAddress:
    return StaticAddress(" ".join(stmt.words), stmt.loc)


parse_virtual_address = parse_static_address


def parse_static_route(stmt: Stmt, cx: Cx) -> RouteEntry:
    return RouteEntry(" ".join(stmt.words), stmt.loc)


parse_virtual_route = parse_static_route


def parse_static_rule(stmt: Stmt, cx: Cx) -> RuleEntry:
    return RuleEntry(" ".join(stmt.words), stmt.loc)


parse_virtual_rule = parse_static_rule


def format_address(entry: StaticAddress) -> str:
    return entry.text


def format_route(entry: RouteEntry) -> str:
    return entry.text


def format_rule(entry: RuleEntry) -> str:
    return entry.text
