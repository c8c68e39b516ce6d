"""The other global blocks: linkbeat_interfaces, interface_up_down_delays, track_group and
garp_group (keepalived/vrrp/vrrp_parser.c, 2.2.7).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from conf.diagnostics import Loc, Severity
from conf.model.common import EnvRef, NameRef, check_ifname, format_name_ref, parse_name_refs
from conf.schema import (
    NOWHERE,
    ArgError,
    Block,
    Cx,
    Scope,
    Value,
    kw,
    lines,
    many,
)
from conf.tree import Stmt
from conf.values import (
    Decimal,
)

if TYPE_CHECKING:
    pass
from conf.model.global_values import INT_MAX, _format_word, _words_line

# ---------------------------------------------------------------------------------------------
# linkbeat_interfaces and interface_up_down_delays (root level value blocks)


@dataclass(frozen=True)
class LinkbeatInterface:
    """`IFNAME [MII|ETHTOOL|IOCTL]`: poll this interface's link state instead of trusting netlink."""

    name: str
    type: str | None = None  # None: MII if the driver supports it, else ETHTOOL, else IOCTL
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        yield EnvRef("interface", self.name, self.loc, "linkbeat_interfaces")


LINKBEAT_TYPES = ("MII", "ETHTOOL", "IOCTL")


def _interface_word(name: str, what: str) -> str:
    try:
        return check_ifname(name)
    except ArgError as exc:
        # keepalived cannot find such an interface, and stops (exit 4).
        raise ArgError(f"unknown interface {name} specified for {what}: {exc.message}", Severity.FATAL) from None


def parse_linkbeat_interface(stmt: Stmt, cx: Cx) -> LinkbeatInterface:
    name = _interface_word(stmt.words[0], "linkbeat interface")
    kind: str | None = None
    if len(stmt.words) > 1:
        if stmt.words[1] in LINKBEAT_TYPES:
            kind = stmt.words[1]
        if kind is None or len(stmt.words) > 2:
            # keepalived still polls the interface, choosing the method itself.
            cx.error(stmt, f"extra characters {' '.join(stmt.words[1:])} in linkbeat interface {name}")
            kind = None
    return LinkbeatInterface(name, kind, stmt.loc)


def format_linkbeat_interface(item: LinkbeatInterface) -> str:
    return f"{item.name} {item.type}" if item.type else item.name


@dataclass(frozen=True)
class InterfaceDelay:
    """`IFNAME DOWN_DELAY [UP_DELAY]`: seconds an interface must stay down/up before instances react."""

    name: str
    down_delay: float
    up_delay: float
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        yield EnvRef("interface", self.name, self.loc, "interface_up_down_delays")


_DELAY = Decimal(0, 255)


def parse_interface_delay(stmt: Stmt, cx: Cx) -> InterfaceDelay:
    name = _interface_word(stmt.words[0], "up/down delay")
    if len(stmt.words) < 2:
        # Only logged by keepalived: the configuration status is unchanged.
        raise ArgError(f"no timeouts specified for {name} up/down delays; line ignored", Severity.WARNING)
    if len(stmt.words) > 3:
        cx.warning(stmt, f"too many parameters for {name} up/down delays; '{' '.join(stmt.words[3:])}' ignored")
    delays = []
    for which, word in zip(("down", "up"), stmt.words[1:3], strict=False):
        try:
            delays.append(_DELAY.parse([word], stmt, cx))
        except ArgError as exc:
            raise ArgError(f"invalid {which} delay {word} for {name}: {exc.message}; line ignored") from None
    # The man page: "If up_delay is omitted, it is set to be the same as the down delay"
    # (keepalived 2.2.7 sets 0 instead).
    down = delays[0]
    up = delays[1] if len(delays) > 1 else down
    return InterfaceDelay(name, down, up, stmt.loc)


def format_interface_delay(item: InterfaceDelay) -> str:
    return f"{item.name} {_DELAY.format(item.down_delay)} {_DELAY.format(item.up_delay)}"


# ---------------------------------------------------------------------------------------------
# track_group and garp_group


@dataclass(frozen=True, kw_only=True)
class TrackGroup(Block):
    """`track_group NAME { group { VI_1 VI_2 } }`: instances that go to FAULT when a static item is lost."""

    block_keyword = "track_group"

    name: str = ""
    group: tuple[NameRef, ...] = lines(parse_name_refs, line_format=format_name_ref)

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        # keepalived skips the whole block unless there is exactly one name.
        if len(stmt.args) != 1:
            cx.error(stmt, "track_group must have a name - skipping")
            return None
        return {"name": stmt.args[0]}

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if "group" not in self.locs:
            # keepalived logs this and removes the group when it sets up tracking.
            cx.warning(self.loc, f"track_group {self.name} has no group block; it tracks nothing")
            return self
        last_group = self.where("group")
        if any(ref.loc.file == last_group.file and ref.loc.line < last_group.line for ref in self.group):
            cx.error(
                last_group,
                f"group list already specified for track_group {self.name}; the members of every group block are used",
            )
        if not self.group:
            cx.error(last_group, f"track_group {self.name} has empty group block")
        return self


class InterfaceName(Value[str]):
    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        return check_ifname(args[0])

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True, kw_only=True)
class GarpGroup(Block):
    """`garp_group { ... }`: gratuitous ARP / NA pacing for a set of interfaces."""

    block_keyword = "garp_group"

    garp_interval: float | None = kw(Decimal(0, INT_MAX / 1e6))
    gna_interval: float | None = kw(Decimal(0, INT_MAX / 1e6))
    # keepalived attaches the group to every `interface` given.
    interface: tuple[str, ...] = many(InterfaceName())
    interfaces: tuple[str, ...] = lines(_words_line, line_format=_format_word)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        for name in ("garp_interval", "gna_interval"):
            value = getattr(self, name)
            if value is not None and value >= 1:
                cx.warning(self.where(name), f"the {name} is very large - {_DELAY.format(value)} seconds")
        if "interfaces" in self.locs and not self.interfaces:
            cx.error(self.where("interfaces"), "empty garp_group interfaces block")
        bad = [name for name in self.interfaces if _bad_ifname(name)]
        for name in bad:
            cx.error(self.where("interfaces"), f"interface name '{name}' specified for garp_group is invalid; ignored")
        if self.interface and self.interfaces:
            cx.warning(self.loc, "only one of interface or interfaces should be used in a garp_group")
        if self.garp_interval is None and self.gna_interval is None:
            cx.error(self.loc, "garp group does not have any delay set - removing")
            return None
        if bad:
            return self.replace(interfaces=tuple(name for name in self.interfaces if name not in bad))
        return self

    def all_interfaces(self) -> tuple[str, ...]:
        return self.interface + self.interfaces

    def env_refs(self) -> Iterator[EnvRef]:
        for name in self.interface:
            yield EnvRef("interface", name, self.where("interface"), "garp_group")
        for name in self.interfaces:
            yield EnvRef("interface", name, self.where("interfaces"), "garp_group")


def _bad_ifname(name: str) -> bool:
    try:
        check_ifname(name)
    except ArgError:
        return True
    return False
