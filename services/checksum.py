"""The Internet checksum (RFC 1071), shared by the VRRP codec, the IPv4 headers vrrp writes and ICMPv6."""

from __future__ import annotations

import struct


def internet_checksum(data: bytes | bytearray) -> int:
    """The ones' complement of the ones' complement sum of the 16-bit words (odd data padded with a zero)."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
