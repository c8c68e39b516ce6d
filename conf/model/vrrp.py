"""vrrp_sync_group and vrrp_instance.

Ranges, defaults and messages follow keepalived/vrrp/vrrp_parser.c, the
completion rules vrrp_complete_instance() in keepalived/vrrp/vrrp.c, and the
sync group checks in keepalived/vrrp/vrrp_sync.c (2.2.7).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from conf.diagnostics import Loc
from conf.model.addresses import VirtualAddress, format_address, parse_virtual_address
from conf.model.common import (
    EnvRef,
    NameRef,
    TrackRef,
    TrackRefParser,
    check_ifname,
    format_name_ref,
    format_track_ref,
    parse_name_refs,
)
from conf.model.global_values import GarpExtraIf
from conf.model.routes import RouteEntry, format_route, parse_virtual_route
from conf.model.rules import RuleEntry, format_rule, parse_virtual_rule
from conf.schema import NOWHERE, ArgError, Block, Cx, Scope, Value, block, kw, lines, name_header
from conf.tree import Stmt
from conf.values import (
    IP,
    AtLeastOne,
    Bool,
    Choice,
    Const,
    Flag,
    Float,
    Int,
    IPAddress,
    Script,
    ScriptValue,
    Str,
    parse_int,
    parse_ip,
)

if TYPE_CHECKING:
    pass

PRIORITY_OWNER = 255
PRIORITY_DEFAULT = 100
TIMER_MAX_SECONDS = 4294  # keepalived's timers are microseconds in an unsigned int
VRRP_V2_MAX_ADVERT = 255
VRRP_V3_MAX_ADVERT = 40.95  # 12 bits of centiseconds
VRRP_MAX_ADDRESSES = 255


def _track_lines(what: str, limit: int) -> Any:
    return lines(TrackRefParser(limit, what, noreverse=what != "track_interface"), line_format=format_track_ref)


# ----------------------------------------------------------------- argument types


@dataclass(frozen=True)
class Vmac:
    """`use_vmac [IFNAME] [MAC]`; a 5-octet MAC takes the VRID as its last octet."""

    ifname: str | None = None
    mac: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ifname": self.ifname, "mac": self.mac}


_MAC = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){4,5}$")


class VmacValue(Value[Vmac]):
    min_args = 0
    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Vmac:
        ifname: str | None = None
        mac: str | None = None
        for word in args:
            if _MAC.match(word):
                if mac is not None:
                    cx.error(stmt, "VMAC interface address already specified")
                    continue
                octets = [int(o, 16) for o in word.split(":")]
                if octets[0] & 1:
                    cx.error(stmt, f"VMAC MAC address is multicast {word} - ignoring")
                    continue
                if octets[:5] == [0, 0, 0x5E, 0, 1] or octets[:5] == [0, 0, 0x5E, 0, 2]:
                    cx.error(stmt, f"VMAC MAC address not allowed to be RFC5798 address ({word}) - ignoring")
                    continue
                mac = ":".join(f"{o:02x}" for o in octets)
            else:
                if ifname is not None:
                    cx.error(stmt, "VMAC interface name already specified")
                    continue
                try:
                    ifname = check_ifname(word)
                except ArgError as exc:
                    cx.error(stmt, f"VMAC {exc.message} - ignoring")
        return Vmac(ifname, mac)

    def format(self, value: Vmac) -> str:
        return " ".join(w for w in (value.ifname, value.mac) if w)


@dataclass(frozen=True)
class Ipvlan:
    """`use_ipvlan [IFNAME] [IP[/PREFIX]] [bridge|private|vepa]`."""

    ifname: str | None = None
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
    mode: str = "bridge"

    def to_json(self) -> dict[str, Any]:
        return {"ifname": self.ifname, "address": str(self.address) if self.address else None, "mode": self.mode}


class IpvlanValue(Value[Ipvlan]):
    min_args = 0
    max_args = 3

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Ipvlan:
        ifname: str | None = None
        address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
        mode: str | None = None
        for word in args:
            if word in ("bridge", "private", "vepa"):
                if mode is not None:
                    cx.error(stmt, f"ipvlan type already specified - ignoring '{word}'")
                else:
                    mode = word
                continue
            try:
                candidate = ipaddress.ip_interface(word)
            except ValueError:
                candidate = None
            if candidate is not None:
                if address is not None:
                    cx.error(stmt, f"ipvlan address already specified - ignoring '{word}'")
                else:
                    address = candidate
                continue
            if ifname is not None:
                cx.error(stmt, f"IPVLAN interface already specified - ignoring '{word}'")
                continue
            try:
                ifname = check_ifname(word)
            except ArgError as exc:
                cx.error(stmt, f"IPVLAN {exc.message} - ignoring")
        return Ipvlan(ifname, address, mode or "bridge")

    def format(self, value: Ipvlan) -> str:
        return " ".join(w for w in (value.ifname, str(value.address) if value.address else None, value.mode) if w)


@dataclass(frozen=True)
class UnicastPeer:
    address: IPAddress
    min_ttl: int = 0
    max_ttl: int = 255
    loc: Loc = field(default=NOWHERE, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"address": str(self.address), "min_ttl": self.min_ttl, "max_ttl": self.max_ttl}


def parse_unicast_peer(stmt: Stmt, cx: Cx) -> UnicastPeer:
    words = stmt.words
    address = parse_ip(words[0], "unicast peer address")
    ttls = {"min_ttl": 0, "max_ttl": 255}
    i = 1
    while i < len(words):
        option = words[i]
        if i + 1 >= len(words):
            cx.error(stmt, f"{option} is missing a value")
            break
        if option not in ttls:
            cx.error(stmt, f"unknown unicast_peer option {option}")
            break
        try:
            ttls[option] = parse_int(words[i + 1], 0, 255)
        except ArgError as exc:
            cx.error(stmt, f"{option}: {exc.message}; ignored")
        i += 2
    if ttls["min_ttl"] > ttls["max_ttl"]:
        cx.error(stmt, f"min_ttl {ttls['min_ttl']} > max_ttl {ttls['max_ttl']} - all packets will be discarded")
    return UnicastPeer(address, ttls["min_ttl"], ttls["max_ttl"], loc=stmt.loc)


def format_unicast_peer(peer: UnicastPeer) -> str:
    text = str(peer.address)
    if peer.min_ttl != 0:
        text += f" min_ttl {peer.min_ttl}"
    if peer.max_ttl != 255:
        text += f" max_ttl {peer.max_ttl}"
    return text


class InstanceGarpExtraIf(Value[GarpExtraIf]):
    """`garp_extra_if [all] SECONDS` in an instance, where 0 turns the global setting off."""

    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> GarpExtraIf:
        all_interfaces = args[0] == "all"
        rest = args[1:] if all_interfaces else args
        if not rest:
            raise ArgError(f"{stmt.keyword} specified without time")
        return GarpExtraIf(parse_int(rest[0], 0, 86400), all_interfaces)

    def format(self, value: GarpExtraIf) -> str:
        return f"{'all ' if value.all_interfaces else ''}{value.interval}"


class NotifyDeleted(Value[Script | bool]):
    """`notify_deleted [SCRIPT [user [group]]]`: send DELETED rather than FAULT, and maybe run a script."""

    min_args = 0
    max_args = 3

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Script | bool:
        if not args:
            return True
        return ScriptValue().parse(args, stmt, cx)

    def format(self, value: Script | bool) -> str:
        return ScriptValue().format(value) if isinstance(value, Script) else ""


class OldUnicastChecksum(Value[str]):
    """`old_unicast_checksum [never]`."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            return "config"
        if args[0] == "never":
            return "never"
        raise ArgError(f"unknown old_unicast_checksum mode {args[0]}")

    def format(self, value: str) -> str:
        return "never" if value == "never" else ""


class AuthPass(Value[str]):
    """Only the first 8 characters of a password go on the wire; lint reports a longer one."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        password = args[0]
        if len(password.encode("utf-8", "surrogateescape")) > 8:
            kept = password.encode("utf-8", "surrogateescape")[:8].decode("utf-8", "replace")
            cx.warning(
                stmt,
                f"auth_pass is longer than 8 characters and is truncated to '{kept}'; "
                "peers configured with the full string only match if they truncate it the same way",
            )
        return password

    def format(self, value: str) -> str:
        return Str().format(value)


# ------------------------------------------------------------------------ blocks


@dataclass(frozen=True, kw_only=True)
class Authentication(Block):
    block_keyword = "authentication"

    auth_type: str | None = kw(Choice("PASS", "AH"))
    auth_pass: str | None = kw(AuthPass())

    @property
    def wire_password(self) -> bytes:
        """The 8 octets keepalived puts in a VRRPv2 PASS advert: truncated and zero padded."""
        raw = (self.auth_pass or "").encode("utf-8", "surrogateescape")[:8]
        return raw.ljust(8, b"\0")


def _global(name: str) -> Any:
    """Inherit an instance setting from the global_defs keyword `name`."""
    return lambda s: getattr(s.globals, name)


def _unless_strict(strict_value: Any, name: str) -> Any:
    """Inherit from global_defs, except in strict mode where RFC behaviour is forced."""
    return lambda s: strict_value if s["strict_mode"] else getattr(s.globals, name)


def _smtp_alert_default(s: Scope) -> bool:
    for name in ("smtp_alert_vrrp", "smtp_alert"):
        value = getattr(s.globals, name)
        if value is not None:
            return bool(value)
    return False


@dataclass(frozen=True, kw_only=True)
class VrrpInstance(Block):
    block_keyword = "vrrp_instance"

    name: str = ""

    # Initial state and election
    state: str = kw(Choice("MASTER", "BACKUP"), default="BACKUP")
    priority: int = kw(Int(1, PRIORITY_OWNER), default=PRIORITY_DEFAULT)
    virtual_router_id: int | None = kw(Int(1, 255))
    advert_int: float = kw(Float(0.01, 255), default=1.0)
    version: int | None = kw(Int(2, 3))
    nopreempt: bool = kw(Flag(accepts_bool=False), default=False, also={"preempt": Const(False)})
    preempt_delay: float = kw(Float(0, 1000), default=0.0)
    strict_mode: bool = kw(Bool(), inherit=_global("vrrp_strict"))
    # Accept mode is resolved at completion: on unless strict, always on for the address owner.
    accept: bool | None = kw(Flag(accepts_bool=False), also={"no_accept": Const(False)})
    down_timer_adverts: int = kw(Int(1, 100), inherit=_global("vrrp_down_timer_adverts"))
    skip_check_adv_addr: bool = kw(Bool(), inherit=_global("vrrp_skip_check_adv_addr"))

    # Where adverts go
    interface: str | None = kw(Str())
    vrf: str | None = kw(Str())
    dont_track_primary: bool = kw(Flag(accepts_bool=False), default=False)
    mcast_src_ip: IPAddress | None = kw(IP())
    unicast_src_ip: IPAddress | None = kw(IP())
    track_src_ip: bool = kw(Flag(accepts_bool=False), default=False)
    mcast_dst_ip: IPAddress | None = kw(IP())
    unicast_peer: tuple[UnicastPeer, ...] = lines(parse_unicast_peer, line_format=format_unicast_peer)
    unicast_fault_no_peer: bool = kw(Flag(accepts_bool=False), default=False)
    unicast_ttl: int | None = kw(Int(0, 255))
    check_unicast_src: bool = kw(Flag(accepts_bool=False), inherit=_global("vrrp_check_unicast_src"))
    old_unicast_checksum: str | None = kw(OldUnicastChecksum())
    native_ipv6: bool = kw(Flag(accepts_bool=False), default=False)
    use_vmac: Vmac | None = kw(VmacValue())
    use_vmac_addr: bool = kw(Flag(accepts_bool=False), default=False)
    vmac_xmit_base: bool = kw(Flag(accepts_bool=False), default=False)
    use_ipvlan: Ipvlan | None = kw(IpvlanValue())
    kernel_rx_buf_size: int | None = kw(Int(0, 2**32 - 1))
    linkbeat_use_polling: bool = kw(
        Flag(accepts_bool=False),
        default=False,
        deprecated={"linkbeat_use_polling": "use a linkbeat_interfaces block"},
    )

    authentication: Authentication | None = block(Authentication)

    # What moves with the master
    virtual_ipaddress: tuple[VirtualAddress, ...] = lines(parse_virtual_address, line_format=format_address)
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = lines(parse_virtual_address, line_format=format_address)
    virtual_routes: tuple[RouteEntry, ...] = lines(parse_virtual_route, line_format=format_route)
    virtual_rules: tuple[RuleEntry, ...] = lines(parse_virtual_rule, line_format=format_rule)
    promote_secondaries: bool = kw(Flag(accepts_bool=False), default=False)

    # Trackers
    track_interface: tuple[TrackRef, ...] = _track_lines("track_interface", 253)
    track_script: tuple[TrackRef, ...] = _track_lines("track_script", 253)
    track_file: tuple[TrackRef, ...] = _track_lines("track_file", 254)
    track_process: tuple[TrackRef, ...] = _track_lines("track_process", 254)
    track_bfd: tuple[TrackRef, ...] = _track_lines("track_bfd", 253)

    # Gratuitous ARP / unsolicited NA
    garp_master_delay: int = kw(Int(0, TIMER_MAX_SECONDS), inherit=_global("vrrp_garp_master_delay"))
    garp_master_repeat: int = kw(AtLeastOne(2**32 - 1), inherit=_global("vrrp_garp_master_repeat"))
    garp_lower_prio_delay: int = kw(Int(0, TIMER_MAX_SECONDS), inherit=_unless_strict(0, "vrrp_garp_lower_prio_delay"))
    garp_lower_prio_repeat: int = kw(Int(0, 2**31 - 1), inherit=_unless_strict(0, "vrrp_garp_lower_prio_repeat"))
    garp_master_refresh: int = kw(Int(0, 2**32 - 1), inherit=_global("vrrp_garp_master_refresh"))
    garp_master_refresh_repeat: int = kw(AtLeastOne(2**32 - 1), inherit=_global("vrrp_garp_master_refresh_repeat"))
    garp_extra_if: GarpExtraIf | None = kw(
        InstanceGarpExtraIf(),
        names=("garp_extra_if", "vmac_garp_intvl"),
        inherit=_global("vrrp_garp_extra_if"),
        deprecated={"vmac_garp_intvl": "use 'garp_extra_if'"},
    )
    lower_prio_no_advert: bool = kw(Bool(), inherit=_unless_strict(True, "vrrp_lower_prio_no_advert"))
    higher_prio_send_advert: bool = kw(Bool(), inherit=_unless_strict(False, "vrrp_higher_prio_send_advert"))

    # Notifications
    notify_master: Script | None = kw(ScriptValue(), once=True)
    notify_backup: Script | None = kw(ScriptValue(), once=True)
    notify_fault: Script | None = kw(ScriptValue(), once=True)
    notify_stop: Script | None = kw(ScriptValue(), once=True)
    notify_deleted: Script | bool | None = kw(NotifyDeleted(), once=True)
    notify: Script | None = kw(ScriptValue(), once=True)
    notify_master_rx_lower_pri: Script | None = kw(ScriptValue(), once=True)
    # None until completion, which takes it from the sync group or global_defs.
    notify_priority_changes: bool | None = kw(Bool())
    smtp_alert: bool = kw(Bool(), inherit=_smtp_alert_default)
    debug: int = kw(Int(0, 4), default=0)
    lvs_sync_daemon_interface: str | None = kw(
        Str(), deprecated={"lvs_sync_daemon_interface": "use the global lvs_sync_daemon"}
    )

    header = name_header("vrrp_instance")

    def header_text(self) -> str:
        return self.name

    # --------------------------------------------------------------- derived

    @property
    def family(self) -> int:
        """4 or 6: the family of the VIPs (or of the unicast peers when there are none)."""
        if self.virtual_ipaddress:
            return int(self.virtual_ipaddress[0].address.version)
        if self.unicast_peer:
            return self.unicast_peer[0].address.version
        return 6 if self.native_ipv6 else 4

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peer)

    @property
    def source_ip(self) -> IPAddress | None:
        return self.unicast_src_ip or self.mcast_src_ip

    @property
    def effective_version(self) -> int:
        return self.version or 2

    def env_refs(self) -> Iterator[EnvRef]:
        if self.interface:
            yield EnvRef(
                "interface", self.interface, self.where("interface"), f"interface of vrrp_instance {self.name}"
            )
        for ref in self.track_interface:
            yield EnvRef("interface", ref.name, ref.loc, f"track_interface of vrrp_instance {self.name}")
        for name in (
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "notify_master_rx_lower_pri",
            "notify_deleted",
        ):
            script = getattr(self, name)
            if isinstance(script, Script):
                yield from script_env_refs(script, self.where(name), f"{name} of vrrp_instance {self.name}")

    @property
    def unicast_keyword_used(self) -> bool:
        """Any keyword that asks for unicast (keepalived's VRRP_FLAG_UNICAST_CONFIGURED)."""
        return any(
            name in self.locs
            for name in (
                "unicast_peer",
                "unicast_src_ip",
                "unicast_fault_no_peer",
                "check_unicast_src",
                "old_unicast_checksum",
            )
        )

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        from conf.model.vrrp_complete import complete_instance  # noqa: PLC0415 - it imports this module

        return complete_instance(self, cx, scope)  # type: ignore[return-value]


def script_env_refs(script: Script, loc: Loc, what: str) -> Iterator[EnvRef]:
    yield EnvRef("script", script.argv[0], loc, what)
    if script.user:
        yield EnvRef("user", script.user, loc, what)
    if script.group:
        yield EnvRef("group", script.group, loc, what)


@dataclass(frozen=True, kw_only=True)
class SyncGroup(Block):
    block_keyword = "vrrp_sync_group"

    name: str = ""
    group: tuple[NameRef, ...] = lines(parse_name_refs, line_format=format_name_ref)
    track_interface: tuple[TrackRef, ...] = _track_lines("track_interface", 253)
    track_script: tuple[TrackRef, ...] = _track_lines("track_script", 253)
    track_file: tuple[TrackRef, ...] = _track_lines("track_file", 254)
    track_process: tuple[TrackRef, ...] = _track_lines("track_process", 254)
    track_bfd: tuple[TrackRef, ...] = _track_lines("track_bfd", 253)
    notify_master: Script | None = kw(ScriptValue(), once=True)
    notify_backup: Script | None = kw(ScriptValue(), once=True)
    notify_fault: Script | None = kw(ScriptValue(), once=True)
    notify_stop: Script | None = kw(ScriptValue(), once=True)
    notify: Script | None = kw(ScriptValue(), once=True)
    smtp_alert: bool | None = kw(Bool())
    global_tracking: bool = kw(
        Flag(accepts_bool=False),
        default=False,
        deprecated={"global_tracking": "use track_interface/script/file on the sync group"},
    )
    sync_group_tracking_weight: bool = kw(Flag(accepts_bool=False), default=False)
    notify_priority_changes: bool | None = kw(Bool())

    header = name_header("vrrp_sync_group")

    def header_text(self) -> str:
        return self.name

    def env_refs(self) -> Iterator[EnvRef]:
        for ref in self.track_interface:
            yield EnvRef("interface", ref.name, ref.loc, f"track_interface of vrrp_sync_group {self.name}")
        for name in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
            script = getattr(self, name)
            if isinstance(script, Script):
                yield from script_env_refs(script, self.where(name), f"{name} of vrrp_sync_group {self.name}")
