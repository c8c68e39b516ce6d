"""What the route and rule kinds share: hand-packed rtnetlink requests, interface and
/etc/iproute2 name lookups, and kernel errors an operator can act on.

Requests are packed here, byte for byte as keepalived's netlink_route() and
netlink_rule() pack them, rather than through pyroute2's request builders:
those cannot express every attribute keepalived sends (ip/ip6/ila encapsulation,
RTA_TTL_PROPAGATE, RTAX_FASTOPEN_NO_COOKIE, a u32 RTA_EXPIRES). pyroute2 still
carries the request on the caller's socket, in the caller's namespace, and
decodes the answers.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pyroute2.netlink import nlmsg
from pyroute2.netlink.exceptions import NetlinkError

from conf.diagnostics import Diagnostics, Loc
from conf.lexer import decomment, split_statement
from conf.model.iproute import RtNames
from conf.schema import ArgError, Cx
from conf.tree import Stmt
from conf.values import parse_c_unsigned
from services.netconfig.kinds import KernelError

T = TypeVar("T")

# rtnetlink message types (linux/rtnetlink.h)
RTM_GETLINK = 18
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWRULE = 32
RTM_DELRULE = 33
RTM_GETRULE = 34

# netlink flags (linux/netlink.h)
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800

AF_INET = 2
AF_INET6 = 10
FAMILIES = {4: AF_INET, 6: AF_INET6}
VERSIONS = {AF_INET: 4, AF_INET6: 6}

IFLA_IFNAME = 3
IPROUTE2_DIR = Path("/etc/iproute2")

_NLMSG_HEADER = struct.Struct("=IHHII")
_NLA_HEADER = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")


class PackedRequest(nlmsg):  # type: ignore[misc]
    """A request whose body (family header and attributes) is already packed.

    pyroute2 fills in the netlink header's type, flags, sequence number and
    port before it calls `encode`.
    """

    def __init__(self, msg_type: int, flags: int, body: bytes) -> None:
        super().__init__()
        self.body = body
        self["header"]["type"] = msg_type
        self["header"]["flags"] = flags

    def encode(self) -> None:
        header = self["header"]
        self.length = _NLMSG_HEADER.size + len(self.body)
        self.data = bytearray(
            _NLMSG_HEADER.pack(self.length, header["type"], header["flags"], header["sequence_number"], header["pid"])
        )
        self.data += self.body


def talk(ipr: Any, msg_type: int, flags: int, body: bytes) -> list[Any]:
    """Send one request on `ipr`'s socket; the decoded answers. NetlinkError if the kernel refuses."""
    # IPRoute.nlm_request() of pyroute2 0.9.7 fails on a missing status key; the batch form works.
    return list(ipr.nlm_request_batch([PackedRequest(msg_type, flags, body)]))


def parse_line(parser: Callable[[Stmt, Cx], T], text: str, what: str) -> T:
    """One configuration line through the line parser of its block; ValueError if it is unusable.

    Diagnostics that keep the line (warnings, defaulted options) are not errors here:
    the line describes an entry all the same.
    """
    cleaned = decomment(text)
    if cleaned.unterminated_quote:
        raise ValueError(f"{what} '{text}' has an unterminated quote")
    segments = split_statement(cleaned.text)
    if len(segments) != 1 or segments[0].brace:
        raise ValueError(f"'{text}' is not one {what} line")
    segment = segments[0]
    stmt = Stmt(segment.words, Loc(what, 0), segment.raw)
    try:
        return parser(stmt, Cx(Diagnostics(), ""))
    except ArgError as exc:
        raise ValueError(f"{what} '{text}' is invalid: {exc.message}") from None


# ---------------------------------------------------------------------------------------------
# Attributes


def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = _NLA_HEADER.size + len(payload)
    return _NLA_HEADER.pack(length, kind) + payload + b"\0" * (-length % 4)


def nla_u8(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack("=B", value))


def nla_u16(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack("=H", value))


def nla_u32(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack("=I", value))


def nla_be64(kind: int, value: int) -> bytes:
    return nla(kind, struct.pack(">Q", value))


def nla_name(kind: int, name: str) -> bytes:
    """An interface name, NUL-terminated as the kernel expects."""
    return nla(kind, name.encode() + b"\0")


# ---------------------------------------------------------------------------------------------
# Interfaces


@dataclass(frozen=True)
class Link:
    index: int
    kind: str | None  # IFLA_INFO_KIND: "veth", "vrf", ...; None for a plain device
    vrf_table: int | None  # the table of a VRF device


def find_link(ipr: Any, name: str) -> Link | None:
    """The interface called `name` in `ipr`'s namespace, or None if there is none."""
    body = _IFINFOMSG.pack(0, 0, 0, 0, 0) + nla_name(IFLA_IFNAME, name)
    try:
        answers = talk(ipr, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, body)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise kernel_error(exc, f"cannot look up interface {name}") from None
    for msg in answers:
        if msg.get("index"):
            info = msg.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
            table = data.get_attr("IFLA_VRF_TABLE") if kind == "vrf" and data is not None else None
            return Link(int(msg["index"]), kind, table)
    return None


class Interfaces:
    """Interface lookups for one operation, each name asked of the kernel once."""

    def __init__(self, ipr: Any) -> None:
        self._ipr = ipr
        self._seen: dict[str, Link | None] = {}

    def find(self, name: str) -> Link | None:
        if name not in self._seen:
            self._seen[name] = find_link(self._ipr, name)
        return self._seen[name]

    def index(self, name: str, what: str) -> int:
        """The ifindex of `name`; KernelError(ENODEV) naming `what` if it does not exist."""
        link = self.find(name)
        if link is None:
            raise KernelError(errno.ENODEV, f"{what}: interface {name} does not exist")
        return link.index

    def vrf_table(self, name: str, what: str) -> int:
        link = self.find(name)
        if link is None:
            raise KernelError(errno.ENODEV, f"{what}: VRF {name} does not exist")
        if link.kind != "vrf" or link.vrf_table is None:
            raise KernelError(errno.EINVAL, f"{what}: interface {name} is not a VRF")
        return link.vrf_table


# ---------------------------------------------------------------------------------------------
# /etc/iproute2 names


def read_name_file(path: Path, high: int) -> dict[str, int]:
    """`NUMBER NAME` lines as keepalived's lib/rttables.c reads them; the first of a name wins."""
    found: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return found
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) != 2:
            continue
        number = parse_c_unsigned(words[0], high)
        if number is not None:
            found.setdefault(words[1], number)
    return found


class Names:
    """Numbers for the names of /etc/iproute2 (tables, protocols, scopes, dsfield, realms, groups).

    keepalived reads only the main file; its `.d/*.conf` files, which `ip` also
    reads, are read too, so that a name `ip` knows works here as well.
    """

    def __init__(self, directory: Path = IPROUTE2_DIR) -> None:
        self._directory = directory

    def _files(self, names: RtNames) -> list[Path]:
        main = self._directory / Path(names.file).name
        extra = sorted(main.with_name(main.name + ".d").glob("*.conf"))
        return [main, *extra]

    def number(self, names: RtNames, value: int | str, what: str) -> int:
        """`value` as a number; KernelError(ENOENT) naming `what` if the name is not defined."""
        if isinstance(value, int):
            return value
        direct = parse_c_unsigned(value, names.high)
        if direct is not None:
            return direct
        for path in self._files(names):
            found = read_name_file(path, names.high).get(value)
            if found is not None:
                return found
        if value in names.builtin:
            return names.builtin[value]
        raise KernelError(
            errno.ENOENT, f"{what}: {names.what} '{value}' is not defined in {self._directory / Path(names.file).name}"
        )

    def realms(self, text: str, realm_names: RtNames, what: str) -> int:
        """`[FROM/]TO` as the kernel's u32: FROM in the high 16 bits, TO in the low ones."""
        parts = [self.number(realm_names, part, what) for part in text.split("/")]
        if len(parts) == 1:
            return parts[0]
        return (parts[0] << 16) | parts[1]


# ---------------------------------------------------------------------------------------------
# Errors

_GENERAL_HINTS = {
    errno.EPERM: "netconfig needs CAP_NET_ADMIN in this network namespace",
    errno.EACCES: "netconfig needs CAP_NET_ADMIN in this network namespace",
    errno.ENODEV: "an interface it names does not exist",
    errno.ENETDOWN: "its interface is down",
}


def kernel_error(exc: Any, doing: str, hints: Mapping[int, str] | None = None) -> KernelError:
    """A NetlinkError as a KernelError whose message says what was being done and what to look at."""
    code = int(exc.code) if getattr(exc, "code", None) else errno.EIO
    reason = os.strerror(code)
    words = [f"{doing}: {reason}"]
    detail = str(exc.args[1]) if len(exc.args) > 1 and exc.args[1] else ""
    if detail and detail != reason:
        # The kernel's extended ack, when the socket asked for one.
        words.append(f"({detail})")
    hint = (hints or {}).get(code) or _GENERAL_HINTS.get(code)
    if hint:
        words.append(f"- {hint}")
    return KernelError(code, " ".join(words))
