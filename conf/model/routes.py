"""Route lines: static_routes and a vrrp_instance's virtual_routes, with nexthops and
encapsulation, as keepalived reads them (vrrp_iproute.c alloc_route, 2.2.7).
Differences are listed in docs/compatibility.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from conf.diagnostics import Loc
from conf.model.common import EnvRef
from conf.model.iproute import (
    ROUTE_TYPE_NAMES,
    RT_DSFIELD,
    RT_PROTOS,
    RT_SCOPES,
    RT_TABLES,
    RTN_UNICAST,
    RTPROT_KEEPALIVED,
    UINT32_MAX,
    UINT64_MAX,
    Cursor,
    RtNames,
    dropping,
    family_default,
    prefix_or_special,
    read_ifname,
    read_realms,
    read_uint,
    route_type_number,
    set_family,
)
from conf.schema import NOWHERE, ArgError, Cx
from conf.tree import Stmt
from conf.values import (
    IPAddress,
    IPNetwork,
    parse_c_unsigned,
    parse_decimal_units,
    parse_ip_text,
    quote,
)

# ---------------------------------------------------------------------------------------------
# Route encapsulation and nexthops


@dataclass(frozen=True)
class Encap:
    """`encap ip|ip6 {id|dst|src|tos/tc|ttl/hoplimit|flags} ...`, `encap mpls L[/L]`, `encap ila LOCATOR`."""

    type: str
    id: int | None = None
    dst: IPAddress | None = None
    src: IPAddress | None = None
    tos: int | str | None = None  # `tc` for ip6
    ttl: int | None = None  # `hoplimit` for ip6
    flags: int | None = None
    labels: tuple[int, ...] = ()
    locator: str | None = None


MAX_MPLS_LABELS = 2
MPLS_LABEL_LIMIT = 1 << 20


def _parse_encap(words: Cursor, stmt: Stmt, cx: Cx) -> Encap | None:
    """After `encap`; an error drops the encapsulation but keeps the route, as keepalived does."""
    if not words.more():
        cx.error(stmt, "missing encap type")
        return None
    kind = words.take()
    try:
        if kind in ("ip", "ip6"):
            return _parse_encap_ip(kind, words, stmt, cx)
        if kind == "mpls":
            return Encap("mpls", labels=_mpls_labels(words.arg("encap mpls")))
        if kind == "ila":
            return Encap("ila", locator=_ila_locator(words.arg("encap ila")))
    except ArgError as exc:
        cx.error(stmt, f"{exc.message}; encap ignored")
        return None
    cx.error(stmt, f"unknown encap type - {kind}")
    return None


def _parse_encap_ip(kind: str, words: Cursor, stmt: Stmt, cx: Cx) -> Encap:
    version = 4 if kind == "ip" else 6
    tos_key, ttl_key = ("tos", "ttl") if kind == "ip" else ("tc", "hoplimit")
    values: dict[str, Any] = {}
    error: str | None = None
    # Pairs of `key value`; the first word that is not a key ends the encapsulation.
    while words.i + 1 < len(words.words) and words.peek() in ("id", "dst", "src", tos_key, ttl_key, "flags"):
        key = words.take()
        value = words.take()
        try:
            if key == "id":
                values["id"] = read_uint(value, UINT64_MAX, f"encap id {value} value is invalid")
            elif key in ("dst", "src"):
                address = parse_ip_text(value)
                if address is None:
                    raise ArgError(f"invalid encap {kind} {key} {value}")
                if address.version != version:
                    raise ArgError(f"IPv{address.version} address {value} not valid for {kind} encapsulation")
                values[key] = address
            elif key == tos_key:
                tos = RT_DSFIELD.parse(value, stmt, cx)
                if tos is None:
                    raise ArgError(f"{tos_key} {value} is not valid for {kind} encapsulation")
                values["tos"] = tos
            elif key == ttl_key:
                values["ttl"] = read_uint(value, 255, f"{ttl_key} {value} is not valid for {kind} encapsulation")
            else:
                values["flags"] = read_uint(value, 0xFFFF, f"flags {value} is not valid for {kind} encapsulation")
        except ArgError as exc:
            error = error or exc.message
    if error is not None:
        raise ArgError(error)
    if "dst" not in values and "id" not in values:
        raise ArgError(f"address or id missing for {kind} encapsulation")
    return Encap(kind, **values)


def _mpls_labels(word: str) -> tuple[int, ...]:
    parts = word.split("/")
    labels = [parse_c_unsigned(part, MPLS_LABEL_LIMIT - 1) for part in parts]
    if len(parts) > MAX_MPLS_LABELS or any(label is None for label in labels):
        raise ArgError(f"invalid mpls address {word} for encapsulation")
    return tuple(label for label in labels if label is not None)


def _ila_locator(word: str) -> str:
    parts = word.split(":")
    if len(parts) != 4 or not all(re.fullmatch(r"[0-9a-fA-F]{1,4}", part) for part in parts):
        raise ArgError(f"invalid locator {word} for ila encapsulation")
    return ":".join(f"{int(part, 16):x}" for part in parts)


def _format_encap(encap: Encap) -> str:
    words = ["encap", encap.type]
    if encap.type == "mpls":
        words.append("/".join(str(label) for label in encap.labels))
    elif encap.type == "ila":
        words.append(encap.locator or "")
    else:
        tos_key, ttl_key = ("tos", "ttl") if encap.type == "ip" else ("tc", "hoplimit")
        pairs = (
            ("id", encap.id),
            ("dst", encap.dst),
            ("src", encap.src),
            (tos_key, encap.tos),
            (ttl_key, encap.ttl),
            ("flags", encap.flags),
        )
        for key, value in pairs:
            if value is not None:
                words += [key, RT_DSFIELD.format(value) if key == tos_key else str(value)]  # type: ignore[arg-type]
    return " ".join(words)


@dataclass(frozen=True)
class Nexthop:
    """One `nexthop via ADDR dev IF weight N onlink ...` of a multipath route."""

    via: IPAddress | None = None
    dev: str | None = None
    weight: int | None = None  # 1-256
    onlink: bool = False
    encap: Encap | None = None
    realms: str | None = None


def _parse_nexthops(words: Cursor, route: dict[str, Any], stmt: Stmt, cx: Cx) -> tuple[Nexthop, ...]:
    """`nexthop ...` repeated. A bad nexthop is dropped with the ones after it (as keepalived does)."""
    hops: list[Nexthop] = []
    while words.peek() == "nexthop":
        words.take()
        try:
            hops.append(_parse_nexthop(words, route, stmt, cx))
        except ArgError as exc:
            cx.error(stmt, f"{exc.message}; this nexthop and the following ones are ignored")
            return tuple(hops)
    if words.more():
        cx.error(stmt, f"route has trailing nonsense after nexthops - {' '.join(words.rest())}; ignored")
    return tuple(hops)


def _parse_nexthop(words: Cursor, route: dict[str, Any], stmt: Stmt, cx: Cx) -> Nexthop:
    values: dict[str, Any] = {}
    while words.more():
        option = words.peek()
        if option == "via":
            words.take()
            target = words.arg("via")
            forced: int | None = None
            if target in ("inet", "inet6"):
                forced = 4 if target == "inet" else 6
                target = words.arg(f"via {target}")
                set_family(route, forced, "IPv4/6 mismatch for nexthop")
            address = parse_ip_text(target)
            if address is None:
                raise ArgError(f"invalid nexthop address {target}")
            set_family(route, address.version, "address family mismatch for next hop")
            values["via"] = address
        elif option == "dev":
            words.take()
            values["dev"] = read_ifname(words.arg("dev"), "VROUTE nexthop")
        elif option == "weight":
            words.take()
            weight = read_uint(words.arg("weight"), 256, "invalid weight specified for route")
            if weight == 0:
                raise ArgError("invalid weight 0 specified for route")
            values["weight"] = weight
        elif option == "onlink":
            words.take()
            values["onlink"] = True
        elif option == "encap":
            words.take()
            values["encap"] = _parse_encap(words, stmt, cx)
        elif option == "realms":
            words.take()
            argument = words.arg("realms")
            realms = read_realms(argument, stmt, cx)
            if realms is None:
                raise ArgError(f"invalid realms {argument} for route")
            set_family(route, 4, "realms are only supported for IPv4")
            values["realms"] = realms
        elif option == "as":
            words.take()
            if words.peek() == "to":
                words.take()
            words.arg("as")
            raise ArgError("'as [to]' (nat) not supported")
        else:
            break
    return Nexthop(**values)


def _format_nexthop(hop: Nexthop) -> str:
    words = ["nexthop"]
    if hop.via is not None:
        words += ["via", str(hop.via)]
    if hop.dev is not None:
        words += ["dev", hop.dev]
    if hop.weight is not None:
        words += ["weight", str(hop.weight)]
    if hop.onlink:
        words.append("onlink")
    if hop.encap is not None:
        words.append(_format_encap(hop.encap))
    if hop.realms is not None:
        words += ["realms", hop.realms]
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class RouteEntry:
    """One line of static_routes / virtual_routes, in `ip route` syntax."""

    destination: IPNetwork
    family: int = 4  # 4 or 6
    type: int = RTN_UNICAST
    src: IPAddress | None = None  # preferred source address
    via: IPAddress | None = None
    from_address: IPNetwork | None = None  # `from`: IPv6 source routing
    tos: int | str | None = None
    table: int | str = 254  # main
    protocol: int | str | None = None  # tracked routes always get RTPROT_KEEPALIVED (18)
    scope: int | str | None = None
    metric: int | None = None
    dev: str | None = None
    onlink: bool = False
    encap: Encap | None = None
    expires: int | None = None
    mtu: int | None = None
    advmss: int | None = None
    reordering: int | None = None
    window: int | None = None
    cwnd: int | None = None
    ssthresh: int | None = None
    initcwnd: int | None = None
    initrwnd: int | None = None
    hoplimit: int | None = None
    rtt: int | None = None  # kernel units: 1/8 ms
    rttvar: int | None = None  # 1/4 ms
    rto_min: int | None = None  # ms
    realms: str | None = None
    features: tuple[str, ...] = ()
    quickack: int | None = None
    congctl: str | None = None
    pref: int | None = None  # ICMPv6 router preference: 0 medium, 1 high, 3 low
    ttl_propagate: bool | None = None
    fastopen_no_cookie: int | None = None
    locked: frozenset[str] = frozenset()  # metrics given with `lock`
    mode: str = "prepend"  # add | prepend | append
    nexthops: tuple[Nexthop, ...] = ()
    no_track: bool = False
    track_group: str | None = None  # static routes only
    vrf: str | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        what = f"route to {self.destination}"
        if self.dev is not None:
            yield EnvRef("interface", self.dev, self.loc, f"device of {what}")
        for hop in self.nexthops:
            if hop.dev is not None:
                yield EnvRef("interface", hop.dev, self.loc, f"nexthop device of {what}")
        if self.vrf is not None:
            yield EnvRef("interface", self.vrf, self.loc, f"VRF of {what}")


_LOCKABLE = ("mtu", "advmss", "reordering", "cwnd", "ssthresh", "rtt", "rttvar", "rto_min", "congctl")
_U32_METRICS = {
    "mtu": "invalid MTU {} specified for route",
    "advmss": "invalid advmss {} specified for route",
    "reordering": "invalid reordering value {} specified for route",
    "window": "invalid window value {} specified for route",
    "cwnd": "invalid cwnd value {} specified for route",
    "ssthresh": "invalid ssthresh value {} specified for route",
    "initcwnd": "invalid initcwnd value {} specified for route",
    "initrwnd": "invalid initrwnd value {} specified for route",
}
# Kernel units per millisecond.
_RTT_UNITS = {"rtt": 8, "rttvar": 4, "rto_min": 1}
RTT_MIN_MS = 200
RTT_MAX_MS = 120_000
ROUTER_PREFS = {"medium": 0, "high": 1, "low": 3}


def _parse_rtt(option: str, word: str, stmt: Stmt, cx: Cx) -> int:
    """A time in kernel units, or with a unit: `300ms`, `1.5s` (get_time_rtt())."""
    unit_mult = _RTT_UNITS[option]
    match = re.fullmatch(r"([0-9.+]+)((?:m?s(?:ec|ecs)?))?", word, re.IGNORECASE)
    if not match:
        raise ArgError(f"invalid {option} {word} for route")
    number, unit = match.group(1), (match.group(2) or "").lower()
    digits = 0 if not unit or unit.startswith("m") else 3
    try:
        value = parse_decimal_units(number, digits, 0, RTT_MAX_MS * unit_mult, stmt, cx)
    except ArgError as exc:
        raise ArgError(f"invalid {option} {word} for route ({exc.message})") from None
    if unit:
        value *= unit_mult
    if value > RTT_MAX_MS * unit_mult:
        cx.warning(stmt, f"{option} value {word} exceeds maximum {RTT_MAX_MS // 1000}s, resetting")
        value = RTT_MAX_MS * unit_mult
    elif value < RTT_MIN_MS * unit_mult:
        cx.warning(stmt, f"{option} value {word} below minimum {RTT_MIN_MS}ms, resetting")
        value = RTT_MIN_MS * unit_mult
    return value


def _parse_route(stmt: Stmt, cx: Cx, static: bool) -> RouteEntry:
    words = Cursor(stmt)
    values: dict[str, Any] = {}
    locked: set[str] = set()
    destination: str | None = None
    while words.more():
        option = words.take()
        if option in ("inet", "inet6"):
            # keepalived 2.2.7 also skips the word after inet/inet6; the next word is meant to count.
            set_family(
                values, 4 if option == "inet" else 6, f"{option} specified for IPv{6 if option == 'inet' else 4} route"
            )
        elif option == "nexthop":
            if values.get("nexthops"):
                raise ArgError('cannot specify nexthops with "or" route')
            words.i -= 1
            values["nexthops"] = _parse_nexthops(words, values, stmt, cx)
            break
        elif option in _ROUTE_OPTIONS:
            _ROUTE_OPTIONS[option](option, words, values, locked, stmt, cx)
        elif option == "track_group" and static:
            group = words.arg(option)
            if "track_group" in values:
                cx.error(stmt, f"track_group {group} is a duplicate; rest of the line ignored")
                break
            values["track_group"] = group
        else:
            destination = _route_destination(option, words, values, stmt, cx)
    if destination is None:
        raise ArgError("route must have a destination")
    return _finish_route(values, locked, destination, stmt, cx)


def _route_destination(option: str, words: Cursor, values: dict[str, Any], stmt: Stmt, cx: Cx) -> str:
    """`[to] [TYPE] PREFIX`; a later destination replaces an earlier one (keepalived does so silently)."""
    word = option
    if word == "to":
        word = words.arg("to")
    route_type = route_type_number(word)
    if route_type is not None:
        values["type"] = route_type
        word = words.arg(word)
    parsed = prefix_or_special(word, stmt, cx)
    if parsed is None:
        raise ArgError(f"unknown route keyword {word}")
    network, version = parsed
    if version is not None:
        set_family(values, version, f"cannot mix IPv4 and IPv6 addresses for route ({word})")
    values["destination"] = network
    return word


def _route_address(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    """`src ADDR`, `via [inet|inet6] ADDR` (and the deprecated `gw`)."""
    if option == "gw":
        cx.error(stmt, '"gw" for routes is deprecated. Please use "via"')
    target = words.arg(option)
    if option != "src" and target in ("inet", "inet6"):
        set_family(values, 4 if target == "inet" else 6, "cannot mix IPv4 and IPv6 addresses for route")
        target = words.arg(f"{option} {target}")
    address = parse_ip_text(target)
    if address is None:
        raise ArgError(f"invalid route {'src' if option == 'src' else 'via'} address {target}")
    set_family(values, address.version, "cannot mix IPv4 and IPv6 addresses for route")
    values["src" if option == "src" else "via"] = address


def _route_from(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    target = words.arg(option)
    parsed = prefix_or_special(target, stmt, cx)
    if parsed is None:
        raise ArgError(f"invalid route from address {target}")
    network, version = parsed
    # keepalived also refuses `from default|any|all`: only an IPv6 prefix (or default6) will do.
    if version != 6:
        raise ArgError(f"route from address only supported with IPv6 ({target})")
    set_family(values, 6, "cannot mix IPv4 and IPv6 addresses for route")
    values["from_address"] = network or family_default(6)


def _route_named(table: RtNames, key: str, message: str) -> Callable[..., None]:
    def handler(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
        word = words.arg(option)
        value = table.parse(word, stmt, cx)
        if value is None:
            raise ArgError(message.format(word))
        values[key] = value

    return handler


def _route_metric(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    values["metric"] = read_uint(word, UINT32_MAX, f"invalid metric {word} specified for route")


def _route_dev(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    values["dev"] = read_ifname(words.arg(option), "VROUTE")


def _route_flag(key: str, value: Any) -> Callable[..., None]:
    def handler(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
        values[key] = value

    return handler


def _route_encap(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    values["encap"] = _parse_encap(words, stmt, cx)


def _route_expires(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    set_family(values, 6, "expires is only valid for IPv6")
    values["expires"] = read_uint(word, UINT32_MAX, f"invalid expires time {word} specified for route")


def _route_u32(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock" and option in _LOCKABLE:
        locked.add(option)
        word = words.arg(f"{option} lock")
    values[option] = read_uint(word, UINT32_MAX, _U32_METRICS[option].format(word))


def _route_hoplimit(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    values["hoplimit"] = read_uint(word, 255, f"invalid hoplimit {word} specified for route")


def _route_rtt(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock":
        locked.add(option)
        word = words.arg(f"{option} lock")
    try:
        values[option] = _parse_rtt(option, word, stmt, cx)
    except ArgError as exc:
        raise ArgError(f"{exc.message}") from None


def _route_realms(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    realms = read_realms(word, stmt, cx)
    if realms is None:
        raise ArgError(f"invalid realms {word} for route")
    set_family(values, 4, "realms are only valid for IPv4")
    values["realms"] = realms


def _route_features(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    if word == "ecn":
        values["features"] = ("ecn",)
    else:
        cx.error(stmt, f"feature {word} not supported; ignored")


def _route_bit(key: str, message: str) -> Callable[..., None]:
    def handler(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
        word = words.arg(option)
        values[key] = read_uint(word, 1, message.format(word))

    return handler


def _route_congctl(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock":
        locked.add(option)
        word = words.arg(f"{option} lock")
    values["congctl"] = word


def _route_pref(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    word = words.arg(option)
    set_family(values, 6, "pref is only valid for IPv6")
    values["pref"] = (
        ROUTER_PREFS[word]
        if word in ROUTER_PREFS
        else read_uint(word, 255, f"invalid pref value {word} specified for route")
    )


def _route_ttl_propagate(
    option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx
) -> None:
    word = words.arg(option)
    if word in ("enabled", "disabled"):
        values["ttl_propagate"] = word == "enabled"
    else:
        # keepalived keeps the route, with ttl propagation disabled.
        cx.error(stmt, f"ttl-propagate value {word} not recognised; disabled")
        values["ttl_propagate"] = False


def _route_as(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    if words.peek() == "to":
        words.take()
    words.arg(option)
    cx.error(stmt, '"as to" for MPLS only - ignoring')


def _route_or(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    """`or ADDR` (deprecated): the `via` address and ADDR become two nexthops."""
    cx.error(stmt, '"or" for routes is deprecated. Please use "nexthop"')
    if values.get("nexthops"):
        cx.error(stmt, '"or" route already specified - ignoring subsequent')
        words.arg(option)
        return
    target = words.arg(option)
    address = parse_ip_text(target)
    if address is None:
        raise ArgError(f'invalid "or" address {target}')
    values["nexthops"] = (Nexthop(via=values.pop("via", None)), Nexthop(via=address))


def _route_vrf(option: str, words: Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt, cx: Cx) -> None:
    values["vrf"] = read_ifname(words.arg(option), "VRF")


_ROUTE_OPTIONS: dict[str, Callable[..., None]] = {
    "src": _route_address,
    "via": _route_address,
    "gw": _route_address,
    "from": _route_from,
    "tos": _route_named(RT_DSFIELD, "tos", "TOS value {} is invalid"),
    "dsfield": _route_named(RT_DSFIELD, "tos", "TOS value {} is invalid"),
    "table": _route_named(RT_TABLES, "table", "routing table {} not found for route"),
    "protocol": _route_named(RT_PROTOS, "protocol", "protocol {} not found or invalid for route"),
    "scope": _route_named(RT_SCOPES, "scope", "scope {} not found or invalid for route"),
    "metric": _route_metric,
    "priority": _route_metric,
    "preference": _route_metric,
    "dev": _route_dev,
    "oif": _route_dev,
    "onlink": _route_flag("onlink", True),
    "encap": _route_encap,
    "expires": _route_expires,
    **dict.fromkeys(_U32_METRICS, _route_u32),
    "hoplimit": _route_hoplimit,
    "rtt": _route_rtt,
    "rttvar": _route_rtt,
    "rto_min": _route_rtt,
    "realms": _route_realms,
    "features": _route_features,
    "quickack": _route_bit("quickack", "invalid quickack value {} specified for route"),
    "congctl": _route_congctl,
    "pref": _route_pref,
    "ttl-propagate": _route_ttl_propagate,
    "fastopen_no_cookie": _route_bit("fastopen_no_cookie", "invalid fastopen_no_cookie value {} specified for route"),
    "add": _route_flag("mode", "add"),
    "prepend": _route_flag("mode", "prepend"),
    "append": _route_flag("mode", "append"),
    "as": _route_as,
    "or": _route_or,
    "no_track": _route_flag("no_track", True),
    "vrf": _route_vrf,
}


def _finish_route(values: dict[str, Any], locked: set[str], destination: str, stmt: Stmt, cx: Cx) -> RouteEntry:
    family = values.setdefault("family", 4)
    if values.get("destination") is None:
        values["destination"] = family_default(family)
    if not values.get("no_track"):
        protocol = values.get("protocol")
        if protocol is not None and protocol not in (RTPROT_KEEPALIVED, "keepalived"):
            cx.error(
                stmt,
                f"route cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), "
                "resetting protocol",
            )
        values["protocol"] = RTPROT_KEEPALIVED
        if values.get("dev") is None:
            # An error in keepalived 2.2.7 (the route is then not tracked); 2.3 tracks such routes.
            cx.warning(
                stmt,
                f"route {destination} has no interface: keepalived before 2.3 cannot track it "
                "(add 'dev' or 'no_track')",
            )
    if values.get("track_group") is not None and values.get("dev") is None:
        cx.error(stmt, "static route cannot have track group if no oif specified; track_group ignored")
        values["track_group"] = None
    return RouteEntry(locked=frozenset(locked), loc=stmt.loc, **values)


def parse_static_route(stmt: Stmt, cx: Cx) -> RouteEntry:
    route: RouteEntry = dropping("route", lambda: _parse_route(stmt, cx, static=True))
    return route


def parse_virtual_route(stmt: Stmt, cx: Cx) -> RouteEntry:
    route: RouteEntry = dropping("route", lambda: _parse_route(stmt, cx, static=False))
    return route


def format_route(entry: RouteEntry) -> str:
    words: list[str] = []
    if entry.type != RTN_UNICAST:
        words.append(ROUTE_TYPE_NAMES.get(entry.type, str(entry.type)))
    words.append(str(entry.destination))
    if entry.src is not None:
        words += ["src", str(entry.src)]
    if entry.via is not None:
        words += ["via", str(entry.via)]
    if entry.from_address is not None:
        words += ["from", str(entry.from_address)]
    if entry.tos is not None:
        words += ["tos", RT_DSFIELD.format(entry.tos)]
    if entry.table != 254:
        words += ["table", RT_TABLES.format(entry.table)]
    if entry.protocol is not None:
        words += ["protocol", RT_PROTOS.format(entry.protocol)]
    if entry.scope is not None:
        words += ["scope", RT_SCOPES.format(entry.scope)]
    if entry.metric is not None:
        words += ["metric", str(entry.metric)]
    if entry.dev is not None:
        words += ["dev", entry.dev]
    if entry.onlink:
        words.append("onlink")
    if entry.expires is not None:
        words += ["expires", str(entry.expires)]
    for name in (
        "mtu",
        "advmss",
        "reordering",
        "window",
        "cwnd",
        "ssthresh",
        "initcwnd",
        "initrwnd",
        "hoplimit",
        "rtt",
        "rttvar",
        "rto_min",
    ):
        value = getattr(entry, name)
        if value is not None:
            words += [name, *(["lock"] if name in entry.locked else []), str(value)]
    if entry.realms is not None:
        words += ["realms", entry.realms]
    for feature in entry.features:
        words += ["features", feature]
    if entry.quickack is not None:
        words += ["quickack", str(entry.quickack)]
    if entry.congctl is not None:
        words += ["congctl", *(["lock"] if "congctl" in entry.locked else []), quote(entry.congctl)]
    if entry.pref is not None:
        names = {number: name for name, number in ROUTER_PREFS.items()}
        words += ["pref", names.get(entry.pref, str(entry.pref))]
    if entry.ttl_propagate is not None:
        words += ["ttl-propagate", "enabled" if entry.ttl_propagate else "disabled"]
    if entry.fastopen_no_cookie is not None:
        words += ["fastopen_no_cookie", str(entry.fastopen_no_cookie)]
    if entry.mode != "prepend":
        words.append(entry.mode)
    if entry.vrf is not None:
        words += ["vrf", entry.vrf]
    if entry.no_track:
        words.append("no_track")
    if entry.track_group is not None:
        words += ["track_group", quote(entry.track_group)]
    if entry.family == 6 and ":" not in " ".join(words):
        words.append("inet6")
    # Last before the nexthops: the encap's own keywords (hoplimit, tos, ...) would take the route's.
    if entry.encap is not None:
        words.append(_format_encap(entry.encap))
    words += [_format_nexthop(hop) for hop in entry.nexthops]
    return " ".join(words)
