"""One configured vrrp_instance at run time: its router, what its adverts must look like, its trackers.

Everything here is made from the parsed configuration once (at start and on
reload). The advert bytes are built once per (priority, interval, source,
destination) and kept: a MASTER at 0.1 s sends the same message ten times a
second, and building it each time is most of the cost of a send.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from conf.model.addresses import format_address
from conf.model.config import Config
from conf.model.routes import format_route
from conf.model.rules import format_rule
from conf.model.vrrp import VrrpInstance
from services.vrrp.acceptance import Expectation
from services.vrrp.codec import AH_LENGTH, AUTH_AH, AUTH_PASS, Advert, ah_payload, build
from services.vrrp.core import VirtualRouter
from services.vrrp.received import Received
from services.vrrp.settings import IPAddress, RouterSettings
from services.vrrp.trackers import TrackerSet
from services.vrrp.wire import Builder, EndpointSpec, Outgoing

MESSAGE_CACHE_LIMIT = 64  # distinct (priority, interval, src, dst) kept per instance


@dataclass
class Instance:
    config: VrrpInstance
    router: VirtualRouter
    expectation: Expectation
    trackers: TrackerSet
    spec: EndpointSpec
    ah_sequence: int = 0  # AH: the last sequence number sent or accepted
    _messages: dict[tuple[int, float, IPAddress, IPAddress], bytes] = field(default_factory=dict)
    # The last advert accepted without remark, by everything its acceptance depended on: a BACKUP
    # hears the same bytes from its MASTER every interval, and they need checking only once.
    last_accepted: tuple[Hashable, Received] | None = None

    @property
    def name(self) -> str:
        return self.router.name

    def advert(self, priority: int, interval: float) -> Advert:
        exp = self.expectation
        auth_type = exp.auth_type if exp.version == 2 else 0
        return Advert(
            version=exp.version,
            vrid=exp.vrid,
            priority=priority,
            interval=interval,
            addresses=exp.addresses,
            auth_type=auth_type,
            # Only a PASS password travels in the message; an AH key is for the ICV alone.
            auth_data=exp.auth_data if exp.version == 2 and auth_type == AUTH_PASS else b"",
        )

    def builder(self, priority: int, interval: float) -> Builder:
        """What `Wire.send` calls for each destination of one advert."""

        def make(out: Outgoing) -> bytes:
            key = (priority, interval, out.src, out.dst)
            message = self._messages.get(key)
            if message is None:
                if len(self._messages) >= MESSAGE_CACHE_LIMIT:
                    self._messages.clear()
                message = build(
                    self.advert(priority, interval),
                    out.src,
                    out.dst,
                    old_checksum_group=self.expectation.sending_checksum_group,
                )
                self._messages[key] = message
            if self.expectation.auth_type != AUTH_AH or self.expectation.version != 2:
                return message
            # AH covers the IP header, whose identification changes with every datagram.
            self.ah_sequence += 1
            header = out.ipv4_header(AH_LENGTH + len(message))
            return ah_payload(
                message,
                ip_header=header,
                key=self.expectation.auth_data,
                sequence=self.ah_sequence,
                unicast=self.spec.unicast,
            )

        return make

    def forget_messages(self) -> None:
        """After a change of what the adverts look like, sent or expected."""
        self._messages.clear()
        self.last_accepted = None

    def bus_value(self) -> dict[str, Any]:
        """What `vrrp/<instance>` holds: the state, and what an operator or netconfig reads of it."""
        router = self.router
        master = router.master_address
        settings = router.settings
        value: dict[str, Any] = {
            "state": str(router.state),
            "base_priority": settings.priority,
            "effective_priority": router.priority,
            "interface": self.config.interface,
            "virtual_router_id": settings.vrid,
            "version": settings.version,
            "family": settings.family,
            "advert_int": settings.advert_int,
            "source_ip": str(source) if (source := router.primary_address) is not None else None,
            "master_ip": str(master) if master is not None else None,
            "master_priority": router.master_priority or None,
            "fault_reason": router.fault_reason if router.fault else None,
            "pending": router.pending,
            "desired": desired_sets(self.config) if str(router.state) == "MASTER" else {},
        }
        return value


def desired_sets(instance: VrrpInstance) -> dict[str, list[str]]:
    """The VIPs, eVIPs, virtual routes and rules a MASTER wants, in keepalived.conf syntax."""
    return {
        "vips": [format_address(a) for a in (*instance.virtual_ipaddress, *instance.virtual_ipaddress_excluded)],
        "routes": [format_route(r) for r in instance.virtual_routes],
        "rules": [format_rule(r) for r in instance.virtual_rules],
    }


def make_instance(
    config: VrrpInstance, whole: Config, spec: EndpointSpec, primary_address: IPAddress | None
) -> Instance:
    settings = RouterSettings.from_instance(config, whole.global_defs, primary_address)
    return Instance(
        config=config,
        router=VirtualRouter(settings),
        expectation=Expectation.from_instance(config, whole.global_defs),
        trackers=TrackerSet.for_instance(config, whole),
        spec=spec,
    )
