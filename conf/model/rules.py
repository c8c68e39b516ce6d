"""Rule lines: static_rules and a vrrp_instance's virtual_rules, as keepalived reads them
(vrrp_iprule.c alloc_rule, 2.2.7). Differences are listed in docs/compatibility.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from conf.diagnostics import Loc
from conf.model.common import EnvRef
from conf.model.iproute import (
    INT32_MAX,
    IP_PROTOCOLS,
    RT_DSFIELD,
    RT_GROUPS,
    RT_PROTOS,
    RT_TABLES,
    RTPROT_KEEPALIVED,
    UINT32_MAX,
    UINT64_MAX,
    Cursor,
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
    IPNetwork,
    parse_c_unsigned,
    quote,
)

# ---------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class RuleEntry:
    """One line of static_rules / virtual_rules, in `ip rule` syntax."""

    action: str  # table | goto | nop | blackhole | unreachable | prohibit
    family: int = 4
    from_address: IPNetwork | None = None
    to_address: IPNetwork | None = None
    invert: bool = False  # `not`
    table: int | str | None = None
    l3mdev: bool = False
    goto: int | None = None
    preference: int | None = None  # None: keepalived assigns one, counting down from 16384
    tos: int | str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    realms: str | None = None
    suppress_prefixlength: int | None = None
    suppress_ifgroup: int | str | None = None
    iif: str | None = None
    oif: str | None = None
    tunnel_id: int | None = None
    uidrange: tuple[int, int] | None = None
    protocol: int | str | None = None  # tracked rules always get RTPROT_KEEPALIVED (18)
    ipproto: int | str | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    no_track: bool = False
    track_group: str | None = None  # static rules only
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def dev(self) -> str | None:
        return self.iif

    def env_refs(self) -> Iterator[EnvRef]:
        for name, value in (("input", self.iif), ("output", self.oif)):
            if value is not None:
                yield EnvRef("interface", value, self.loc, f"{name} device of rule")


RULE_ACTIONS = {"nop": "nop", "blackhole": "blackhole", "unreachable": "unreachable", "prohibit": "prohibit"}
_RULE_ACTION_NUMBERS = {6: "blackhole", 7: "unreachable", 8: "prohibit"}
_PORT = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?\Z")


def _parse_rule(stmt: Stmt, cx: Cx, static: bool) -> RuleEntry:
    words = Cursor(stmt)
    values: dict[str, Any] = {}
    table_option: str | None = None
    while words.more():
        option = words.take()
        if option in ("inet", "inet6"):
            # keepalived 2.2.7 also skips the word after inet/inet6; the next word is meant to count.
            set_family(
                values, 4 if option == "inet" else 6, f"{option} specified for IPv{6 if option == 'inet' else 4} rule"
            )
        elif option in ("from", "to"):
            target = words.arg(option)
            parsed = prefix_or_special(target, stmt, cx)
            if parsed is None:
                raise ArgError(f"invalid rule {option} address {target}")
            network, version = parsed
            if version is not None:
                set_family(values, version, "rule specification has mixed IPv4 and IPv6")
            values[f"{option}_address"] = network if network is not None else "default"
        elif option in ("table", "lookup"):
            word = words.arg(option)
            table = RT_TABLES.parse(word, stmt, cx)
            if table is None:
                raise ArgError(f"routing table {word} not found for rule")
            if table == 0:
                raise ArgError("table 0 is not valid")
            _set_action(values, "table")
            values["table"] = table
        elif option == "not":
            values["invert"] = True
        elif option in ("preference", "order", "priority"):
            word = words.arg(option)
            preference = parse_c_unsigned(word, UINT32_MAX)
            if preference is None:
                raise ArgError(f"invalid rule {option} {word} specified")
            values["preference"] = preference
        elif option in ("tos", "dsfield"):
            word = words.arg(option)
            tos = RT_DSFIELD.parse(word, stmt, cx)
            if tos is None:
                raise ArgError(f"TOS value {word} is invalid")
            values["tos"] = tos
        elif option == "fwmark":
            values["fwmark"], values["fwmask"] = _fwmark(words.arg(option))
        elif option == "realms":
            word = words.arg(option)
            realms = read_realms(word, stmt, cx)
            if realms is None:
                raise ArgError(f"invalid realms {word} for rule")
            set_family(values, 4, "realms is only valid for IPv4")
            values["realms"] = realms
            table_option = "realms"
        elif option in ("suppress_prefixlength", "sup_pl"):
            word = words.arg(option)
            values["suppress_prefixlength"] = read_uint(
                word, INT32_MAX, f"invalid suppress_prefixlength {word} specified"
            )
            table_option = "suppress_prefixlength"
        elif option in ("suppress_ifgroup", "sup_group"):
            word = words.arg(option)
            group = RT_GROUPS.parse(word, stmt, cx)
            if group is None:
                raise ArgError(f"suppress_group {word} is invalid")
            values["suppress_ifgroup"] = group
            table_option = "suppress_ifgroup"
        elif option in ("dev", "iif", "oif"):
            values["oif" if option == "oif" else "iif"] = read_ifname(words.arg(option), "rule")
        elif option == "tunnel-id":
            word = words.arg(option)
            values["tunnel_id"] = read_uint(word, UINT64_MAX, f"invalid tunnel-id {word} specified")
        elif option == "uidrange":
            values["uidrange"] = _uidrange(words.arg(option))
        elif option == "l3mdev":
            _set_action(values, "table", "cannot specify l3mdev with other action")
            values["l3mdev"] = True
        elif option == "protocol":
            word = words.arg(option)
            protocol = RT_PROTOS.parse(word, stmt, cx)
            if protocol is None:
                cx.error(stmt, f"invalid protocol {word}; ignored")
            else:
                values["protocol"] = protocol
        elif option in ("ipproto", "ip_proto"):
            if option == "ip_proto":
                cx.warning(
                    stmt,
                    "'ip_proto' is what keepalived's man page says, but keepalived 2.2.7 only accepts "
                    "'ipproto' (it drops this rule)",
                )
            _rule_ipproto(words.arg(option), values, stmt, cx)
        elif option in ("sport", "dport"):
            word = words.arg(option)
            ports = _port_range(word)
            if ports is None:
                cx.error(stmt, f"invalid {option} range {word}; ignored")
            else:
                values[option] = ports
        elif option == "no_track":
            values["no_track"] = True
        elif option == "track_group" and static:
            group_name = words.arg(option)
            if "track_group" in values:
                cx.error(stmt, f"track_group {group_name} is a duplicate; rest of the line ignored")
                break
            values["track_group"] = group_name
        else:
            _rule_action(option, words, values)
    return _finish_rule(values, table_option, stmt, cx)


def _set_action(values: dict[str, Any], action: str, message: str | None = None) -> None:
    if "action" in values:
        raise ArgError(
            message or "cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable/l3mdev for rule"
        )
    values["action"] = action


def _rule_action(option: str, words: Cursor, values: dict[str, Any]) -> None:
    word = words.arg(option) if option == "type" else option
    if word == "goto":
        target = words.arg("goto")
        goto = read_uint(target, UINT32_MAX, f"invalid goto target {target} specified")
        _set_action(values, "goto")
        values["goto"] = goto
        return
    if word == "nop":
        _set_action(values, "nop")
        return
    route_type = route_type_number(word)
    if route_type is None:
        raise ArgError(f"unknown rule option {word}")
    if route_type not in _RULE_ACTION_NUMBERS:
        raise ArgError(f"invalid rule action {word}")
    _set_action(values, _RULE_ACTION_NUMBERS[route_type])


def _fwmark(word: str) -> tuple[int, int | None]:
    mark_text, slash, mask_text = word.partition("/")
    mark = parse_c_unsigned(mark_text, UINT32_MAX)
    # keepalived 2.2.7 takes `1/` as mask 0; a mask is meant to follow the '/'.
    mask = parse_c_unsigned(mask_text, UINT32_MAX) if slash else None
    if mark is None or (slash and mask is None):
        raise ArgError(f"invalid rule fwmark {word} specified")
    return mark, mask


def _uidrange(word: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,10})-([0-9]{1,10})", word)
    if not match or int(match.group(1)) > UINT32_MAX or int(match.group(2)) > UINT32_MAX:
        raise ArgError(f"invalid uidrange {word} specified")
    start, end = int(match.group(1)), int(match.group(2))
    if start > end:
        raise ArgError(f"invalid uidrange {word} specified (start after end)")
    return start, end


def _port_range(word: str) -> tuple[int, int] | None:
    """`A-B`, or a single port (which keepalived 2.2.7 rejects by mistake); the kernel wants A <= B."""
    match = _PORT.match(word)
    if not match:
        return None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if start > 65535 or end > 65535 or start > end:
        return None
    return start, end


def _rule_ipproto(word: str, values: dict[str, Any], stmt: Stmt, cx: Cx) -> None:
    if re.fullmatch(r"[0-9]{1,3}", word) and int(word) <= 255:
        values["ipproto"] = int(word)
    elif word.lower() in IP_PROTOCOLS:
        values["ipproto"] = IP_PROTOCOLS[word.lower()]
    elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]*", word):
        cx.warning(stmt, f"ipproto '{word}' is not a common protocol name; it must be in /etc/protocols")
        values["ipproto"] = word
    else:
        cx.error(stmt, f"invalid ipproto {word}; ignored")


def _finish_rule(values: dict[str, Any], table_option: str | None, stmt: Stmt, cx: Cx) -> RuleEntry:
    action = values.get("action")
    if action == "goto":
        preference = values.get("preference")
        if preference is None:
            raise ArgError(f"invalid rule - goto target {values['goto']} specified without preference")
        if preference >= values["goto"]:
            raise ArgError(f"invalid rule - preference {preference} >= goto target {values['goto']}")
    if action is None:
        raise ArgError("no action specified for rule")
    if table_option is not None and action != "table":
        raise ArgError(f"{table_option} specified for non table action")
    if values.get("l3mdev") and values.get("table") is not None:
        raise ArgError("table cannot be specified for l3mdev rules")
    if not values.get("no_track"):
        protocol = values.get("protocol")
        if protocol is not None and protocol not in (RTPROT_KEEPALIVED, "keepalived"):
            cx.error(
                stmt,
                f"rule cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol",
            )
        values["protocol"] = RTPROT_KEEPALIVED
    if values.get("track_group") is not None and values.get("iif") is None:
        cx.error(stmt, "static rule cannot have track_group if dev/iif not specified; track_group ignored")
        values["track_group"] = None
    family = values.setdefault("family", 4)
    for key in ("from_address", "to_address"):
        if values.get(key) == "default":
            values[key] = family_default(family)
    if values.get("preference") is None:
        cx.error(
            stmt,
            "rule has no preference specified; keepalived assigns one counting down from 16384, "
            "which is probably not what you want",
        )
    return RuleEntry(loc=stmt.loc, **values)


def parse_static_rule(stmt: Stmt, cx: Cx) -> RuleEntry:
    rule: RuleEntry = dropping("rule", lambda: _parse_rule(stmt, cx, static=True))
    return rule


def parse_virtual_rule(stmt: Stmt, cx: Cx) -> RuleEntry:
    rule: RuleEntry = dropping("rule", lambda: _parse_rule(stmt, cx, static=False))
    return rule


def format_rule(entry: RuleEntry) -> str:
    words: list[str] = []
    if entry.invert:
        words.append("not")
    for key, value in (("from", entry.from_address), ("to", entry.to_address)):
        if value is not None:
            words += [key, str(value)]
    if entry.l3mdev:
        words.append("l3mdev")
    elif entry.action == "table":
        assert entry.table is not None
        words += ["table", RT_TABLES.format(entry.table)]
    elif entry.action == "goto":
        words += ["goto", str(entry.goto)]
    else:
        words.append(entry.action)
    pairs: Sequence[tuple[str, Any]] = (
        ("preference", entry.preference),
        ("tos", None if entry.tos is None else RT_DSFIELD.format(entry.tos)),
        ("fwmark", _format_fwmark(entry)),
        ("realms", entry.realms),
        ("suppress_prefixlength", entry.suppress_prefixlength),
        ("suppress_ifgroup", None if entry.suppress_ifgroup is None else RT_GROUPS.format(entry.suppress_ifgroup)),
        ("iif", entry.iif),
        ("oif", entry.oif),
        ("tunnel-id", entry.tunnel_id),
        ("uidrange", None if entry.uidrange is None else f"{entry.uidrange[0]}-{entry.uidrange[1]}"),
        ("protocol", None if entry.protocol is None else RT_PROTOS.format(entry.protocol)),
        ("ipproto", entry.ipproto),
        ("sport", _format_ports(entry.sport)),
        ("dport", _format_ports(entry.dport)),
        ("track_group", None if entry.track_group is None else quote(entry.track_group)),
    )
    for key, value in pairs:
        if value is not None:
            words += [key, str(value)]
    if entry.no_track:
        words.append("no_track")
    if entry.family == 6 and entry.from_address is None and entry.to_address is None:
        words.append("inet6")
    return " ".join(words)


def _format_fwmark(entry: RuleEntry) -> str | None:
    if entry.fwmark is None:
        return None
    return f"{entry.fwmark:#x}" + (f"/{entry.fwmask:#x}" if entry.fwmask is not None else "")


def _format_ports(ports: tuple[int, int] | None) -> str | None:
    if ports is None:
        return None
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
