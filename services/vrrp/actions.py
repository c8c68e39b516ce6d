"""What a virtual router asks its service to do: a closed union of frozen records.

Every action names the instance it concerns, so that a sync group can return
the actions of all its members in one list. The service carries them out in
order: a `SendAdvert` that precedes a `Transition` to MASTER must go out first,
as keepalived sends the advert before it adds the VIPs (vrrp_state_master_tx).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from services.vrrp.states import State

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class SendAdvert:
    """Send one advertisement with this priority (0: the router is giving up MASTER)."""

    instance: str
    priority: int
    interval: float  # seconds, the Advertisement_Interval to put on the wire


@dataclass(frozen=True)
class Transition:
    """The router changed state: publish it, move the VIPs, run the notify scripts."""

    instance: str
    old: State
    new: State
    reason: str
    removed: bool = False  # the STOP of an instance a reload removed (notified as FAULT or DELETED)


@dataclass(frozen=True)
class Resumed:
    """The router took up `state` without a transition (a restarted service, a reload):
    publish it, but run no notify script and announce nothing."""

    instance: str
    state: State


@dataclass(frozen=True)
class PriorityChanged:
    """The effective priority moved (keepalived's notify_priority_changes reports it)."""

    instance: str
    old: int
    new: int


@dataclass(frozen=True)
class LowerPriorityAdvert:
    """A MASTER heard a lower priority MASTER.

    keepalived then sends the lower-priority gratuitous ARPs of every instance in
    `announce` (this one and the other members of its sync group) and runs
    notify_master_rx_lower_pri.
    """

    instance: str
    source: IPAddress
    priority: int
    announce: tuple[str, ...]


@dataclass(frozen=True)
class AnnounceSource:
    """A unicast router leaving FAULT: a gratuitous ARP / unsolicited NA for its own
    source address renews the MASTER's neighbour entry, so that its adverts reach us."""

    instance: str
    address: IPAddress


@dataclass(frozen=True)
class Log:
    """A line as keepalived logs it, instance prefix included; `detail` lines are the
    ones keepalived prints only with --log-detail."""

    instance: str
    message: str
    detail: bool = False


@dataclass(frozen=True)
class GroupTransition:
    """A vrrp_sync_group changed state: run its notify scripts."""

    group: str
    old: State
    new: State
    reason: str


Action = (
    SendAdvert
    | Transition
    | Resumed
    | PriorityChanged
    | LowerPriorityAdvert
    | AnnounceSource
    | Log
    | GroupTransition
)
