"""virtual_server_group: addresses, address ranges and fwmarks (keepalived/check/check_parser.c, 2.2.7)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from conf.diagnostics import Loc
from conf.model.checker_base import UINT_MAX
from conf.schema import NOWHERE, ArgError, Block, Cx, Scope, internal, items
from conf.tree import Stmt
from conf.values import IPAddress, parse_int, quote

if TYPE_CHECKING:
    pass
from conf.model.lvs_values import _read_port

# ------------------------------------------------------------------ virtual_server_group


@dataclass(frozen=True)
class VsgAddress:
    """An address, a range (`a.b.c.d-e`, `a.b.c.d-e.f.g.h`) or a CIDR block, with a port (0: none)."""

    start: IPAddress
    end: IPAddress
    port: int = 0
    loc: Loc = field(default=NOWHERE, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"start": str(self.start), "end": str(self.end), "port": self.port}


@dataclass(frozen=True)
class VsgFwmark:
    """`fwmark N [inet|inet6]`."""

    fwmark: int
    family: str | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"fwmark": self.fwmark, "family": self.family}


VsgEntry = VsgAddress | VsgFwmark

_SHORT_END = {4: re.compile(r"[0-9]+\Z"), 6: re.compile(r"[0-9a-fA-F]+\Z")}


def _group_ip(text: str, v6: bool, whole: str) -> IPAddress:
    try:
        if "%" in text:
            raise ValueError(text)
        return ipaddress.IPv6Address(text) if v6 else ipaddress.IPv4Address(text)
    except ValueError:
        raise ArgError(f"Invalid virtual server group IP address {whole} - skipping") from None


def _group_range(text: str) -> tuple[IPAddress, IPAddress]:
    """keepalived's alloc_vsg_entry() address forms; the family is IPv6 if the text has a ':'."""
    v6 = ":" in text
    if "/" in text:
        address_text, _, mask_text = text.partition("/")
        start = _group_ip(address_text, v6, text)
        bits = 128 if v6 else 32
        if not mask_text.isascii() or not mask_text.isdigit() or not 1 <= int(mask_text) <= bits:
            raise ArgError(f"Invalid netmask - {text} - skipping")
        try:
            network = ipaddress.ip_network(f"{start}/{mask_text}")
        except ValueError:
            raise ArgError(f"Address mask bits not empty - {text} - skipping") from None
        return network.network_address, network.broadcast_address
    if "-" not in text:
        address = _group_ip(text, v6, text)
        return address, address
    start_text, _, end_text = text.partition("-")
    start = _group_ip(start_text, v6, text)
    if (":" if v6 else ".") in end_text:
        try:
            end = ipaddress.IPv6Address(end_text) if v6 else ipaddress.IPv4Address(end_text)
        except ValueError:
            raise ArgError(f"Invalid range end {text} - skipping") from None
        if end < start:  # type: ignore[operator]
            raise ArgError(f"Address range end is less than address range start - {text} - skipping")
        return start, end
    # The short form replaces the last octet (IPv4, decimal) or last group (IPv6, hex).
    if not _SHORT_END[start.version].match(end_text):
        raise ArgError(f"Virtual server group range '{text}' has an invalid end '{end_text}' - skipping")
    last_mask = 0xFFFF if v6 else 0xFF
    last = int(end_text, 16 if v6 else 10)
    if last > last_mask:
        raise ArgError(f"Virtual server group range '{text}' end '{end_text}' too large")
    if last <= int(start) & last_mask:
        raise ArgError(f"Address range end is not greater than address range start - {text} - skipping")
    value = int(start) & ~last_mask | last
    return start, (ipaddress.IPv6Address(value) if v6 else ipaddress.IPv4Address(value))


def parse_vsg_entry(stmt: Stmt, cx: Cx) -> VsgEntry:
    """One line of a virtual_server_group."""
    words = stmt.words
    if words[0] == "fwmark":
        if len(words) < 2:
            raise ArgError("fwmark is missing its value - ignoring")
        try:
            mark = parse_int(words[1], 0, UINT_MAX)
        except ArgError as exc:
            raise ArgError(f"fwmark '{words[1]}' must be in [0, {UINT_MAX}] ({exc.message}) - ignoring") from None
        family = words[2] if len(words) > 2 else None
        if family not in (None, "inet", "inet6"):
            raise ArgError(f"fwmark '{mark}' family {family} unknown (expected inet|inet6) - ignoring")
        if len(words) > 3:
            cx.warning(stmt, f"extra words '{' '.join(words[3:])}' after fwmark {mark} ignored")
        return VsgFwmark(mark, family, stmt.loc)
    try:
        port = _read_port(words[1]) if len(words) > 1 else 0
    except ArgError as exc:
        raise ArgError(
            f"{exc.message}; invalid virtual server group IP address/port {words[0]}/{words[1]} - skipping"
        ) from None
    start, end = _group_range(words[0])
    if len(words) > 2:
        cx.warning(stmt, f"extra words '{' '.join(words[2:])}' after {words[0]} {words[1]} ignored")
    return VsgAddress(start, end, port, stmt.loc)


def format_vsg_entry(entry: VsgEntry) -> str:
    if isinstance(entry, VsgFwmark):
        return f"fwmark {entry.fwmark}{' ' + entry.family if entry.family else ''}"
    text = str(entry.start) if entry.start == entry.end else f"{entry.start}-{entry.end}"
    return f"{text} {entry.port}" if entry.port else text


def _describe_entry(entry: VsgAddress) -> str:
    text = str(entry.start) if entry.start == entry.end else f"{entry.start}-{entry.end}"
    return f"{text},{entry.port}"


@dataclass(frozen=True, kw_only=True)
class VirtualServerGroup(Block):
    block_keyword = "virtual_server_group"

    name: str = internal("")
    entries: tuple[VsgEntry, ...] = items(parse_vsg_entry, line_format=format_vsg_entry)

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        if not stmt.args:
            cx.error(stmt, "virtual_server_group must have a name; block ignored")
            return None
        if len(stmt.args) > 1:
            # keepalived 2.2.7 stops reading the file here.
            cx.error(stmt, f"virtual_server_group {stmt.args[0]}: extra words '{' '.join(stmt.args[1:])}' ignored")
        return {"name": stmt.args[0]}

    def header_text(self) -> str:
        return quote(self.name)

    @property
    def addresses(self) -> tuple[VsgAddress, ...]:
        return tuple(e for e in self.entries if isinstance(e, VsgAddress))

    @property
    def fwmarks(self) -> tuple[VsgFwmark, ...]:
        return tuple(e for e in self.entries if isinstance(e, VsgFwmark))

    @property
    def has_ipv4(self) -> bool:
        return any(a.start.version == 4 for a in self.addresses) or any(f.family == "inet" for f in self.fwmarks)

    @property
    def has_ipv6(self) -> bool:
        return any(a.start.version == 6 for a in self.addresses) or any(f.family == "inet6" for f in self.fwmarks)

    @property
    def has_fwmark_without_family(self) -> bool:
        return any(f.family is None for f in self.fwmarks)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if not self.entries:
            cx.error(self.loc, f"virtual server group {self.name} has no entries - removing")
            return None
        if self.has_ipv4 and self.has_ipv6 and self.has_fwmark_without_family:
            cx.error(
                self.loc,
                f"virtual server group {self.name} cannot have IPv4, IPv6 and fwmark without family - removing",
            )
            return None
        return self
