"""A received advertisement, as the state machine sees it.

By the time an advert reaches the router it has passed every check
(services.vrrp.acceptance): the router only needs who sent it, with which
priority and, for VRRPv3, which advertisement interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from services.vrrp.codec import Advert

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Received:
    source: IPAddress
    priority: int
    interval: float  # seconds, as the advert carries it

    @classmethod
    def from_advert(cls, advert: Advert, source: IPAddress) -> Received:
        return cls(source, advert.priority, advert.interval)
