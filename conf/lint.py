"""Mistakes keepalived accepts silently but its users regret, found in one file.

(Mistakes tied to one block, such as nopreempt with state MASTER or a long
auth_pass, are reported where that block is built.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from conf.diagnostics import Diagnostics
from conf.model.config import Config
from conf.model.vrrp import PRIORITY_OWNER, VrrpInstance


def lint(config: Config, diags: Diagnostics) -> None:
    _duplicate_vrids(config.vrrp_instances, diags)
    _duplicate_vips(config.vrrp_instances, diags)
    _owner_with_trackers(config, diags)
    _unweighted_scripts(config, diags)


def _advert_channel(instance: VrrpInstance) -> tuple[object, ...]:
    """What decides whether two instances' adverts meet: multicast group, or the unicast peers."""
    if instance.unicast:
        return ("unicast",)
    return ("multicast", instance.mcast_dst_ip)


def _duplicate_vrids(instances: Iterable[VrrpInstance], diags: Diagnostics) -> None:
    seen: dict[tuple[object, ...], VrrpInstance] = {}
    for instance in instances:
        key = (instance.interface, instance.family, instance.virtual_router_id, _advert_channel(instance))
        other = seen.get(key)
        if other is None:
            seen[key] = instance
            continue
        if instance.unicast and other.unicast:
            mine = {p.address for p in instance.unicast_peer}
            theirs = {p.address for p in other.unicast_peer}
            if not mine & theirs:
                continue  # keepalived allows a shared VRID when the unicast peers do not overlap
        diags.warning(
            instance.where("virtual_router_id"),
            f"({instance.name}) virtual_router_id {instance.virtual_router_id} is also used by {other.name} "
            f"(line {other.where('virtual_router_id').line}) on {instance.interface or 'the same interface'}: "
            "their adverts collide and each logs the other's as bogus",
        )


def _duplicate_vips(instances: Iterable[VrrpInstance], diags: Diagnostics) -> None:
    owner: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, tuple[VrrpInstance, int]] = {}
    for instance in instances:
        for address in (*instance.virtual_ipaddress, *instance.virtual_ipaddress_excluded):
            ip = address.address.ip
            previous = owner.get(ip)
            if previous is None:
                owner[ip] = (instance, address.loc.line)
            elif previous[0] is not instance:
                diags.warning(
                    address.loc,
                    f"({instance.name}) VIP {ip} is also in {previous[0].name} (line {previous[1]}): whichever "
                    "instance changes state last decides whether the address is present",
                )


def _owner_with_trackers(config: Config, diags: Diagnostics) -> None:
    for instance in config.vrrp_instances:
        if instance.priority != PRIORITY_OWNER:
            continue
        refs = (*instance.track_script, *instance.track_file, *instance.track_process, *instance.track_bfd)
        weighted_interfaces = [r for r in instance.track_interface if r.weight]
        for ref in (*refs, *weighted_interfaces):
            diags.warning(
                ref.loc,
                f"({instance.name}) priority 255 (address owner) is never changed by trackers: {ref.name} "
                "can only put it in FAULT, never lower its priority",
            )


def _unweighted_scripts(config: Config, diags: Diagnostics) -> None:
    scripts = {s.name: s for s in config.vrrp_scripts}
    for instance in config.vrrp_instances:
        for ref in instance.track_script:
            script = scripts.get(ref.name)
            if script is None:
                continue
            weight = ref.weight if ref.weight is not None else script.weight.value
            if weight == 0:
                diags.warning(
                    ref.loc,
                    f"({instance.name}) {ref.name} has weight 0: when it fails, {instance.name} goes to FAULT "
                    "and stops advertising instead of lowering its priority",
                )
