"""What netconfig should install: a pure function of the configuration, the instances' states
and a few facts about the machine's interfaces.

Entries are grouped by kind (`vmac`, `address`, `route`, `rule`) and by owner: each
vrrp_instance by its name, and `static` for static_ipaddress, static_routes and
static_rules. Two sets come out:

- `wanted`: what must be in the kernel now. An instance's VIPs, eVIPs, virtual_routes
  and virtual_rules while it is MASTER; its VMAC (and, for IPv6, the VMAC's link-local
  address) as long as it is configured, whatever its state, since keepalived creates
  the VMAC at start; the static entries always.
- `universe`: everything the configuration could make netconfig install, whatever the
  states. An entry of the universe that is in the kernel but not wanted is removed
  (keepalived removes an instance's VIPs at start when it is BACKUP); an entry outside
  it is someone else's and is never touched.
- `held`: the entries of instances whose state is not known (vrrp has not published it,
  or the bus is resynchronising): neither added nor removed until it is.

Addresses come out with their interface resolved (the address's own `dev`, else the
instance's VMAC, else the instance's interface) and in one normal form, a
`VirtualAddress` without `use_vmac` or `track_group`, which is the form the address
kind installs and reads back from the bus.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conf.model.addresses import AddressEntry, VirtualAddress
from conf.model.config import Config
from conf.model.iproute import IFNAMSIZ
from conf.model.vrrp import VrrpInstance

STATIC = "static"
MASTER = "MASTER"
# The order in which kinds are installed; removal goes the other way. keepalived adds
# addresses, then routes, then rules (vrrp.c vrrp_state_become_master), and the VMAC
# must exist before anything is put on it.
KIND_ORDER = ("vmac", "address", "route", "rule")

# keepalived's VRRP MAC prefix (vrrp_vmac.c ll_addr); the fifth octet is 1 for IPv4, 2 for IPv6.
VRRP_MAC_PREFIX = (0x00, 0x00, 0x5E, 0x00)
LINK_LOCAL_PREFIX = 64

Entries = Mapping[str, Mapping[str, tuple[Any, ...]]]  # kind -> owner -> entries


@dataclass(frozen=True)
class Vmac:
    """A VMAC: a private-mode macvlan on `base_ifname` carrying the VRRP MAC of one instance.

    `ipv6` says whether IPv6 runs on it: keepalived disables IPv6 on an IPv4 instance's
    VMAC unless the instance has eVIPs of the other family.
    """

    name: str
    base_ifname: str
    vrid: int
    family: int
    mac: str
    ipv6: bool = True

    def text(self) -> str:
        words = [self.name, "link", self.base_ifname, "vrid", str(self.vrid)]
        words += ["inet" if self.family == 4 else "inet6", "mac", self.mac]
        if self.family == 4 and self.ipv6:
            words.append("ipv6")
        return " ".join(words)

    @classmethod
    def parse(cls, text: str) -> Vmac:
        """The VMAC `text()` describes; ValueError if the text is not one."""
        words = text.split()
        if len(words) not in (8, 9) or words[1] != "link" or words[3] != "vrid" or words[6] != "mac":
            raise ValueError(f"not a VMAC: {text!r}")
        if words[5] not in ("inet", "inet6") or (len(words) == 9 and (words[8] != "ipv6" or words[5] != "inet")):
            raise ValueError(f"not a VMAC: {text!r}")
        if not words[4].isdigit() or not 1 <= int(words[4]) <= 255:
            raise ValueError(f"invalid VRID in {text!r}")
        family = 4 if words[5] == "inet" else 6
        return cls(words[0], words[2], int(words[4]), family, _mac(words[7]), family == 6 or len(words) == 9)


@dataclass(frozen=True)
class LinkFacts:
    """What the desired state needs to know about an interface that exists."""

    name: str
    mac: str | None = None
    link_local: ipaddress.IPv6Address | None = None
    macvlan_private: bool = False  # a macvlan in private mode
    base: str | None = None  # the interface a macvlan sits on


@dataclass(frozen=True)
class VmacNames:
    """The VMAC interface name of each instance with use_vmac, and what keepalived would log about it."""

    names: Mapping[str, str]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Desired:
    wanted: Entries
    universe: Entries
    held: Entries = field(default_factory=dict)
    # Each instance's VIPs and eVIPs, resolved, whatever its state.
    vips: Mapping[str, tuple[VirtualAddress, ...]] = field(default_factory=dict)
    # Lines that cannot be installed for want of an interface: (owner, address text).
    unresolved: tuple[tuple[str, str], ...] = ()

    def releasing(self) -> Desired:
        """Nothing wanted nor held any more: everything of the universe that is installed goes."""
        return Desired({}, self.universe, {}, self.vips, self.unresolved)


# ---------------------------------------------------------------------------------------------
# VMACs


def vmac_mac(instance: VrrpInstance) -> str:
    """00:00:5e:00:01:VRID (IPv6: 00:00:5e:00:02:VRID), or the configured MAC (five octets take the VRID)."""
    vrid = instance.virtual_router_id or 0
    configured = instance.use_vmac.mac if instance.use_vmac is not None else None
    if configured is not None:
        octets = [int(o, 16) for o in configured.split(":")]
        if len(octets) == 5:
            octets.append(vrid)
        return ":".join(f"{o:02x}" for o in octets)
    return ":".join(f"{o:02x}" for o in (*VRRP_MAC_PREFIX, 1 if instance.family == 4 else 2, vrid))


def assign_vmac_names(config: Config, links: Mapping[str, LinkFacts]) -> VmacNames:
    """keepalived's choice of VMAC names (vrrp_parser.c vrrp_vmac_handler, vrrp.c vrrp_complete_instance).

    An existing private macvlan on the instance's interface with the instance's MAC is
    used whatever its name (a previous run made it). Otherwise the configured name, unless
    another instance took it or a different kind of interface has it; otherwise
    `PREFIX.VRID`, then `PREFIX1.VRID`, `PREFIX2.VRID`, ... (IPv6: `PREFIX6.VRID` second)
    until the name is used by no instance and no interface.
    """
    prefix = config.global_defs.vmac_prefix or "vrrp"
    names: dict[str, str] = {}
    notes: list[str] = []
    for instance in config.vrrp_instances:
        if instance.use_vmac is None or instance.interface is None or instance.virtual_router_id is None:
            continue
        mac = vmac_mac(instance)
        taken = set(names.values())
        found = next(
            (
                link.name
                for link in links.values()
                if link.macvlan_private
                and link.base == instance.interface
                and link.mac == mac
                and link.name not in taken
            ),
            None,
        )
        wanted = instance.use_vmac.ifname
        if found is not None:
            notes.append(f"({instance.name}) Found matching interface {found}")
            if wanted is not None and wanted != found:
                notes.append(f"({instance.name}) vmac name mismatch {wanted} <=> {found}. changing to {found}.")
            names[instance.name] = found
            continue
        if wanted is not None and wanted in taken:
            notes.append(f"({instance.name}) VMAC interface name {wanted} is used by another instance - ignoring name")
            wanted = None
        if wanted is not None and wanted in links and not links[wanted].macvlan_private:
            notes.append(
                f"({instance.name}) VMAC interface name {wanted} already exists as a non VMAC interface."
                " ignoring configured name"
            )
            wanted = None
        names[instance.name] = wanted or _generated_name(
            prefix, instance.virtual_router_id, instance.family, taken, links
        )
    return VmacNames(names, tuple(notes))


def _generated_name(prefix: str, vrid: int, family: int, taken: set[str], links: Mapping[str, LinkFacts]) -> str:
    """vrrp.c create_vmac_name()."""
    number: int | None = None
    while True:
        name = _fit(prefix, "" if number is None else str(number), vrid)
        if name not in taken and name not in links:
            return name
        if family == 6:
            number = 6 if number is None else 1 if number == 6 else number + 2 if number + 1 == 6 else number + 1
        else:
            number = 1 if number is None else number + 1


def _fit(prefix: str, number: str, vrid: int) -> str:
    """`PREFIXNUMBER.VRID`, the prefix cut short to fit IFNAMSIZ as keepalived's snprintf does."""
    tail = f"{number}.{vrid}"
    return f"{prefix[: IFNAMSIZ - 1 - len(tail)]}{tail}"


def instance_vmac(instance: VrrpInstance, names: Mapping[str, str]) -> Vmac | None:
    name = names.get(instance.name)
    if name is None or instance.interface is None or instance.virtual_router_id is None:
        return None
    other_family = any(a.address.version != instance.family for a in instance.virtual_ipaddress_excluded)
    return Vmac(
        name,
        instance.interface,
        instance.virtual_router_id,
        instance.family,
        vmac_mac(instance),
        ipv6=instance.family == 6 or other_family,
    )


def vmac_link_local(instance: VrrpInstance, vmac: Vmac, links: Mapping[str, LinkFacts]) -> VirtualAddress | None:
    """The link-local address keepalived puts on an IPv6 instance's VMAC (vrrp_vmac.c set_link_local_address).

    The configured source address, else the base interface's link-local address, else
    one made from the base interface's MAC; /64, deprecated (preferred_lft 0), no DAD.
    Adverts then leave from an address that is not a VIP, with the VRRP MAC.
    """
    if instance.family != 6 or instance.vmac_xmit_base:
        return None
    base = links.get(vmac.base_ifname)
    source = instance.source_ip
    address: ipaddress.IPv6Address | None = None
    if isinstance(source, ipaddress.IPv6Address):
        address = source
    elif base is not None and base.link_local is not None:
        address = base.link_local
    elif base is not None and base.mac is not None:
        address = eui64_link_local(base.mac)
    if address is None:
        return None
    return VirtualAddress(
        address=ipaddress.IPv6Interface(f"{address}/{LINK_LOCAL_PREFIX}"), dev=vmac.name, preferred_lft=0
    )


def eui64_link_local(mac: str) -> ipaddress.IPv6Address:
    """fe80::/64 with the modified EUI-64 interface identifier of `mac` (vrrp_vmac.c make_link_local_address)."""
    octets = [int(o, 16) for o in mac.split(":")]
    identifier = bytes([octets[0] ^ 0x02, octets[1], octets[2], 0xFF, 0xFE, octets[3], octets[4], octets[5]])
    return ipaddress.IPv6Address(bytes([0xFE, 0x80, 0, 0, 0, 0, 0, 0]) + identifier)


# ---------------------------------------------------------------------------------------------
# Addresses


def kernel_address(entry: AddressEntry, dev: str) -> VirtualAddress:
    """The normal form of an address line bound to `dev`: every kernel option kept, nothing else."""
    return VirtualAddress(
        address=entry.address,
        dev=dev,
        scope=entry.scope,
        broadcast=entry.broadcast,
        label=entry.label,
        peer=entry.peer,
        home=entry.home,
        nodad=entry.nodad,
        mngtmpaddr=entry.mngtmpaddr,
        noprefixroute=entry.noprefixroute,
        autojoin=entry.autojoin,
        no_track=entry.no_track,
        preferred_lft=entry.preferred_lft,
    )


def instance_interface(instance: VrrpInstance, vmac_names: Mapping[str, str]) -> str | None:
    """Where the instance's addresses without `dev` go: its VMAC if it has one, else its interface."""
    return vmac_names.get(instance.name) or instance.interface


# ---------------------------------------------------------------------------------------------
# The desired state


class _Collect:
    def __init__(self) -> None:
        self.wanted: dict[str, dict[str, list[Any]]] = {kind: {} for kind in KIND_ORDER}
        self.universe: dict[str, dict[str, list[Any]]] = {kind: {} for kind in KIND_ORDER}
        self.held: dict[str, dict[str, list[Any]]] = {kind: {} for kind in KIND_ORDER}
        self.vips: dict[str, tuple[VirtualAddress, ...]] = {}
        self.unresolved: list[tuple[str, str]] = []

    def put(self, kind: str, owner: str, entries: Sequence[Any], wanted: bool | None) -> None:
        """`wanted` None: the owner's state is not known."""
        if not entries:
            return
        self.universe[kind].setdefault(owner, []).extend(entries)
        if wanted is None:
            self.held[kind].setdefault(owner, []).extend(entries)
        elif wanted:
            self.wanted[kind].setdefault(owner, []).extend(entries)

    def addresses(self, owner: str, entries: Sequence[AddressEntry], default_dev: str | None) -> list[VirtualAddress]:
        out: list[VirtualAddress] = []
        for entry in entries:
            dev = entry.dev or default_dev
            if dev is None:
                self.unresolved.append((owner, str(entry.address)))
                continue
            out.append(kernel_address(entry, dev))
        return out

    def result(self) -> Desired:
        return Desired(
            _frozen(self.wanted), _frozen(self.universe), _frozen(self.held), dict(self.vips), tuple(self.unresolved)
        )


def _frozen(entries: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, tuple[Any, ...]]]:
    return {
        kind: {owner: tuple(items) for owner, items in owners.items()} for kind, owners in entries.items() if owners
    }


def desired_state(
    config: Config,
    states: Mapping[str, str],
    vmac_names: Mapping[str, str],
    links: Mapping[str, LinkFacts],
) -> Desired:
    """What must be installed now (`states`: instance name -> VRRP state; absent means not known)."""
    out = _Collect()
    for instance in config.vrrp_instances:
        owner = instance.name
        state = states.get(owner)
        master = None if state is None else state == MASTER
        vmac = instance_vmac(instance, vmac_names)
        if vmac is not None:
            out.put("vmac", owner, [vmac], wanted=True)
            link_local = vmac_link_local(instance, vmac, links)
            if link_local is not None:
                out.put("address", owner, [link_local], wanted=True)
        dev = instance_interface(instance, vmac_names)
        vips = out.addresses(owner, instance.virtual_ipaddress, dev)
        evips = out.addresses(owner, instance.virtual_ipaddress_excluded, dev)
        out.vips[owner] = tuple(vips + evips)
        out.put("address", owner, vips + evips, wanted=master)
        out.put("route", owner, list(instance.virtual_routes), wanted=master)
        out.put("rule", owner, list(instance.virtual_rules), wanted=master)
    out.put(
        "address", STATIC, out.addresses(STATIC, config.static_ipaddress, config.global_defs.default_interface), True
    )
    out.put("route", STATIC, list(config.static_routes), wanted=True)
    out.put("rule", STATIC, list(config.static_rules), wanted=True)
    return out.result()


def instance_names(config: Config) -> tuple[str, ...]:
    return tuple(instance.name for instance in config.vrrp_instances)


def _mac(text: str) -> str:
    octets = text.split(":")
    if len(octets) != 6 or not all(len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets):
        raise ValueError(f"invalid MAC address {text!r}")
    return text.lower()
