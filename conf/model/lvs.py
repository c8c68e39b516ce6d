"""LVS blocks: virtual_server_group, virtual_server, real_server and the top-level SSL block.

Ranges, defaults and messages follow keepalived/check/check_parser.c and check_data.c
(2.2.7): the end-of-block checks of vs_end_handler() and rs_end_handler() run when a
virtual_server completes, and validate_lvs() does what link_vsg_to_vs() and
validate_check_config() do once the whole file is read. The health checkers are in
conf/model/checkers.py.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from conf.diagnostics import Loc
from conf.model.checkers import (
    CHECKER_TYPES,
    INT_MAX,
    TIMER_MAX_US,
    UINT_MAX,
    BfdCheck,
    Checker,
    Connection,
    FileCheck,
    OneWord,
    SmtpCheck,
    Timer,
    family_name,
    inherited,
    read_server_ip,
    script_env_refs,
    smtp_alert_default,
)
from conf.model.common import EnvRef
from conf.schema import NOWHERE, ArgError, Block, Cx, Scope, Value, blocks, internal, items, kw
from conf.tree import Stmt
from conf.values import Bool, Choice, Flag, Int, IPAddress, Script, ScriptValue, Str, parse_int, quote

if TYPE_CHECKING:
    from conf.model.config import Config

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
            cx.error(self.loc, f"virtual server group {self.name} cannot have IPv4, IPv6 and fwmark without "
                               "family - removing")
            return None
        return self


# ------------------------------------------------------------------ real_server


def describe_rs(rs: RealServer, protocol: str | None) -> str:
    return f"[{rs.address}]:{(protocol or 'none').lower()}:{rs.port}"


@dataclass(frozen=True, kw_only=True)
class RealServer(Block):
    block_keyword = "real_server"

    address: IPAddress = internal(ipaddress.IPv4Address(0))
    port: int = internal(0)  # 0: none given; validation gives it the virtual server's

    weight: int = kw(Int(0, IPVS_WEIGHT_LIMIT), inherit=inherited("weight", 1))
    lvs_method: LvsMethod | None = kw(LvsMethodValue("real"), inherit=inherited("lvs_method"))
    uthreshold: int = kw(Int(0, UINT_MAX), default=0)
    lthreshold: int = kw(Int(0, UINT_MAX), default=0)
    inhibit_on_failure: bool = kw(Bool(), inherit=inherited("inhibit_on_failure", False))
    notify_up: Script | None = kw(ScriptValue(), once=True)
    notify_down: Script | None = kw(ScriptValue(), once=True)
    alpha: bool = kw(Bool(), inherit=inherited("alpha", False))
    retry: int | None = kw(Int(1, UINT_MAX), inherit=inherited("retry"))
    delay_before_retry: float | None = kw(Timer(0, TIMER_MAX_US), inherit=inherited("delay_before_retry"))
    warmup: float | None = kw(Timer(0, TIMER_MAX_US), inherit=inherited("warmup"))
    connect_timeout: float = kw(Timer(1, UINT_MAX), inherit=inherited("connect_timeout", 5.0))
    delay_loop: float = kw(Timer(1, TIMER_MAX_US), inherit=inherited("delay_loop", 60.0))
    smtp_alert: bool = kw(Bool(), inherit=smtp_alert_default(True))
    virtualhost: str | None = kw(Str(), inherit=inherited("virtualhost"))
    snmp_name: str | None = kw(OneWord("real server snmp_name"))
    checkers: tuple[Checker, ...] = blocks(CHECKER_TYPES)

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        args = stmt.args
        if not args:
            cx.error(stmt, "real_server needs an IP address; block ignored")
            return None
        try:
            address = read_server_ip(args[0], stmt, cx)
            port = _read_port(args[1]) if len(args) > 1 else 0
        except ArgError as exc:
            cx.error(stmt, f"{exc.message}; invalid real server ip address/port {'/'.join(args[:2])} - skipping")
            return None
        if len(args) > 2:
            cx.warning(stmt, f"real_server: extra words '{' '.join(args[2:])}' ignored")
        return {"address": address, "port": port}

    def header_text(self) -> str:
        return f"{self.address} {self.port}" if self.port else str(self.address)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        checkers: list[Checker] = []
        monitored: set[str] = set()
        for checker in self.checkers:
            if isinstance(checker, SmtpCheck):
                checkers.extend(checker.split_hosts())
                continue
            if isinstance(checker, BfdCheck) and checker.name is not None:
                if checker.name in monitored:
                    cx.error(checker.where("name"), f"({self.address}) BFD_CHECK - RS already monitoring "
                                                    f"{checker.name} - skipping checker")
                    continue
                monitored.add(checker.name)
            checkers.append(checker)
        return self.replace(checkers=tuple(checkers))

    def env_refs(self) -> Iterator[EnvRef]:
        for name in ("notify_up", "notify_down"):
            script = getattr(self, name)
            if isinstance(script, Script):
                yield from script_env_refs(script, self.where(name), f"{name} of real_server {self.address}")


# ------------------------------------------------------------------ virtual_server


def describe_vs(vs: VirtualServer) -> str:
    """A virtual server as keepalived names it in messages (FMT_VS)."""
    if vs.group is not None:
        return f"[{vs.group}]"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return f"[{vs.address}]:{(vs.protocol or 'none').lower()}:{vs.port}"


_SCHEDULER_FLAGS = (
    ("sh_port", "sh-port", "sh"),
    ("sh_fallback", "sh-fallback", "sh"),
    ("mh_port", "mh-port", "mh"),
    ("mh_fallback", "mh-fallback", "mh"),
)


def _flag() -> Any:
    return kw(Flag(accepts_bool=False), default=False)


@dataclass(frozen=True, kw_only=True)
class VirtualServer(Block):
    """`virtual_server IP [PORT]`, `virtual_server fwmark N` or `virtual_server group NAME`."""

    block_keyword = "virtual_server"

    address: IPAddress | None = internal()
    port: int = internal(0)  # 0: none (only valid for persistent services)
    fwmark: int | None = internal()
    group: str | None = internal()

    # The address family; filled in from the addresses when not given.
    ip_family: str | None = kw(Choice("inet", "inet6"))
    lvs_sched: str | None = kw(Choice(*SCHEDULERS), names=("lvs_sched", "lb_algo"))
    lvs_method: LvsMethod | None = kw(LvsMethodValue("virtual"), names=("lvs_method", "lb_kind"))
    protocol: str | None = kw(Choice("TCP", "UDP", "SCTP", fold_case=True))
    persistence_timeout: int | None = kw(PersistenceTimeout())  # None: not persistent
    # An IPv4 netmask, or an IPv6 prefix length.
    persistence_granularity: str | None = kw(Str())
    persistence_engine: str | None = kw(PersistenceEngine())
    ops: bool = _flag()
    flag_1: bool = kw(Flag(accepts_bool=False), names=("flag-1",), default=False)
    flag_2: bool = kw(Flag(accepts_bool=False), names=("flag-2",), default=False)
    flag_3: bool = kw(Flag(accepts_bool=False), names=("flag-3",), default=False)
    sh_port: bool = kw(Flag(accepts_bool=False), names=("sh-port",), default=False)
    sh_fallback: bool = kw(Flag(accepts_bool=False), names=("sh-fallback",), default=False)
    mh_port: bool = kw(Flag(accepts_bool=False), names=("mh-port",), default=False)
    mh_fallback: bool = kw(Flag(accepts_bool=False), names=("mh-fallback",), default=False)
    hashed: bool = _flag()  # accepted for old configurations; it sets nothing
    ha_suspend: bool = kw(Bool(), default=False)
    alpha: bool = kw(Bool(), default=False)
    omega: bool = kw(Bool(), default=False)
    quorum: int = kw(Quorum(), default=1)
    hysteresis: int = kw(Int(0, UINT_MAX), default=0)
    quorum_up: Script | None = kw(ScriptValue(), once=True)
    quorum_down: Script | None = kw(ScriptValue(), once=True)
    smtp_alert: bool = kw(Bool(), inherit=smtp_alert_default(False))
    virtualhost: str | None = kw(Str())
    snmp_name: str | None = kw(OneWord("virtual server snmp_name"))

    # Defaults for the real servers, and through them for the checkers.
    weight: int = kw(Int(1, IPVS_WEIGHT_LIMIT), default=1)
    delay_loop: float = kw(Timer(1, TIMER_MAX_US), default=60.0)
    connect_timeout: float = kw(Timer(1, UINT_MAX), default=5.0)
    retry: int | None = kw(Int(1, UINT_MAX))
    delay_before_retry: float | None = kw(Timer(0, TIMER_MAX_US))
    warmup: float | None = kw(Timer(0, TIMER_MAX_US))
    inhibit_on_failure: bool = kw(Bool(), default=False)

    sorry_server: ServerAddress | None = kw(ServerAddressValue())
    sorry_server_inhibit: bool = _flag()
    sorry_server_lvs_method: LvsMethod | None = kw(LvsMethodValue("sorry"))

    real_servers: tuple[RealServer, ...] = blocks(RealServer, names=("real_server",))

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        args = stmt.args
        if not args:
            cx.error(stmt, "virtual_server needs 'IP [PORT]', 'fwmark N' or 'group NAME'; block ignored")
            return None
        if args[0] in ("group", "fwmark") and len(args) < 2:
            cx.error(stmt, f"virtual_server {args[0]} is missing its {'name' if args[0] == 'group' else 'mark'}; "
                           "block ignored")
            return None
        if len(args) > 2:
            cx.warning(stmt, f"virtual_server: extra words '{' '.join(args[2:])}' ignored")
        if args[0] == "group":
            return {"group": args[1]}
        if args[0] == "fwmark":
            try:
                mark = parse_int(args[1], 1, UINT_MAX)
            except ArgError as exc:
                # keepalived takes fwmark 0 and then treats the service as one with no address.
                cx.error(stmt, f"{exc.message}; virtual server fwmark '{args[1]}' must be in [1, {UINT_MAX}] - "
                               "skipping")
                return None
            return {"fwmark": mark}
        try:
            address = read_server_ip(args[0], stmt, cx)
            port = _read_port(args[1]) if len(args) > 1 else 0
        except ArgError as exc:
            cx.error(stmt, f"{exc.message}; invalid virtual server IP address/port {'/'.join(args[:2])} - skipping")
            return None
        return {"address": address, "port": port}

    def header_text(self) -> str:
        if self.group is not None:
            return f"group {quote(self.group)}"
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        return f"{self.address} {self.port}" if self.port else str(self.address)

    def env_refs(self) -> Iterator[EnvRef]:
        for name in ("quorum_up", "quorum_down"):
            script = getattr(self, name)
            if isinstance(script, Script):
                yield from script_env_refs(script, self.where(name), f"{name} of virtual_server {describe_vs(self)}")

    # ------------------------------------------------------------ end of block

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        """The checks keepalived makes as each real_server and the virtual_server block end."""
        family = family_name(self.address) if self.address is not None else None
        if self.ip_family is not None:
            if family is not None and self.ip_family != family:
                cx.error(self.where("ip_family"),
                         f"Virtual server specified family {self.ip_family} conflicts with server family; ignored")
            else:
                family = self.ip_family
        real_servers: list[RealServer] = []
        for rs in self.real_servers:
            # Tunnelled servers may have the other family than the virtual server.
            if not _tunnelled(rs.lvs_method):
                if family is None:
                    family = family_name(rs.address)
                elif family_name(rs.address) != family:
                    cx.error(rs.loc, f"Address family of virtual server and real server {rs.address} don't match "
                                     "- skipping real server.")
                    continue
            real_servers.append(rs)
        vs = self.replace(real_servers=tuple(real_servers))
        vs, family = vs._with_granularity(cx, family)
        vs, family = vs._with_sorry_server(cx, family)
        if family is None and vs.group is None:
            # A fwmark service whose servers are all tunnelled: their family if they agree, else IPv4.
            families = {family_name(s.address) for s in vs.real_servers}
            if vs.sorry_server is not None:
                families.add(family_name(vs.sorry_server.address))
            family = families.pop() if len(families) == 1 else "inet"
        return vs._with_scheduler_flags(cx).replace(ip_family=family)

    def _with_granularity(self, cx: Cx, family: str | None) -> tuple[Self, str | None]:
        text = self.persistence_granularity
        if text is None:
            return self, family
        where = self.where("persistence_granularity")
        own_family = family or ("inet" if "." in text else "inet6")
        granularity: str | None
        if own_family == "inet6":
            try:
                granularity = str(parse_int(text, 1, 128))
            except ArgError as exc:
                cx.error(where, f"Invalid IPv6 persistence_granularity specified - {text} ({exc.message}); ignored")
                granularity = None
        else:
            mask = _ipv4_mask(text)
            granularity = None if mask is None else str(mask)
            if mask is None:
                cx.error(where, f"Invalid IPv4 persistence_granularity specified - {text}; ignored")
            elif not _contiguous(mask):
                cx.warning(where, f"persistence_granularity {text} is the netmask {mask}, which is not contiguous")
        if granularity is None:
            return self.replace(persistence_granularity=None), family
        changes: dict[str, Any] = {"persistence_granularity": granularity}
        if self.persistence_timeout is None:
            changes["persistence_timeout"] = DEFAULT_PERSISTENCE
        return self.replace(**changes), family or own_family

    def _with_sorry_server(self, cx: Cx, family: str | None) -> tuple[Self, str | None]:
        sorry, inhibit, method = self.sorry_server, self.sorry_server_inhibit, self.sorry_server_lvs_method
        if inhibit and (sorry is None or _before(self.where("sorry_server_inhibit"), self.where("sorry_server"))):
            cx.error(self.where("sorry_server_inhibit"),
                     "Ignoring sorry_server_inhibit used before or without sorry_server")
            inhibit = False
        if method is not None and (
            sorry is None or _before(self.where("sorry_server_lvs_method"), self.where("sorry_server"))
        ):
            cx.error(self.where("sorry_server_lvs_method"), "sorry_server forwarding used without sorry_server; "
                                                            "ignored")
            method = None
        if sorry is not None and not _tunnelled(method or self.lvs_method):
            if family is None:
                family = family_name(sorry.address)
            elif family_name(sorry.address) != family:
                cx.error(self.where("sorry_server"), f"Address family of virtual server and sorry server "
                                                     f"{sorry.address} don't match - skipping sorry server.")
                sorry, inhibit, method = None, False, None
        changes = {"sorry_server": sorry, "sorry_server_inhibit": inhibit, "sorry_server_lvs_method": method}
        return self.replace(**changes), family

    def _with_scheduler_flags(self, cx: Cx) -> Self:
        changes: dict[str, bool] = {}
        for name, keyword, scheduler in _SCHEDULER_FLAGS:
            if not getattr(self, name) or self.lvs_sched == scheduler:
                continue
            if self.lvs_sched in ("sh", "mh"):
                # keepalived ignores the other hashing scheduler's flags without a word.
                cx.warning(self.where(name), f"{keyword} has no effect with the {self.lvs_sched} scheduler; ignored")
            else:
                cx.error(self.where(name), f"{keyword} only applies to {scheduler} scheduler - ignoring")
            changes[name] = False
        if self.hashed and self.lvs_sched not in ("sh", "mh"):
            cx.error(self.where("hashed"), "hashed only applies to sh scheduler - ignoring")
            changes["hashed"] = False
        return self.replace(**changes)


# ------------------------------------------------------------------ SSL


_SSL_FILES = {"password": "password", "ca": "cafile", "certificate": "certfile", "key": "keyfile"}


@dataclass(frozen=True, kw_only=True)
class SslConfig(Block):
    """The SSL context of SSL_GET checkers; keepalived makes one up when no file is given."""

    block_keyword = "SSL"

    # keepalived reports a repeated SSL setting as an error, and the last one stands.
    password: str | None = kw(Str(), replaced_error=True)
    ca: str | None = kw(Str(), replaced_error=True)
    certificate: str | None = kw(Str(), replaced_error=True)
    key: str | None = kw(Str(), replaced_error=True)

    def env_refs(self) -> Iterator[EnvRef]:
        for name in ("ca", "certificate", "key"):
            path = getattr(self, name)
            if isinstance(path, str):
                yield EnvRef("file", path, self.where(name), f"SSL {name}")


# ------------------------------------------------------------------ whole-file validation


def validate_lvs(config: Config, cx: Cx) -> Config:
    """Group links and validate_check_config(): what keepalived checks once the file is read."""
    groups = _first_of_each_name(config.virtual_server_groups, cx)
    by_name = {g.name: g for g in groups}
    track_files = {t.name: t for t in reversed(config.track_files)}
    bfd_instances = {b.name: b for b in reversed(config.bfd_instances)}
    servers: list[VirtualServer] = []
    for vs in config.virtual_servers:
        resolved = _resolve_checker_references(vs, track_files, bfd_instances, cx)
        group = by_name.get(vs.group) if vs.group is not None else None
        linked = _link_group(resolved, group, cx) if vs.group is not None else resolved
        if linked is None:
            continue
        validated = _validate_virtual_server(linked, group, cx)
        if validated is not None:
            servers.append(_aim_checkers(validated))
    return config.replace(virtual_server_groups=groups, virtual_servers=tuple(servers))


def _first_of_each_name(groups: Sequence[VirtualServerGroup], cx: Cx) -> tuple[VirtualServerGroup, ...]:
    seen: dict[str, VirtualServerGroup] = {}
    for group in groups:
        if group.name in seen:
            # keepalived looks groups up by name and always finds the first.
            cx.warning(group.loc, f"virtual_server_group {group.name} is already defined at line "
                                  f"{seen[group.name].loc.line}; this one is never used")
            continue
        seen[group.name] = group
    return tuple(seen.values())


def _resolve_checker_references(
    vs: VirtualServer, track_files: Mapping[str, Any], bfd_instances: Mapping[str, Any], cx: Cx
) -> VirtualServer:
    """FILE_CHECK's track_file and BFD_CHECK's name must be defined, and before their use."""
    real_servers = []
    for rs in vs.real_servers:
        checkers: list[Checker] = []
        for checker in rs.checkers:
            if isinstance(checker, FileCheck) and checker.track_file is not None:
                tracked = track_files.get(checker.track_file)
                known = _known(tracked, checker.where("track_file"), f"track_file {checker.track_file}", cx)
                if tracked is None or not known:
                    cx.error(checker.loc, "FILE_CHECK has no track_file specified - ignoring")
                    continue
                if checker.weight is None:
                    # Without a weight of its own, the checker uses the track_file's.
                    checkers.append(checker.replace(weight=tracked.weight))
                    continue
            if isinstance(checker, BfdCheck) and checker.name is not None:
                instance = bfd_instances.get(checker.name)
                if not _known(instance, checker.where("name"), f"({rs.address}) BFD_CHECK - BFD {checker.name}", cx):
                    continue
            checkers.append(checker)
        real_servers.append(rs.replace(checkers=tuple(checkers)))
    return vs.replace(real_servers=tuple(real_servers))


def _known(target: Any, where: Loc, what: str, cx: Cx) -> bool:
    """A named object exists and precedes its use: keepalived looks it up while it reads the checker."""
    if target is None:
        cx.error(where, f"{what} not found - checker ignored")
        return False
    if _before(where, target.loc):
        cx.error(where, f"{what} not found: it is defined later, at line {target.loc.line} - checker ignored")
        return False
    return True


def _link_group(vs: VirtualServer, group: VirtualServerGroup | None, cx: Cx) -> VirtualServer | None:
    """keepalived's link_vsg_to_vs(); it only logs these problems, so they are warnings."""
    name = vs.group
    if group is None:
        cx.warning(vs.loc, f"Virtual server group {name} specified but not configured - ignoring virtual server "
                           f"{describe_vs(vs)}")
        return None
    family = vs.ip_family
    if group.has_ipv4 and group.has_ipv6:
        if family is not None:
            cx.warning(vs.loc, f"{name}: virtual server group with IPv4 & IPv6 doesn't match virtual server "
                               f"{describe_vs(vs)} (only allowed when all its servers are tunnelled) - ignoring")
            return None
        return vs
    if (group.has_ipv4 and family == "inet6") or (group.has_ipv6 and family == "inet"):
        cx.warning(vs.loc, f"{name}: address family doesn't match virtual server {describe_vs(vs)} - ignoring")
        return None
    if group.has_ipv4 or group.has_ipv6:
        return vs.replace(ip_family="inet" if group.has_ipv4 else "inet6")
    if family is None:
        cx.warning(vs.loc, f"{name}: Virtual server {describe_vs(vs)} address family cannot be determined, "
                           "defaulting to IPv4")
        return vs.replace(ip_family="inet")
    return vs


@dataclass
class _Validation:
    """The state of validate_check_config() for one virtual server."""

    vs: VirtualServer
    group: VirtualServerGroup | None
    cx: Cx
    changes: dict[str, Any] = field(default_factory=dict)
    nat_defaulted: bool = False

    def get(self, name: str) -> Any:
        return self.changes[name] if name in self.changes else getattr(self.vs, name)

    def name(self) -> str:
        return describe_vs(self.vs.replace(protocol=self.get("protocol")))

    def error(self, where: Loc, message: str) -> None:
        self.cx.error(where, message)

    def method_for(self, explicit: LvsMethod | None) -> LvsMethod:
        if explicit is not None:
            return explicit
        vs_method: LvsMethod | None = self.get("lvs_method")
        if vs_method is None:
            self.error(self.vs.loc, f"Virtual server {self.name()}: no forwarding method set, setting default NAT")
            vs_method = LvsMethod("NAT")
            self.changes["lvs_method"] = vs_method
        return vs_method


def _validate_virtual_server(vs: VirtualServer, group: VirtualServerGroup | None, cx: Cx) -> VirtualServer | None:
    state = _Validation(vs, group, cx)
    if not vs.real_servers:
        cx.error(vs.loc, f"Virtual server {state.name()} has no real servers - ignoring")
        return None
    _check_service(state)
    checked = _check_real_servers(state)
    _check_sorry_method(state)
    _check_quorum(state, checked)
    real_servers = _check_ports(state, checked)
    return vs.replace(**state.changes, real_servers=real_servers)


def _check_service(state: _Validation) -> None:
    vs, group = state.vs, state.group
    has_fwmarks = vs.fwmark is not None or (group is not None and bool(group.fwmarks))
    if vs.ha_suspend and has_fwmarks:
        state.error(vs.where("ha_suspend"),
                    f"Virtual server {state.name()}: cannot use ha_suspend with fwmarks - clearing ha_suspend")
        state.changes["ha_suspend"] = False
    by_address = bool(group.addresses) if group is not None else vs.fwmark is None
    if by_address:
        if vs.protocol is None:
            state.error(vs.loc, f"Virtual server {state.name()}: no protocol set - defaulting to UDP")
            state.changes["protocol"] = "UDP"
        if vs.ops and state.get("protocol") != "UDP":
            state.error(vs.where("ops"),
                        f"Virtual server {state.name()}: one packet scheduling requires UDP - resetting")
            state.changes["ops"] = False
        if vs.persistence_timeout is None and group is None and not vs.port:
            state.error(vs.loc, f"Virtual server {state.name()}: zero port only valid for persistent services - "
                                f"setting persistence_timeout {DEFAULT_PERSISTENCE}")
            state.changes["persistence_timeout"] = DEFAULT_PERSISTENCE
    if state.get("persistence_timeout") is None and group is not None and any(not a.port for a in group.addresses):
        state.error(vs.loc, f"Virtual server {state.name()}: zero port only valid for persistent services - "
                            f"setting persistence_timeout {DEFAULT_PERSISTENCE}")
        state.changes["persistence_timeout"] = DEFAULT_PERSISTENCE
    fwmarks_only = (group is not None and not group.addresses and bool(group.fwmarks)) or (
        group is None and vs.fwmark is not None
    )
    if state.get("protocol") is not None and fwmarks_only:
        state.error(vs.where("protocol"), f"Warning: Virtual server {state.name()}: protocol specified for fwmark - "
                                          "protocol will be ignored")
        state.changes["protocol"] = None
    if vs.lvs_sched is None:
        state.error(vs.loc, f"Virtual server {state.name()}: no scheduler set, setting default '{DEFAULT_SCHEDULER}'")
        state.changes["lvs_sched"] = DEFAULT_SCHEDULER


def _same_server(a_address: IPAddress, a_port: int, b_address: IPAddress, b_port: int) -> bool:
    return a_address == b_address and a_port == b_port


def _check_real_servers(state: _Validation) -> list[RealServer]:
    vs = state.vs
    kept: list[RealServer] = []
    for written in vs.real_servers:
        if any(_same_server(written.address, written.port, k.address, k.port) for k in kept):
            state.error(written.loc, f"VS {state.name()}: real server {describe_rs(written, state.get('protocol'))} "
                                     "is duplicated - removing second rs")
            continue
        rs = written.replace(lvs_method=state.method_for(written.lvs_method))
        sorry = vs.sorry_server
        if (
            sorry is not None
            and _same_server(sorry.address, sorry.port, rs.address, rs.port)
            and vs.sorry_server_inhibit != rs.inhibit_on_failure
        ):
            state.error(vs.where("sorry_server"),
                        f"Virtual server {state.name()}: real server {describe_rs(rs, state.get('protocol'))} matches "
                        f"sorry server, but inhibit setting differs, "
                        f"{'setting' if rs.inhibit_on_failure else 'clearing'} on sorry server")
            state.changes["sorry_server_inhibit"] = rs.inhibit_on_failure
        kept.append(rs)
    return kept


def _check_sorry_method(state: _Validation) -> None:
    if state.vs.sorry_server is not None:
        state.changes["sorry_server_lvs_method"] = state.method_for(state.vs.sorry_server_lvs_method)


def _check_quorum(state: _Validation, real_servers: Sequence[RealServer]) -> None:
    vs = state.vs
    # keepalived adds the weights in 32 bits and may wrap; the real sum is meant.
    total = sum(rs.weight for rs in real_servers)
    quorum = vs.quorum
    if quorum > total:
        state.error(vs.where("quorum"), f"Warning - quorum {quorum} for {state.name()} exceeds total weight of real "
                                        f"servers {total}, reducing quorum to {total}")
        quorum = total
        state.changes["quorum"] = quorum
    if vs.hysteresis >= quorum and (quorum or vs.hysteresis):
        # With a quorum of 0 keepalived wraps the hysteresis round to 4294967295; 0 is meant.
        hysteresis = max(quorum - 1, 0)
        state.error(vs.where("hysteresis"), f"Virtual server {state.name()}: hysteresis {vs.hysteresis} >= quorum "
                                            f"{quorum}; setting hysteresis to {hysteresis}")
        state.changes["hysteresis"] = hysteresis


def _check_ports(state: _Validation, real_servers: list[RealServer]) -> tuple[RealServer, ...]:
    """Unless NAT, real and sorry servers use the service's port; fwmark services have none."""
    vs, group = state.vs, state.group
    sorry: ServerAddress | None = vs.sorry_server
    sorry_method: LvsMethod | None = state.get("sorry_server_lvs_method")
    sorry_direct = sorry is not None and sorry_method is not None and sorry_method.method != "NAT"

    def rs_name(rs: RealServer) -> str:
        return describe_rs(rs, state.get("protocol"))

    if group is not None:
        # keepalived only reports these for groups; it changes nothing.
        direct = [rs for rs in real_servers if rs.lvs_method is None or rs.lvs_method.method != "NAT"]
        if group.fwmarks:
            for rs in direct:
                if rs.port:
                    state.error(rs.loc, f"WARNING - fwmark virtual server {state.name()}, real server {rs_name(rs)} "
                                        "has port specified - port will be ignored")
            if sorry_direct and sorry is not None and sorry.port:
                state.error(vs.where("sorry_server"), f"WARNING - fwmark virtual server {state.name()}, sorry server "
                                                      "has port specified - port will be ignored")
        for entry in group.addresses:
            for rs in direct:
                if rs.port and rs.port != entry.port:
                    state.error(rs.loc, f"virtual server {state.name()}:[{_describe_entry(entry)}] and real server "
                                        f"{rs_name(rs)} ports don't match")
            if sorry_direct and sorry is not None and sorry.port and sorry.port != entry.port:
                state.error(vs.where("sorry_server"), f"WARNING - virtual server {state.name()}, sorry server has "
                                                      "port specified - port will be ignored")
        return tuple(real_servers)

    fixed: list[RealServer] = []
    for rs in real_servers:
        nat = rs.lvs_method is not None and rs.lvs_method.method == "NAT"
        port = rs.port
        if vs.fwmark is not None:
            if not nat and rs.port:
                state.error(rs.loc, f"WARNING - fwmark virtual server {state.name()}, real server {rs_name(rs)} has "
                                    "port specified - clearing")
                port = 0
        elif not rs.port:
            port = vs.port
        elif not nat and rs.port != vs.port:
            state.error(rs.loc, f"WARNING - virtual server {state.name()} and real server {rs_name(rs)} ports don't "
                                "match - resetting")
            port = vs.port
        fixed.append(rs.replace(port=port) if port != rs.port else rs)
    if sorry_direct and sorry is not None:
        if vs.fwmark is not None:
            if sorry.port:
                state.error(vs.where("sorry_server"), f"WARNING - virtual server {state.name()}, sorry server has port "
                                                      "specified - clearing")
                state.changes["sorry_server"] = ServerAddress(sorry.address, 0)
        elif not sorry.port:
            state.changes["sorry_server"] = ServerAddress(sorry.address, vs.port)
        elif sorry.port != vs.port:
            state.error(vs.where("sorry_server"), f"WARNING - virtual server {state.name()} and sorry server ports "
                                                  "don't match - resetting")
            state.changes["sorry_server"] = ServerAddress(sorry.address, vs.port)
    return tuple(fixed)


def _aim_checkers(vs: VirtualServer) -> VirtualServer:
    """Checkers connect to their real server unless told otherwise; say so in the model.

    The port is the real server's final one: keepalived 2.2.7 takes the port written
    in the real_server line, so a real server without one is checked on port 0.
    """
    real_servers = []
    for rs in vs.real_servers:
        checkers: list[Checker] = []
        for checker in rs.checkers:
            changes: dict[str, Any] = {}
            if isinstance(checker, Connection):
                if checker.connect_ip is None:
                    changes["connect_ip"] = rs.address
                if checker.connect_port is None and rs.port:
                    changes["connect_port"] = rs.port
            checkers.append(checker.replace(**changes))
        real_servers.append(rs.replace(checkers=tuple(checkers)))
    return vs.replace(real_servers=tuple(real_servers))
