"""virtual_server, real_server and the SSL block, with keepalived 2.2.7's defaults and inheritance
(keepalived/check/check_parser.c, check_data.c). Differences are listed in docs/compatibility.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from conf.model.checker_base import (
    TIMER_MAX_US,
    UINT_MAX,
    Checker,
    OneWord,
    Timer,
    family_name,
    inherited,
    read_server_ip,
    script_env_refs,
    smtp_alert_default,
)
from conf.model.checkers_other import CHECKER_TYPES, BfdCheck, SmtpCheck
from conf.model.common import EnvRef
from conf.schema import ArgError, Block, Cx, Scope, blocks, internal, kw
from conf.tree import Stmt
from conf.values import Bool, Choice, Flag, Int, IPAddress, Script, ScriptValue, Str, parse_int, quote

if TYPE_CHECKING:
    pass
from conf.model.lvs_values import (
    DEFAULT_PERSISTENCE,
    IPVS_WEIGHT_LIMIT,
    SCHEDULERS,
    LvsMethod,
    LvsMethodValue,
    PersistenceEngine,
    PersistenceTimeout,
    Quorum,
    ServerAddress,
    ServerAddressValue,
    _before,
    _contiguous,
    _ipv4_mask,
    _read_port,
    _tunnelled,
)

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
                    cx.error(
                        checker.where("name"),
                        f"({self.address}) BFD_CHECK - RS already monitoring {checker.name} - skipping checker",
                    )
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
            cx.error(
                stmt,
                f"virtual_server {args[0]} is missing its {'name' if args[0] == 'group' else 'mark'}; block ignored",
            )
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
                cx.error(
                    stmt, f"{exc.message}; virtual server fwmark '{args[1]}' must be in [1, {UINT_MAX}] - skipping"
                )
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
                cx.error(
                    self.where("ip_family"),
                    f"Virtual server specified family {self.ip_family} conflicts with server family; ignored",
                )
            else:
                family = self.ip_family
        real_servers: list[RealServer] = []
        for rs in self.real_servers:
            # Tunnelled servers may have the other family than the virtual server.
            if not _tunnelled(rs.lvs_method):
                if family is None:
                    family = family_name(rs.address)
                elif family_name(rs.address) != family:
                    cx.error(
                        rs.loc,
                        f"Address family of virtual server and real server {rs.address} don't match "
                        "- skipping real server.",
                    )
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
            cx.error(
                self.where("sorry_server_inhibit"), "Ignoring sorry_server_inhibit used before or without sorry_server"
            )
            inhibit = False
        if method is not None and (
            sorry is None or _before(self.where("sorry_server_lvs_method"), self.where("sorry_server"))
        ):
            cx.error(
                self.where("sorry_server_lvs_method"), "sorry_server forwarding used without sorry_server; ignored"
            )
            method = None
        if sorry is not None and not _tunnelled(method or self.lvs_method):
            if family is None:
                family = family_name(sorry.address)
            elif family_name(sorry.address) != family:
                cx.error(
                    self.where("sorry_server"),
                    f"Address family of virtual server and sorry server "
                    f"{sorry.address} don't match - skipping sorry server.",
                )
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
