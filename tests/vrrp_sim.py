"""Helpers for the VRRP state machine tests: settings, action filters, and a simulated LAN.

The LAN is a discrete-event simulation: routers exchange adverts through a
medium that loses or delays them, every clock is the simulation's, and a run is
a deterministic function of its inputs (Hypothesis draws them).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, ip_address
from typing import Any, TypeVar

from services.vrrp.actions import Action, GroupTransition, SendAdvert, Transition
from services.vrrp.core import VirtualRouter
from services.vrrp.received import Received
from services.vrrp.settings import IPAddress, RouterSettings
from services.vrrp.states import State
from services.vrrp.sync import SyncGroup

A = TypeVar("A")


def settings(name: str = "VI_1", **changes: Any) -> RouterSettings:
    base = RouterSettings(name=name, vrid=51, primary_address=IPv4Address("192.0.2.1"))
    return replace(base, **changes)


def only(kind: type[A], actions: Iterable[Action]) -> list[A]:
    return [a for a in actions if isinstance(a, kind)]


def adverts(actions: Iterable[Action]) -> list[int]:
    """The priorities of the adverts sent, in order."""
    return [a.priority for a in only(SendAdvert, actions)]


def transitions(actions: Iterable[Action]) -> list[tuple[str, State, State]]:
    return [(t.instance, t.old, t.new) for t in only(Transition, actions)]


def rx(source: str, priority: int, interval: float = 1.0) -> Received:
    return Received(ip_address(source), priority, interval)


# ---------------------------------------------------------------------- the simulated LAN


@dataclass
class Node:
    router: VirtualRouter
    address: IPAddress
    alive: bool = True
    # (time, old, new) of every change of state
    history: list[tuple[float, State, State]] = field(default_factory=list)


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    target: int = field(compare=False)
    advert: Received = field(compare=False)


class Lan:
    """N routers of one VRID on one segment.

    `loss` is the probability that one copy of an advert (one sender, one
    receiver) is lost; `max_delay` bounds the time a copy takes. Both can be
    changed between runs, and `set_priority` changes a router's trackers.
    """

    def __init__(self, routers: Iterable[VirtualRouter], seed: int = 0, groups: Iterable[SyncGroup] = ()) -> None:
        self.nodes = [Node(r, _address(r)) for r in routers]
        self.groups = list(groups)
        self._index = {node.router.name: i for i, node in enumerate(self.nodes)}
        if len(self._index) != len(self.nodes):
            raise ValueError("router names must be unique on the simulated LAN")
        self.now = 0.0
        self.loss = 0.0
        self.max_delay = 0.0
        self.sent = 0
        self._random = random.Random(seed)
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()

    def start(self, index: int | None = None) -> None:
        """Start one router (or its sync group), or all of them."""
        for i in range(len(self.nodes)) if index is None else (index,):
            router = self.nodes[i].router
            if router.started:
                continue
            group = next((g for g in self.groups if router in g.members), None)
            self._apply(group.startup(self.now) if group is not None else router.startup(self.now))

    def set_priority(self, index: int, priority: int, fault: bool = False) -> None:
        router = self.nodes[index].router
        self._apply(router.trackers_changed(priority, fault, self.now, "test"))

    def stop(self, index: int) -> None:
        """A clean shutdown: a MASTER sends priority 0."""
        node = self.nodes[index]
        self._apply(node.router.shutdown(self.now))
        node.alive = False

    def crash(self, index: int) -> None:
        """The router vanishes without a word."""
        node = self.nodes[index]
        if node.router.state is not State.STOP:
            node.history.append((self.now, node.router.state, State.STOP))
        node.alive = False

    def run_until(self, until: float, watch: Callable[[Lan], None] | None = None) -> None:
        """Advance to `until`, handling every timer and delivery on the way; `watch` sees the
        LAN after each step."""
        for _ in range(1_000_000):
            when = self._next_event()
            if when is None or when > until:
                self.now = until
                return
            self.now = max(self.now, when)
            self._step()
            if watch is not None:
                watch(self)
        raise AssertionError("the simulation did not reach its end")

    def masters(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.alive and n.router.state is State.MASTER]

    def _next_event(self) -> float | None:
        times = [d for d in (n.router.next_deadline() for n in self.nodes if n.alive) if d is not None]
        if self._queue:
            times.append(self._queue[0].at)
        return min(times, default=None)

    def _step(self) -> None:
        if self._queue and self._queue[0].at <= self.now:
            delivery = heapq.heappop(self._queue)
            node = self.nodes[delivery.target]
            if node.alive:
                self._apply(node.router.advert_received(delivery.advert, self.now))
            return
        for node in self.nodes:
            deadline = node.router.next_deadline()
            if node.alive and deadline is not None and deadline <= self.now:
                self._apply(node.router.timer_fired(self.now))
                return

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, GroupTransition):
                continue
            index = self._index[action.instance]
            node = self.nodes[index]
            if isinstance(action, Transition):
                node.history.append((self.now, action.old, action.new))
            elif isinstance(action, SendAdvert):
                self.sent += 1
                self._send(index, Received(node.address, action.priority, action.interval))

    def _send(self, sender: int, advert: Received) -> None:
        vrid = self.nodes[sender].router.settings.vrid
        for target, node in enumerate(self.nodes):
            if target == sender or node.router.settings.vrid != vrid or self._random.random() < self.loss:
                continue
            at = self.now + self._random.uniform(0.0, self.max_delay)
            heapq.heappush(self._queue, _Delivery(at, next(self._seq), target, advert))


def _address(router: VirtualRouter) -> IPAddress:
    address = router.settings.primary_address
    if address is None:
        raise ValueError(f"({router.name}) needs a primary address on the simulated LAN")
    return address
