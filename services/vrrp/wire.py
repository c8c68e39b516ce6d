"""VRRP on the wire: raw IP protocol 112 sockets, opened, joined, read, written and reopened.

An adapter with no protocol decisions. It delivers what arrives (the VRRP
message, its source and destination, TTL or hop limit, interface) and sends
the bytes it is given at the moment it is asked to; it never looks inside an
advert beyond the VRID a demultiplexer needs.

Sockets follow keepalived 2.2.7's socket pool (vrrp_scheduler.c
vrrp_create_sockpool, vrrp.c open_vrrp_read_socket/open_vrrp_send_socket): one
pair per (family, protocol, interface, multicast group) for multicast
instances, and per (family, protocol, interface, local address) for unicast
ones, shared by every instance with that key. The receiving socket is bound to
the group (or the local unicast address) so that it sees nothing else; the
sending socket writes its own IPv4 header (see `wire_options`) and filters out
everything it would otherwise queue.

Decisions that differ from keepalived, and why:
- IPv6: no IPV6_CHECKSUM on either socket. The message carries the checksum our
  codec computes, so it goes out byte for byte, and one with a bad checksum
  reaches the codec and is counted instead of vanishing in the kernel.
- IPv6 unicast hop limit: 255 unless `unicast_ttl` says otherwise (RFC 5798
  5.1.2.3); keepalived leaves it to the kernel's default (64) when unset. A
  keepalived peer does not check the hop limit of unicast adverts unless
  min_ttl/max_ttl are set, so this only matters to such a peer's ranges.
- The interface index and the destination address are read from IP_PKTINFO /
  IPV6_PKTINFO, which keepalived does not ask for.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import math
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self

from conf.model.global_defs import GlobalDefs
from conf.model.vrrp import UnicastPeer, VrrpInstance
from services.vrrp import repeat_filter, rtnl_dump
from services.vrrp.repeat_filter import VRID_OFFSET
from services.vrrp.repeats import RepeatSocket, attach
from services.vrrp.wire_options import (
    IPPROTO_AH,
    IPPROTO_VRRP,
    VRRP_TTL,
    BadIPv4Header,
    InterfaceAddress,
    IPAddress,
    WireOpenError,
    choose_source,
    hop_limit,
    in6_pktinfo,
    ipv4_essentials,
    ipv4_header,
    next_ident,
    plain_address,
    raw_socket,
    read_ancillary,
    setup_receive,
    setup_send,
    sockaddr,
)

log = logging.getLogger("Keepalived_vrrp")

RECEIVE_BUFFER = 65536  # the largest IP datagram: nothing can be truncated
ANCILLARY_BUFFER = 256
RECEIVE_BATCH = 64  # packets read per readable event, so that one busy socket cannot starve the loop
SCOPE_LINK = 253  # RT_SCOPE_LINK
JITTER_WINDOW = 1024  # sends summarised by `JitterWindow.summary`
# Plain ints: socket's IntFlag members make every `&` build an enum member, once per packet.
MSG_TRUNC = int(socket.MSG_TRUNC)
MSG_DONTROUTE = int(socket.MSG_DONTROUTE)


# ---------------------------------------------------------------- what the wire carries


@dataclass(frozen=True, slots=True)
class SocketKey:
    """What makes instances share a socket pair (keepalived's already_exist_sock)."""

    family: int  # 4 or 6
    protocol: int  # IPPROTO_VRRP, or IPPROTO_AH for IPv4 AH authentication
    ifname: str | None  # None: a unicast instance without an interface
    group: IPAddress | None = None  # the multicast group joined (multicast sockets)
    bound: IPAddress | None = None  # the local address bound (unicast sockets)

    def __str__(self) -> str:
        where = self.ifname or "any interface"
        what = f"group {self.group}" if self.group is not None else f"unicast {self.bound}"
        proto = "" if self.protocol == IPPROTO_VRRP else f" proto {self.protocol}"
        return f"{where} IPv{self.family} {what}{proto}"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One packet as it arrived; `payload` is the VRRP message (behind the AH header for protocol 51)."""

    key: SocketKey
    payload: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int | None  # IPv4 TTL or IPv6 hop limit; None if the kernel did not report it
    ifindex: int
    at: float  # monotonic time it was read
    ip_header: bytes = b""  # IPv4 only: the header as received (AH's ICV covers it)

    @property
    def family(self) -> int:
        return self.key.family

    @property
    def multicast(self) -> bool:
        return self.dst.is_multicast

    @property
    def vrid(self) -> int | None:
        """The VRID octet, for demultiplexing; None if the packet is too short to hold one."""
        offset = 0
        if self.key.protocol == IPPROTO_AH:
            if len(self.payload) < 2:
                return None
            offset = (self.payload[1] + 2) * 4  # RFC 4302 2.2: the AH length in 32-bit words, minus 2
        return self.payload[offset + 1] if len(self.payload) > offset + 1 else None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Where one advert goes; the builder the service passes to `Wire.send` makes its bytes from this."""

    src: IPAddress
    dst: IPAddress
    ttl: int
    ident: int  # IPv4 identification of this advert (0 for IPv6)
    protocol: int

    def ipv4_header(self, payload_len: int) -> bytes:
        """The header this advert will carry (what an AH ICV is computed over)."""
        assert isinstance(self.src, ipaddress.IPv4Address) and isinstance(self.dst, ipaddress.IPv4Address)
        return ipv4_header(
            src=self.src, dst=self.dst, ttl=self.ttl, ident=self.ident, protocol=self.protocol, payload_len=payload_len
        )


Builder = Callable[[Outgoing], bytes]


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int  # datagrams the kernel took
    errors: tuple[str, ...] = ()  # errno names, or "no_source" / "no_socket"
    lateness: float | None = None  # seconds between the scheduled time and the first sendmsg


@dataclass(frozen=True, slots=True)
class WireEvent:
    """A change the service's poll loop must follow (`opened`/`closed` change the set of fds)."""

    kind: Literal["opened", "closed", "open_failed", "source"]
    key: SocketKey | None
    detail: str
    instance: str | None = None


# ---------------------------------------------------------------- one instance's view


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What the wire needs to know about one VRRP instance."""

    name: str
    vrid: int
    family: int
    ifname: str | None
    group: IPAddress | None  # None for a unicast instance
    peers: tuple[UnicastPeer, ...] = ()
    configured_source: IPAddress | None = None  # unicast_src_ip / mcast_src_ip
    ttl: int = VRRP_TTL
    protocol: int = IPPROTO_VRRP
    excluded: frozenset[IPAddress] = frozenset()  # its VIPs and eVIPs: never a source address
    check_unicast_src: bool = False
    rx_buf_size: int = 0  # kernel_rx_buf_size: added up over the instances sharing a socket

    @property
    def unicast(self) -> bool:
        return self.group is None

    @property
    def destinations(self) -> tuple[IPAddress, ...]:
        if self.group is not None:
            return (self.group,)
        return tuple(peer.address for peer in self.peers)

    @classmethod
    def from_instance(cls, instance: VrrpInstance, global_defs: GlobalDefs, *, ifname: str | None = None) -> Self:
        """The spec of a completed instance. `ifname` overrides its `interface` (the VMAC it sends on)."""
        if instance.virtual_router_id is None:
            raise ValueError(f"({instance.name}) has no virtual_router_id")
        family = instance.family
        unicast = bool(instance.unicast_peer)
        group: IPAddress | None = None
        if not unicast:
            group = instance.mcast_dst_ip or (
                global_defs.vrrp_mcast_group4 if family == 4 else global_defs.vrrp_mcast_group6
            )
        auth = instance.authentication
        ah = family == 4 and auth is not None and auth.auth_type == "AH"
        ttl = instance.unicast_ttl if unicast and instance.unicast_ttl is not None else VRRP_TTL
        vips = (*instance.virtual_ipaddress, *instance.virtual_ipaddress_excluded)
        return cls(
            name=instance.name,
            vrid=instance.virtual_router_id,
            family=family,
            ifname=ifname if ifname is not None else instance.interface,
            group=group,
            peers=instance.unicast_peer,
            configured_source=instance.source_ip,
            ttl=ttl,
            protocol=IPPROTO_AH if ah else IPPROTO_VRRP,
            excluded=frozenset(vip.address.ip for vip in vips),
            check_unicast_src=instance.check_unicast_src,
            rx_buf_size=instance.kernel_rx_buf_size or 0,
        )


# ---------------------------------------------------------------- delivery checks (pure)

CAST_MISMATCH = "cast_mismatch"
UNKNOWN_UNICAST_SRC = "unknown_unicast_src"
UNICAST_TTL = "unicast_ttl"
DELIVERY_REASONS = (CAST_MISMATCH, UNKNOWN_UNICAST_SRC, UNICAST_TTL)


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str  # one of DELIVERY_REASONS: the counter is drop_<reason>
    message: str  # keepalived's log line for it


def peer_for(src: IPAddress, peers: Iterable[UnicastPeer]) -> UnicastPeer | None:
    """The configured unicast peer with this address (what keepalived's dispatcher matches duplicate VRIDs by)."""
    return next((peer for peer in peers if peer.address == src), None)


def check_delivery(incoming: Incoming, spec: EndpointSpec) -> Drop | None:
    """Whether a packet demultiplexed to this instance may be handed to it, as keepalived decides.

    - A multicast packet on a unicast instance, or a unicast one on a multicast
      instance, is dropped (vrrp_dispatcher_read; keepalived logs it only with -D).
    - With `check_unicast_src` (or the global `vrrp_check_unicast_src`, which the
      instance inherits), a unicast packet must come from a configured peer,
      with a TTL/hop limit within that peer's `min_ttl`..`max_ttl`
      (vrrp_check_packet). keepalived checks this after the packet checks,
      so call it after the codec to count drops as it does.
    """
    where = f"({spec.name})"
    if incoming.multicast == spec.unicast:
        kind = "mult" if incoming.multicast else "un"
        mine = "un" if spec.unicast else "mult"
        return Drop(CAST_MISMATCH, f"{where} discarding {kind}icast packet on {mine}icast instance")
    if not (spec.unicast and spec.check_unicast_src):
        return None
    peer = peer_for(incoming.src, spec.peers)
    if peer is None:
        return Drop(UNKNOWN_UNICAST_SRC, f"{where} unicast source address {incoming.src} not a unicast peer")
    if incoming.ttl is not None and not peer.min_ttl <= incoming.ttl <= peer.max_ttl:
        return Drop(UNICAST_TTL, f"{where} TTL/HL {incoming.ttl} not in range {peer.min_ttl} - {peer.max_ttl}")
    return None


# ---------------------------------------------------------------- send timing (pure)


@dataclass(frozen=True, slots=True)
class JitterSummary:
    """How late sends were, in seconds, over the last `count` sends."""

    count: int
    p50: float
    p99: float
    max: float

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p99": self.p99, "max": self.max}


class JitterWindow:
    """Lateness (actual send time minus scheduled time) of the last `size` sends."""

    def __init__(self, size: int = JITTER_WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def record(self, lateness: float) -> None:
        self._samples.append(lateness)

    def summary(self) -> JitterSummary | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return JitterSummary(len(ordered), _nearest_rank(ordered, 0.50), _nearest_rank(ordered, 0.99), ordered[-1])


def _nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# ---------------------------------------------------------------- the interfaces


class Interfaces(Protocol):
    """The kernel's interfaces as the wire needs them (tests may substitute their own)."""

    def index(self, ifname: str) -> int | None: ...

    def addresses(self, ifindex: int) -> Sequence[InterfaceAddress]: ...

    def close(self) -> None: ...


class KernelInterfaces:
    """if_nametoindex and an rtnetlink address dump, in the network namespace of the caller."""

    def index(self, ifname: str) -> int | None:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            return None

    def addresses(self, ifindex: int) -> list[InterfaceAddress]:
        """In the kernel's order, which for IPv4 puts the primary address first."""
        return [
            InterfaceAddress(found.address, link_local=found.scope == SCOPE_LINK, flags=found.flags)
            for found in rtnl_dump.addresses(ifindex)
        ]

    def close(self) -> None:
        """Nothing is kept open between dumps."""


# ---------------------------------------------------------------- one socket pair


class VrrpSocket:
    """The receiving and the sending raw socket of one SocketKey (keepalived's fd_in and fd_out)."""

    def __init__(
        self, key: SocketKey, ifindex: int, rx: socket.socket, tx: socket.socket, repeats: RepeatSocket | None = None
    ) -> None:
        self.key = key
        self.ifindex = ifindex  # 0 for a socket bound to no interface
        self.rx = rx
        self.tx = tx
        self.repeats = repeats  # IPv4 VRRP only: where the kernel holds a BACKUP's repeated adverts
        self.filtered: frozenset[bytes] = frozenset()  # the datagrams whose repeats rx's filter drops now
        self._buffer = bytearray(RECEIVE_BUFFER)

    @classmethod
    def open(cls, key: SocketKey, ifindex: int, rx_buf_size: int = 0) -> VrrpSocket:
        """Both sockets, or WireOpenError with nothing left open."""
        rx = raw_socket(key.family, key.protocol)
        try:
            setup_receive(
                rx, ifname=key.ifname, ifindex=ifindex, group=key.group, bound=key.bound, rx_buf_size=rx_buf_size
            )
            tx = raw_socket(key.family, key.protocol)
        except BaseException:
            rx.close()
            raise
        try:
            setup_send(tx, ifname=key.ifname, ifindex=ifindex, multicast=key.group is not None)
        except BaseException:
            rx.close()
            tx.close()
            raise
        repeats = None
        if key.family == 4 and key.protocol == IPPROTO_VRRP:
            try:
                repeats = RepeatSocket.open(ifname=key.ifname, ifindex=ifindex, group=key.group, bound=key.bound)
            except WireOpenError as exc:
                # Only dearer: every repeat is then read and checked whole.
                log.info("VRRP socket %s: no repeat socket (%s)", key, exc)
        return cls(key, ifindex, rx, tx, repeats)

    def fileno(self) -> int:
        return self.rx.fileno()

    def close(self) -> None:
        self.rx.close()
        self.tx.close()
        if self.repeats is not None:
            self.repeats.close()

    def filter_repeats(self, datagrams: frozenset[bytes]) -> None:
        """Have rx drop the repeats of these datagrams and the repeat socket keep them.

        rx takes everything while the programs change, so that no repeat is lost between the
        two sockets (one read twice is harmless); each socket goes through a one-instruction
        program so that the kernel never holds two big ones for it at once."""
        if self.repeats is None or datagrams == self.filtered:
            return
        receiving, holding = repeat_filter.pair(sorted(datagrams))
        attach(self.rx, repeat_filter.ACCEPT_EVERYTHING)
        attach(self.repeats.sock, repeat_filter.ACCEPT_NOTHING)
        attach(self.repeats.sock, holding)
        attach(self.rx, receiving)
        self.filtered = datagrams

    # ------------------------------------------------------------ receiving

    def receive_one(self, now: float) -> Incoming | str | None:
        """One packet; a counter name for one dropped here; None when nothing is queued.

        OSError other than EAGAIN propagates to the caller, which counts it.
        """
        try:
            size, ancdata, flags, address = self.rx.recvmsg_into([self._buffer], ANCILLARY_BUFFER)
        except BlockingIOError:
            return None
        if flags & MSG_TRUNC:
            log.info("recvmsg(%d) message truncated from %d to %d bytes", self.fileno(), size, len(self._buffer))
            return "rx_truncated"
        data = bytes(self._buffer[:size])
        extra = read_ancillary(ancdata)
        ifindex = extra.ifindex or self.ifindex
        if self.key.family == 4:
            try:
                header_len, ttl, src, dst4 = ipv4_essentials(data)
            except BadIPv4Header as exc:
                log.info("recvmsg(%d) bad IPv4 header: %s", self.fileno(), exc)
                return "rx_bad_ip_header"
            return Incoming(self.key, data[header_len:], src, dst4, ttl, ifindex, now, data[:header_len])
        dst = extra.dst or self.key.group or self.key.bound
        assert dst is not None, "a socket is bound to a group or an address"
        return Incoming(self.key, data, plain_address(address[0]), dst, extra.ttl, ifindex, now)

    # ------------------------------------------------------------ sending

    def transmit(self, out: Outgoing, payload: bytes) -> None:
        """One datagram; OSError propagates. Multicast goes MSG_DONTROUTE, as keepalived sends it."""
        flags = 0 if self.key.group is None else MSG_DONTROUTE
        if self.key.family == 4:
            datagram = out.ipv4_header(len(payload)) + payload
            self.tx.sendmsg([datagram], [], flags, sockaddr(out.dst))
            return
        assert isinstance(out.src, ipaddress.IPv6Address)
        ancillary = [in6_pktinfo(out.src, self.ifindex), hop_limit(out.ttl)]
        self.tx.sendmsg([payload], ancillary, flags, sockaddr(out.dst, self.ifindex))


# A held repeat is compared from its source address on, and by its first header word (version,
# length); the filter compared the rest of its header, and nothing in between matters here.
COMPARED_FROM = 12


# ---------------------------------------------------------------- the pool


@dataclass
class _Endpoint:
    spec: EndpointSpec
    source: IPAddress | None = None
    key: SocketKey | None = None
    repeat: tuple[SocketKey, bytes] | None = None  # a datagram whose repeats the kernel may hold, on this key
    ident: int = 0  # the IPv4 identification of the last advert (keepalived's vrrp->ip_id)
    sent: int = 0
    send_errors: int = 0
    jitter: JitterWindow = field(default_factory=JitterWindow)


class Wire:
    """Every VRRP socket of the service: kept open, matched to instances, reopened when interfaces change.

    The service's loop polls `fds()`, calls `receive(fd)` when one is readable,
    `send(name, build, scheduled)` at an instance's deadline, and `refresh()`
    when the kernel reports a link or address change (and after `configure`,
    which does it itself). Errors of the kernel are logged and counted here and
    never raised out of these calls.
    """

    def __init__(
        self,
        interfaces: Interfaces | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter_window: int = JITTER_WINDOW,
    ) -> None:
        self.interfaces: Interfaces = interfaces if interfaces is not None else KernelInterfaces()
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.jitter = JitterWindow(jitter_window)
        self._jitter_window = jitter_window
        self._endpoints: dict[str, _Endpoint] = {}
        self._sockets: dict[SocketKey, VrrpSocket] = {}
        self._by_fd: dict[int, VrrpSocket] = {}
        self._down: dict[SocketKey, str] = {}  # keys wanted but not open, and why
        self._ever_opened: set[SocketKey] = set()
        # (socket, VRID) -> instances: the demultiplexer's table, rebuilt whenever an endpoint's key may change.
        self._by_vrid: dict[tuple[SocketKey, int], tuple[str, ...]] = {}
        self._filters_stale = False
        self._owners: dict[SocketKey, dict[int, tuple[str, bytes, bytes]]] | None = None  # see _repeat_owners
        self._repeats_read_at: float | None = None  # monotonic time of the last drain of the repeat sockets

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ configuration

    def configure(self, specs: Iterable[EndpointSpec]) -> list[WireEvent]:
        """The instances to serve from now on (at start and on reload); sockets no one uses are closed."""
        wanted: dict[str, EndpointSpec] = {}
        for spec in specs:
            if spec.name in wanted:
                raise ValueError(f"two endpoints named {spec.name}")
            wanted[spec.name] = spec
        kept: dict[str, _Endpoint] = {}
        for name, spec in wanted.items():
            old = self._endpoints.get(name)
            if old is None:
                kept[name] = _Endpoint(spec, jitter=JitterWindow(self._jitter_window))
            else:
                # Same instance: the IP identification keeps counting and the jitter window keeps its history.
                if old.spec != spec:
                    old.spec, old.source = spec, None
                kept[name] = old
        self._endpoints = kept
        for endpoint in kept.values():
            endpoint.repeat = None
        self._filters_stale, self._owners = True, None
        return self.refresh()

    def refresh(self) -> list[WireEvent]:
        """Follow the interfaces: choose source addresses, open what is missing, reopen what moved."""
        events: list[WireEvent] = []
        indexes: dict[str, int | None] = {}
        for ifname in {e.spec.ifname for e in self._endpoints.values() if e.spec.ifname is not None}:
            indexes[ifname] = self.interfaces.index(ifname)
        self._choose_sources(indexes, events)
        self._filters_stale, self._owners = True, None
        self._index_vrids()
        wanted: dict[SocketKey, int | None] = {}
        buffers: Counter[SocketKey] = Counter()
        for endpoint in self._endpoints.values():
            if endpoint.key is not None:
                wanted[endpoint.key] = indexes[endpoint.key.ifname] if endpoint.key.ifname is not None else 0
                buffers[endpoint.key] += endpoint.spec.rx_buf_size
        for key, sock in list(self._sockets.items()):
            if key not in wanted:
                self._close_socket(sock, "no longer used", events)
            elif wanted[key] != sock.ifindex:
                now = wanted[key]
                why = f"interface {key.ifname} is gone" if now is None else f"ifindex of {key.ifname} is now {now}"
                self._close_socket(sock, why, events)
        for key in list(self._down):
            if key not in wanted:
                del self._down[key]
        for key, ifindex in wanted.items():
            if key in self._sockets:
                continue
            if ifindex is None:
                self._down[key] = f"interface {key.ifname} does not exist"
                continue
            self._open_socket(key, ifindex, buffers[key], events)
        return events

    def _index_vrids(self) -> None:
        table: dict[tuple[SocketKey, int], list[str]] = {}
        for name, endpoint in self._endpoints.items():
            if endpoint.key is not None:
                table.setdefault((endpoint.key, endpoint.spec.vrid), []).append(name)
        self._by_vrid = {where: tuple(names) for where, names in table.items()}

    def _choose_sources(self, indexes: Mapping[str, int | None], events: list[WireEvent]) -> None:
        excluded: dict[str | None, set[IPAddress]] = {}
        for endpoint in self._endpoints.values():
            excluded.setdefault(endpoint.spec.ifname, set()).update(endpoint.spec.excluded)
        dumps: dict[int, Sequence[InterfaceAddress]] = {}
        for endpoint in self._endpoints.values():
            spec = endpoint.spec
            source = spec.configured_source
            if source is None and spec.ifname is not None:
                ifindex = indexes[spec.ifname]
                addresses: Sequence[InterfaceAddress] = ()
                if ifindex is not None:
                    if ifindex not in dumps:
                        try:
                            dumps[ifindex] = self.interfaces.addresses(ifindex)
                        except OSError as exc:
                            self.counters["address_dump_failed"] += 1
                            log.info("cannot read the addresses of %s: %s", spec.ifname, exc)
                            dumps[ifindex] = ()
                    addresses = dumps[ifindex]
                source = choose_source(spec.family, addresses, excluded.get(spec.ifname, ()), endpoint.source)
            if source != endpoint.source:
                detail = f"source address {source}" if source is not None else "no source address"
                if source is None and spec.ifname is not None:
                    log.info("(%s) Cannot find an IP address to use for interface %s", spec.name, spec.ifname)
                events.append(WireEvent("source", None, detail, spec.name))
            endpoint.source = source
            if spec.unicast:
                endpoint.key = (
                    None if source is None else SocketKey(spec.family, spec.protocol, spec.ifname, None, source)
                )
            else:
                endpoint.key = SocketKey(spec.family, spec.protocol, spec.ifname, spec.group)

    def _open_socket(self, key: SocketKey, ifindex: int, rx_buf_size: int, events: list[WireEvent]) -> None:
        try:
            sock = VrrpSocket.open(key, ifindex, rx_buf_size)
        except WireOpenError as exc:
            reason = exc.strerror or str(exc)
            if self._down.get(key) != reason:
                log.info("%s", reason)
                self.counters["socket_open_failed"] += 1
                events.append(WireEvent("open_failed", key, reason))
            self._down[key] = reason
            return
        self._down.pop(key, None)
        self._sockets[key] = sock
        self._filters_stale, self._owners = True, None
        self._by_fd[sock.fileno()] = sock
        again = key in self._ever_opened
        self._ever_opened.add(key)
        self.counters["socket_reopened" if again else "socket_opened"] += 1
        detail = f"{'reopened' if again else 'opened'} on ifindex {ifindex}"
        if again:
            log.info("VRRP socket %s reopened (ifindex %d)", key, ifindex)
        events.append(WireEvent("opened", key, detail))

    def _close_socket(self, sock: VrrpSocket, why: str, events: list[WireEvent]) -> None:
        del self._sockets[sock.key]
        del self._by_fd[sock.fileno()]
        sock.close()
        self.counters["socket_closed"] += 1
        if why != "no longer used":
            log.info("VRRP socket %s closed: %s", sock.key, why)
            self._down[sock.key] = why
        events.append(WireEvent("closed", sock.key, why))

    # ------------------------------------------------------------ the loop's side

    def fds(self) -> dict[int, SocketKey]:
        """The file descriptors to poll for reading."""
        return {fd: sock.key for fd, sock in self._by_fd.items()}

    def receive(self, fd: int) -> list[Incoming]:
        """What is queued on a readable socket (up to RECEIVE_BATCH packets)."""
        sock = self._by_fd.get(fd)
        if sock is None:
            return []
        packets: list[Incoming] = []
        for _ in range(RECEIVE_BATCH):
            try:
                item = sock.receive_one(self.clock())
            except OSError as exc:
                self.counters["rx_errors"] += 1
                log.info("recvmsg(%d) returned %d (%s)", fd, exc.errno, os.strerror(exc.errno or 0))
                break
            if item is None:
                break
            if isinstance(item, str):
                self.counters[item] += 1
                continue
            self.counters["rx_packets"] += 1
            packets.append(item)
        return packets

    # ------------------------------------------------------------ repeats held by the kernel

    def hold_repeats(self, name: str, incoming: Incoming | None) -> bool:
        """Let the kernel hold the exact repeats of this datagram for instance `name` (None: stop).

        True if it will (IPv4 VRRP, on a socket that has a repeat socket, the only
        instance with its VRID there); the filters change at the next `apply_filters`.
        """
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return False
        if incoming is None:
            if endpoint.repeat is not None:
                endpoint.repeat = None
                self._filters_stale, self._owners = True, None
            return False
        sock = self._sockets.get(incoming.key)
        datagram = incoming.ip_header + incoming.payload
        if (
            sock is None
            or sock.repeats is None
            or endpoint.key != incoming.key
            or not repeat_filter.repeatable(datagram)
            or not repeat_filter.block_fits(datagram)
            or len(self._by_vrid.get((incoming.key, endpoint.spec.vrid), ())) != 1
        ):
            return False
        if endpoint.repeat != (incoming.key, datagram):
            endpoint.repeat = (incoming.key, datagram)
            self._filters_stale, self._owners = True, None
        return True

    def apply_filters(self) -> None:
        """Bring every socket's filters in line with `hold_repeats` (once per loop turn: one
        program per socket, however many instances changed)."""
        if not self._filters_stale:
            return
        self._filters_stale = False
        if self._repeats_read_at is None:
            # Nothing can be held before the first filter: the age of what the first read finds
            # is bounded by now, as later ones are by the read before them.
            self._repeats_read_at = self.clock()
        wanted: dict[SocketKey, set[bytes]] = {key: set() for key in self._sockets}
        for endpoint in self._endpoints.values():
            if endpoint.repeat is not None and endpoint.repeat[0] == endpoint.key and endpoint.key in wanted:
                wanted[endpoint.key].add(endpoint.repeat[1])
        for key, datagrams in wanted.items():
            try:
                self._sockets[key].filter_repeats(frozenset(datagrams))
            except OSError as exc:
                self.counters["filter_attach_failed"] += 1
                log.info("VRRP socket %s: cannot attach its filters (%s)", key, exc)

    def take_repeats(self, now: float, wall_ns: int) -> tuple[dict[str, float], int, bool]:
        """The repeats the kernel held since the last call: instance -> monotonic arrival of its
        last one; how many there were; and True if a repeat socket overflowed (some repeats were
        lost, so a silence cannot be trusted). `now` and `wall_ns` are the monotonic and wall
        clocks read together."""
        previous = self._repeats_read_at
        self._repeats_read_at = now
        oldest = max(0.0, now - (now if previous is None else previous))
        if self._owners is None:
            self._owners = self._repeat_owners()
        newest: dict[str, int] = {}  # instance -> the stamp of its last repeat
        overflowed = False
        read = stale = 0
        for sock in self._sockets.values():
            if sock.repeats is None:
                continue
            count, by_vrid, lost = sock.repeats.drain()
            overflowed |= lost
            read += count
            owners = self._owners.get(sock.key, {})
            for vrid, found in by_vrid.items():
                owner = owners.get(vrid)
                if owner is None:
                    stale += len(found)
                    continue
                name, tail, first_word = owner
                # The filter let only repeats through, but of the datagram it had when they arrived.
                match = next(
                    (r for r in found if r.datagram[COMPARED_FROM:] == tail and r.datagram[:4] == first_word), None
                )
                if match is None:
                    stale += len(found)
                    continue
                newest[name] = match.stamp_ns
        if read:
            self.counters["rx_packets"] += read
            self.counters["rx_repeats_held"] += read
        if stale:
            self.counters["rx_repeats_stale"] += stale
        if overflowed:
            self.counters["rx_repeats_overflow"] += 1
        heard: dict[str, float] = {}
        for name, stamp in newest.items():
            age = (wall_ns - stamp) / 1e9 if stamp else 0.0
            heard[name] = now - min(max(age, 0.0), oldest)
        return heard, read, overflowed

    def _repeat_owners(self) -> dict[SocketKey, dict[int, tuple[str, bytes, bytes]]]:
        """socket -> VRID -> (instance, its held datagram from the source address on, its first
        header word): what a held repeat of it is checked against."""
        owners: dict[SocketKey, dict[int, tuple[str, bytes, bytes]]] = {}
        for name, endpoint in self._endpoints.items():
            if endpoint.repeat is not None:
                key, datagram = endpoint.repeat
                owners.setdefault(key, {})[datagram[VRID_OFFSET]] = (name, datagram[COMPARED_FROM:], datagram[:4])
        return owners

    def candidates(self, incoming: Incoming) -> tuple[str, ...]:
        """The instances a packet may be for: those on its socket with its VRID (more than one only for
        unicast instances sharing a VRID, told apart by their peers with `peer_for`)."""
        vrid = incoming.vrid
        if vrid is None:
            return ()
        return self._by_vrid.get((incoming.key, vrid), ())

    def spec(self, name: str) -> EndpointSpec:
        return self._endpoints[name].spec

    def source(self, name: str) -> IPAddress | None:
        """The address the instance's adverts are sent from (None: no usable address yet)."""
        return self._endpoints[name].source

    def send(self, name: str, build: Builder, scheduled: float) -> SendResult:
        """One advert of instance `name` to each of its destinations, built by `build` for each.

        `scheduled` is the monotonic time the advert was due; how late the first
        datagram left is recorded in the jitter windows. Exceptions from `build`
        are bugs and propagate; kernel errors are logged, counted and returned.
        """
        endpoint = self._endpoints[name]
        spec = endpoint.spec
        if endpoint.source is None:
            self.counters["tx_no_source"] += 1
            return SendResult(0, ("no_source",))
        sock = self._sockets.get(endpoint.key) if endpoint.key is not None else None
        if sock is None:
            self.counters["tx_no_socket"] += 1
            return SendResult(0, ("no_socket",))
        if spec.family == 4:
            endpoint.ident = next_ident(endpoint.ident)
        sent = 0
        errors: list[str] = []
        first: float | None = None
        for dst in spec.destinations:
            out = Outgoing(endpoint.source, dst, spec.ttl, endpoint.ident if spec.family == 4 else 0, spec.protocol)
            payload = build(out)
            if first is None:
                first = self.clock()
            try:
                sock.transmit(out, payload)
            except OSError as exc:
                code = exc.errno or 0
                errors.append(errno.errorcode.get(code, str(code)))
                self.counters["tx_errors"] += 1
                self.counters[f"tx_error_{errors[-1]}"] += 1
                if spec.unicast:
                    log.info("(%s) Cant send advert to %s (%s)", name, dst, os.strerror(code))
                else:
                    log.info("(%s): send advert error %d (%s)", name, code, os.strerror(code))
                continue
            sent += 1
        self.counters["tx_packets"] += sent
        endpoint.sent += 1
        endpoint.send_errors += len(errors)
        lateness = None
        if first is not None:
            lateness = first - scheduled
            endpoint.jitter.record(lateness)
            self.jitter.record(lateness)
        return SendResult(sent, tuple(errors), lateness)

    # ------------------------------------------------------------ status and shutdown

    def status(self) -> dict[str, Any]:
        """For `hakeeper ctl status`: sockets, each instance's source and send timing, counters."""
        sockets = [
            {"socket": str(key), "state": "open", "ifindex": sock.ifindex, "fd": sock.fileno()}
            for key, sock in self._sockets.items()
        ] + [{"socket": str(key), "state": "down", "reason": why} for key, why in self._down.items()]
        instances = {}
        for name, endpoint in self._endpoints.items():
            summary = endpoint.jitter.summary()
            instances[name] = {
                "source": str(endpoint.source) if endpoint.source is not None else None,
                "destinations": [str(d) for d in endpoint.spec.destinations],
                "socket": str(endpoint.key) if endpoint.key is not None else None,
                "adverts_sent": endpoint.sent,
                "send_errors": endpoint.send_errors,
                "send_lateness": summary.to_json() if summary else None,
            }
        overall = self.jitter.summary()
        return {
            "sockets": sockets,
            "instances": instances,
            "send_lateness": overall.to_json() if overall else None,
            "counters": dict(self.counters),
        }

    def close(self) -> None:
        for sock in list(self._sockets.values()):
            sock.close()
        self._sockets.clear()
        self._by_fd.clear()
        self._down.clear()
        self.interfaces.close()
