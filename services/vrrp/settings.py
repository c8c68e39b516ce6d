"""RouterSettings: what one virtual router's state machine needs from the configuration.

A pure function of a completed `VrrpInstance`, the `GlobalDefs` and one fact of
the machine (the interface's primary address), so the core never reads the
configuration model itself. What a received advert must look like is
services.vrrp.acceptance's business, not the state machine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from conf.model.global_defs import GlobalDefs
from conf.model.vrrp import PRIORITY_OWNER, VrrpInstance
from services.vrrp.states import State

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class RouterSettings:
    name: str
    vrid: int
    version: int = 2
    family: int = 4
    priority: int = 100  # the configured (base) priority
    initial_state: State = State.BACKUP
    advert_int: float = 1.0  # seconds
    down_timer_adverts: int = 3
    nopreempt: bool = False
    preempt_delay: float = 0.0
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    # The address adverts go out from: it breaks ties between equal priorities. None
    # when the interface has none yet (the router is then held in FAULT by its trackers).
    primary_address: IPAddress | None = None
    unicast: bool = False
    startup_delay: float = 0.0  # global vrrp_startup_delay
    # With the above, what makes two configurations the same router across a reload.
    interface: str | None = None
    multicast_group: IPAddress | None = None
    vmac: bool = False
    vmac_addresses: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= PRIORITY_OWNER:
            raise ValueError(f"({self.name}) priority {self.priority} out of range [1, {PRIORITY_OWNER}]")
        if self.initial_state not in (State.MASTER, State.BACKUP):
            raise ValueError(f"({self.name}) initial state must be MASTER or BACKUP, not {self.initial_state}")
        if self.advert_int <= 0 or self.down_timer_adverts < 1:
            raise ValueError(f"({self.name}) advert_int and down_timer_adverts must be positive")

    @property
    def owner(self) -> bool:
        """The address owner (priority 255)."""
        return self.priority == PRIORITY_OWNER

    @property
    def identity(self) -> tuple[object, ...]:
        """Two settings with equal identities are the same router, whose state a reload
        keeps (keepalived vrrp_exist: VRID, family, interface, and the unicast source or
        the VMAC flags and multicast group)."""
        if self.unicast:
            return (self.vrid, self.family, self.interface, True, self.primary_address)
        return (self.vrid, self.family, self.interface, False, self.vmac, self.vmac_addresses, self.multicast_group)

    @classmethod
    def from_instance(
        cls, instance: VrrpInstance, global_defs: GlobalDefs, primary_address: IPAddress | None = None
    ) -> RouterSettings:
        """Settings of a completed instance; `primary_address` is the interface's, used
        unless unicast_src_ip or mcast_src_ip is configured."""
        if instance.virtual_router_id is None:
            raise ValueError(f"({instance.name}) has no virtual_router_id: complete the instance first")
        family = instance.family
        group: IPAddress | None = None
        if not instance.unicast:
            group = instance.mcast_dst_ip or (
                global_defs.vrrp_mcast_group4 if family == 4 else global_defs.vrrp_mcast_group6
            )
        return cls(
            name=instance.name,
            vrid=instance.virtual_router_id,
            version=instance.effective_version,
            family=family,
            priority=instance.priority,
            initial_state=State(instance.state),
            advert_int=instance.advert_int,
            down_timer_adverts=instance.down_timer_adverts,
            nopreempt=instance.nopreempt,
            preempt_delay=instance.preempt_delay,
            lower_prio_no_advert=instance.lower_prio_no_advert,
            higher_prio_send_advert=instance.higher_prio_send_advert,
            primary_address=instance.source_ip or primary_address,
            unicast=instance.unicast,
            startup_delay=global_defs.vrrp_startup_delay or 0.0,
            interface=instance.interface,
            multicast_group=group,
            vmac=instance.use_vmac is not None,
            vmac_addresses=instance.use_vmac_addr,
        )
