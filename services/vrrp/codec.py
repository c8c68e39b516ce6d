"""VRRP advertisements to and from bytes: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798), IPv4 and IPv6.

Pure functions of bytes and addresses: nothing here opens a socket or reads a clock.

What is built and parsed is the VRRP message, the IP payload. The IP header is
the socket's business, except for IPv4 with IPsec AH authentication, whose
integrity check covers the IPv4 header: `build_ipv4` makes the whole datagram
(for an IP_HDRINCL socket) and `unwrap_ipv4` splits a received one.

Checksums (computed here, never left to the kernel):

- VRRPv2 over IPv4: over the VRRP message alone (RFC 3768 §5.3.8);
- VRRPv3 over IPv4 and anything over IPv6: over an IPv4 or IPv6 pseudo-header
  (source, destination, protocol 112, length) and the message (RFC 5798 §5.2.8).
  keepalived up to 1.3.5 put the VRRP multicast group, not the unicast peer, in
  the VRRPv3 IPv4 pseudo-header; `old_unicast_checksum` keeps that for peers
  that still do, and keepalived switches to it by itself when it receives such
  an advert unless told `never` (see `ChecksumMode`).

Every rejected message raises `BadAdvert`, whose `reason` is one of `REASONS`
(a stable name for a `drop_<reason>` counter) and whose `detail` is the line
keepalived 2.2.7 logs for it, word for word where keepalived logs it (vrrp.c
vrrp_get_header, vrrp_check_packet, vrrp_in_chk_ipsecah; vrrp_scheduler.c
vrrp_dispatcher_read); `PHRASES` lists those templates per reason.

AH is supported because Debian's keepalived 2.2.7 is built with it (`keepalived
-v` lists VRRP_AUTH): RFC 2338's HMAC-MD5-96 over the IPv4 header (TOS,
fragment offset, checksum and, for unicast, TTL zeroed), the AH header (ICV
zeroed) and the VRRP message, keyed with the 8-octet password; the SPI is the
sender's IPv4 address, and the sequence number must grow (`acceptance`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Literal, get_args

from services.checksum import internet_checksum

IPAddress = IPv4Address | IPv6Address

VRRP_PROTOCOL: Final = 112
AH_PROTOCOL: Final = 51
ADVERTISEMENT: Final = 1  # the only VRRP packet type
AUTH_NONE: Final = 0
AUTH_PASS: Final = 1
AUTH_AH: Final = 2
AUTH_DATA_LENGTH: Final = 8
VRRP_TTL: Final = 255
MCAST_GROUP4: Final = IPv4Address("224.0.0.18")
MCAST_GROUP6: Final = IPv6Address("ff02::12")
HEADER_LENGTH: Final = 8
AH_LENGTH: Final = 24
AH_ICV_LENGTH: Final = 12  # HMAC-MD5 truncated to 96 bits
IPV4_TOS: Final = 0xC0  # internetwork control, as keepalived sends
MAX_V3_CENTISECONDS: Final = 0x0FFF

_V2_HEADER = struct.Struct("!BBBBBBH")  # version|type, VRID, priority, count, auth type, interval (s), checksum
_V3_HEADER = struct.Struct("!BBBBHH")  # version|type, VRID, priority, count, reserved|interval (cs), checksum
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_AH_HEADER = struct.Struct("!BBHII12s")  # next header, length, reserved, SPI, sequence, ICV
_AH_PAYLOAD_LENGTH = 4  # RFC 4302 §2.2: AH length in 32-bit words, minus 2

# ------------------------------------------------------------------ drop reasons

Reason = Literal[
    "length",
    "protocol",
    "family",
    "version",
    "type",
    "checksum",
    "unknown_vrid",
    "cast_mismatch",
    "ttl",
    "auth_type_invalid",
    "auth_type",
    "auth_password",
    "ah_not_vrrp",
    "ah_icv",
    "ah_spi",
    "ah_replay",
    "interval",
    "vip_mismatch",
    "unicast_src",
]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)

# keepalived 2.2.7's log lines (its printf formats, in str.format form), without
# the "(instance) " prefix it puts in front of most of them. Lines marked
# "hakeeper" have no keepalived counterpart: keepalived never sees such packets
# or drops them without a word.
TOO_SHORT = "IPv{family} VRRP packet too short - {length} bytes"
TOO_SHORT_AH = "IPv4 VRRP packet with AH too short - {length} bytes"
WRONG_LENGTH = "vrrp packet too {long_or_short}, length {length} and expect {expected}"
TOTAL_LENGTH = "ip_tot_len mismatch against received length. {total_length} and received {length}"
NOT_VRRP = "IP protocol {protocol} is neither VRRP (112) nor AH (51)"  # hakeeper
NOT_IPV4 = "not an IPv4 datagram: IP version {version}"  # hakeeper
WRONG_FAMILY = "received an IPv{received} advert, expect IPv{expected}"  # hakeeper
V2_OVER_IPV6 = "VRRPv2 is IPv4 only (RFC 3768) but the advert came over IPv6"  # hakeeper
WRONG_VERSION = "wrong version. Received {received} and expect {expected}"
WRONG_TYPE = "Invalid packet type. {received} and expect {expected}"
BAD_CHECKSUM = "Invalid VRRPv{version} checksum"
UNKNOWN_VRID = "Unknown VRID({vrid}) received on interface({interface}). ignoring..."
UNKNOWN_VRID_FROM = "Unknown VRID({vrid}) received on interface({interface}) from {src}. ignoring..."
WRONG_CAST = "Expected {expected}icast packet but received {received}icast packet"
WRONG_CAST6 = "discarding {received}icast packet on {expected}icast instance"
WRONG_TTL = "invalid TTL/HL. Received {received} and expect {expected}"
PEER_TTL = "TTL/HL {ttl} not in range {min_ttl} - {max_ttl}"
INVALID_AUTH_TYPE = "Invalid auth type: {auth_type}"
WRONG_AUTH_TYPE = "received a {received} auth, expecting {expected}!"
UNEXPECTED_AH = "Received AH header but auth type not AH"
MISSING_AH = "No AH header but auth type is AH"
WRONG_PASSWORD = "received an invalid passwd!"
AH_NOT_VRRP = "AH header protects IP protocol {next_header}, not VRRP"  # hakeeper
AH_BAD_ICV = "IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !"
AH_BAD_SPI = "IPSEC AH : invalid IPSEC SPI value. {saddr} and expect {spi}"
AH_REPLAY = "IPSEC-AH : sequence number {received} already processed. Packet dropped. Local({local})"
WRONG_INTERVAL = "advertisement interval mismatch mine={mine} sec rcv'd={received} sec"
WRONG_COUNT = "received an unexpected ip number count {received}, expected {expected}!"
MISSING_VIP = "ip address associated with VRID {vrid} not present in MASTER advert: {address}"
NOT_A_PEER = "unicast source address {address} not a unicast peer"

PHRASES: Final[Mapping[Reason, tuple[str, ...]]] = {
    "length": (TOO_SHORT, TOO_SHORT_AH, WRONG_LENGTH, TOTAL_LENGTH),
    "protocol": (NOT_VRRP,),
    "family": (NOT_IPV4, WRONG_FAMILY, V2_OVER_IPV6),
    "version": (WRONG_VERSION,),
    "type": (WRONG_TYPE,),
    "checksum": (BAD_CHECKSUM,),
    "unknown_vrid": (UNKNOWN_VRID, UNKNOWN_VRID_FROM),
    "cast_mismatch": (WRONG_CAST, WRONG_CAST6),
    "ttl": (WRONG_TTL, PEER_TTL),
    "auth_type_invalid": (INVALID_AUTH_TYPE,),
    "auth_type": (WRONG_AUTH_TYPE, UNEXPECTED_AH, MISSING_AH),
    "auth_password": (WRONG_PASSWORD,),
    "ah_not_vrrp": (AH_NOT_VRRP,),
    "ah_icv": (AH_BAD_ICV,),
    "ah_spi": (AH_BAD_SPI,),
    "ah_replay": (AH_REPLAY,),
    "interval": (WRONG_INTERVAL,),
    "vip_mismatch": (WRONG_COUNT, MISSING_VIP),
    "unicast_src": (NOT_A_PEER,),
}


class BadAdvert(Exception):
    """A received message that must be dropped.

    `reason` names the counter (`drop_<reason>`); `detail` is the log line;
    `prefixed` says whether keepalived puts "(instance) " in front of it;
    `quiet` says whether keepalived stays silent unless asked for detail
    (`log_unknown_vrids`, `--log-detail`).
    """

    def __init__(self, reason: Reason, detail: str, *, prefixed: bool = True, quiet: bool = False) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail
        self.prefixed = prefixed
        self.quiet = quiet

    def log_line(self, instance: str | None = None) -> str:
        """The line keepalived logs, with its "(instance) " prefix where keepalived has one."""
        return f"({instance}) {self.detail}" if self.prefixed and instance is not None else self.detail

    @classmethod
    def from_phrase(
        cls, reason: Reason, template: str, values: Mapping[str, object], *, prefixed: bool = True, quiet: bool = False
    ) -> BadAdvert:
        """A BadAdvert whose detail is one of the reason's PHRASES, filled in with `values`."""
        if template not in PHRASES[reason]:
            raise ValueError(f"{template!r} is not a phrase of {reason!r}")
        return cls(reason, template.format(**values), prefixed=prefixed, quiet=quiet)


def drop(reason: Reason, template: str, *, prefixed: bool = True, quiet: bool = False, **values: object) -> BadAdvert:
    """BadAdvert.from_phrase with the values as keywords."""
    return BadAdvert.from_phrase(reason, template, values, prefixed=prefixed, quiet=quiet)


# ------------------------------------------------------------------- the advert


@dataclass(frozen=True)
class Advert:
    """One VRRP advertisement, as sent or received.

    `interval` is in seconds: whole seconds in VRRPv2, hundredths in VRRPv3.
    `auth_type` and `auth_data` exist in VRRPv2 only; `auth_data` is the 8
    octets after the addresses (a PASS password, zero padded; shorter values
    are padded here). `old_checksum` is set by `parse` when the message only
    checked out with keepalived's pre-1.3.6 VRRPv3 checksum.
    """

    version: int
    vrid: int
    priority: int
    interval: float
    addresses: tuple[IPAddress, ...] = ()
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    old_checksum: bool = False

    def __post_init__(self) -> None:
        if self.version == 2 and len(self.auth_data) < AUTH_DATA_LENGTH:
            object.__setattr__(self, "auth_data", self.auth_data.ljust(AUTH_DATA_LENGTH, b"\0"))

    @property
    def centiseconds(self) -> int:
        """The VRRPv3 interval field."""
        return round(self.interval * 100)


class ChecksumMode(enum.Enum):
    """Which pseudo-header a VRRPv3 IPv4 checksum may use (keepalived's unicast_chksum_compat)."""

    STANDARD = "standard"  # RFC 5798: the real destination (multicast, or `old_unicast_checksum never`)
    DETECT = "detect"  # the real destination, else the multicast group (keepalived's default for unicast)
    OLD = "old"  # the multicast group only (`old_unicast_checksum`, or once an old checksum was seen)


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    if isinstance(src, IPv4Address):
        return src.packed + dst.packed + struct.pack("!xBH", VRRP_PROTOCOL, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, VRRP_PROTOCOL)


def _sum_with_pseudo_header(message: bytes, version: int, src: IPAddress, dst: IPAddress) -> int:
    """The checksum of `message` (0 when its own checksum field is right)."""
    if isinstance(src, IPv4Address) and version == 2:
        return internet_checksum(message)
    return internet_checksum(_pseudo_header(src, dst, len(message)) + message)


def _family(src: IPAddress, dst: IPAddress) -> int:
    if src.version != dst.version:
        raise ValueError(f"source {src} and destination {dst} are of different families")
    return src.version


# ------------------------------------------------------------------------ build


def build(advert: Advert, src: IPAddress, dst: IPAddress, *, old_checksum_group: IPv4Address | None = None) -> bytes:
    """The VRRP message of `advert` from `src` to `dst`, checksum included.

    `old_checksum_group` (VRRPv3 over IPv4 only) puts that group in the
    pseudo-header instead of `dst`: keepalived's old unicast checksum.
    Raises ValueError for an advert that cannot be put on the wire.
    """
    family = _family(src, dst)
    _check_buildable(advert, family)
    addresses = b"".join(address.packed for address in advert.addresses)
    count = len(advert.addresses)
    if advert.version == 2:
        fixed = _V2_HEADER.pack(
            0x20 | ADVERTISEMENT, advert.vrid, advert.priority, count, advert.auth_type, int(advert.interval), 0
        )
        message = fixed + addresses + advert.auth_data
    else:
        fixed = _V3_HEADER.pack(0x30 | ADVERTISEMENT, advert.vrid, advert.priority, count, advert.centiseconds, 0)
        message = fixed + addresses
    pseudo_dst = old_checksum_group if old_checksum_group is not None and family == 4 else dst
    checksum = _sum_with_pseudo_header(message, advert.version, src, pseudo_dst)
    return message[:6] + struct.pack("!H", checksum) + message[8:]


def _check_buildable(advert: Advert, family: int) -> None:
    if advert.version not in (2, 3):
        raise ValueError(f"VRRP version {advert.version} is neither 2 nor 3")
    if not 1 <= advert.vrid <= 255:
        raise ValueError(f"VRID {advert.vrid} is outside 1-255")
    if not 0 <= advert.priority <= 255:
        raise ValueError(f"priority {advert.priority} is outside 0-255")
    if len(advert.addresses) > 255:
        raise ValueError(f"{len(advert.addresses)} addresses do not fit the 8-bit count")
    if any(address.version != family for address in advert.addresses):
        raise ValueError(f"an IPv{family} advert carries addresses of the other family")
    if advert.version == 2:
        if family != 4:
            raise ValueError("VRRPv2 is IPv4 only (RFC 3768)")
        if advert.interval != int(advert.interval) or not 0 <= advert.interval <= 255:
            raise ValueError(f"VRRPv2 interval {advert.interval} is not a whole number of seconds in 0-255")
        if not 0 <= advert.auth_type <= 255:
            raise ValueError(f"auth type {advert.auth_type} does not fit in an octet")
        if len(advert.auth_data) != AUTH_DATA_LENGTH:
            raise ValueError(f"VRRPv2 authentication data is {AUTH_DATA_LENGTH} octets, not {len(advert.auth_data)}")
        return
    if advert.auth_type != AUTH_NONE or advert.auth_data:
        raise ValueError("VRRPv3 has no authentication (RFC 5798 §9)")
    if not advert.addresses:
        raise ValueError("a VRRPv3 advert carries at least one address (RFC 5798 §5.2.5)")
    if not 0 <= advert.centiseconds <= MAX_V3_CENTISECONDS or abs(advert.centiseconds - advert.interval * 100) > 1e-6:
        raise ValueError(f"VRRPv3 interval {advert.interval} is not a multiple of 10 ms in 0-40.95 s")


# ------------------------------------------------------------------------ parse


def peek_vrid(message: bytes, *, family: int, overhead: int = 0) -> int:
    """The VRID of a message, to find its instance before anything else is checked (as keepalived does)."""
    if len(message) < HEADER_LENGTH:
        raise drop("length", TOO_SHORT, prefixed=False, family=family, length=len(message) + overhead)
    return message[1]


def parse(
    message: bytes,
    *,
    family: int,
    src: IPAddress,
    dst: IPAddress,
    version: int | None = None,
    checksum: ChecksumMode = ChecksumMode.STANDARD,
    old_checksum_group: IPv4Address = MCAST_GROUP4,
    overhead: int = 0,
) -> Advert:
    """Decode a received VRRP message; raise BadAdvert if it is malformed.

    Checks, in keepalived's order: the length (against the address count),
    the version (`version` if given, else 2 or 3), the type, the checksum.
    `checksum` and `old_checksum_group` choose the VRRPv3 IPv4 pseudo-header
    (see ChecksumMode). `overhead` is the length of what preceded the message
    in the datagram (IPv4 header, AH), so that lengths are logged as keepalived
    logs them.
    """
    if _family(src, dst) != family:
        raise ValueError(f"addresses {src}, {dst} are not IPv{family}")
    if len(message) < HEADER_LENGTH:
        raise drop("length", TOO_SHORT, prefixed=False, family=family, length=len(message) + overhead)
    received_version, packet_type = message[0] >> 4, message[0] & 0x0F
    count = message[3]
    address_length = 4 if family == 4 else 16
    expected = HEADER_LENGTH + count * address_length
    if family == 4 and received_version == 2:
        expected += AUTH_DATA_LENGTH
    if len(message) != expected:
        raise drop(
            "length",
            WRONG_LENGTH,
            long_or_short="long" if len(message) > expected else "short",
            length=len(message) + overhead,
            expected=expected + overhead,
        )
    if version is not None and received_version != version:
        raise drop("version", WRONG_VERSION, received=received_version, expected=version)
    if received_version not in (2, 3):
        raise drop("version", WRONG_VERSION, received=received_version, expected="2 or 3")
    if received_version == 2 and family == 6:
        raise drop("family", V2_OVER_IPV6)
    if packet_type != ADVERTISEMENT:
        raise drop("type", WRONG_TYPE, received=packet_type, expected=ADVERTISEMENT)
    old_checksum = _verify_checksum(message, received_version, src, dst, checksum, old_checksum_group)

    packed = message[HEADER_LENGTH : HEADER_LENGTH + count * address_length]
    chunks = [packed[i : i + address_length] for i in range(0, len(packed), address_length)]
    address_type = IPv4Address if family == 4 else IPv6Address
    addresses = tuple(address_type(chunk) for chunk in chunks)
    if received_version == 2:
        _, vrid, priority, _, auth_type, seconds, _ = _V2_HEADER.unpack_from(message)
        return Advert(2, vrid, priority, float(seconds), addresses, auth_type, message[-AUTH_DATA_LENGTH:])
    _, vrid, priority, _, interval_field, _ = _V3_HEADER.unpack_from(message)
    # RFC 5798 §5.2.7: the 4 reserved bits are ignored on reception.
    centiseconds = interval_field & MAX_V3_CENTISECONDS
    return Advert(3, vrid, priority, centiseconds / 100, addresses, old_checksum=old_checksum)


def _verify_checksum(
    message: bytes, version: int, src: IPAddress, dst: IPAddress, mode: ChecksumMode, group: IPv4Address
) -> bool:
    """Raise BadAdvert unless the checksum is right; True if it is keepalived's old VRRPv3 one."""
    if not isinstance(src, IPv4Address) or version == 2 or mode is ChecksumMode.STANDARD:
        if _sum_with_pseudo_header(message, version, src, dst):
            raise drop("checksum", BAD_CHECKSUM, version=version)
        return False
    if mode is ChecksumMode.OLD:
        if _sum_with_pseudo_header(message, version, src, group):
            raise drop("checksum", BAD_CHECKSUM, version=version)
        return dst != group
    if not _sum_with_pseudo_header(message, version, src, dst):
        return False
    if dst != group and not _sum_with_pseudo_header(message, version, src, group):
        return True
    raise drop("checksum", BAD_CHECKSUM, version=version)


# ---------------------------------------------------------- IPv4 datagrams and AH


@dataclass(frozen=True)
class AuthenticationHeader:
    """IPsec AH (RFC 4302 §2) as keepalived fills it: SPI = the sender's address, HMAC-MD5-96 ICV."""

    next_header: int
    payload_length: int
    spi: int
    sequence: int
    icv: bytes


@dataclass(frozen=True)
class Ipv4Datagram:
    """A received IPv4 datagram carrying VRRP, directly or behind AH."""

    header: bytes  # the IPv4 header as received, options included
    src: IPv4Address
    dst: IPv4Address
    ttl: int
    protocol: int
    total_length: int  # the header's Total Length field
    received_length: int
    ah: AuthenticationHeader | None
    ah_bytes: bytes
    message: bytes  # the VRRP message

    @property
    def overhead(self) -> int:
        """Octets in front of the VRRP message."""
        return len(self.header) + len(self.ah_bytes)


def unwrap_ipv4(packet: bytes) -> Ipv4Datagram:
    """Split what a raw IPv4 socket delivers into header, AH and VRRP message (no VRRP checks yet)."""
    if len(packet) < 20:
        raise drop("length", TOO_SHORT, prefixed=False, family=4, length=len(packet))
    if packet[0] >> 4 != 4:
        raise drop("family", NOT_IPV4, prefixed=False, version=packet[0] >> 4)
    header_length = (packet[0] & 0x0F) * 4
    if header_length < 20 or len(packet) < header_length + HEADER_LENGTH:
        raise drop("length", TOO_SHORT, prefixed=False, family=4, length=len(packet))
    _, _, total_length, _, _, ttl, protocol, _, src, dst = _IPV4_HEADER.unpack_from(packet)
    ah: AuthenticationHeader | None = None
    start = header_length
    if protocol == AH_PROTOCOL:
        if len(packet) < header_length + AH_LENGTH + HEADER_LENGTH:
            raise drop("length", TOO_SHORT_AH, prefixed=False, length=len(packet))
        next_header, payload_length, _, spi, sequence, icv = _AH_HEADER.unpack_from(packet, header_length)
        ah = AuthenticationHeader(next_header, payload_length, spi, sequence, icv)
        start += AH_LENGTH
    elif protocol != VRRP_PROTOCOL:
        raise drop("protocol", NOT_VRRP, prefixed=False, protocol=protocol)
    return Ipv4Datagram(
        header=packet[:header_length],
        src=IPv4Address(src),
        dst=IPv4Address(dst),
        ttl=ttl,
        protocol=protocol,
        total_length=total_length,
        received_length=len(packet),
        ah=ah,
        ah_bytes=packet[header_length:start],
        message=packet[start:],
    )


def build_ipv4(
    message: bytes,
    *,
    src: IPv4Address,
    dst: IPv4Address,
    ttl: int = VRRP_TTL,
    identification: int = 0,
    ah_key: bytes | None = None,
    ah_sequence: int = 0,
    unicast: bool = False,
) -> bytes:
    """The IPv4 datagram keepalived sends for `message`, header checksum included.

    With `ah_key` (the 8-octet password) the message goes behind an AH header
    with sequence number `ah_sequence`; `unicast` leaves the TTL out of the
    ICV, as keepalived does. The kernel fills a zero `identification` itself,
    which would break the ICV: keepalived numbers its datagrams from 1.
    """
    protocol = VRRP_PROTOCOL if ah_key is None else AH_PROTOCOL
    total_length = 20 + (0 if ah_key is None else AH_LENGTH) + len(message)
    header = _IPV4_HEADER.pack(
        0x45, IPV4_TOS, total_length, identification, 0, ttl, protocol, 0, src.packed, dst.packed
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    if ah_key is None:
        return header + message
    return header + ah_payload(message, ip_header=header, key=ah_key, sequence=ah_sequence, unicast=unicast)


def ah_payload(message: bytes, *, ip_header: bytes, key: bytes, sequence: int, unicast: bool) -> bytes:
    """The AH header and `message`, for the datagram whose IPv4 header is `ip_header`.

    `ip_header` must already count the AH header in its total length and say
    protocol 51; only its immutable fields matter. The SPI is its source address.
    """
    spi = int.from_bytes(ip_header[12:16], "big")
    unsealed = _AH_HEADER.pack(VRRP_PROTOCOL, _AH_PAYLOAD_LENGTH, 0, spi, sequence, bytes(AH_ICV_LENGTH))
    return unsealed[:12] + ah_icv(ip_header, unsealed, message, key, unicast=unicast) + message


def ah_icv(header: bytes, ah: bytes, message: bytes, key: bytes, *, unicast: bool) -> bytes:
    """HMAC-MD5-96 over the datagram with its mutable fields and the ICV zeroed (keepalived's choice of fields)."""
    ttl = b"\0" if unicast else header[8:9]
    immutable = header[:1] + b"\0" + header[2:6] + b"\0\0" + ttl + header[9:10] + b"\0\0" + header[12:]
    ah_zeroed = ah[:12] + bytes(AH_ICV_LENGTH)
    return hmac.new(key, immutable + ah_zeroed + message, hashlib.md5).digest()[:AH_ICV_LENGTH]


def verify_ah(datagram: Ipv4Datagram, key: bytes, *, unicast: bool) -> AuthenticationHeader:
    """Check a datagram's AH header against the 8-octet key; raise BadAdvert if it does not hold."""
    ah = datagram.ah
    if ah is None:
        raise drop("auth_type", MISSING_AH)
    if ah.next_header != VRRP_PROTOCOL:
        raise drop("ah_not_vrrp", AH_NOT_VRRP, quiet=True, next_header=ah.next_header)
    expected = ah_icv(datagram.header, datagram.ah_bytes, datagram.message, key, unicast=unicast)
    if not hmac.compare_digest(expected, ah.icv):
        raise drop("ah_icv", AH_BAD_ICV)
    if ah.spi != int.from_bytes(datagram.src.packed, "big"):
        # keepalived prints both as the raw 32-bit words read on a little-endian host.
        raise drop(
            "ah_spi",
            AH_BAD_SPI,
            prefixed=False,
            saddr=int.from_bytes(datagram.src.packed, "little"),
            spi=int.from_bytes(ah.spi.to_bytes(4, "big"), "little"),
        )
    return ah
