"""Argument types of the LVS blocks (keepalived/check/check_parser.c, 2.2.7)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conf.diagnostics import Loc
from conf.model.checker_base import INT_MAX, UINT_MAX, read_server_ip
from conf.schema import ArgError, Cx, Value
from conf.tree import Stmt
from conf.values import IPAddress, parse_int, quote

if TYPE_CHECKING:
    pass


SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos")
DEFAULT_SCHEDULER = "wlc"
IPVS_WEIGHT_LIMIT = INT_MAX
LVS_MAX_TIMEOUT = 2678400  # 31 days, in seconds
DEFAULT_PERSISTENCE = 360  # IPVS_SVC_PERSISTENT_TIMEOUT
PERSISTENCE_ENGINE_MAX = 15  # IP_VS_PENAME_MAXLEN - 1


def _read_port(text: str) -> int:
    """A server port; keepalived reads `0` (or `00`...) as "no port" since 2.0.7."""
    if text and not text.strip("0"):
        return 0
    return parse_int(text, 1, 65535)


def _before(first: Loc, second: Loc) -> bool:
    """`first` is on an earlier line of the same file (statement order is only known within a file)."""
    return first.file == second.file and first.line < second.line


# ------------------------------------------------------------------ argument types


@dataclass(frozen=True)
class ServerAddress:
    """`IP [PORT]` of a sorry server; port 0 means none was given."""

    address: IPAddress
    port: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"address": str(self.address), "port": self.port}


class ServerAddressValue(Value[ServerAddress]):
    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> ServerAddress:
        try:
            address = read_server_ip(args[0], stmt, cx)
            port = _read_port(args[1]) if len(args) > 1 else 0
        except ArgError as exc:
            raise ArgError(f"{exc.message}; invalid sorry server IP address {' '.join(args)} - skipping") from None
        return ServerAddress(address, port)

    def format(self, value: ServerAddress) -> str:
        return f"{value.address} {value.port}" if value.port else str(value.address)


@dataclass(frozen=True)
class LvsMethod:
    """`NAT`, `DR` or `TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`."""

    method: str
    tunnel_type: str = "ipip"
    tunnel_port: int = 0  # GUE only
    tunnel_checksum: str = "nocsum"

    @property
    def tunnelled(self) -> bool:
        return self.method == "TUN"


class LvsMethodValue(Value[LvsMethod]):
    """keepalived's svr_forwarding_handler(); `server` names the server in messages."""

    max_args = None

    def __init__(self, server: str) -> None:
        self.server = server

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> LvsMethod:
        method = args[0]
        if method not in ("NAT", "DR", "TUN"):
            raise ArgError(f"unknown [{method}] routing method for {self.server} server (expected NAT|DR|TUN)")
        options = list(args[1:])
        try:
            parsed = self._tunnel(method, options)
        except ArgError as exc:
            # keepalived sets the method before it looks at the options.
            cx.error(stmt, f"{exc.message}; tunnel settings ignored")
            return LvsMethod(method)
        if method != "TUN" and options:
            cx.warning(stmt, f"tunnel options only apply to TUN; '{' '.join(options)}' ignored")
            return LvsMethod(method)
        return parsed

    def _tunnel(self, method: str, words: list[str]) -> LvsMethod:
        kind, port, checksum = "ipip", 0, "nocsum"
        i = 0
        while i < len(words):
            word = words[i]
            if word == "type":
                if i + 1 >= len(words):
                    raise ArgError(f"Missing tunnel type for {self.server} server")
                kind = words[i + 1]
                if kind not in ("ipip", "gue", "gre"):
                    raise ArgError(f"Unknown tunnel type {kind} for {self.server} server")
                i += 2
            elif word == "port":
                if i + 1 >= len(words):
                    raise ArgError(f"Missing port for {self.server} server gue tunnel")
                try:
                    port = parse_int(words[i + 1], 1, 65535)
                except ArgError as exc:
                    raise ArgError(f"{exc.message}; invalid gue tunnel port for {self.server} server") from None
                i += 2
            elif word in ("nocsum", "csum", "remcsum"):
                checksum = word
                i += 1
            else:
                raise ArgError(f"Invalid tunnel option {word} for {self.server} server")
        if (kind == "gue") != (port != 0):
            raise ArgError("gue tunnels require port, otherwise cannot have port")
        if kind == "ipip" and checksum != "nocsum":
            raise ArgError("ipip tunnels do not support checksum option")
        if kind == "gre" and checksum == "remcsum":
            raise ArgError("gre tunnels do not support remote checksum option")
        return LvsMethod(method, kind, port, checksum)

    def format(self, value: LvsMethod) -> str:
        words = [value.method]
        if value.tunnelled:
            if value.tunnel_type != "ipip":
                words += ["type", value.tunnel_type]
            if value.tunnel_port:
                words += ["port", str(value.tunnel_port)]
            if value.tunnel_checksum != "nocsum":
                words.append(value.tunnel_checksum)
        return " ".join(words)


def _tunnelled(method: LvsMethod | None) -> bool:
    return method is not None and method.tunnelled


class PersistenceTimeout(Value[int]):
    """`persistence_timeout [N]`; alone it means keepalived's default of 360 seconds."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        return parse_int(args[0], 1, LVS_MAX_TIMEOUT) if args else DEFAULT_PERSISTENCE

    def format(self, value: int) -> str:
        return str(value)


class PersistenceEngine(Value[str]):
    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        name = args[0]
        if len(name) > PERSISTENCE_ENGINE_MAX:
            cx.error(stmt, f"persistence_name too long, truncating - {name}")
            return name[:PERSISTENCE_ENGINE_MAX]
        return name

    def format(self, value: str) -> str:
        return quote(value)


class Quorum(Value[int]):
    """An invalid quorum is not ignored: keepalived sets it to 1."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        try:
            return parse_int(args[0], 1, UINT_MAX)
        except ArgError as exc:
            cx.error(stmt, f"quorum: {exc.message}; setting to 1")
            return 1

    def format(self, value: int) -> str:
        return str(value)


def _ipv4_mask(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 netmask read as keepalived reads it: getaddrinfo(AI_NUMERICHOST), so inet_aton's
    forms (`0xffffff00`, `255.255.255`, `24` = 0.0.0.24) are all accepted."""
    try:
        info = socket.getaddrinfo(text, None, socket.AF_INET, 0, 0, socket.AI_NUMERICHOST)
        return ipaddress.IPv4Address(info[0][4][0])
    except (OSError, UnicodeError, ValueError, IndexError):
        return None


def _contiguous(mask: ipaddress.IPv4Address) -> bool:
    hosts = ~int(mask) & 0xFFFFFFFF
    return hosts & (hosts + 1) == 0
