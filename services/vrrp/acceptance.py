"""Whether a received advert is for this instance: the receive checks that need the instance's settings.

Pure functions: the service hands over what the socket delivered (`Arrival`)
and what the instance expects (`Expectation`, made once from the parsed
configuration); a drop raises `codec.BadAdvert`, anything worth a log line that
does not drop the advert comes back as a `Note`.

The checks and their order are keepalived 2.2.7's (vrrp.c vrrp_check_packet,
vrrp_scheduler.c vrrp_dispatcher_read), which are RFC 3768 and RFC 5798 §7.1
with these differences:

- TTL / hop limit: 255 is required of multicast adverts only. keepalived's
  unicast peers may be routed, so a unicast advert's TTL is only checked
  against its peer's `min_ttl`/`max_ttl`, and only with `check_unicast_src`.
- VIP list (count or addresses differing from ours): the RFCs are followed, not
  keepalived. RFC 5798 only asks for a log line, so a VRRPv3 advert is kept
  with a "vip_mismatch" Note; RFC 3768 drops a VRRPv2 advert unless it comes
  from the address owner (priority 255), which is kept with the Note.
  keepalived 2.2.7 drops every such advert; `drop_vip_mismatch` does the same.
  As in keepalived, the check is skipped while a backup hears the same master
  with `skip_check_adv_addr` (see `Expectation.checks_addresses`).
- Advertisement interval: a VRRPv2 advert with another interval is dropped
  (RFC 3768 §7.1); a VRRPv3 one is kept, its sender's interval being what the
  backup uses (RFC 5798 §6.4.2), as keepalived does.
- Multicast/unicast: an advert that came the other way (multicast to a unicast
  instance or the reverse) is dropped, as keepalived does.
- keepalived's old VRRPv3 unicast checksum: with `ChecksumMode.DETECT` an
  advert that only checks out with it is kept with an "old_checksum" Note; the
  service then switches the instance to `ChecksumMode.OLD` for sending and
  receiving, as keepalived does. keepalived switches as soon as the checksum
  matches, even if a later check drops the advert; here only a kept advert
  switches it.

The RFCs also drop adverts received by the address owner (priority 255); that
depends on the instance's current priority and is left to the state machine,
which does what keepalived does (reports two owners and lowers its own).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Final, Literal, get_args

from conf.model.global_defs import GlobalDefs
from conf.model.vrrp import PRIORITY_OWNER, UnicastPeer, VrrpInstance
from services.vrrp.codec import (
    AH_REPLAY,
    AUTH_AH,
    AUTH_DATA_LENGTH,
    AUTH_NONE,
    AUTH_PASS,
    INVALID_AUTH_TYPE,
    MCAST_GROUP4,
    MISSING_AH,
    MISSING_VIP,
    NOT_A_PEER,
    PEER_TTL,
    TOTAL_LENGTH,
    UNEXPECTED_AH,
    UNKNOWN_VRID,
    UNKNOWN_VRID_FROM,
    VRRP_TTL,
    WRONG_AUTH_TYPE,
    WRONG_CAST,
    WRONG_CAST6,
    WRONG_COUNT,
    WRONG_FAMILY,
    WRONG_INTERVAL,
    WRONG_PASSWORD,
    WRONG_TTL,
    WRONG_VERSION,
    Advert,
    BadAdvert,
    ChecksumMode,
    IPAddress,
    Ipv4Datagram,
    drop,
    parse,
    verify_ah,
)

_AUTH_TYPES: Final = {"PASS": AUTH_PASS, "AH": AUTH_AH}
OLD_CHECKSUM = "Setting unicast VRRPv3 checksum to old version"

NoteKind = Literal["vip_mismatch", "old_checksum"]
NOTE_KINDS: Final[tuple[NoteKind, ...]] = get_args(NoteKind)
NOTE_PHRASES: Final[dict[NoteKind, tuple[str, ...]]] = {
    "vip_mismatch": (WRONG_COUNT, MISSING_VIP),
    "old_checksum": (OLD_CHECKSUM,),
}


@dataclass(frozen=True)
class Note:
    """Something about a kept advert that keepalived would log (and the service counts as `kind`)."""

    kind: NoteKind
    detail: str

    def log_line(self, instance: str) -> str:
        return f"({instance}) {self.detail}"


@dataclass(frozen=True)
class Expectation:
    """What one instance accepts, resolved from its configuration.

    `addresses` are the VIPs in configuration order (not the excluded ones);
    `auth_data` is the 8-octet password (PASS) or key (AH).
    """

    vrid: int
    version: int
    family: int
    interval: float
    addresses: tuple[IPAddress, ...] = ()
    auth_type: int = AUTH_NONE
    auth_data: bytes = bytes(AUTH_DATA_LENGTH)
    unicast: bool = False
    peers: tuple[UnicastPeer, ...] = ()
    check_unicast_src: bool = False
    skip_check_adv_addr: bool = False
    checksum: ChecksumMode = ChecksumMode.STANDARD
    old_checksum_group: IPv4Address = MCAST_GROUP4
    drop_vip_mismatch: bool = False

    @classmethod
    def from_instance(
        cls, instance: VrrpInstance, global_defs: GlobalDefs, *, drop_vip_mismatch: bool = False
    ) -> Expectation:
        """From a completed vrrp_instance (its version and advert_int resolved) and global_defs."""
        if instance.virtual_router_id is None:
            raise ValueError(f"vrrp_instance {instance.name} has no virtual_router_id")
        version = instance.effective_version
        family = instance.family
        auth = instance.authentication
        auth_type = AUTH_NONE
        auth_data = bytes(AUTH_DATA_LENGTH)
        if auth is not None and auth.auth_type is not None and version == 2:
            auth_type = _AUTH_TYPES[auth.auth_type]
            auth_data = auth.wire_password
        checksum = ChecksumMode.STANDARD
        if family == 4 and version == 3:
            if instance.old_unicast_checksum == "config":
                checksum = ChecksumMode.OLD
            elif instance.old_unicast_checksum is None and instance.unicast:
                checksum = ChecksumMode.DETECT
        group = global_defs.vrrp_mcast_group4
        return cls(
            vrid=instance.virtual_router_id,
            version=version,
            family=family,
            interval=instance.advert_int,
            addresses=tuple(vip.address.ip for vip in instance.virtual_ipaddress),
            auth_type=auth_type,
            auth_data=auth_data,
            unicast=instance.unicast,
            peers=instance.unicast_peer,
            check_unicast_src=instance.check_unicast_src,
            skip_check_adv_addr=instance.skip_check_adv_addr,
            checksum=checksum,
            old_checksum_group=group if isinstance(group, IPv4Address) else MCAST_GROUP4,
            drop_vip_mismatch=drop_vip_mismatch,
        )

    @property
    def sending_checksum_group(self) -> IPv4Address | None:
        """What to pass to `codec.build` as `old_checksum_group` for this instance's own adverts."""
        if self.checksum is ChecksumMode.OLD and self.family == 4 and self.version == 3:
            return self.old_checksum_group
        return None

    def checks_addresses(self, *, src: IPAddress, master: IPAddress | None, backup: bool) -> bool:
        """Whether an advert from `src` has its VIPs (and unicast source) checked.

        A master always checks; with `skip_check_adv_addr` a backup skips the
        check for adverts from the master it last accepted (`master`).
        """
        return not (backup and self.skip_check_adv_addr and master is not None and src == master)


@dataclass(frozen=True)
class Arrival:
    """A VRRP message as the socket delivered it.

    `ttl` is the IPv4 TTL or IPv6 hop limit, None if the socket did not say
    (keepalived then skips the TTL checks). `datagram` is the IPv4 datagram the
    message came in, needed for AH.
    """

    message: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int | None = None
    datagram: Ipv4Datagram | None = None

    @classmethod
    def from_ipv4(cls, datagram: Ipv4Datagram) -> Arrival:
        return cls(datagram.message, datagram.src, datagram.dst, datagram.ttl, datagram)


@dataclass(frozen=True)
class Accepted:
    """A kept advert, what to log about it, and the AH sequence number to remember (AH only)."""

    advert: Advert
    notes: tuple[Note, ...] = ()
    ah_sequence: int | None = None


def unknown_vrid(vrid: int, interface: str, src: IPAddress | None = None) -> BadAdvert:
    """The drop for an advert whose VRID no instance on the interface has (logged with `log_unknown_vrids`)."""
    if src is None:
        return drop("unknown_vrid", UNKNOWN_VRID, prefixed=False, quiet=True, vrid=vrid, interface=interface)
    return drop("unknown_vrid", UNKNOWN_VRID_FROM, prefixed=False, quiet=True, vrid=vrid, interface=interface, src=src)


def receive(
    arrival: Arrival, expectation: Expectation, *, check_addresses: bool = True, ah_sequence: int = 0
) -> Accepted:
    """Parse and accept a message for an instance; raise BadAdvert if it is dropped.

    `ah_sequence` is the last AH sequence number accepted (or sent) by the
    instance: an AH advert must carry a greater one.
    """
    _check_family(arrival, expectation)
    datagram = arrival.datagram
    if datagram is not None and datagram.total_length != datagram.received_length:
        raise drop("length", TOTAL_LENGTH, total_length=datagram.total_length, length=datagram.received_length)
    advert = parse(
        arrival.message,
        family=expectation.family,
        src=arrival.src,
        dst=arrival.dst,
        version=expectation.version,
        checksum=expectation.checksum,
        old_checksum_group=expectation.old_checksum_group,
        overhead=datagram.overhead if datagram is not None else 0,
    )
    notes = accept(advert, expectation, arrival, check_addresses=check_addresses, ah_sequence=ah_sequence)
    sequence = datagram.ah.sequence if datagram is not None and datagram.ah is not None else None
    return Accepted(advert, tuple(notes), sequence)


def accept(
    advert: Advert,
    expectation: Expectation,
    arrival: Arrival,
    *,
    check_addresses: bool = True,
    ah_sequence: int = 0,
) -> list[Note]:
    """The instance's checks on a parsed advert; raise BadAdvert for a drop, return Notes for a kept one."""
    _check_family(arrival, expectation)
    multicast = arrival.dst.is_multicast
    if expectation.family == 6 and multicast == expectation.unicast:
        raise BadAdvert.from_phrase("cast_mismatch", WRONG_CAST6, _casts(multicast, expectation.unicast), quiet=True)
    if expectation.family == 4:
        _check_ah_presence(arrival, expectation)
    if not expectation.unicast and arrival.ttl is not None and arrival.ttl != VRRP_TTL:
        raise drop("ttl", WRONG_TTL, received=arrival.ttl, expected=VRRP_TTL)
    if advert.version != expectation.version:
        raise drop("version", WRONG_VERSION, received=advert.version, expected=expectation.version)
    if advert.version == 2:
        _check_authentication(advert, expectation, arrival, ah_sequence)
        if advert.interval != expectation.interval:
            raise drop("interval", WRONG_INTERVAL, mine=int(expectation.interval), received=int(advert.interval))

    notes: list[Note] = []
    if check_addresses and len(advert.addresses) != len(expectation.addresses):
        notes.append(
            _vip_mismatch(
                advert, expectation, WRONG_COUNT, received=len(advert.addresses), expected=len(expectation.addresses)
            )
        )
    if expectation.family == 4 and multicast == expectation.unicast:
        raise BadAdvert.from_phrase("cast_mismatch", WRONG_CAST, _casts(multicast, expectation.unicast))
    if check_addresses:
        if not notes:
            missing = [address for address in expectation.addresses if address not in advert.addresses]
            if missing:
                notes.append(_vip_mismatch(advert, expectation, MISSING_VIP, vrid=expectation.vrid, address=missing[0]))
        if expectation.unicast and expectation.check_unicast_src:
            _check_unicast_source(arrival, expectation)
    if advert.old_checksum and expectation.checksum is ChecksumMode.DETECT:
        notes.append(Note("old_checksum", OLD_CHECKSUM))
    return notes


def _check_family(arrival: Arrival, expectation: Expectation) -> None:
    if arrival.src.version != expectation.family:
        raise drop("family", WRONG_FAMILY, received=arrival.src.version, expected=expectation.family)


def _casts(multicast: bool, unicast: bool) -> dict[str, str]:
    return {"received": "mult" if multicast else "un", "expected": "un" if unicast else "mult"}


def _check_ah_presence(arrival: Arrival, expectation: Expectation) -> None:
    has_ah = arrival.datagram is not None and arrival.datagram.ah is not None
    if has_ah != (expectation.auth_type == AUTH_AH):
        raise drop("auth_type", UNEXPECTED_AH if has_ah else MISSING_AH)


def _check_authentication(advert: Advert, expectation: Expectation, arrival: Arrival, ah_sequence: int) -> None:
    """VRRPv2 authentication, RFC 2338 §5.3.6 and §10 as keepalived implements it."""
    if advert.auth_type not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
        raise drop("auth_type_invalid", INVALID_AUTH_TYPE, auth_type=advert.auth_type)
    if advert.auth_type != expectation.auth_type:
        raise drop("auth_type", WRONG_AUTH_TYPE, received=advert.auth_type, expected=expectation.auth_type)
    if advert.auth_type == AUTH_PASS and not hmac.compare_digest(advert.auth_data, expectation.auth_data):
        raise drop("auth_password", WRONG_PASSWORD)
    if advert.auth_type == AUTH_AH:
        if arrival.datagram is None:
            raise drop("auth_type", MISSING_AH)
        ah = verify_ah(arrival.datagram, expectation.auth_data, unicast=expectation.unicast)
        if ah.sequence <= ah_sequence:
            raise drop("ah_replay", AH_REPLAY, received=ah.sequence, local=ah_sequence)


def _vip_mismatch(advert: Advert, expectation: Expectation, template: str, **values: object) -> Note:
    """A Note, or a drop where the RFC (VRRPv2 not from the owner) or `drop_vip_mismatch` asks for one."""
    if expectation.drop_vip_mismatch or (advert.version == 2 and advert.priority != PRIORITY_OWNER):
        raise BadAdvert.from_phrase("vip_mismatch", template, values)
    return Note("vip_mismatch", template.format(**values))


def _check_unicast_source(arrival: Arrival, expectation: Expectation) -> None:
    peer = next((p for p in expectation.peers if p.address == arrival.src), None)
    if peer is None:
        raise drop("unicast_src", NOT_A_PEER, address=arrival.src)
    if arrival.ttl is not None and not peer.min_ttl <= arrival.ttl <= peer.max_ttl:
        raise drop("ttl", PEER_TTL, ttl=arrival.ttl, min_ttl=peer.min_ttl, max_ttl=peer.max_ttl)
