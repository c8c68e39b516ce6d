"""vrrp_complete_instance(): what keepalived derives and checks once an instance is parsed.

Follows keepalived/vrrp/vrrp.c vrrp_complete_instance() (2.2.7): values left
unset are derived, contradictions are resolved the way keepalived resolves
them (with its messages), and an instance that cannot run is dropped.
"""

from __future__ import annotations

from typing import Any

from conf.model.common import check_ifname
from conf.model.vrrp import PRIORITY_OWNER, VRRP_MAX_ADDRESSES, VRRP_V3_MAX_ADVERT, Vmac, VrrpInstance
from conf.schema import ArgError, Cx, Scope


def complete_instance(instance: VrrpInstance, cx: Cx, scope: Scope) -> VrrpInstance | None:
    """vrrp_complete_instance(): derive what was left unset and drop what cannot run."""
    where = f"({instance.name})"
    changes: dict[str, Any] = {}

    def get(name: str) -> Any:
        return changes.get(name, getattr(instance, name))

    if instance.virtual_router_id is None:
        cx.error(instance.loc, f"{where} the virtual router id must be set - instance removed")
        return None
    if instance.interface is not None:
        try:
            check_ifname(instance.interface)
        except ArgError as exc:
            cx.error(instance.where("interface"), f"{where} {exc.message} - ignoring")
            changes["interface"] = None
        else:
            if instance.interface == "lo":
                cx.error(
                    instance.where("interface"), f"{where} cannot use a loopback interface (lo) for vrrp - ignoring"
                )
                changes["interface"] = None

    family = _check_families(instance, cx, changes)
    strict = instance.strict_mode

    version = instance.version
    if family == 6:
        if version == 2:
            if strict:
                cx.error(instance.where("version"), f"{where} cannot use IPv6 with VRRP version 2; setting version 3")
            version = 3
        elif version is None:
            version = 3
    if version is None:
        version = scope.globals.vrrp_version if family == 4 else 3
    changes["version"] = version

    if not get("virtual_ipaddress"):
        if version == 3 or strict:
            cx.error(instance.loc, f"{where} No VIP specified; at least one is required - instance removed")
            return None
        cx.error(instance.loc, f"{where} No VIP specified; at least one is sensible")

    # An unset priority follows the state, and an unset state follows the priority.
    priority = instance.priority
    state = instance.state
    if "priority" not in instance.locs and "state" in instance.locs and state == "MASTER":
        priority = PRIORITY_OWNER
    if "state" not in instance.locs:
        state = "MASTER" if priority == PRIORITY_OWNER else "BACKUP"
    elif strict and (state == "MASTER") != (priority == PRIORITY_OWNER):
        cx.error(instance.where("state"), f"{where} State MASTER must match being address owner")
        state = "MASTER" if priority == PRIORITY_OWNER else "BACKUP"
    changes["priority"] = priority

    _check_authentication(instance, cx, changes, strict, version, family, state, priority)
    if changes.get("state_from_auth"):
        state = changes.pop("state_from_auth")
    changes["state"] = state

    if not _check_unicast(instance, cx, changes, strict, family):
        return None

    if strict and instance.use_vmac is not None and instance.use_vmac.mac:
        cx.error(instance.where("use_vmac"), f"{where} cannot specify MAC address with strict mode - clearing")
        changes["use_vmac"] = Vmac(instance.use_vmac.ifname, None)
    if instance.vrf and (get("interface") or not instance.unicast):
        cx.error(
            instance.where("vrf"),
            f"{where} vrf can only be specified with{'out interface' if get('interface') else ' unicast'} - clearing",
        )
        changes["vrf"] = None
    if instance.vmac_xmit_base and instance.use_vmac is None and instance.use_ipvlan is None:
        cx.error(instance.where("vmac_xmit_base"), f"{where} vmac_xmit_base is only valid with a vmac - clearing")
        changes["vmac_xmit_base"] = False
    if instance.unicast and (instance.use_vmac is not None or instance.use_ipvlan is not None):
        if get("interface") is None:
            cx.error(instance.loc, f"{where} Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac")
            changes["use_vmac"] = None
            changes["use_ipvlan"] = None
        elif not instance.vmac_xmit_base:
            cx.error(instance.loc, f"{where} unicast with use_vmac requires vmac_xmit_base - setting")
            changes["vmac_xmit_base"] = True
    if instance.unicast_ttl is not None and not instance.unicast:
        cx.error(instance.where("unicast_ttl"), f"{where} Cannot use unicast_ttl without unicast peers - resetting")
        changes["unicast_ttl"] = None

    _check_ipv6_first_vip(instance, cx, strict, family)
    _check_vip_count(instance, cx, changes, version, family)
    _check_preemption(instance, cx, changes, strict, state, priority)

    if instance.down_timer_adverts != 3 and strict:
        cx.error(
            instance.where("down_timer_adverts"),
            f"{where} down_timer_adverts is incompatible with strict mode - resetting",
        )
        changes["down_timer_adverts"] = 3

    accept = instance.accept
    if accept is None:
        accept = True if priority == PRIORITY_OWNER else not strict
    elif accept and priority != PRIORITY_OWNER and strict and version == 2:
        cx.error(
            instance.where("accept"),
            f"{where} warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting",
        )
        accept = False
    changes["accept"] = accept

    if instance.unicast and instance.mcast_dst_ip is not None:
        cx.error(instance.where("mcast_dst_ip"), f"{where} multicast destination specified with unicast - ignoring")
        changes["mcast_dst_ip"] = None
    elif instance.mcast_dst_ip is not None and not instance.mcast_dst_ip.is_multicast:
        cx.error(
            instance.where("mcast_dst_ip"), f"{where} mcast_dst_ip {instance.mcast_dst_ip} is not multicast - ignoring"
        )
        changes["mcast_dst_ip"] = None
    _check_strict_garp(instance, cx, changes, strict)
    changes["advert_int"] = _checked_advert_int(instance, cx, version)
    return instance.replace(**changes)


def _check_families(instance: VrrpInstance, cx: Cx, changes: dict[str, Any]) -> int:
    """All VIPs (and peers) share the instance's family; others are dropped, as keepalived does."""
    family = instance.family
    kept = tuple(a for a in instance.virtual_ipaddress if a.address.version == family)
    for address in instance.virtual_ipaddress:
        if address.address.version != family:
            cx.error(
                address.loc,
                f"({instance.name}): address family of {address.address} must match VRRP instance - ignoring",
            )
    if len(kept) != len(instance.virtual_ipaddress):
        changes["virtual_ipaddress"] = kept
    peers = tuple(p for p in instance.unicast_peer if p.address.version == family)
    for peer in instance.unicast_peer:
        if peer.address.version != family:
            cx.error(
                peer.loc,
                f"({instance.name}) unicast peer {peer.address} MUST be of the same family as the instance - skipping",
            )
    if len(peers) != len(instance.unicast_peer):
        changes["unicast_peer"] = peers
    if instance.native_ipv6 and family == 4 and instance.virtual_ipaddress:
        cx.error(instance.where("native_ipv6"), f"({instance.name}) Cannot specify native_ipv6 with IPv4 addresses")
        changes["native_ipv6"] = False
    return family


def _check_authentication(
    instance: VrrpInstance,
    cx: Cx,
    changes: dict[str, Any],
    strict: bool,
    version: int,
    family: int,
    state: str,
    priority: int,
) -> None:
    auth = instance.authentication
    if auth is None or auth.auth_type is None:
        return
    where = f"({instance.name})"
    loc = instance.where("authentication")
    problem = None
    if strict:
        problem = "Strict mode does not support authentication. Ignoring."
    elif version == 3:
        problem = "VRRP version 3 does not support authentication. Ignoring."
    elif not auth.auth_pass:
        problem = "Authentication specified but no password given. Ignoring"
    elif family == 6 and auth.auth_type == "AH":
        problem = "Cannot use AH authentication with IPv6. ignoring"
    if problem:
        cx.error(loc, f"{where} {problem}")
        changes["authentication"] = None
    elif auth.auth_type == "AH" and state == "MASTER" and priority != PRIORITY_OWNER:
        cx.error(loc, f"{where} Initial state master is incompatible with AH authentication - clearing")
        changes["state_from_auth"] = "BACKUP"


def _check_unicast(instance: VrrpInstance, cx: Cx, changes: dict[str, Any], strict: bool, family: int) -> bool:
    where = f"({instance.name})"
    interface = changes.get("interface", instance.interface)
    if strict and instance.unicast and interface is not None:
        cx.error(
            instance.where("unicast_peer"), f"{where} Unicast peers are not supported in strict mode - instance removed"
        )
        return False
    if interface is None:
        source = instance.source_ip
        if source is None:
            if instance.unicast or instance.unicast_keyword_used:
                cx.error(
                    instance.loc, f"{where} Unicast instances must have unicast_src_ip or interface - instance removed"
                )
            else:
                cx.error(instance.loc, f"{where} no interface specified - instance removed")
            return False
        if family == 6 and source.is_link_local:
            cx.error(instance.loc, f"{where} Non link-local address required if interface omitted - instance removed")
            return False
    if instance.unicast_keyword_used and not instance.unicast and not instance.unicast_fault_no_peer:
        cx.warning(
            instance.loc,
            f"{where} A unicast keyword has been specified without any unicast peers. "
            "Defaulting to multicast. This usage is deprecated - please update your configuration.",
        )
    return True


def _check_ipv6_first_vip(instance: VrrpInstance, cx: Cx, strict: bool, family: int) -> None:
    if family != 6 or instance.unicast or not instance.virtual_ipaddress:
        return
    first = instance.virtual_ipaddress[0]
    if not first.address.ip.is_link_local:
        message = f"({instance.name}) the first IPv6 VIP address {'must' if strict else 'should'} be link local"
        if strict:
            cx.error(first.loc, message)
        else:
            cx.warning(first.loc, message)


def _check_vip_count(instance: VrrpInstance, cx: Cx, changes: dict[str, Any], version: int, family: int) -> None:
    vips = changes.get("virtual_ipaddress", instance.virtual_ipaddress)
    # An advert must fit a 1500-byte frame: Ethernet, IP and VRRP headers, then the addresses.
    header = 14 + (20 if family == 4 else 40) + 8 + (8 if version == 2 and family == 4 else 0)
    fit = min(VRRP_MAX_ADDRESSES, (1500 - header) // (4 if family == 4 else 16))
    if len(vips) > fit:
        cx.error(
            vips[fit].loc,
            f"({instance.name}) Number of VIPs ({len(vips)}) exceeds maximum/space available in "
            f"packet (max {fit} addresses) - excess moved to eVIPs",
        )
        changes["virtual_ipaddress"] = tuple(vips[:fit])
        changes["virtual_ipaddress_excluded"] = tuple(vips[fit:]) + instance.virtual_ipaddress_excluded


def _check_preemption(
    instance: VrrpInstance, cx: Cx, changes: dict[str, Any], strict: bool, state: str, priority: int
) -> None:
    where = f"({instance.name})"
    nopreempt = instance.nopreempt
    preempt_delay = instance.preempt_delay
    if priority == PRIORITY_OWNER and nopreempt:
        cx.error(
            instance.where("nopreempt"), f"{where} nopreempt is incompatible with priority 255. resetting nopreempt"
        )
        nopreempt = False
    # keepalived clears both with state MASTER: a node that starts as MASTER preempts regardless.
    if state == "MASTER":
        if nopreempt:
            cx.warning(
                instance.where("nopreempt"),
                f"{where} nopreempt has no effect with state MASTER (it is "
                "cleared); use state BACKUP on every node for nopreempt to work",
            )
            nopreempt = False
        if preempt_delay:
            cx.warning(
                instance.where("preempt_delay"),
                f"{where} preempt_delay has no effect with state MASTER "
                "(it is cleared); use state BACKUP for preempt_delay to work",
            )
            preempt_delay = 0.0
    if preempt_delay:
        if strict:
            cx.error(
                instance.where("preempt_delay"), f"{where} preempt_delay is incompatible with strict mode - resetting"
            )
            preempt_delay = 0.0
        elif nopreempt:
            cx.error(
                instance.where("preempt_delay"),
                f"{where} preempt_delay is incompatible with nopreempt mode - resetting",
            )
            preempt_delay = 0.0
    changes["nopreempt"] = nopreempt
    changes["preempt_delay"] = preempt_delay


def _check_strict_garp(instance: VrrpInstance, cx: Cx, changes: dict[str, Any], strict: bool) -> None:
    if not strict:
        return
    where = f"({instance.name})"
    for name, forced, message in (
        ("garp_lower_prio_repeat", 0, "Strict mode requires no repeat garps. resetting"),
        ("garp_lower_prio_delay", 0, "Strict mode requires no repeat garp delay. resetting"),
        ("lower_prio_no_advert", True, "Strict mode requires no lower priority advert. resetting"),
        ("higher_prio_send_advert", False, "strict mode requires higher_prio_send_advert to be clear. resetting"),
    ):
        if name in instance.locs and getattr(instance, name) != forced:
            cx.error(instance.where(name), f"{where} {message}")
            changes[name] = forced


def _checked_advert_int(instance: VrrpInstance, cx: Cx, version: int) -> float:
    where = f"({instance.name})"
    interval = instance.advert_int
    loc = instance.where("advert_int")
    if version == 2:
        if interval >= 256:
            cx.error(
                loc,
                f"{where} VRRPv2 advertisement interval {interval:.2f}s is out of range. "
                "Must be less than 256s. Setting to 255s",
            )
            return 255.0
        if interval != int(interval):
            rounded = float(max(1, int(interval + 0.5)))
            cx.error(loc, f"{where} VRRPv2 advertisement interval {interval:f}s must be an integer. rounding")
            return rounded
        return interval
    if interval >= 40.96:
        cx.error(
            loc,
            f"{where} VRRPv3 advertisement interval {interval:.2f}s is out of range. "
            "Must be less than 40.96s. Setting to 40.95s",
        )
        return VRRP_V3_MAX_ADVERT
    centis = round(interval * 100, 6)
    if centis != int(centis):
        cx.error(loc, f"{where} VRRPv3 advertisement interval {interval:f}s must be in units of 10ms - rounding")
        return max(1, int(centis + 0.5)) / 100
    return interval
