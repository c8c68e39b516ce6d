"""netconfig: the one service that changes the kernel's addresses, routes, rules and VMAC links.

It makes the kernel match what the configuration and the instances' states ask for
(desired.py), through the reconcile core (reconcile.py) and the kinds (kernel_*.py), and
says on the bus what it actually installed:

- `net/<instance>/vips`, `net/<instance>/vmac`, `net/<instance>/route`, `net/<instance>/rule`
  and `net/static/address`, `net/static/route`, `net/static/rule`: `{"desired": [line...],
  "installed": [line...], "errors": {line: "ENODEV: ..."}}`, each line in keepalived.conf syntax;
- events on `net/<owner>`: `{"action": "added"|"removed"|"drift"|"error"|"retry_ok", "kind": ...,
  "entry": line, "error": ...}`;
- `counters/netconfig`.

It reconciles when an instance's state changes on the bus, when the kernel reports a
change (netlink, never polling: a VIP deleted by hand is back at once), and when a failed
change is due again. At start it takes the bus snapshot before anything else, to learn
what it installed before a restart and adopt it rather than remove and add it again;
until it has, it removes nothing.

At its own stop it releases what it installed only if vrrp is not running: on a node's
shutdown vrrp stops first, while on a restart of netconfig alone vrrp still runs and the
next netconfig adopts the addresses as they are. Released, the static entries always go
(keepalived removes them even with --dont-release-vrrp); the instances' entries and VMACs
go unless the node runs with --dont-release-vrrp.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from pyroute2 import IPRoute

from bus.subscriber import Subscriber
from bus.subscriber_core import Effect
from conf.model.addresses import VirtualAddress
from conf.model.config import Config
from services.base import Service, Watch, service_key
from services.netconfig.announce import Announcer
from services.netconfig.announce_config import default_spacing, interface_spacing, scheduler_for, settings_for
from services.netconfig.announce_core import Announcement, AnnounceScheduler, AnnounceSettings
from services.netconfig.desired import (
    KIND_ORDER,
    MASTER,
    STATIC,
    Desired,
    LinkFacts,
    assign_vmac_names,
    desired_state,
)
from services.netconfig.kernel_addresses import AddressKind, read_addresses
from services.netconfig.kernel_links import VmacKind, read_links
from services.netconfig.kernel_routes import RouteKind
from services.netconfig.kernel_rules import RuleKind
from services.netconfig.kinds import KernelError, Kind
from services.netconfig.reconcile import (
    Action,
    Add,
    Fault,
    Item,
    Post,
    Publish,
    Reconciler,
    Ref,
    Remove,
    make_items,
)
from services.netconfig.watch import NetlinkWatch
from services.service_options import ServiceOptions

# What each kind depends on among the kernel's change notifications.
KIND_TOPICS = {
    "vmac": frozenset({"link"}),
    "address": frozenset({"address", "link"}),
    "route": frozenset({"route", "link"}),
    "rule": frozenset({"rule", "link"}),
}
# Failures an interface appearing may cure: retried as soon as the links change.
INTERFACE_REASONS = frozenset({"ENODEV", "ENXIO"})
SNAPSHOT_WAIT = 2.0  # at start, for the bus snapshot; after it nothing is removed until the snapshot comes
STOP_LOOK = 1.0  # at stop, for a fresh look at whether vrrp runs
ALIVE_WITHIN = 3.5  # a publisher heard from within this is alive (services ping every second)
RUNNING = "running"
KIND_WORDS = {"address": "address", "route": "route", "rule": "rule", "vmac": "VMAC"}
SETTING_WORDS = {"route": "Virtual Routes", "rule": "Virtual Rules"}


def state_key(owner: str, kind: str) -> str:
    """The bus key of an owner's entries of a kind: `net/VI_1/vips`, `net/static/address`, ..."""
    return f"net/{owner}/{'vips' if kind == 'address' and owner != STATIC else kind}"


def parse_state_key(key: str) -> tuple[str, str] | None:
    """(owner, kind) of a `state_key`, None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "net" or not parts[1]:
        return None
    owner, segment = parts[1], parts[2]
    if segment == "vips" and owner != STATIC:
        return owner, "address"
    if segment in KIND_ORDER and not (segment == "address" and owner != STATIC):
        return owner, segment
    return None


def available_kinds() -> list[Kind[Any]]:
    """One of each kind, in install order."""
    return [VmacKind(), AddressKind(), RouteKind(), RuleKind()]


def vrrp_states(state: Mapping[str, Any]) -> dict[str, str]:
    """Instance -> VRRP state, from the `vrrp/<instance>` keys of the bus."""
    states: dict[str, str] = {}
    for key, value in state.items():
        parts = key.split("/")
        if len(parts) == 2 and parts[0] == "vrrp" and isinstance(value, dict) and isinstance(value.get("state"), str):
            states[parts[1]] = value["state"]
    return states


def vrrp_running(state: Mapping[str, Any], publishers: Mapping[str, Any]) -> bool:
    """`service/vrrp` says running, and vrrp's publisher (if the hub knows it) was heard from lately."""
    value = state.get(service_key("vrrp"))
    if not (isinstance(value, dict) and value.get("state") == RUNNING):
        return False
    info = publishers.get("vrrp")
    if isinstance(info, dict) and isinstance(info.get("last_seen"), (int, float)):
        return float(info["last_seen"]) <= ALIVE_WITHIN
    return True


def link_facts(ipr: Any) -> dict[str, LinkFacts]:
    links = read_links(ipr)
    names = {link.index: name for name, link in links.items()}
    link_local: dict[str, str] = {}
    for address in read_addresses(ipr):
        if address.family == 6 and address.local.startswith("fe80:") and address.dev not in link_local:
            link_local[address.dev] = address.local
    facts: dict[str, LinkFacts] = {}
    for name, link in links.items():
        local = link_local.get(name)
        facts[name] = LinkFacts(
            name=name,
            mac=link.mac,
            link_local=None if local is None else ipaddress.IPv6Address(local),
            macvlan_private=link.kind == "macvlan" and link.macvlan_mode == "private",
            base=names.get(link.parent) if link.parent is not None else None,
        )
    return facts


class NetconfigService(Service):
    name = "netconfig"
    syslog_ident = "Keepalived_vrrp"
    wants_state = True

    def __init__(self, options: ServiceOptions, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(options, clock)
        self.ipr: Any = None
        self.netlink: NetlinkWatch | None = None
        self.kinds: dict[str, Kind[Any]] = {}
        self.core = Reconciler(KIND_ORDER)
        self.counters: Counter[str] = Counter()
        self.vmac_names: dict[str, str] = {}
        self.links: dict[str, LinkFacts] = {}
        self.states: dict[str, str] = {}
        self.synced = False  # the bus snapshot is in, and what an earlier run installed is known
        self._masters: set[str] = set()  # instances whose VIPs, routes and rules are wanted
        self._vips_ready: set[str] = set()
        # Instances this process has seen other than MASTER: their next MASTER is a transition
        # to announce. One found MASTER with its VIPs in place at start was announced before.
        self._seen_not_master: set[str] = set()
        self._added_vips: set[str] = set()  # instances with a VIP added in the current pass
        self.scheduler = AnnounceScheduler()
        self.announcer: Announcer | None = None

    # ------------------------------------------------------------ hooks

    def start(self, config: Config) -> None:
        # The monitor first, so that no change falls between it and the first reading.
        self.netlink = NetlinkWatch()
        self.ipr = IPRoute()
        self.kinds = {kind.name: kind for kind in available_kinds()}
        self.scheduler = scheduler_for(config)
        self.announcer = Announcer(log=self.log)
        self._take_snapshot()
        self._name_vmacs(config)
        self._reconcile(self.kinds, self.clock())

    def reload(self, config: Config) -> None:
        self.scheduler.set_spacing(interface_spacing(config), default_spacing(config))
        self._name_vmacs(config)
        self._reconcile(self.kinds, self.clock())

    def watches(self) -> list[Watch]:
        return [] if self.netlink is None else [Watch(self.netlink.fileno(), self._on_netlink)]

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.core.next_deadline(), self.scheduler.next_deadline()) if d is not None]
        return min(deadlines, default=None)

    def on_deadline(self, now: float) -> None:
        retry = self.core.next_deadline()
        if retry is not None and retry <= now:
            self._reconcile(self.kinds, now)
        self._send_announcements(now)

    def on_bus(self, effects: list[Effect]) -> None:
        assert self.view is not None
        first = not self.synced and self.view.core.caught_up
        if first:
            self._restore()
        states = vrrp_states(self.view.core.state)
        self._seen_not_master |= {name for name, state in states.items() if state != MASTER}
        if first or states != self.states:
            self.states = states
            self._reconcile(self.kinds if first else (), self.clock())

    def stop(self) -> None:
        try:
            if self._vrrp_running():
                self.log.info("vrrp is running: leaving addresses, routes, rules and VMACs for the next netconfig")
                return
            self._release()
        finally:
            if self.announcer is not None:
                self.announcer.close()
            self._close_kernel()

    # ------------------------------------------------------- the bus side

    def _take_snapshot(self) -> None:
        """The node's state before our own is sent: it holds what an earlier run reported installed."""
        assert self.view is not None
        deadline = self.clock() + SNAPSHOT_WAIT
        while not self.view.core.caught_up and self.clock() < deadline:
            self.view.poll(min(0.1, max(0.0, deadline - self.clock())))
        if self.view.core.caught_up:
            self._restore()
            self.states = vrrp_states(self.view.core.state)
        else:
            self.log.info("No bus snapshot yet: nothing will be removed until it comes")

    def _restore(self) -> None:
        assert self.view is not None
        self.synced = True
        items: list[Item] = []
        for key, value in self.view.core.state.items():
            found = parse_state_key(key)
            if found is None or found[1] not in self.kinds or not isinstance(value, dict):
                continue
            owner, kind_name = found
            kind = self.kinds[kind_name]
            for text in value.get("installed") or []:
                try:
                    entry = kind.parse(str(text))
                except ValueError as exc:
                    self.log.info("Ignoring installed %s '%s' from the bus: %s", kind_name, text, exc)
                    continue
                items.append(Item(kind_name, owner, kind.key(entry), kind.text(entry), entry))
        self.core.restore(items)

    def _vrrp_running(self) -> bool:
        """Whether vrrp runs, from a fresh snapshot (or the mirror); unknown counts as running."""
        state: Mapping[str, Any] | None = None
        publishers: Mapping[str, Any] = {}
        with Subscriber(self.options.runtime_dir, want_events=False, clock=self.clock) as look:
            deadline = self.clock() + STOP_LOOK
            while not look.core.caught_up and self.clock() < deadline:
                look.poll(min(0.1, max(0.0, deadline - self.clock())))
            if look.core.caught_up:
                state, publishers = dict(look.core.state), dict(look.core.publishers)
        if state is None and self.view is not None and self.view.core.caught_up:
            self.view.process()
            state, publishers = self.view.core.state, self.view.core.publishers
        if state is None:
            self.log.info("Cannot tell from the bus whether vrrp runs: leaving everything in place")
            return True
        return vrrp_running(state, publishers)

    # ---------------------------------------------------- the kernel side

    def _on_netlink(self) -> None:
        assert self.netlink is not None
        changes = self.netlink.drain()
        self.counters["netlink_messages"] += changes.messages
        if changes.overrun:
            self.counters["netlink_overruns"] += 1
        kinds = [name for name in self.kinds if KIND_TOPICS.get(name, frozenset({name})) & changes.topics]
        if not kinds:
            return
        if changes.topics & {"link", "address"} and self._needs_link_facts():
            self.links = link_facts(self.ipr)
        retry = INTERFACE_REASONS if "link" in changes.topics else frozenset()
        self._reconcile(kinds, self.clock(), retry)

    def _name_vmacs(self, config: Config) -> None:
        self.links = link_facts(self.ipr)
        names = assign_vmac_names(config, self.links)
        for note in names.notes:
            self.log.info("%s", note)
        self.vmac_names = dict(names.names)

    def _needs_link_facts(self) -> bool:
        assert self.config is not None
        return any(i.use_vmac is not None and i.family == 6 for i in self.config.vrrp_instances)

    def _desired(self) -> Desired:
        assert self.config is not None
        return desired_state(self.config, self.states if self.synced else {}, self.vmac_names, self.links)

    def _reconcile(
        self, kinds: Iterable[str], now: float, retry: Collection[str] = (), *, releasing: bool = False
    ) -> None:
        computed = self._desired().releasing() if releasing else self._desired()
        desired = make_items(self.kinds, computed.wanted)
        universe = make_items(self.kinds, computed.universe)
        hold = make_items(self.kinds, computed.held).keys() - desired.keys()
        if releasing and self.options.dont_release_vrrp:
            # --dont-release-vrrp: the instances' entries stay, the static ones go.
            hold |= {ref for ref, item in {**universe, **self.core.installed}.items() if item.owner != STATIC}
        for name in kinds:
            kind = self.kinds[name]
            interest = self.core.interest(name, desired, universe)
            self.core.observe(name, kind.present(self.ipr, [item.entry for item in interest]))
        self.counters["reconciles"] += 1
        self._added_vips.clear()
        actions = self.core.plan(desired, universe, now, may_remove=self.synced, hold=hold, retry_reasons=retry)
        self._log_transitions(actions)
        for action in actions:
            if isinstance(action, (Add, Remove)):
                self._apply(action)
            elif isinstance(action, Post):
                self._post(action)
        self._publish(desired, universe)
        self._announce(computed)

    def _apply(self, change: Add | Remove) -> None:
        item = change.item
        kind = self.kinds[item.kind]
        fault: Fault | None = None
        try:
            if isinstance(change, Add):
                kind.add(self.ipr, item.entry)
            else:
                kind.remove(self.ipr, item.entry)
        except KernelError as exc:
            fault = Fault(exc.reason, str(exc))
            self.counters["failed"] += 1
        for post in self.core.applied(change, fault, self.clock()):
            self._post(post)
        if fault is None and isinstance(change, Add) and item.kind == "address" and item.owner != STATIC:
            self._added_vips.add(item.owner)
            if change.repair and self.states.get(item.owner) == MASTER:
                self.vip_restored(item.owner, item.entry)

    def _post(self, post: Post) -> None:
        assert self.bus is not None
        self.counters[post.action] += 1
        data: dict[str, Any] = {"action": post.action, "kind": post.kind, "entry": post.text}
        if post.error is not None:
            data["error"] = post.error
        if post.repair is not None:
            data["repair"] = post.repair
        self.bus.post(f"net/{post.owner}", data)
        self._log_post(post)

    def _log_post(self, post: Post) -> None:
        word = KIND_WORDS.get(post.kind, post.kind)
        static = post.owner == STATIC
        if post.action == "drift":
            if static:
                self.log.info("Restoring deleted static %s %s", word, post.text)
            elif post.repair:
                self.instance_log(post.owner).info("Restoring deleted %s %s", word, post.text)
            else:
                self.instance_log(post.owner).info("%s %s deleted; not restored (no_track)", word, post.text)
        elif post.action == "error":
            message = (post.error or "").partition(": ")[2]
            if static:
                self.log.info("%s", message)
            else:
                self.instance_log(post.owner).info("%s", message)
        elif post.action == "retry_ok":
            target = self.log if static else self.instance_log(post.owner)
            target.info("%s %s set after retrying", word, post.text)

    def _publish(self, desired: Mapping[Ref, Item], universe: Mapping[Ref, Item]) -> None:
        assert self.bus is not None and self.config is not None
        always = [(instance.name, "address") for instance in self.config.vrrp_instances]
        for report in self.core.reports(desired, universe, always):
            if isinstance(report, Publish):
                key = state_key(report.owner, report.kind)
                if report.value is None:
                    self.bus.delete(key)
                else:
                    self.bus.set(key, report.value)
        self._publish_counters()

    def _publish_counters(self) -> None:
        assert self.bus is not None
        counters = Counter(self.counters)
        if self.announcer is not None:
            counters.update({f"sent_{kind}": n for kind, n in self.announcer.sent.items()})
            counters.update({f"announce_error_{reason}": n for reason, n in self.announcer.errors.items()})
        self.bus.set("counters/netconfig", dict(sorted(counters.items())))

    def _log_transitions(self, actions: Iterable[Action]) -> None:
        """keepalived's `(VI_1) setting VIPs.` lines, when an instance's entries start or stop being wanted.

        A restart that finds them already in place has nothing to say.
        """
        assert self.config is not None
        changed = {(a.item.owner, a.item.kind) for a in actions if isinstance(a, (Add, Remove))}
        for instance in self.config.vrrp_instances:
            name = instance.name
            state = self.states.get(name) if self.synced else None
            if state is None or (state == MASTER) == (name in self._masters):
                continue
            master = state == MASTER
            if master:
                self._masters.add(name)
            else:
                self._masters.discard(name)
            verb = "setting" if master else "removing"
            log = self.instance_log(name)
            if (name, "address") in changed:
                if instance.virtual_ipaddress:
                    log.info("%s VIPs.", verb)
                if instance.virtual_ipaddress_excluded:
                    log.info("%s E-VIPs.", verb)
            for kind, words in SETTING_WORDS.items():
                if (name, kind) in changed:
                    log.info("%s %s", verb, words)

    # ------------------------------------------------------ announcements

    def _announce(self, computed: Desired) -> None:
        for instance, vips in computed.vips.items():
            ready = (
                self.synced
                and self.states.get(instance) == MASTER
                and all(self.core.installed.get(("address", self.kinds["address"].key(vip))) for vip in vips)
            )
            if ready and instance not in self._vips_ready:
                self._vips_ready.add(instance)
                adopted = instance not in self._added_vips and instance not in self._seen_not_master
                self.vips_installed(instance, vips, adopted=adopted)
            elif not ready:
                self._vips_ready.discard(instance)
                if self.scheduler.is_master(instance):
                    self.scheduler.left_master(instance, self.clock())
        self._send_announcements(self.clock())

    def vips_installed(self, instance: str, vips: tuple[VirtualAddress, ...], *, adopted: bool = False) -> None:
        """`instance` became MASTER and every one of its VIPs and eVIPs is in the kernel: announce them.

        `adopted`: found MASTER with its VIPs in place when this netconfig started; it was
        announced when it became MASTER, and a restart of netconfig is not a transition.
        """
        settings = self._instance_settings(instance)
        if settings is not None:
            announcements = self._announcements(instance, vips)
            self.scheduler.became_master(instance, announcements, settings, self.clock(), announced_already=adopted)

    def vip_restored(self, instance: str, vip: VirtualAddress) -> None:
        """A VIP of MASTER `instance` disappeared and has been put back: announce it again."""
        if not self.scheduler.is_master(instance):
            return
        every = self._announcements(instance, self._desired().vips.get(instance, ()))
        restored = self._announcements(instance, (vip,))
        self.scheduler.targets_changed(instance, every, self.clock(), reinstalled=restored)

    def _instance_settings(self, instance: str) -> AnnounceSettings | None:
        assert self.config is not None
        for configured in self.config.vrrp_instances:
            if configured.name == instance:
                return settings_for(configured)
        return None

    def _announcements(self, instance: str, vips: Iterable[VirtualAddress]) -> list[Announcement]:
        assert self.config is not None
        base = {i.name: i.interface for i in self.config.vrrp_instances}.get(instance)
        vmac = self.vmac_names.get(instance)
        out: list[Announcement] = []
        for vip in vips:
            dev = vip.dev or base or ""
            out.append(Announcement(dev, vip.address.ip, base_interface=base if dev == vmac else None))
        return out

    def _send_announcements(self, now: float) -> None:
        due = self.scheduler.due(now)
        if due and self.announcer is not None:
            self.announcer.send_all(due)
            self._publish_counters()

    # ---------------------------------------------------------- release

    def _release(self) -> None:
        if not self.synced:
            self.log.info("Releasing without the bus snapshot: only configured entries are removed")
        self.log.info(
            "Releasing static addresses, routes and rules%s",
            "" if self.options.dont_release_vrrp else ", VIPs, virtual routes, virtual rules and VMACs",
        )
        self.synced = True  # removal is what is asked for now
        self._reconcile(self.kinds, self.clock(), releasing=True)

    def _close_kernel(self) -> None:
        if self.netlink is not None:
            self.netlink.close()
            self.netlink = None
        if self.ipr is not None:
            self.ipr.close()
            self.ipr = None
