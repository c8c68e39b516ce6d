"""Cross-references between the global blocks and the rest of the configuration."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from conf.schema import (
    Cx,
)

if TYPE_CHECKING:
    from conf.model.addresses import StaticAddress
    from conf.model.bfd import BfdInstance
    from conf.model.config import Config
from conf.model.global_blocks import GarpGroup, TrackGroup
from conf.model.global_defs import GlobalDefs

# ---------------------------------------------------------------------------------------------
# Cross-references between the global blocks and the rest


def validate_global(config: Config, cx: Cx) -> Config:
    changes: dict[str, Any] = {}
    track_groups = _unique_track_groups(config, cx)
    changes["track_groups"] = track_groups
    known_groups = {group.name for group in track_groups}
    changes["static_ipaddress"] = tuple(
        _fill_default_interface(_check_track_group(item, known_groups, cx), config.global_defs.default_interface)
        for item in config.static_ipaddress
    )
    changes["static_routes"] = tuple(_check_track_group(item, known_groups, cx) for item in config.static_routes)
    changes["static_rules"] = tuple(_check_track_group(item, known_groups, cx) for item in config.static_rules)
    changes["garp_groups"] = _garp_groups_without_shared_interfaces(config.garp_groups, cx)
    changes["linkbeat_interfaces"] = _last_per_name(config.linkbeat_interfaces)
    changes["interface_up_down_delays"] = _last_per_name(config.interface_up_down_delays)
    changes["bfd_instances"] = _unique_bfd_instances(config.bfd_instances, cx)
    changes["global_defs"] = _resolve_reload_file(config)
    return config.replace(**changes)


def _unique_track_groups(config: Config, cx: Cx) -> tuple[TrackGroup, ...]:
    instances = {instance.name for instance in config.vrrp_instances}
    kept: list[TrackGroup] = []
    seen: set[str] = set()
    for group in config.track_groups:
        if group.name in seen:
            cx.error(group.loc, f"track_group {group.name} already defined; block ignored")
            continue
        seen.add(group.name)
        members = []
        for ref in group.group:
            if ref.name in instances:
                members.append(ref)
            else:
                cx.warning(
                    ref.loc, f"vrrp instance {ref.name} specified in track group {group.name} doesn't exist - ignoring"
                )
        if not members:
            cx.warning(group.loc, f"track group {group.name} has no existing vrrp instance - removing")
            continue
        kept.append(group.replace(group=tuple(members)))
    return tuple(kept)


TrackedItem = Any  # StaticAddress | RouteEntry | RuleEntry; Any keeps dataclasses.replace simple


def _check_track_group(item: TrackedItem, known: set[str], cx: Cx) -> TrackedItem:
    group = getattr(item, "track_group", None)
    if group is None:
        return item
    if group not in known:
        cx.error(item.loc, f"track_group {group} not found; the item is not tracked")
        return dataclasses.replace(item, track_group=None)
    if item.no_track:
        cx.warning(item.loc, f"track_group {group} and no_track are both set - not tracking")
    return item


def _fill_default_interface(item: StaticAddress, default_interface: str) -> StaticAddress:
    """A static address without `dev` goes on default_interface, which must then exist."""
    if item.dev is not None:
        return item
    return dataclasses.replace(item, dev=default_interface)


def _garp_groups_without_shared_interfaces(groups: tuple[GarpGroup, ...], cx: Cx) -> tuple[GarpGroup, ...]:
    owner: set[str] = set()
    kept: list[GarpGroup] = []
    for group in groups:
        changes: dict[str, tuple[str, ...]] = {}
        for name in ("interface", "interfaces"):
            names: list[str] = []
            for interface in getattr(group, name):
                if interface in owner:
                    cx.error(group.where(name), f"garp_group already specified for {interface} - ignoring")
                    continue
                owner.add(interface)
                names.append(interface)
            changes[name] = tuple(names)
        kept.append(group.replace(**changes))
    return tuple(kept)


def _last_per_name(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """A later line for the same interface replaces the earlier one, as in keepalived."""
    last = {item.name: index for index, item in enumerate(items)}
    return tuple(item for index, item in enumerate(items) if last[item.name] == index)


def _unique_bfd_instances(instances: tuple[BfdInstance, ...], cx: Cx) -> tuple[BfdInstance, ...]:
    kept: list[BfdInstance] = []
    for bfd in instances:
        if any(other.name == bfd.name for other in kept):
            cx.error(bfd.loc, f"BFD instance {bfd.name} already configured - ignoring")
            continue
        clash = next(
            (
                other
                for other in kept
                if other.neighbor_ip == bfd.neighbor_ip
                and (other.source_ip is None or bfd.source_ip is None or other.source_ip == bfd.source_ip)
            ),
            None,
        )
        if clash is not None:
            if bfd.source_ip is not None:
                cx.error(
                    bfd.loc,
                    f"BFD instance {bfd.name} has duplicate source/neighbor address "
                    f"{bfd.source_ip}/{bfd.neighbor_ip}, ignoring instance",
                )
            else:
                cx.error(
                    bfd.loc,
                    f"BFD instance {bfd.name} has duplicate neighbor address {bfd.neighbor_ip}, ignoring instance",
                )
            continue
        kept.append(bfd)
    return tuple(kept)


RUN_DIR = "/run"


def _resolve_reload_file(config: Config) -> GlobalDefs:
    """`reload_file` with no name: keepalived's name depends on `instance` and the pid directory."""
    global_defs = config.global_defs
    if global_defs.reload_file != "":
        return global_defs
    if config.instance:
        name = f"{RUN_DIR}/keepalived/keepalived_{config.instance}.reload"
    elif config.use_pid_dir or config.net_namespace:
        name = f"{RUN_DIR}/keepalived/keepalived.reload"
    else:
        name = f"{RUN_DIR}/keepalived.reload"
    return global_defs.replace(reload_file=name)
