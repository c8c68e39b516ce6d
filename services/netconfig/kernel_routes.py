"""Routes (static_routes, virtual_routes) in the kernel, as keepalived's netlink_route() installs them.

What keepalived 2.2.7 sends (vrrp_iproute.c), and so what is sent here:
- adding: NLM_F_CREATE, plus NLM_F_EXCL for `add` or NLM_F_APPEND for `append`;
  the default `prepend` adds neither, so a route that differs from an existing
  one only in its nexthop is added beside it rather than refused;
- scope RT_SCOPE_UNIVERSE unless `scope` is given, even for routes without a
  gateway (the kernel refuses, for instance, `local` routes without `scope host`);
- protocol RTPROT_KEEPALIVED (18) unless `protocol` is given, tracked or not;
- removing: the same attributes, scope RT_SCOPE_NOWHERE unless `scope` is given,
  so that the kernel deletes only a route with this protocol, type, source,
  gateway, interface and metrics.

A second `add` of a route that is installed fails with EEXIST: the kernel refuses
an exact duplicate whatever the flags. Callers check `present` first.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyroute2.netlink.exceptions import NetlinkError

from conf.model.iproute import RT_DSFIELD, RT_PROTOS, RT_REALMS, RT_SCOPES, RT_TABLES, RTPROT_KEEPALIVED
from conf.model.routes import Encap, Nexthop, RouteEntry, format_route, parse_static_route
from conf.values import IPAddress, IPNetwork
from services.netconfig.kernel_common import (
    FAMILIES,
    NLM_F_ACK,
    NLM_F_APPEND,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    RTM_DELROUTE,
    RTM_GETROUTE,
    RTM_NEWROUTE,
    VERSIONS,
    Interfaces,
    Names,
    kernel_error,
    nla,
    nla_be64,
    nla_u8,
    nla_u16,
    nla_u32,
    parse_line,
    talk,
)
from services.netconfig.kinds import KernelError

# linux/rtnetlink.h
RTA_DST = 1
RTA_SRC = 2
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_METRICS = 8
RTA_MULTIPATH = 9
RTA_FLOW = 11
RTA_TABLE = 15
RTA_VIA = 18
RTA_PREF = 20
RTA_ENCAP_TYPE = 21
RTA_ENCAP = 22
RTA_EXPIRES = 23
RTA_TTL_PROPAGATE = 26
RTNH_F_ONLINK = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255
RT_TABLE_UNSPEC = 0
IP6_RT_PRIO_USER = 1024  # the metric the kernel gives an IPv6 route that has none

RTAX_LOCK = 1
RTAX = {
    "mtu": 2,
    "window": 3,
    "rtt": 4,
    "rttvar": 5,
    "ssthresh": 6,
    "cwnd": 7,
    "advmss": 8,
    "reordering": 9,
    "hoplimit": 10,
    "initcwnd": 11,
    "features": 12,
    "rto_min": 13,
    "initrwnd": 14,
    "quickack": 15,
    "congctl": 16,
    "fastopen_no_cookie": 17,
}
RTAX_FEATURE_ECN = 1
# The order keepalived adds them in.
_U32_METRICS = (
    "rtt",
    "rttvar",
    "rto_min",
    "mtu",
    "window",
    "ssthresh",
    "cwnd",
    "advmss",
    "reordering",
    "hoplimit",
    "initcwnd",
    "initrwnd",
    "quickack",
)

# linux/lwtunnel.h, mpls_iptunnel.h, ila.h
ENCAP_TYPES = {"mpls": 1, "ip": 2, "ila": 3, "ip6": 4}
LWTUNNEL_IP_ID = 1
LWTUNNEL_IP_DST = 2
LWTUNNEL_IP_SRC = 3
LWTUNNEL_IP_TTL = 4
LWTUNNEL_IP_TOS = 5
LWTUNNEL_IP_FLAGS = 6
MPLS_IPTUNNEL_DST = 1
ILA_ATTR_LOCATOR = 1
MPLS_LS_LABEL_SHIFT = 12
MPLS_LS_S_SHIFT = 8
# Where the kernel keeps each encapsulation; named when the kernel says it does not know one.
ENCAP_MODULES = {
    "mpls": "mpls_iptunnel (with mpls_router)",
    "ila": "ila",
    "ip": "ip_tunnel (CONFIG_NET_IP_TUNNEL)",
    "ip6": "ip_tunnel (CONFIG_NET_IP_TUNNEL)",
}

_RTMSG = struct.Struct("=BBBBBBBBI")
_RTNEXTHOP = struct.Struct("=HBBi")


def parse_route_line(text: str) -> RouteEntry:
    """A route line (static_routes or virtual_routes syntax) as the configuration parser reads it.

    ValueError if the parser drops the line.
    """
    return parse_line(parse_static_route, text, "route")


# ---------------------------------------------------------------------------------------------
# Identity


class RouteKey(NamedTuple):
    """What tells two routes apart in the kernel.

    The kernel finds a route by family, table, destination, source prefix (IPv6),
    tos and metric; with keepalived's default `prepend`, routes sharing those but
    differing in type, protocol or nexthops are distinct, and its deletes match
    on all of these. Names from /etc/iproute2 that are not built in stay names:
    the key is worked out without reading the machine.
    """

    family: int
    table: int | str  # or "vrf:NAME"
    destination: IPNetwork
    source: IPNetwork | None
    tos: int | str
    metric: int
    type: int
    protocol: int | str
    nexthops: frozenset[tuple[IPAddress | None, str | None]]
    multipath: bool


def route_key(entry: RouteEntry) -> RouteKey:
    hops = entry.nexthops if entry.nexthops else (Nexthop(via=entry.via, dev=entry.dev),)
    return RouteKey(
        family=entry.family,
        table=f"vrf:{entry.vrf}" if entry.vrf is not None else entry.table,
        destination=entry.destination,
        source=_nonzero(entry.from_address),
        tos=entry.tos if entry.tos is not None else 0,
        metric=_metric(entry),
        type=entry.type,
        protocol=entry.protocol if entry.protocol is not None else RTPROT_KEEPALIVED,
        nexthops=frozenset((hop.via, hop.dev) for hop in hops),
        multipath=bool(entry.nexthops),
    )


def _nonzero(network: IPNetwork | None) -> IPNetwork | None:
    """A /0 source matches every source: the kernel keeps no source prefix for it."""
    return network if network is not None and network.prefixlen > 0 else None


def _metric(entry: RouteEntry) -> int:
    if entry.metric is not None:
        return entry.metric
    return IP6_RT_PRIO_USER if entry.family == 6 else 0


def describe(entry: RouteEntry) -> str:
    return f"route '{format_route(entry)}'"


# ---------------------------------------------------------------------------------------------
# The request


@dataclass(frozen=True)
class Resolved:
    """The numbers of a route that only the machine knows: table, interfaces, names."""

    table: int
    protocol: int
    scope: int | None
    tos: int | None
    realms: int
    oif: int | None
    hop_oifs: tuple[int | None, ...]
    hop_realms: tuple[int, ...]


def resolve(entry: RouteEntry, names: Names, interfaces: Interfaces) -> Resolved:
    """KernelError(ENODEV) for a missing interface or VRF, ENOENT for an unknown name."""
    what = describe(entry)
    if entry.vrf is not None:
        table = interfaces.vrf_table(entry.vrf, what)
    else:
        table = names.number(RT_TABLES, entry.table, what)
    return Resolved(
        table=table,
        protocol=names.number(RT_PROTOS, entry.protocol, what) if entry.protocol is not None else RTPROT_KEEPALIVED,
        scope=names.number(RT_SCOPES, entry.scope, what) if entry.scope is not None else None,
        tos=names.number(RT_DSFIELD, entry.tos, what) if entry.tos is not None else None,
        realms=names.realms(entry.realms, RT_REALMS, what) if entry.realms else 0,
        oif=interfaces.index(entry.dev, what) if entry.dev is not None else None,
        hop_oifs=tuple(interfaces.index(hop.dev, what) if hop.dev else None for hop in entry.nexthops),
        hop_realms=tuple(names.realms(hop.realms, RT_REALMS, what) if hop.realms else 0 for hop in entry.nexthops),
    )


def route_request(entry: RouteEntry, resolved: Resolved, names: Names, delete: bool) -> tuple[int, int, bytes]:
    """(message type, flags, body) of keepalived's request to add or delete `entry`."""
    family = FAMILIES[entry.family]
    if delete:
        msg_type, flags = RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK
        scope = RT_SCOPE_NOWHERE
    else:
        msg_type, flags = RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
        flags |= {"add": NLM_F_EXCL, "append": NLM_F_APPEND}.get(entry.mode, 0)
        scope = RT_SCOPE_UNIVERSE
    if resolved.scope is not None:
        scope = resolved.scope
    what = describe(entry)
    attrs = b""
    if resolved.table >= 256:
        attrs += nla_u32(RTA_TABLE, resolved.table)
    attrs += nla(RTA_DST, entry.destination.network_address.packed)
    if entry.from_address is not None:
        attrs += nla(RTA_SRC, entry.from_address.network_address.packed)
    if entry.src is not None:
        attrs += nla(RTA_PREFSRC, entry.src.packed)
    if entry.via is not None:
        attrs += _gateway(entry.family, entry.via)
    if entry.encap is not None:
        attrs += _encap(entry.encap, names, what)
    if resolved.oif is not None:
        attrs += nla_u32(RTA_OIF, resolved.oif)
    if entry.metric is not None:
        attrs += nla_u32(RTA_PRIORITY, entry.metric)
    if resolved.realms:
        attrs += nla_u32(RTA_FLOW, resolved.realms)
    if entry.expires is not None:
        attrs += nla_u32(RTA_EXPIRES, entry.expires)
    if entry.pref is not None:
        attrs += nla_u8(RTA_PREF, entry.pref)
    if entry.ttl_propagate is not None:
        attrs += nla_u8(RTA_TTL_PROPAGATE, int(entry.ttl_propagate))
    metrics = _metrics(entry)
    if metrics:
        attrs += nla(RTA_METRICS, metrics)
    if entry.nexthops:
        attrs += _multipath(entry, resolved, names, what)
    header = _RTMSG.pack(
        family,
        entry.destination.prefixlen,
        entry.from_address.prefixlen if entry.from_address is not None else 0,
        resolved.tos or 0,
        resolved.table if resolved.table < 256 else RT_TABLE_UNSPEC,
        resolved.protocol,
        scope,
        entry.type,
        RTNH_F_ONLINK if entry.onlink else 0,
    )
    return msg_type, flags, header + attrs


def _gateway(family: int, via: IPAddress) -> bytes:
    """RTA_GATEWAY in the route's own family, RTA_VIA (family and address) otherwise."""
    if via.version == family:
        return nla(RTA_GATEWAY, via.packed)
    return nla(RTA_VIA, struct.pack("=H", FAMILIES[via.version]) + via.packed)


def _metrics(entry: RouteEntry) -> bytes:
    out = b""
    if entry.congctl is not None:
        # Without its NUL, as keepalived sends it.
        out += nla(RTAX["congctl"], entry.congctl.encode())
    for name in _U32_METRICS[:3]:
        value = getattr(entry, name)
        if value is not None:
            out += nla_u32(RTAX[name], value)
    if "ecn" in entry.features:
        out += nla_u32(RTAX["features"], RTAX_FEATURE_ECN)
    for name in _U32_METRICS[3:]:
        value = getattr(entry, name)
        if value is not None:
            out += nla_u32(RTAX[name], value)
    if entry.fastopen_no_cookie is not None:
        out += nla_u32(RTAX["fastopen_no_cookie"], entry.fastopen_no_cookie)
    if out and entry.locked:
        out += nla_u32(RTAX_LOCK, sum(1 << RTAX[name] for name in entry.locked))
    return out


def _encap(encap: Encap, names: Names, what: str) -> bytes:
    if encap.type == "mpls":
        labels = [label << MPLS_LS_LABEL_SHIFT for label in encap.labels]
        labels[-1] |= 1 << MPLS_LS_S_SHIFT  # bottom of stack
        inner = nla(MPLS_IPTUNNEL_DST, b"".join(struct.pack(">I", label) for label in labels))
    elif encap.type == "ila":
        groups = [int(group, 16) for group in (encap.locator or "").split(":")]
        inner = nla(ILA_ATTR_LOCATOR, struct.pack(">4H", *groups))
    else:
        inner = b""
        if encap.id is not None:
            inner += nla_be64(LWTUNNEL_IP_ID, encap.id)
        if encap.dst is not None:
            inner += nla(LWTUNNEL_IP_DST, encap.dst.packed)
        if encap.src is not None:
            inner += nla(LWTUNNEL_IP_SRC, encap.src.packed)
        if encap.tos is not None:
            inner += nla_u8(LWTUNNEL_IP_TOS, names.number(RT_DSFIELD, encap.tos, what))
        if encap.ttl is not None:
            inner += nla_u8(LWTUNNEL_IP_TTL, encap.ttl)
        if encap.flags is not None:
            inner += nla_u16(LWTUNNEL_IP_FLAGS, encap.flags)
    return nla(RTA_ENCAP, inner) + nla_u16(RTA_ENCAP_TYPE, ENCAP_TYPES[encap.type])


def _multipath(entry: RouteEntry, resolved: Resolved, names: Names, what: str) -> bytes:
    out = b""
    for hop, oif, realms in zip(entry.nexthops, resolved.hop_oifs, resolved.hop_realms, strict=True):
        attrs = b""
        if hop.via is not None:
            attrs += _gateway(entry.family, hop.via)
        if realms:
            attrs += nla_u32(RTA_FLOW, realms)
        if hop.encap is not None:
            attrs += _encap(hop.encap, names, what)
        out += _RTNEXTHOP.pack(
            _RTNEXTHOP.size + len(attrs),
            RTNH_F_ONLINK if hop.onlink else 0,
            hop.weight - 1 if hop.weight is not None else 0,
            oif or 0,
        )
        out += attrs
    return nla(RTA_MULTIPATH, out)


# ---------------------------------------------------------------------------------------------
# What the kernel has


@dataclass(frozen=True)
class Hop:
    gateway: IPAddress | None
    oif: int | None  # None: any interface


@dataclass(frozen=True)
class Installed:
    """A route of the kernel's dump, reduced to what identifies it."""

    family: int
    table: int
    destination: IPNetwork
    source: IPNetwork | None
    tos: int
    metric: int
    type: int
    protocol: int
    hops: tuple[Hop, ...]
    multipath: bool


def installed_route(msg: Any) -> Installed | None:
    """A dumped route; None for one of a family other than IPv4 and IPv6."""
    version = VERSIONS.get(msg["family"])
    if version is None:
        return None
    multipath = msg.get_attr("RTA_MULTIPATH")
    if multipath:
        hops = tuple(Hop(_gateway_of(hop), hop["oif"] or None) for hop in multipath)
    else:
        hops = (Hop(_gateway_of(msg), msg.get_attr("RTA_OIF")),)
    return Installed(
        family=version,
        table=msg.get_attr("RTA_TABLE") or msg["table"],
        destination=_prefix(version, msg.get_attr("RTA_DST"), msg["dst_len"]),
        source=_prefix(version, msg.get_attr("RTA_SRC"), msg["src_len"]) if msg["src_len"] else None,
        tos=msg["tos"],
        metric=msg.get_attr("RTA_PRIORITY") or 0,
        type=msg["type"],
        protocol=msg["proto"],
        hops=hops,
        multipath=bool(multipath),
    )


def _gateway_of(msg: Any) -> IPAddress | None:
    gateway = msg.get_attr("RTA_GATEWAY")
    if gateway:
        return ipaddress.ip_address(gateway)
    via = msg.get_attr("RTA_VIA")
    if via and isinstance(via.get("addr"), str):
        try:
            return ipaddress.ip_address(via["addr"])
        except ValueError:
            return None
    return None


def _prefix(version: int, address: str | None, length: int) -> IPNetwork:
    zero = "0.0.0.0" if version == 4 else "::"
    return ipaddress.ip_network(f"{address or zero}/{length}", strict=False)


def wanted_route(entry: RouteEntry, resolved: Resolved) -> Installed:
    """The entry as the kernel would show it once installed (an oif of None: any)."""
    if entry.nexthops:
        hops = tuple(Hop(hop.via, oif) for hop, oif in zip(entry.nexthops, resolved.hop_oifs, strict=True))
    else:
        hops = (Hop(entry.via, resolved.oif),)
    return Installed(
        family=entry.family,
        table=resolved.table,
        destination=entry.destination,
        source=_nonzero(entry.from_address),
        tos=resolved.tos or 0,
        metric=_metric(entry),
        type=entry.type,
        protocol=resolved.protocol,
        hops=hops,
        multipath=bool(entry.nexthops),
    )


def _hop_matches(want: Hop, have: Hop) -> bool:
    return want.gateway == have.gateway and (want.oif is None or want.oif == have.oif)


def matches(want: Installed, have: Installed) -> bool:
    # IPv6 dumps routes that share destination and metric (ECMP siblings) as one
    # multipath route, with the first sibling's protocol. A sibling is told apart by
    # its nexthop alone, which the kernel keeps unique among siblings.
    sibling = want.family == 6 and have.multipath and not want.multipath
    if (want.family, want.table, want.destination, want.source, want.tos, want.metric, want.type) != (
        have.family,
        have.table,
        have.destination,
        have.source,
        have.tos,
        have.metric,
        have.type,
    ):
        return False
    if want.protocol != have.protocol and not sibling:
        return False
    if not want.multipath:
        if have.multipath and not sibling:
            return False
        return any(_hop_matches(want.hops[0], hop) for hop in have.hops)
    if len(want.hops) != len(have.hops):
        return False
    unused = list(have.hops)
    for hop in want.hops:
        found = next((candidate for candidate in unused if _hop_matches(hop, candidate)), None)
        if found is None:
            return False
        unused.remove(found)
    return True


def installed_routes(ipr: Any, families: set[int]) -> list[Installed]:
    found: list[Installed] = []
    for version in sorted(families):
        body = _RTMSG.pack(FAMILIES[version], 0, 0, 0, 0, 0, 0, 0, 0)
        try:
            answers = talk(ipr, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, body)
        except NetlinkError as exc:
            raise kernel_error(exc, f"cannot list IPv{version} routes") from None
        found += [route for route in map(installed_route, answers) if route is not None]
    return found


# ---------------------------------------------------------------------------------------------
# Errors


def _hints(entry: RouteEntry) -> dict[int, str]:
    hints = {
        errno.EEXIST: "the same route (destination, table, tos, metric, type, protocol and nexthops) is installed",
        errno.ENODEV: "an interface of the route or of one of its nexthops has gone",
    }
    gateways = [str(hop.via) for hop in entry.nexthops if hop.via is not None]
    if entry.via is not None:
        gateways.append(str(entry.via))
    if gateways:
        hints[errno.ENETUNREACH] = (
            f"gateway {', '.join(gateways)} is not on a network reachable through "
            f"{entry.dev or 'any interface'}: add a route to it first, or use 'onlink'"
        )
    encaps = {encap.type for encap in (entry.encap, *(hop.encap for hop in entry.nexthops)) if encap is not None}
    if encaps:
        modules = "; ".join(f"encap {kind} needs the kernel module {ENCAP_MODULES[kind]}" for kind in sorted(encaps))
        for code in (errno.EOPNOTSUPP, errno.EAFNOSUPPORT):
            hints[code] = f"this kernel does not support the encapsulation: {modules} (is it loaded?)"
    invalid = []
    if entry.type != 1 and entry.scope is None:
        invalid.append("route types other than unicast may need 'scope host' (local) or 'scope link' (broadcast)")
    if entry.congctl is not None:
        invalid.append(f"congctl {entry.congctl} must be in net.ipv4.tcp_available_congestion_control")
    if entry.src is not None:
        invalid.append(f"src {entry.src} must be an address of this host")
    if invalid:
        hints[errno.EINVAL] = "; ".join(invalid)
    return hints


# ---------------------------------------------------------------------------------------------
# The kind


class RouteKind:
    """`Kind[RouteEntry]`: routes of static_routes and virtual_routes."""

    name: str = "route"

    def __init__(self, names: Names | None = None) -> None:
        self._names = names or Names()

    def key(self, entry: RouteEntry) -> Hashable:
        return route_key(entry)

    def text(self, entry: RouteEntry) -> str:
        return format_route(entry)

    def parse(self, text: str) -> RouteEntry:
        return parse_route_line(text)

    def present(self, ipr: Any, entries: Sequence[RouteEntry]) -> set[Hashable]:
        interfaces = Interfaces(ipr)
        wanted: list[tuple[RouteKey, Installed]] = []
        for entry in entries:
            try:
                wanted.append((route_key(entry), wanted_route(entry, resolve(entry, self._names, interfaces))))
            except KernelError:
                # A route on a missing interface or in an unknown table cannot be installed.
                continue
        if not wanted:
            return set()
        installed = installed_routes(ipr, {want.family for _, want in wanted})
        return {key for key, want in wanted if any(matches(want, have) for have in installed)}

    def add(self, ipr: Any, entry: RouteEntry) -> None:
        try:
            resolved = resolve(entry, self._names, Interfaces(ipr))
        except KernelError as exc:
            raise KernelError(exc.code, f"cannot add {exc}") from None
        msg_type, flags, body = route_request(entry, resolved, self._names, delete=False)
        try:
            talk(ipr, msg_type, flags, body)
        except NetlinkError as exc:
            raise kernel_error(exc, f"cannot add {describe(entry)}", _hints(entry)) from None

    def remove(self, ipr: Any, entry: RouteEntry) -> None:
        try:
            resolved = resolve(entry, self._names, Interfaces(ipr))
        except KernelError as exc:
            if exc.code == errno.ENODEV:
                # The kernel deletes a device's routes with the device.
                return
            raise KernelError(exc.code, f"cannot remove {exc}") from None
        msg_type, flags, body = route_request(entry, resolved, self._names, delete=True)
        try:
            talk(ipr, msg_type, flags, body)
        except NetlinkError as exc:
            if exc.code in (errno.ESRCH, errno.ENOENT):
                return
            raise kernel_error(exc, f"cannot remove {describe(entry)}", _hints(entry)) from None
