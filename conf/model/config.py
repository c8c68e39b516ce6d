"""The root of the model: everything a keepalived.conf holds.

Field order matters: global_defs is built first, because other blocks inherit
their defaults from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from conf.model.addresses import StaticAddress, format_address, parse_static_address
from conf.model.bfd import BfdInstance
from conf.model.global_blocks import (
    GarpGroup,
    InterfaceDelay,
    LinkbeatInterface,
    TrackGroup,
    format_interface_delay,
    format_linkbeat_interface,
    parse_interface_delay,
    parse_linkbeat_interface,
)
from conf.model.global_defs import GlobalDefs
from conf.model.global_refs import validate_global
from conf.model.lvs import SslConfig, VirtualServer
from conf.model.lvs_group import VirtualServerGroup
from conf.model.lvs_validate import validate_lvs
from conf.model.routes import RouteEntry, format_route, parse_static_route
from conf.model.rule_preferences import assign_rule_preferences
from conf.model.rules import RuleEntry, format_rule, parse_static_rule
from conf.model.trackers import TrackFile, TrackProcess, VrrpScript
from conf.model.vrrp import SyncGroup, VrrpInstance
from conf.model.vrrp_refs import validate_vrrp
from conf.schema import Block, Cx, Scope, block, blocks, kw, lines
from conf.values import Flag, Int, Str


@dataclass(frozen=True, kw_only=True)
class Config(Block):
    block_keyword = "the top level"

    global_defs: GlobalDefs = block(GlobalDefs, always=True, default=GlobalDefs())

    # Root-level process settings (keepalived parses these outside global_defs).
    net_namespace: str | None = kw(Str(), once=True)
    net_namespace_ipvs: str | None = kw(Str(), once=True)  # "" means the default namespace
    namespace_with_ipsets: bool = kw(Flag(accepts_bool=False), default=False)
    instance: str | None = kw(Str(), once=True)
    use_pid_dir: bool = kw(Flag(accepts_bool=False), default=False)
    linkbeat_use_polling: bool = kw(Flag(accepts_bool=False), default=False)
    child_wait_time: int = kw(Int(0, 2**32 - 1), default=5)

    linkbeat_interfaces: tuple[LinkbeatInterface, ...] = lines(
        parse_linkbeat_interface, line_format=format_linkbeat_interface
    )
    interface_up_down_delays: tuple[InterfaceDelay, ...] = lines(
        parse_interface_delay, line_format=format_interface_delay
    )
    track_groups: tuple[TrackGroup, ...] = blocks(TrackGroup, names=("track_group",))
    static_ipaddress: tuple[StaticAddress, ...] = lines(parse_static_address, line_format=format_address)
    static_routes: tuple[RouteEntry, ...] = lines(parse_static_route, line_format=format_route)
    static_rules: tuple[RuleEntry, ...] = lines(parse_static_rule, line_format=format_rule)
    bfd_instances: tuple[BfdInstance, ...] = blocks(BfdInstance, names=("bfd_instance",))

    vrrp_scripts: tuple[VrrpScript, ...] = blocks(VrrpScript, names=("vrrp_script",))
    track_files: tuple[TrackFile, ...] = blocks(
        TrackFile, names=("track_file", "vrrp_track_file"), deprecated={"vrrp_track_file": "use 'track_file'"}
    )
    track_processes: tuple[TrackProcess, ...] = blocks(TrackProcess, names=("vrrp_track_process",))
    garp_groups: tuple[GarpGroup, ...] = blocks(GarpGroup, names=("garp_group",))
    vrrp_sync_groups: tuple[SyncGroup, ...] = blocks(SyncGroup, names=("vrrp_sync_group",))
    vrrp_instances: tuple[VrrpInstance, ...] = blocks(VrrpInstance, names=("vrrp_instance",))

    virtual_server_groups: tuple[VirtualServerGroup, ...] = blocks(VirtualServerGroup, names=("virtual_server_group",))
    virtual_servers: tuple[VirtualServer, ...] = blocks(VirtualServer, names=("virtual_server",))
    ssl: SslConfig | None = block(SslConfig, names=("SSL",))

    def complete(self, cx: Cx, scope: Scope) -> Config | None:
        """Cross-references between blocks: names used here and defined there."""
        config = validate_global(self, cx)
        config = assign_rule_preferences(validate_vrrp(config, cx))
        return validate_lvs(config, cx)
