"""Classic BPF programs that tell a BACKUP's repeated MASTER advert from everything else (pure).

A BACKUP that hears its MASTER advertise the same thing every interval only has
to restart its master down timer each time. keepalived does that in C for
under 10 us a packet; a Python process reading every repeat pays several times
more. So the vrrp service asks the kernel to sort: for each instance whose
MASTER's last advert changed nothing, the receiving socket's filter drops exact
repeats of that datagram, and a second socket's filter keeps only them. The
service reads the second socket's queue just before a master down timer would
fire, and restarts each timer from the kernel's arrival time of the last
repeat. Anything that differs in a single byte the router reads (priority 0, a
new interval, another sender, a changed address list, a TTL below 255) still
goes the whole way through the codec and the state machine at once.

"Exact" covers every byte that reaches the router's decisions: the IPv4
header but its identification and checksum (which change with every datagram
and which the kernel has verified), and the whole VRRP message. Only IPv4
datagrams without options (IHL 5) carrying plain VRRP (not AH) qualify; one
instance per VRID on a socket.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BPF_MAXINSNS = 4096  # the kernel refuses longer classic programs
MAX_JUMP = 255  # conditional jumps in classic BPF skip at most this many instructions
# The kernel charges a socket's filter, once translated, against net.core.optmem_max (128 KiB
# by default). A packet load becomes about twelve translated instructions of 8 bytes, anything
# else one. The service never replaces one big program by another directly (see
# VrrpSocket.filter_repeats), so one program may take most of it: 255 VRRPv3 instances at one
# VIP each, about 220 VRRPv2 ones (their authentication data costs two more loads each).
LOAD_COST = 12
MAX_COST = 14_000

_LD_W_ABS = 0x20
_LD_H_ABS = 0x28
_LD_B_ABS = 0x30
_LD_W_LEN = 0x80
_JEQ_K = 0x15
_JGE_K = 0x35
_JA = 0x05
_RSH_K = 0x74
_AND_K = 0x54
_TAX = 0x07
_TXA = 0x87
_RET_K = 0x06
_INSN = struct.Struct("=HBBI")

IPV4_NO_OPTIONS = 0x45  # version 4, header of 5 words
IPV4_HEADER = 20
VRID_OFFSET = IPV4_HEADER + 1
FIRST_WORD = IPV4_HEADER  # version and type, VRID, priority: kept in X while dispatching on the VRID
# Header words compared, leaving out the identification (4-5) and the checksum (10-11): version,
# IHL, TOS and total length; flags, fragment offset, TTL and protocol; source; destination.
HEADER_WORDS = (0, 6, 12, 16)
ACCEPT_ALL = 0xFFFFFFFF
ACCEPT_NONE = 0


@dataclass(frozen=True, slots=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int


def repeatable(datagram: bytes) -> bool:
    """Whether the repeats of this IPv4 datagram can be told apart by a filter at all."""
    return len(datagram) >= IPV4_HEADER + 8 and datagram[0] == IPV4_NO_OPTIONS


def _word(datagram: bytes, offset: int) -> int:
    return int.from_bytes(datagram[offset : offset + 4])


def _payload_loads(datagram: bytes) -> list[tuple[int, int, int]]:
    """(load code, offset, value) for the VRRP message after its first word, in order."""
    found = []
    offset = FIRST_WORD + 4
    while offset < len(datagram):
        left = len(datagram) - offset
        code, size = (_LD_W_ABS, 4) if left >= 4 else (_LD_H_ABS, 2) if left >= 2 else (_LD_B_ABS, 1)
        found.append((code, offset, int.from_bytes(datagram[offset : offset + size])))
        offset += size
    return found


def _compare(loads: list[tuple[int, int, int]], after: int) -> list[Insn]:
    """Each load and its comparison; a difference skips the rest and `after` more instructions."""
    insns: list[Insn] = []
    for index, (code, offset, value) in enumerate(loads):
        insns.append(Insn(code, 0, 0, offset))
        insns.append(Insn(_JEQ_K, 0, (len(loads) - index - 1) * 2 + after, value))
    return insns


def _block(datagram: bytes, header: list[tuple[int, int, int]], on_match: int, otherwise: int) -> list[Insn]:
    """Starting with the first VRRP word in X: compare everything; `ret on_match` if all is equal."""
    loads = header + _payload_loads(datagram)
    insns = [Insn(_TXA, 0, 0, 0), Insn(_JEQ_K, 0, len(loads) * 2 + 1, _word(datagram, FIRST_WORD))]
    insns += _compare(loads, 1)
    insns.append(Insn(_RET_K, 0, 0, on_match))
    insns.append(Insn(_RET_K, 0, 0, otherwise))
    return insns


def block_fits(datagram: bytes) -> bool:
    return (len(HEADER_WORDS) + len(_payload_loads(datagram))) * 2 + 1 <= MAX_JUMP


@dataclass(frozen=True, slots=True)
class Program:
    insns: tuple[Insn, ...]
    vrids: frozenset[int]  # the VRIDs whose repeats it recognises (those that fitted)

    def packed(self) -> bytes:
        return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in self.insns)


def build(repeats: Iterable[bytes], *, on_match: int, otherwise: int) -> Program:
    """A program recognising the repeats of each datagram (one per VRID, each `repeatable`).

    Header words that every datagram shares (the usual case: one MASTER, one
    group) are compared once, before the dispatch on the VRID. Datagrams that do
    not fit (a block longer than a conditional jump reaches, or past MAX_COST
    or BPF_MAXINSNS) are left out: their repeats take the `otherwise` way.
    """
    candidates = [d for d in sorted(set(repeats)) if repeatable(d) and block_fits(d)]
    vrids = [d[VRID_OFFSET] for d in candidates]
    if len(set(vrids)) != len(vrids):
        raise ValueError("two datagrams for one VRID")
    shared = [o for o in HEADER_WORDS if len({_word(d, o) for d in candidates}) == 1]
    size = len(shared) * 2 + 9  # the length check, shared words, their `ret`, the VRID, the final `ret`
    cost = size + (len(shared) + 2) * LOAD_COST
    chosen: list[tuple[int, list[Insn]]] = []
    for datagram in candidates:
        own = [(_LD_W_ABS, o, _word(datagram, o)) for o in HEADER_WORDS if o not in shared]
        block = _block(datagram, own, on_match, otherwise)
        block_cost = 2 + len(block) + (len(own) + len(_payload_loads(datagram))) * LOAD_COST
        if cost + block_cost > MAX_COST or size + 2 + len(block) > BPF_MAXINSNS:
            continue
        cost += block_cost
        size += 2 + len(block)
        chosen.append((datagram[VRID_OFFSET], block))
    if not chosen:
        return Program((Insn(_RET_K, 0, 0, otherwise),), frozenset())
    sample = candidates[0]
    insns = [Insn(_LD_W_LEN, 0, 0, 0), Insn(_JGE_K, 0, len(shared) * 2 + 1, FIRST_WORD + 8)]
    insns += _compare([(_LD_W_ABS, o, _word(sample, o)) for o in shared], 1)
    insns += [Insn(_JA, 0, 0, 1), Insn(_RET_K, 0, 0, otherwise)]
    # A = the VRID, X = the whole first word of the VRRP message.
    insns += [Insn(_LD_W_ABS, 0, 0, FIRST_WORD), Insn(_TAX, 0, 0, 0), Insn(_RSH_K, 0, 0, 16), Insn(_AND_K, 0, 0, 0xFF)]
    start = len(insns) + 2 * len(chosen) + 1  # the first block
    for vrid, block in chosen:
        here = len(insns)
        insns.append(Insn(_JEQ_K, 0, 1, vrid))
        insns.append(Insn(_JA, 0, 0, start - (here + 2)))  # `ja` counts from the next instruction
        start += len(block)
    insns.append(Insn(_RET_K, 0, 0, otherwise))
    for _, block in chosen:
        insns += block
    return Program(tuple(insns), frozenset(vrid for vrid, _ in chosen))


ACCEPT_EVERYTHING = Program((Insn(_RET_K, 0, 0, ACCEPT_ALL),), frozenset())
ACCEPT_NOTHING = Program((Insn(_RET_K, 0, 0, ACCEPT_NONE),), frozenset())


def pair(repeats: Sequence[bytes]) -> tuple[Program, Program]:
    """The receiving socket's program (drops the repeats) and the repeat socket's (keeps only them)."""
    receiving = build(repeats, on_match=ACCEPT_NONE, otherwise=ACCEPT_ALL)
    holding = build(repeats, on_match=ACCEPT_ALL, otherwise=ACCEPT_NONE)
    return receiving, holding
