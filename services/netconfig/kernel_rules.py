"""Policy routing rules (static_rules, virtual_rules) in the kernel, as keepalived's netlink_rule() installs them.

What keepalived 2.2.7 sends (vrrp_iprule.c), and so what is sent here: NLM_F_CREATE
and NLM_F_EXCL to add, so that a second add of the same rule fails with EEXIST;
the same attributes to delete. A table below 256 goes in the header, a larger one
in FRA_TABLE. A rule given without a preference gets none from here, and the kernel
then picks one; keepalived numbers such rules itself, counting down from 16384 per
family in configuration order, which only the whole configuration can do.

The kernel deletes the first rule, in its list order, that agrees with every
attribute the request carries: it ignores `not` (FIB_RULE_INVERT), and any
attribute left out (no source prefix, no protocol for an untracked rule, ...)
matches anything. So a rule is deleted only when a dump shows it is there and
that the kernel would take it rather than a similar rule listed before it; in
that last case removal fails with EBUSY and names the rule in the way.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from pyroute2.netlink.exceptions import NetlinkError

from conf.model.iproute import RT_DSFIELD, RT_GROUPS, RT_PROTOS, RT_REALMS, RT_TABLES
from conf.model.rules import RuleEntry, format_rule, parse_static_rule
from conf.values import IPNetwork
from services.netconfig.kernel_common import (
    FAMILIES,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    RTM_DELRULE,
    RTM_GETRULE,
    RTM_NEWRULE,
    VERSIONS,
    Interfaces,
    Names,
    kernel_error,
    nla,
    nla_be64,
    nla_name,
    nla_u8,
    nla_u32,
    parse_line,
    talk,
)
from services.netconfig.kinds import KernelError

# linux/fib_rules.h
FRA_DST = 1
FRA_SRC = 2
FRA_IIFNAME = 3
FRA_GOTO = 4
FRA_PRIORITY = 6
FRA_FWMARK = 10
FRA_FLOW = 11
FRA_TUN_ID = 12
FRA_SUPPRESS_IFGROUP = 13
FRA_SUPPRESS_PREFIXLEN = 14
FRA_TABLE = 15
FRA_FWMASK = 16
FRA_OIFNAME = 17
FRA_L3MDEV = 19
FRA_UID_RANGE = 20
FRA_PROTOCOL = 21
FRA_IP_PROTO = 22
FRA_SPORT_RANGE = 23
FRA_DPORT_RANGE = 24
FIB_RULE_INVERT = 2
FR_ACT_TO_TBL = 1
ACTIONS = {"table": FR_ACT_TO_TBL, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
ACTION_NAMES = {number: name for name, number in ACTIONS.items()}
RT_TABLE_UNSPEC = 0
RT_TABLE_MAIN = 254
FWMASK_ALL = 0xFFFFFFFF

_FIB_RULE_HDR = struct.Struct("=BBBBBBBBI")


def parse_rule_line(text: str) -> RuleEntry:
    """A rule line (static_rules or virtual_rules syntax) as the configuration parser reads it.

    ValueError if the parser drops the line.
    """
    return parse_line(parse_static_rule, text, "rule")


def describe(entry: RuleEntry) -> str:
    return f"rule '{format_rule(entry)}'"


# ---------------------------------------------------------------------------------------------
# Identity


class RuleKey(NamedTuple):
    """Everything the kernel compares when it refuses a duplicate rule.

    Defaults are folded the way the kernel folds them (a /0 prefix is no prefix,
    a fwmark without a mask has mask 0xffffffff, a rule without a protocol has
    protocol 0), so that two entries the kernel would see as one rule share a
    key. A preference of None stands for "whichever the kernel picked".
    """

    family: int
    action: str
    table: int | str | None  # None unless the action is `table`
    l3mdev: bool
    goto: int | None
    preference: int | None
    invert: bool
    source: IPNetwork | None
    destination: IPNetwork | None
    tos: int | str
    fwmark: int
    fwmask: int
    realms: int | str
    suppress_prefixlength: int | None
    suppress_ifgroup: int | str | None
    iif: str | None
    oif: str | None
    tunnel_id: int
    uidrange: tuple[int, int] | None
    protocol: int | str
    ipproto: int | str
    sport: tuple[int, int] | None
    dport: tuple[int, int] | None


def rule_key(entry: RuleEntry) -> RuleKey:
    fwmark = entry.fwmark or 0
    return RuleKey(
        family=entry.family,
        action=entry.action,
        table=entry.table if entry.action == "table" and not entry.l3mdev else None,
        l3mdev=entry.l3mdev,
        goto=entry.goto if entry.action == "goto" else None,
        preference=entry.preference,
        invert=entry.invert,
        source=_nonzero(entry.from_address),
        destination=_nonzero(entry.to_address),
        tos=entry.tos if entry.tos is not None else 0,
        fwmark=fwmark,
        fwmask=entry.fwmask if entry.fwmask is not None else (FWMASK_ALL if fwmark else 0),
        realms=_realms_key(entry.realms),
        suppress_prefixlength=entry.suppress_prefixlength,
        suppress_ifgroup=entry.suppress_ifgroup,
        iif=entry.iif,
        oif=entry.oif,
        tunnel_id=entry.tunnel_id or 0,
        uidrange=entry.uidrange,
        protocol=entry.protocol if entry.protocol is not None else 0,
        ipproto=entry.ipproto if entry.ipproto is not None else 0,
        sport=entry.sport,
        dport=entry.dport,
    )


def _nonzero(network: IPNetwork | None) -> IPNetwork | None:
    return network if network is not None and network.prefixlen > 0 else None


def _realms_key(text: str | None) -> int | str:
    """Numeric realms as the kernel's u32; realms given by name stay text."""
    if not text:
        return 0
    parts = text.split("/")
    if not all(part.isdigit() for part in parts):
        return text
    numbers = [int(part) for part in parts]
    return numbers[0] if len(numbers) == 1 else (numbers[0] << 16) | numbers[1]


def resolved_key(entry: RuleEntry, names: Names) -> RuleKey:
    """The key with every /etc/iproute2 and /etc/protocols name replaced by its number."""
    what = describe(entry)
    key = rule_key(entry)
    return key._replace(
        table=names.number(RT_TABLES, key.table, what) if key.table is not None else None,
        tos=names.number(RT_DSFIELD, key.tos, what),
        realms=names.realms(key.realms, RT_REALMS, what) if isinstance(key.realms, str) else key.realms,
        suppress_ifgroup=(
            names.number(RT_GROUPS, key.suppress_ifgroup, what) if key.suppress_ifgroup is not None else None
        ),
        protocol=names.number(RT_PROTOS, key.protocol, what),
        ipproto=_ip_protocol(key.ipproto, what),
    )


def _ip_protocol(value: int | str, what: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return socket.getprotobyname(value)
    except OSError:
        raise KernelError(errno.ENOENT, f"{what}: ipproto '{value}' is not in /etc/protocols") from None


# ---------------------------------------------------------------------------------------------
# The request


def rule_request(entry: RuleEntry, key: RuleKey, delete: bool) -> tuple[int, int, bytes]:
    """(message type, flags, body) of keepalived's request for `entry`, whose names `key` resolved."""
    if delete:
        msg_type, flags = RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK
    else:
        msg_type, flags = RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert isinstance(key.tos, int) and isinstance(key.realms, int) and isinstance(key.ipproto, int)
    header_table = RT_TABLE_UNSPEC
    attrs = b""
    if isinstance(key.table, int):
        if key.table < 256:
            header_table = key.table or RT_TABLE_MAIN
        else:
            attrs += nla_u32(FRA_TABLE, key.table)
    # "from all" still sends a zero-length source, as keepalived does.
    if entry.from_address is not None:
        attrs += nla(FRA_SRC, entry.from_address.network_address.packed)
    if entry.to_address is not None:
        attrs += nla(FRA_DST, entry.to_address.network_address.packed)
    if entry.preference is not None:
        attrs += nla_u32(FRA_PRIORITY, entry.preference)
    if entry.fwmark is not None:
        attrs += nla_u32(FRA_FWMARK, entry.fwmark)
    if entry.fwmask is not None:
        attrs += nla_u32(FRA_FWMASK, entry.fwmask)
    if key.realms:
        attrs += nla_u32(FRA_FLOW, key.realms)
    if key.suppress_prefixlength is not None:
        attrs += nla_u32(FRA_SUPPRESS_PREFIXLEN, key.suppress_prefixlength)
    if isinstance(key.suppress_ifgroup, int):
        attrs += nla_u32(FRA_SUPPRESS_IFGROUP, key.suppress_ifgroup)
    if entry.iif is not None:
        attrs += nla_name(FRA_IIFNAME, entry.iif)
    if entry.oif is not None:
        attrs += nla_name(FRA_OIFNAME, entry.oif)
    if key.tunnel_id:
        attrs += nla_be64(FRA_TUN_ID, key.tunnel_id)
    if entry.uidrange is not None:
        attrs += nla(FRA_UID_RANGE, struct.pack("=II", *entry.uidrange))
    if entry.l3mdev:
        attrs += nla_u8(FRA_L3MDEV, 1)
    if entry.protocol is not None:
        attrs += nla_u8(FRA_PROTOCOL, int(key.protocol))
    if entry.ipproto is not None:
        attrs += nla_u8(FRA_IP_PROTO, key.ipproto)
    if entry.sport is not None:
        attrs += nla(FRA_SPORT_RANGE, struct.pack("=HH", *entry.sport))
    if entry.dport is not None:
        attrs += nla(FRA_DPORT_RANGE, struct.pack("=HH", *entry.dport))
    if entry.action == "goto" and entry.goto is not None:
        attrs += nla_u32(FRA_GOTO, entry.goto)
    header = _FIB_RULE_HDR.pack(
        FAMILIES[entry.family],
        entry.to_address.prefixlen if entry.to_address is not None else 0,
        entry.from_address.prefixlen if entry.from_address is not None else 0,
        key.tos,
        header_table,
        0,
        0,
        ACTIONS[entry.action],
        FIB_RULE_INVERT if entry.invert else 0,
    )
    return msg_type, flags, header + attrs


# ---------------------------------------------------------------------------------------------
# What the kernel has


def installed_rule(msg: Any) -> RuleKey | None:
    """A dumped rule in the form of a resolved key; None for a family or action we never install."""
    version = VERSIONS.get(msg["family"])
    action = ACTION_NAMES.get(msg["action"])
    if version is None or action is None:
        return None
    l3mdev = bool(msg.get_attr("FRA_L3MDEV"))
    table = msg.get_attr("FRA_TABLE") or msg["table"]
    fwmark = msg.get_attr("FRA_FWMARK") or 0
    fwmask = msg.get_attr("FRA_FWMASK")
    return RuleKey(
        family=version,
        action=action,
        table=table if action == "table" and not l3mdev else None,
        l3mdev=l3mdev,
        goto=msg.get_attr("FRA_GOTO") if action == "goto" else None,
        preference=msg.get_attr("FRA_PRIORITY") or 0,
        invert=bool(msg["flags"] & FIB_RULE_INVERT),
        source=_prefix(version, msg.get_attr("FRA_SRC"), msg["src_len"]),
        destination=_prefix(version, msg.get_attr("FRA_DST"), msg["dst_len"]),
        tos=msg["tos"],
        fwmark=fwmark,
        # Kernels before 4.x leave out a mask of 0xffffffff; newer ones leave out a mask of a rule without a mark.
        fwmask=fwmask if fwmask is not None else (FWMASK_ALL if fwmark else 0),
        realms=msg.get_attr("FRA_FLOW") or 0,
        suppress_prefixlength=_optional_int(msg.get_attr("FRA_SUPPRESS_PREFIXLEN")),
        suppress_ifgroup=_optional_int(msg.get_attr("FRA_SUPPRESS_IFGROUP")),
        iif=msg.get_attr("FRA_IIFNAME"),
        oif=msg.get_attr("FRA_OIFNAME"),
        tunnel_id=msg.get_attr("FRA_TUN_ID") or 0,
        uidrange=_range(msg.get_attr("FRA_UID_RANGE")),
        protocol=msg.get_attr("FRA_PROTOCOL") or 0,
        ipproto=msg.get_attr("FRA_IP_PROTO") or 0,
        sport=_range(msg.get_attr("FRA_SPORT_RANGE")),
        dport=_range(msg.get_attr("FRA_DPORT_RANGE")),
    )


def _prefix(version: int, address: str | None, length: int) -> IPNetwork | None:
    if not length or not address:
        return None
    return ipaddress.ip_network(f"{address}/{length}", strict=False)


def _optional_int(value: Any) -> int | None:
    # The kernel sends -1 ("not set") only from old kernels; newer ones leave the attribute out.
    if value is None or value in (-1, FWMASK_ALL):
        return None
    return int(value)


def _range(value: Any) -> tuple[int, int] | None:
    """pyroute2 shows uid and port ranges as "START:END"."""
    if not value:
        return None
    start, _, end = str(value).partition(":")
    return int(start), int(end)


def installed_rules(ipr: Any, families: set[int]) -> list[RuleKey]:
    found: list[RuleKey] = []
    for version in sorted(families):
        body = _FIB_RULE_HDR.pack(FAMILIES[version], 0, 0, 0, 0, 0, 0, 0, 0)
        try:
            answers = talk(ipr, RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, body)
        except NetlinkError as exc:
            raise kernel_error(exc, f"cannot list IPv{version} rules") from None
        found += [rule for rule in map(installed_rule, answers) if rule is not None]
    return found


def matches(want: RuleKey, have: RuleKey) -> bool:
    if want.preference is None:
        return want == have._replace(preference=None)
    return want == have


def kernel_would_take(request: RuleKey, have: RuleKey) -> bool:
    """Whether the kernel's delete (fib_rules.c rule_find) may pick `have` for `request`.

    An attribute the request leaves unset matches anything. Where the kernel's
    choice is uncertain (the goto target) this errs towards "may", so that a
    removal is refused rather than a rule that is not ours deleted.
    """
    exact = (
        (request.action, have.action),
        (request.table, have.table),
        (request.preference, have.preference),
        (request.iif, have.iif),
        (request.oif, have.oif),
        (request.suppress_prefixlength, have.suppress_prefixlength),
        (request.suppress_ifgroup, have.suppress_ifgroup),
        (request.uidrange, have.uidrange),
        (request.sport, have.sport),
        (request.dport, have.dport),
        (request.source, have.source),
        (request.destination, have.destination),
    )
    if any(mine is not None and mine != theirs for mine, theirs in exact):
        return False
    nonzero = (
        (request.fwmark, have.fwmark),
        (request.fwmask, have.fwmask),
        (request.tunnel_id, have.tunnel_id),
        (request.ipproto, have.ipproto),
        (request.protocol, have.protocol),
        (request.tos, have.tos),
        (request.realms, have.realms),
        (request.l3mdev, have.l3mdev),
    )
    return not any(mine and mine != theirs for mine, theirs in nonzero)


def show(key: RuleKey) -> str:
    """A dumped rule, in `ip rule` words."""
    words = [f"preference {key.preference}"]
    if key.invert:
        words.append("not")
    words += [f"from {key.source or 'all'}"]
    if key.destination is not None:
        words.append(f"to {key.destination}")
    extras = (
        ("tos", key.tos),
        ("fwmark", f"{key.fwmark:#x}/{key.fwmask:#x}" if key.fwmark else None),
        ("iif", key.iif),
        ("oif", key.oif),
        ("ipproto", key.ipproto),
        ("protocol", key.protocol),
    )
    words += [f"{name} {value}" for name, value in extras if value]
    if key.action == "table":
        words.append("l3mdev" if key.l3mdev else f"table {key.table}")
    else:
        words.append(f"goto {key.goto}" if key.action == "goto" else key.action)
    return " ".join(words)


def _hints(entry: RuleEntry) -> dict[int, str]:
    hints = {errno.EEXIST: "the same rule is installed (the kernel does not tell 'not' rules from the others)"}
    if entry.l3mdev:
        hints[errno.EINVAL] = "l3mdev rules need a kernel built with CONFIG_NET_L3_MASTER_DEV"
    return hints


# ---------------------------------------------------------------------------------------------
# The kind


class RuleKind:
    """`Kind[RuleEntry]`: rules of static_rules and virtual_rules."""

    name: str = "rule"

    def __init__(self, names: Names | None = None) -> None:
        self._names = names or Names()

    def key(self, entry: RuleEntry) -> Hashable:
        return rule_key(entry)

    def text(self, entry: RuleEntry) -> str:
        return format_rule(entry)

    def parse(self, text: str) -> RuleEntry:
        return parse_rule_line(text)

    def present(self, ipr: Any, entries: Sequence[RuleEntry]) -> set[Hashable]:
        wanted: list[tuple[RuleKey, RuleKey]] = []
        for entry in entries:
            try:
                wanted.append((rule_key(entry), resolved_key(entry, self._names)))
            except KernelError:
                # A rule naming an unknown table or protocol cannot be installed.
                continue
        if not wanted:
            return set()
        installed = installed_rules(ipr, {want.family for _, want in wanted})
        return {key for key, want in wanted if any(matches(want, have) for have in installed)}

    def add(self, ipr: Any, entry: RuleEntry) -> None:
        interfaces = Interfaces(ipr)
        try:
            # The kernel takes a rule for an interface that does not exist; keepalived does not.
            for name in (entry.iif, entry.oif):
                if name is not None:
                    interfaces.index(name, describe(entry))
            key = resolved_key(entry, self._names)
        except KernelError as exc:
            raise KernelError(exc.code, f"cannot add {exc}") from None
        msg_type, flags, body = rule_request(entry, key, delete=False)
        try:
            talk(ipr, msg_type, flags, body)
        except NetlinkError as exc:
            raise kernel_error(exc, f"cannot add {describe(entry)}", _hints(entry)) from None

    def remove(self, ipr: Any, entry: RuleEntry) -> None:
        try:
            key = resolved_key(entry, self._names)
        except KernelError as exc:
            raise KernelError(exc.code, f"cannot remove {exc}") from None
        installed = installed_rules(ipr, {entry.family})
        if not any(matches(key, have) for have in installed):
            return
        taken = next(have for have in installed if kernel_would_take(key, have))
        if not matches(key, taken):
            raise KernelError(
                errno.EBUSY,
                f"cannot remove {describe(entry)}: the kernel would delete the similar rule '{show(taken)}' "
                "listed before it instead; remove that rule, or tell the two apart (protocol, preference)",
            )
        msg_type, flags, body = rule_request(entry, key, delete=True)
        try:
            talk(ipr, msg_type, flags, body)
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.ESRCH):
                return
            raise kernel_error(exc, f"cannot remove {describe(entry)}", _hints(entry)) from None
