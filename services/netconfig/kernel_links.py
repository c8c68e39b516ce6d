"""VMAC interfaces in the kernel, made as keepalived makes them (vrrp_vmac.c netlink_link_add_vmac and
vrrp_if_config.c, 2.2.7).

A VMAC is a macvlan in private mode on the instance's interface, with the VRRP MAC.
Before it comes up, IPv6 address generation is turned off on it (addr_gen_mode 1,
RFC 5798 7.4: no link-local address made from the VRRP MAC) and IPv6 is disabled
altogether on an IPv4 instance's VMAC that has no eVIP of the other family. For an IPv4
instance keepalived also sets, on the VMAC, arp_ignore 1, accept_local 1, rp_filter 0
and promote_secondaries 1; on the interface under it arp_ignore 1 and arp_filter 1
(restored when its last VMAC goes); and, since the kernel uses the larger of `all` and
the interface's rp_filter, it raises every interface's rp_filter to `all`'s and sets
`all` to 0 (restored when the last VMAC goes, where nobody changed them meanwhile).
The link-local address of an IPv6 instance's VMAC is an address entry of its own
(see desired.py).

Sysctls are written under /proc/sys, which shows the network namespace of the process
that opens it: this kind must run in the namespace its IPRoute works in.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from services.netconfig.desired import Vmac
from services.netconfig.kernel_addresses import dump
from services.netconfig.kernel_common import kernel_error
from services.netconfig.kinds import KernelError

log = logging.getLogger("Keepalived_vrrp")

IFF_UP = 0x1
ADDR_GEN_MODE_NONE = 1
VMAC_SYSCTLS = (("arp_ignore", 1), ("accept_local", 1), ("rp_filter", 0), ("promote_secondaries", 1))
BASE_SYSCTLS = (("arp_ignore", 1), ("arp_filter", 1))


class Sysctl:
    """Integer sysctls under /proc/sys (or another root, for tests)."""

    def __init__(self, root: Path = Path("/proc/sys")) -> None:
        self.root = root

    def read(self, path: str) -> int | None:
        try:
            return int((self.root / path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def write(self, path: str, value: int) -> None:
        try:
            (self.root / path).write_text(f"{value}\n")
        except OSError as exc:
            raise KernelError(
                exc.errno or errno.EIO, f"cannot set {path.replace('/', '.')} to {value}: {exc.strerror}"
            ) from None


def ipv4_conf(ifname: str, name: str) -> str:
    return f"net/ipv4/conf/{ifname}/{name}"


def ipv6_conf(ifname: str, name: str) -> str:
    return f"net/ipv6/conf/{ifname}/{name}"


@dataclass(frozen=True)
class LinkInfo:
    index: int
    name: str
    kind: str | None
    macvlan_mode: str | None
    parent: int | None
    mac: str | None
    up: bool


def read_links(ipr: Any) -> dict[str, LinkInfo]:
    out: dict[str, LinkInfo] = {}
    for msg in dump(ipr, "link"):
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
        mode = data.get_attr("IFLA_MACVLAN_MODE") if kind == "macvlan" and data is not None else None
        name = str(msg.get_attr("IFLA_IFNAME"))
        parent = msg.get_attr("IFLA_LINK")
        mac = msg.get_attr("IFLA_ADDRESS")
        out[name] = LinkInfo(
            index=int(msg["index"]),
            name=name,
            kind=kind,
            macvlan_mode=mode,
            parent=int(parent) if parent is not None else None,
            mac=str(mac).lower() if mac is not None else None,
            up=bool(msg["flags"] & IFF_UP),
        )
    return out


class _RpFilter:
    """What clear_rp_filter() changed, so that restore_rp_filter() can put it back."""

    def __init__(self, all_value: int) -> None:
        self.all_value = all_value
        self.default_value: int | None = None
        self.interfaces: dict[str, int] = {}


class VmacKind:
    name = "vmac"

    def __init__(self, sysctl: Sysctl | None = None) -> None:
        self.sysctl = sysctl or Sysctl()
        # Base interface -> its arp_ignore/arp_filter before the first VMAC on it, and the VMACs on it.
        self._base_saved: dict[str, dict[str, int]] = {}
        self._base_users: dict[str, set[str]] = {}
        self._rp_filter: _RpFilter | None = None

    def key(self, entry: Vmac) -> Hashable:
        return entry.name

    def text(self, entry: Vmac) -> str:
        return entry.text()

    def parse(self, text: str) -> Vmac:
        return Vmac.parse(text)

    def present(self, ipr: Any, entries: Sequence[Vmac]) -> set[Hashable]:
        if not entries:
            return set()
        links = read_links(ipr)
        return {entry.name for entry in entries if self._matches(links, entry) and links[entry.name].up}

    @staticmethod
    def _matches(links: dict[str, LinkInfo], entry: Vmac) -> bool:
        link = links.get(entry.name)
        base = links.get(entry.base_ifname)
        return (
            link is not None
            and base is not None
            and link.kind == "macvlan"
            and link.macvlan_mode == "private"
            and link.mac == entry.mac
            and link.parent == base.index
        )

    # ------------------------------------------------------------------ add

    def add(self, ipr: Any, entry: Vmac) -> None:
        links = read_links(ipr)
        base = links.get(entry.base_ifname)
        if base is None:
            raise KernelError(
                errno.ENODEV, f"cannot create VMAC {entry.name}: interface {entry.base_ifname} doesn't exist"
            )
        link = links.get(entry.name)
        try:
            if link is not None and link.kind != "macvlan":
                raise KernelError(errno.EEXIST, f"VMAC {entry.name} conflicts with existing interface")
            if link is not None and link.parent != base.index:
                log.info("Removing old VMAC interface %s due to conflicting interface", entry.name)
                ipr.link("del", index=link.index)
                link = None
            if link is None:
                ipr.link(
                    "add",
                    ifname=entry.name,
                    kind="macvlan",
                    link=base.index,
                    macvlan_mode="private",
                    address=entry.mac,
                )
                link = read_links(ipr).get(entry.name)
                if link is None:
                    raise KernelError(errno.ENODEV, f"VMAC {entry.name} vanished as it was created")
            elif link.mac != entry.mac or link.macvlan_mode != "private":
                log.info("Update old VMAC interface %s due to wrong MAC/mode", entry.name)
                ipr.link("set", index=link.index, kind="macvlan", macvlan_mode="private", address=entry.mac)
            self._configure(entry)
            ipr.link("set", index=link.index, state="up")
        except NetlinkError as exc:
            raise kernel_error(exc, f"Unable to create VMAC interface {entry.name}") from None

    def _configure(self, entry: Vmac) -> None:
        # Before the link comes up, or the kernel gives it an EUI-64 link-local address.
        self._set(ipv6_conf(entry.name, "addr_gen_mode"), ADDR_GEN_MODE_NONE, entry.name)
        self._set(ipv6_conf(entry.name, "disable_ipv6"), 0 if entry.ipv6 else 1, entry.name)
        if entry.family != 4:
            return
        if self._rp_filter is None:
            self._clear_rp_filter()
        for name, value in VMAC_SYSCTLS:
            self._set(ipv4_conf(entry.name, name), value, entry.name)
        base = entry.base_ifname
        if base not in self._base_saved:
            saved = {name: self.sysctl.read(ipv4_conf(base, name)) for name, _ in BASE_SYSCTLS}
            self._base_saved[base] = {name: value for name, value in saved.items() if value is not None}
            for name, value in BASE_SYSCTLS:
                if saved[name] != value:
                    self._set(ipv4_conf(base, name), value, base)
        self._base_users.setdefault(base, set()).add(entry.name)

    def _set(self, path: str, value: int, interface: str) -> None:
        """Like keepalived (vrrp_if_config.c set_sysctl), carry on when a sysctl cannot be set; say so."""
        try:
            self.sysctl.write(path, value)
        except KernelError as exc:
            if exc.code == errno.ENOENT and path.startswith("net/ipv6/"):
                return  # a kernel without IPv6
            log.info("Unable to set parameters for %s: %s", interface, exc)

    def _clear_rp_filter(self) -> None:
        """vrrp_if_config.c clear_rp_filter()."""
        current = self.sysctl.read(ipv4_conf("all", "rp_filter"))
        if current is None:
            log.info("Unable to read sysctl net.ipv4.conf.all.rp_filter")
            return
        if current == 0:
            return
        saved = _RpFilter(current)
        default = self.sysctl.read(ipv4_conf("default", "rp_filter"))
        if default is not None and default < current:
            log.info("NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from %d to %d", default, current)
            self._set(ipv4_conf("default", "rp_filter"), current, "default")
            saved.default_value = default
        conf = self.sysctl.root / "net/ipv4/conf"
        for path in sorted(conf.iterdir()) if conf.is_dir() else []:
            if path.name in ("all", "default"):
                continue
            value = self.sysctl.read(ipv4_conf(path.name, "rp_filter"))
            if value is not None and value < current:
                self._set(ipv4_conf(path.name, "rp_filter"), current, path.name)
                saved.interfaces[path.name] = value
        log.info("NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from %d to 0", current)
        self._set(ipv4_conf("all", "rp_filter"), 0, "all")
        self._rp_filter = saved

    # --------------------------------------------------------------- remove

    def remove(self, ipr: Any, entry: Vmac) -> None:
        links = read_links(ipr)
        link = links.get(entry.name)
        if link is not None and link.kind != "macvlan":
            raise KernelError(errno.EPERM, f"not removing {entry.name}: it is not a VMAC interface")
        if entry.family == 4:
            self._release_base(entry)
        if link is not None:
            try:
                ipr.link("del", index=link.index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise kernel_error(exc, f"Error removing VMAC interface {entry.name}") from None
        if entry.family == 4 and not self._base_users:
            self._restore_rp_filter()

    def _release_base(self, entry: Vmac) -> None:
        """vrrp_if_config.c reset_interface_parameters(): the base's ARP settings, once its last VMAC goes."""
        users = self._base_users.get(entry.base_ifname)
        if users is None:
            return
        users.discard(entry.name)
        if users:
            return
        del self._base_users[entry.base_ifname]
        saved = self._base_saved.pop(entry.base_ifname, {})
        for name, value in saved.items():
            try:
                self.sysctl.write(ipv4_conf(entry.base_ifname, name), value)
            except KernelError as exc:
                log.info("reset interface flags on %s failed: %s", entry.base_ifname, exc)

    def _restore_rp_filter(self) -> None:
        """vrrp_if_config.c restore_rp_filter(): only values nobody changed since are put back."""
        saved = self._rp_filter
        if saved is None:
            return
        self._rp_filter = None
        if self.sysctl.read(ipv4_conf("all", "rp_filter")) == 0:
            log.info("NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to %d", saved.all_value)
            self._set(ipv4_conf("all", "rp_filter"), saved.all_value, "all")
        if saved.default_value is not None and self.sysctl.read(ipv4_conf("default", "rp_filter")) == saved.all_value:
            log.info("NOTICE: resetting sysctl net.ipv4.conf.default.rp_filter to %d", saved.default_value)
            self._set(ipv4_conf("default", "rp_filter"), saved.default_value, "default")
        for name, value in saved.interfaces.items():
            if self.sysctl.read(ipv4_conf(name, "rp_filter")) == saved.all_value:
                self._set(ipv4_conf(name, "rp_filter"), value, name)
