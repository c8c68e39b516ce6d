"""bfd_instance: a BFD session keepalived runs with a neighbour.

Keywords, ranges, defaults and messages follow keepalived/bfd/bfd_parser.c and
bfd_data.c (2.2.7). keepalived reads this block in three processes; each message
is given once here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.model.trackers import Weight, WeightValue
from conf.schema import ArgError, Block, Cx, Scope, Value, kw
from conf.tree import Stmt
from conf.values import Decimal, Flag, Int, IPAddress, parse_int, parse_ip_text

BFD_INAME_MAX = 32  # including the NUL
BFD_INTERVAL_MAX_MS = (2**32 - 1) // 1000
BFD_INTERVAL_MAX_SENSIBLE_MS = 10000
BFD_CONTROL_TTL = 255
BFD_CONTROL_HOPLIMIT = 64


class BfdAddress(Value[IPAddress]):
    """An address as inet_stosockaddr() reads it: anything after '/' or '-' is ignored."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> IPAddress:
        address = parse_ip_text(re.split(r"[/-]", args[0], maxsplit=1)[0])
        if address is None:
            what = "neighbor" if stmt.keyword in ("neighbor_ip", "neighbour_ip") else "source"
            raise ArgError(f"malformed {what} address {args[0]}")
        return address

    def format(self, value: IPAddress) -> str:
        return str(value)


class BfdWeight(WeightValue):
    """`weight N [reverse]`, safe from numbers too long for int() (see global_defs.parse_int)."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Weight:
        parse_int(args[0], self.low, self.high)
        return super().parse(args, stmt, cx)


class Interval(Decimal):
    """Milliseconds with microsecond resolution; large values are only logged by keepalived."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> float:
        value = super().parse(args, stmt, cx)
        if value > BFD_INTERVAL_MAX_SENSIBLE_MS:
            cx.warning(
                stmt, f"{stmt.keyword} value {args[0]} is larger than max sensible ({BFD_INTERVAL_MAX_SENSIBLE_MS})"
            )
        return value


@dataclass(frozen=True, kw_only=True)
class BfdInstance(Block):
    block_keyword = "bfd_instance"

    name: str = ""
    neighbor_ip: IPAddress | None = kw(BfdAddress(), names=("neighbor_ip", "neighbour_ip"))
    source_ip: IPAddress | None = kw(BfdAddress())
    min_rx: float = kw(Interval(1, BFD_INTERVAL_MAX_MS, digits=3), default=10.0)  # ms
    min_tx: float = kw(Interval(1, BFD_INTERVAL_MAX_MS, digits=3), default=10.0)  # ms
    idle_tx: float = kw(Interval(1000, BFD_INTERVAL_MAX_MS, digits=3), default=1000.0)  # ms
    multiplier: int = kw(Int(1, 255), default=5)
    passive: bool = kw(Flag(), default=False)
    # 0 until the block is complete: then 255 for an IPv4 neighbour, 64 for IPv6.
    ttl: int = kw(Int(1, 255), names=("ttl", "hoplimit"), default=0)
    max_hops: int = kw(Int(-1, 255), default=0)
    weight: Weight = kw(BfdWeight(-253, 253), default=Weight())
    # Which processes get this session's events; neither given means both.
    vrrp: bool = kw(Flag(), default=False)
    checker: bool = kw(Flag(), default=False)

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        if not stmt.args:
            # keepalived 2.2.7 crashes on this.
            cx.error(stmt, "bfd_instance must have a name; block ignored")
            return None
        name = stmt.args[0]
        if len(stmt.args) > 1:
            cx.warning(stmt, f"bfd_instance {name}: extra words '{' '.join(stmt.args[1:])}' ignored")
        if len(name.encode("utf-8", "surrogateescape")) >= BFD_INAME_MAX:
            cx.error(
                stmt, f"BFD instance {name} name too long (maximum length is {BFD_INAME_MAX - 1} characters) - ignoring"
            )
            return None
        return {"name": name}

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.neighbor_ip is None:
            if "neighbor_ip" not in self.locs:  # a malformed one has been reported already
                cx.error(self.loc, f"BFD instance {self.name} has no neighbor address set, disabling instance")
            else:
                cx.error(
                    self.where("neighbor_ip"),
                    f"BFD instance {self.name} has no valid neighbor address, ignoring instance",
                )
            return None
        if self.source_ip is not None and self.source_ip.version != self.neighbor_ip.version:
            cx.error(
                self.where("source_ip"),
                f"BFD instance {self.name} source address {self.source_ip} and "
                f"neighbor address {self.neighbor_ip} are not of the same family, disabling instance",
            )
            return None
        changes: dict[str, Any] = {}
        ttl = self.ttl or (BFD_CONTROL_TTL if self.neighbor_ip.version == 4 else BFD_CONTROL_HOPLIMIT)
        changes["ttl"] = ttl
        if self.max_hops > ttl:
            cx.error(
                self.where("max_hops"),
                f"BFD instance {self.name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit",
            )
            changes["max_hops"] = ttl
        if not self.vrrp and not self.checker:
            changes["vrrp"] = changes["checker"] = True
        return self.replace(**changes)
