"""What keepalived checks once the whole file is read: validate_check_config() and the links
between virtual servers, groups, track files and BFD instances (keepalived/check/check_data.c, 2.2.7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conf.diagnostics import Loc
from conf.model.checker_base import Checker, Connection
from conf.model.checkers_other import BfdCheck, FileCheck
from conf.schema import Cx
from conf.values import IPAddress

if TYPE_CHECKING:
    from conf.model.config import Config
from conf.model.lvs import RealServer, VirtualServer, describe_rs, describe_vs
from conf.model.lvs_group import VirtualServerGroup, _describe_entry
from conf.model.lvs_values import DEFAULT_PERSISTENCE, DEFAULT_SCHEDULER, LvsMethod, ServerAddress, _before

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
            cx.warning(
                group.loc,
                f"virtual_server_group {group.name} is already defined at line "
                f"{seen[group.name].loc.line}; this one is never used",
            )
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
        cx.warning(
            vs.loc,
            f"Virtual server group {name} specified but not configured - ignoring virtual server {describe_vs(vs)}",
        )
        return None
    family = vs.ip_family
    if group.has_ipv4 and group.has_ipv6:
        if family is not None:
            cx.warning(
                vs.loc,
                f"{name}: virtual server group with IPv4 & IPv6 doesn't match virtual server "
                f"{describe_vs(vs)} (only allowed when all its servers are tunnelled) - ignoring",
            )
            return None
        return vs
    if (group.has_ipv4 and family == "inet6") or (group.has_ipv6 and family == "inet"):
        cx.warning(vs.loc, f"{name}: address family doesn't match virtual server {describe_vs(vs)} - ignoring")
        return None
    if group.has_ipv4 or group.has_ipv6:
        return vs.replace(ip_family="inet" if group.has_ipv4 else "inet6")
    if family is None:
        cx.warning(
            vs.loc, f"{name}: Virtual server {describe_vs(vs)} address family cannot be determined, defaulting to IPv4"
        )
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
        state.error(
            vs.where("ha_suspend"),
            f"Virtual server {state.name()}: cannot use ha_suspend with fwmarks - clearing ha_suspend",
        )
        state.changes["ha_suspend"] = False
    by_address = bool(group.addresses) if group is not None else vs.fwmark is None
    if by_address:
        if vs.protocol is None:
            state.error(vs.loc, f"Virtual server {state.name()}: no protocol set - defaulting to UDP")
            state.changes["protocol"] = "UDP"
        if vs.ops and state.get("protocol") != "UDP":
            state.error(
                vs.where("ops"), f"Virtual server {state.name()}: one packet scheduling requires UDP - resetting"
            )
            state.changes["ops"] = False
        if vs.persistence_timeout is None and group is None and not vs.port:
            state.error(
                vs.loc,
                f"Virtual server {state.name()}: zero port only valid for persistent services - "
                f"setting persistence_timeout {DEFAULT_PERSISTENCE}",
            )
            state.changes["persistence_timeout"] = DEFAULT_PERSISTENCE
    if state.get("persistence_timeout") is None and group is not None and any(not a.port for a in group.addresses):
        state.error(
            vs.loc,
            f"Virtual server {state.name()}: zero port only valid for persistent services - "
            f"setting persistence_timeout {DEFAULT_PERSISTENCE}",
        )
        state.changes["persistence_timeout"] = DEFAULT_PERSISTENCE
    fwmarks_only = (group is not None and not group.addresses and bool(group.fwmarks)) or (
        group is None and vs.fwmark is not None
    )
    if state.get("protocol") is not None and fwmarks_only:
        state.error(
            vs.where("protocol"),
            f"Warning: Virtual server {state.name()}: protocol specified for fwmark - protocol will be ignored",
        )
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
            state.error(
                written.loc,
                f"VS {state.name()}: real server {describe_rs(written, state.get('protocol'))} "
                "is duplicated - removing second rs",
            )
            continue
        rs = written.replace(lvs_method=state.method_for(written.lvs_method))
        sorry = vs.sorry_server
        if (
            sorry is not None
            and _same_server(sorry.address, sorry.port, rs.address, rs.port)
            and vs.sorry_server_inhibit != rs.inhibit_on_failure
        ):
            state.error(
                vs.where("sorry_server"),
                f"Virtual server {state.name()}: real server {describe_rs(rs, state.get('protocol'))} matches "
                f"sorry server, but inhibit setting differs, "
                f"{'setting' if rs.inhibit_on_failure else 'clearing'} on sorry server",
            )
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
        state.error(
            vs.where("quorum"),
            f"Warning - quorum {quorum} for {state.name()} exceeds total weight of real "
            f"servers {total}, reducing quorum to {total}",
        )
        quorum = total
        state.changes["quorum"] = quorum
    if vs.hysteresis >= quorum and (quorum or vs.hysteresis):
        # With a quorum of 0 keepalived wraps the hysteresis round to 4294967295; 0 is meant.
        hysteresis = max(quorum - 1, 0)
        state.error(
            vs.where("hysteresis"),
            f"Virtual server {state.name()}: hysteresis {vs.hysteresis} >= quorum "
            f"{quorum}; setting hysteresis to {hysteresis}",
        )
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
                    state.error(
                        rs.loc,
                        f"WARNING - fwmark virtual server {state.name()}, real server {rs_name(rs)} "
                        "has port specified - port will be ignored",
                    )
            if sorry_direct and sorry is not None and sorry.port:
                state.error(
                    vs.where("sorry_server"),
                    f"WARNING - fwmark virtual server {state.name()}, sorry server "
                    "has port specified - port will be ignored",
                )
        for entry in group.addresses:
            for rs in direct:
                if rs.port and rs.port != entry.port:
                    state.error(
                        rs.loc,
                        f"virtual server {state.name()}:[{_describe_entry(entry)}] and real server "
                        f"{rs_name(rs)} ports don't match",
                    )
            if sorry_direct and sorry is not None and sorry.port and sorry.port != entry.port:
                state.error(
                    vs.where("sorry_server"),
                    f"WARNING - virtual server {state.name()}, sorry server has port specified - port will be ignored",
                )
        return tuple(real_servers)

    fixed: list[RealServer] = []
    for rs in real_servers:
        nat = rs.lvs_method is not None and rs.lvs_method.method == "NAT"
        port = rs.port
        if vs.fwmark is not None:
            if not nat and rs.port:
                state.error(
                    rs.loc,
                    f"WARNING - fwmark virtual server {state.name()}, real server {rs_name(rs)} has "
                    "port specified - clearing",
                )
                port = 0
        elif not rs.port:
            port = vs.port
        elif not nat and rs.port != vs.port:
            state.error(
                rs.loc,
                f"WARNING - virtual server {state.name()} and real server {rs_name(rs)} ports don't match - resetting",
            )
            port = vs.port
        fixed.append(rs.replace(port=port) if port != rs.port else rs)
    if sorry_direct and sorry is not None:
        if vs.fwmark is not None:
            if sorry.port:
                state.error(
                    vs.where("sorry_server"),
                    f"WARNING - virtual server {state.name()}, sorry server has port specified - clearing",
                )
                state.changes["sorry_server"] = ServerAddress(sorry.address, 0)
        elif not sorry.port:
            state.changes["sorry_server"] = ServerAddress(sorry.address, vs.port)
        elif sorry.port != vs.port:
            state.error(
                vs.where("sorry_server"),
                f"WARNING - virtual server {state.name()} and sorry server ports don't match - resetting",
            )
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
