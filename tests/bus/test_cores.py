"""The three bus cores (hub, publisher, subscriber) wired together in memory, with a fake clock.

`Bus` below is a small network: it carries the cores' `Send`, `Reply`, `Publish`
and `Request` messages between one HubCore, several PublisherCores and several
SubscriberCores, always through `encode`/`decode`, and can drop, hold back
(delay), or duplicate any message, and restart any component. Nothing here
opens a socket or sleeps: the clock is `Bus.now`.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import pytest

import bus.hub_core
from bus.hub_core import HubCore, Publish, Reply
from bus.messages import (
    Ack,
    Event,
    EventPost,
    Message,
    Ping,
    Resume,
    ResumeRequest,
    Snapshot,
    StateSet,
    StateUpdate,
    Value,
    Welcome,
    decode,
    encode,
)
from bus.publisher_core import DEFAULT_OUTBOX, PublisherCore, Send
from bus.subscriber_core import (
    Effect,
    EventDelivered,
    Missed,
    Request,
    Start,
    StateChanged,
    StateReset,
    SubscriberCore,
)

MAX_FRAME = 64 * 1024 * 1024
ACK_WAIT = 0.1  # the hub acknowledges after a short delay, covering many messages at once


class Path(enum.Enum):
    INGEST = "publisher -> hub"
    ACK = "hub -> publisher"
    PUB = "hub -> subscriber (publish)"
    REQ = "subscriber -> hub (request)"
    REP = "hub -> subscriber (reply)"


TO_HUB = frozenset({Path.INGEST, Path.REQ})
FROM_HUB = frozenset({Path.ACK, Path.PUB, Path.REP})

FaultAction = Literal["drop", "hold", "duplicate"]


@dataclass
class Packet:
    path: Path
    peer: bytes  # the publisher's or subscriber's identity: the sender to the hub, the receiver from it
    message: Message  # what was sent, for fault rules; the receiver gets `decode(payload)`
    payload: bytes
    topic: bytes = b""


@dataclass
class Rule:
    action: FaultAction
    match: Callable[[Packet], bool]
    times: int | None = None  # None: for as long as the rule is in place
    hits: int = 0


@dataclass
class PubNode:
    name: str
    core: PublisherCore
    identity: bytes
    posted: list[str] = field(default_factory=list)  # ids of the events this incarnation posted


@dataclass
class SubNode:
    name: str
    core: SubscriberCore
    identity: bytes
    options: dict[str, bool | str | float]
    first_since: tuple[int, int] | Start  # where the first incarnation started
    effects: list[Effect] = field(default_factory=list)  # of every incarnation, in order
    replies: list[Message] = field(default_factory=list)  # every reply it received, decoded
    alive: bool = True
    incarnations: int = 1

    def subscribed(self, topic: bytes) -> bool:
        if topic.startswith(bus.hub_core.HEARTBEAT_TOPIC):
            return True
        if topic.startswith(bus.hub_core.STATE_TOPIC):
            return bool(self.options["want_state"])
        return bool(self.options["want_events"])


class Bus:
    """One hub, publishers and subscribers joined by an in-memory, fault-injecting network."""

    def __init__(
        self,
        *,
        history_size: int = 1000,
        heartbeat_interval: float = 1.0,
        hub_up: bool = True,
        now: float = 100.0,
    ) -> None:
        self.now = now
        self.history_size = history_size
        self.heartbeat_interval = heartbeat_interval
        self.hub: HubCore | None = None
        self.hub_epochs: list[int] = []
        self.events: dict[int, list[Event]] = {}  # everything each hub published, by its epoch
        self.updates: dict[int, list[StateUpdate]] = {}
        self.inflight: list[Packet] = []
        self.held: list[Packet] = []
        self.rules: list[Rule] = []
        # Paths on which packets sent to a down hub are lost; on the others they wait for it (a DEALER queues them).
        self.lose_to_down_hub: frozenset[Path] = frozenset()
        self.pubs: dict[str, PubNode] = {}
        self.subs: dict[str, SubNode] = {}
        self.fault: Callable[[Packet], FaultAction | None] | None = None  # random faults (property tests)
        self._identities = itertools.count(1)
        self._epochs = itertools.count(1001)
        self._event_ids = itertools.count(1)
        if hub_up:
            self.start_hub()

    # ------------------------------------------------------------------ hub

    def start_hub(self) -> HubCore:
        assert self.hub is None
        hub = HubCore(next(self._epochs), self.now, self.history_size, self.heartbeat_interval)
        self.hub = hub
        self.hub_epochs.append(hub.epoch)
        self.events[hub.epoch] = []
        self.updates[hub.epoch] = []
        self._hub_actions(hub.tick(self.now), Path.ACK)
        return hub

    def crash_hub(self) -> None:
        """The hub process dies: what it had sent and not yet delivered dies with it."""
        assert self.hub is not None
        self.hub = None
        self.inflight = [p for p in self.inflight if p.path not in FROM_HUB]
        self.held = [p for p in self.held if p.path not in FROM_HUB]
        self.inflight = [p for p in self.inflight if p.path not in self.lose_to_down_hub]

    def restart_hub(self) -> HubCore:
        self.crash_hub()
        return self.start_hub()

    @property
    def hub_core(self) -> HubCore:
        assert self.hub is not None, "the hub is down"
        return self.hub

    def hub_state(self) -> dict[str, Value]:
        return {key: stored.value for key, stored in self.hub_core.state.items()}

    def hub_event_ids(self, epoch: int | None = None) -> list[str]:
        return [str(e.data["id"]) for e in self.events[self.hub_core.epoch if epoch is None else epoch]]

    # ----------------------------------------------------------- publishers

    def add_publisher(
        self,
        name: str,
        state: dict[str, Value] | None = None,
        *,
        ping_interval: float = 1.0,
        hub_timeout: float = 3.0,
        outbox_size: int = DEFAULT_OUTBOX,
    ) -> PubNode:
        core = PublisherCore(
            name,
            next(self._epochs),
            4242,
            self.now,
            ping_interval=ping_interval,
            hub_timeout=hub_timeout,
            outbox_size=outbox_size,
        )
        node = PubNode(name, core, f"pub:{name}:{next(self._identities)}".encode())
        self.pubs[name] = node
        self._from_pub(node, core.start(self.now))
        for key, value in (state or {}).items():
            self.set(name, key, value)
        return node

    def restart_publisher(self, name: str, state: dict[str, Value] | None = None) -> PubNode:
        """The service restarts: a new incarnation (new epoch) that builds `state` again."""
        old = self.pubs[name].core
        # Its socket is gone: replies to the old incarnation are lost (what it sent may still arrive).
        self.inflight = [p for p in self.inflight if not (p.path is Path.ACK and p.peer == self.pubs[name].identity)]
        return self.add_publisher(
            name, state, ping_interval=old.ping_interval, hub_timeout=old.hub_timeout, outbox_size=old.outbox_size
        )

    def set(self, name: str, key: str, value: Value) -> None:
        node = self.pubs[name]
        self._from_pub(node, node.core.set(key, value))

    def delete(self, name: str, key: str) -> None:
        node = self.pubs[name]
        self._from_pub(node, node.core.delete(key))

    def post(self, name: str, topic: str = "t", /, **data: Value) -> str:
        """Post an event carrying a unique id (returned), to follow it through the bus."""
        node = self.pubs[name]
        event_id = f"{name}#{next(self._event_ids)}"
        node.posted.append(event_id)
        self._from_pub(node, node.core.post(topic, {"id": event_id, **data}, self.now))
        return event_id

    # ---------------------------------------------------------- subscribers

    def add_subscriber(
        self,
        name: str,
        *,
        since: tuple[int, int] | Start = Start.NOW,
        want_state: bool = True,
        want_events: bool = True,
        prefix: str = "",
        silence_timeout: float = 3.5,
    ) -> SubNode:
        options: dict[str, bool | str | float] = {
            "want_state": want_state,
            "want_events": want_events,
            "prefix": prefix,
            "silence_timeout": silence_timeout,
        }
        core = self._subscriber_core(since, options)
        node = SubNode(name, core, f"sub:{name}:{next(self._identities)}".encode(), options, since)
        self.subs[name] = node
        self._sub_effects(node, core.start(self.now))
        return node

    def _subscriber_core(
        self, since: tuple[int, int] | Start, options: dict[str, bool | str | float]
    ) -> SubscriberCore:
        return SubscriberCore(
            self.now,
            want_state=bool(options["want_state"]),
            want_events=bool(options["want_events"]),
            since=since,
            prefix=str(options["prefix"]),
            silence_timeout=float(options["silence_timeout"]),
        )

    def stop_subscriber(self, name: str) -> None:
        node = self.subs[name]
        node.alive = False
        self.inflight = [p for p in self.inflight if p.peer != node.identity]

    def restart_subscriber(self, name: str) -> SubNode:
        """A new SubscriberCore, resuming from the cursor the old one would have persisted."""
        node = self.subs[name]
        if node.alive:
            self.stop_subscriber(name)
        since = node.core.cursor or node.first_since
        node.core = self._subscriber_core(since, node.options)
        node.identity = f"sub:{name}:{next(self._identities)}".encode()
        node.alive = True
        node.incarnations += 1
        self._sub_effects(node, node.core.start(self.now))
        return node

    def delivered(self, name: str) -> list[tuple[int, int]]:
        """(hub epoch, sequence) of every event the subscriber delivered, in order."""
        return [(e.event.hub_epoch, e.event.seq) for e in self.subs[name].effects if isinstance(e, EventDelivered)]

    def delivered_ids(self, name: str) -> list[str]:
        return [str(e.event.data["id"]) for e in self.subs[name].effects if isinstance(e, EventDelivered)]

    def missed(self, name: str) -> list[Missed]:
        return [e for e in self.subs[name].effects if isinstance(e, Missed)]

    def mirror(self, name: str) -> dict[str, Value]:
        return self.subs[name].core.state

    # ------------------------------------------------------------- faults

    def add_rule(self, action: FaultAction, match: Callable[[Packet], bool], times: int | None = None) -> Rule:
        rule = Rule(action, match, times)
        self.rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        self.rules.clear()
        self.fault = None

    def release(self, match: Callable[[Packet], bool] = lambda p: True) -> None:
        """Held packets (matching) go back on the wire, after everything already there."""
        released = [p for p in self.held if match(p)]
        self.held = [p for p in self.held if not match(p)]
        self.inflight.extend(released)

    def _enqueue(self, packet: Packet) -> None:
        if self.hub is None and packet.path in self.lose_to_down_hub:
            return
        action: FaultAction | None = None
        for rule in self.rules:
            if (rule.times is None or rule.hits < rule.times) and rule.match(packet):
                rule.hits += 1
                action = rule.action
                break
        if action is None and self.fault is not None:
            action = self.fault(packet)
        if action == "drop":
            return
        if action == "hold":
            self.held.append(packet)
            return
        self.inflight.append(packet)
        if action == "duplicate":
            self.inflight.append(packet)

    # ----------------------------------------------------------- sending

    def _from_pub(self, node: PubNode, sends: Iterable[Send]) -> None:
        for send in sends:
            self._enqueue(Packet(Path.INGEST, node.identity, send.message, encode(send.message)))

    def _hub_actions(self, actions: Iterable[Reply | Publish], reply_path: Path) -> None:
        assert self.hub is not None
        for action in actions:
            payload = encode(action.message)
            if isinstance(action, Reply):
                self._enqueue(Packet(reply_path, action.identity, action.message, payload))
                continue
            message = action.message
            if isinstance(message, Event):
                self.events[self.hub.epoch].append(message)
            elif isinstance(message, StateUpdate):
                self.updates[self.hub.epoch].append(message)
            for sub in self.subs.values():
                if sub.alive and sub.subscribed(action.topic):
                    self._enqueue(Packet(Path.PUB, sub.identity, message, payload, action.topic))

    def _sub_effects(self, node: SubNode, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Request):
                self._enqueue(Packet(Path.REQ, node.identity, effect.message, encode(effect.message)))
            else:
                node.effects.append(effect)

    # ---------------------------------------------------------- delivery

    def deliverable(self, packet: Packet) -> bool:
        return packet.path not in TO_HUB or self.hub is not None

    def deliver(self, packet: Packet) -> None:
        message = decode(packet.payload, MAX_FRAME)
        assert message == packet.message, "the codec changed the message"
        if packet.path is Path.INGEST:
            hub = self.hub_core
            self._hub_actions(hub.from_publisher(packet.peer, message, self.now), Path.ACK)
            self._hub_actions(hub.tick(self.now), Path.ACK)  # as the hub's loop does after each receive
        elif packet.path is Path.REQ:
            self._hub_actions(self.hub_core.request(packet.peer, message, self.now), Path.REP)
        elif packet.path is Path.ACK:
            for pub in self.pubs.values():
                if pub.identity == packet.peer:
                    self._from_pub(pub, pub.core.on_reply(message, self.now))
        else:
            for sub in self.subs.values():
                if sub.alive and sub.identity == packet.peer:
                    if packet.path is Path.REP:
                        sub.replies.append(message)
                        self._sub_effects(sub, sub.core.on_reply(message, self.now))
                    else:
                        self._sub_effects(sub, sub.core.on_message(message, self.now))

    def step(self, index: int = 0, paths: frozenset[Path] = frozenset(Path)) -> bool:
        """Deliver one packet: the `index`-th deliverable one on `paths` (0: the oldest). False if none."""
        ready = [i for i, p in enumerate(self.inflight) if p.path in paths and self.deliverable(p)]
        if not ready:
            return False
        self.deliver(self.inflight.pop(ready[index % len(ready)]))
        return True

    def run(self, limit: int = 10_000, paths: frozenset[Path] = frozenset(Path)) -> int:
        """Deliver in order until nothing deliverable is left (on `paths`); the number delivered."""
        for count in range(limit):
            if not self.step(0, paths):
                return count
        raise AssertionError(f"the network did not settle after {limit} messages")

    def tick(self) -> None:
        if self.hub is not None:
            self._hub_actions(self.hub.tick(self.now), Path.ACK)
        for pub in self.pubs.values():
            self._from_pub(pub, pub.core.tick(self.now))
        for sub in self.subs.values():
            if sub.alive:
                self._sub_effects(sub, sub.core.tick(self.now))

    def advance(self, seconds: float, *, step: float = 0.25, deliver: bool = True) -> None:
        """Let time pass in small steps, running every timer (and the network, unless told not to)."""
        end = self.now + seconds
        if deliver:
            self.run()
        while self.now < end - 1e-9:
            self.now = min(end, self.now + step)
            self.tick()
            if deliver:
                self.run()

    def settle(self, seconds: float = 15.0) -> None:
        """Heal the network: no more faults, held packets delivered, every timeout passed."""
        self.clear_faults()
        self.release()
        self.run()
        self.advance(seconds)
        self.run()


# ------------------------------------------------------------------ helpers


def changes_after_reset(node: SubNode) -> tuple[StateReset, list[tuple[str, Value, bool]]]:
    """The last StateReset of a subscriber and the state changes it applied after it."""
    resets = [i for i, e in enumerate(node.effects) if isinstance(e, StateReset)]
    assert resets, "no snapshot was ever taken"
    reset = node.effects[resets[-1]]
    assert isinstance(reset, StateReset)
    changes = [(e.key, e.value, e.deleted) for e in node.effects[resets[-1] + 1:] if isinstance(e, StateChanged)]
    return reset, changes


def is_path(path: Path, peer: bytes | None = None, kind: type | None = None) -> Callable[[Packet], bool]:
    def match(packet: Packet) -> bool:
        return (
            packet.path is path
            and (peer is None or packet.peer == peer)
            and (kind is None or isinstance(packet.message, kind))
        )

    return match


def assert_once_in_order(delivered: list[tuple[int, int]], expected: list[tuple[int, int]]) -> None:
    assert delivered == expected, f"delivered {delivered}, expected {expected}"


# ------------------------------------------------------------------ late joiner


def test_late_joiner_gets_the_snapshot_then_every_later_update_once() -> None:
    net = Bus()
    net.add_publisher("vrrp", {"vrrp/VI_1": "BACKUP", "vrrp/VI_2": "BACKUP"})
    net.add_publisher("check", {"check/web": True})
    early = net.add_subscriber("early", since=Start.HISTORY)
    net.run()
    net.set("vrrp", "vrrp/VI_1", "MASTER")
    net.post("vrrp", "vrrp.transition", to="MASTER")
    net.run()

    # The late joiner's requests are held back: updates reach its SUB socket before the snapshot is
    # taken (they are in it, and must not be applied twice) ...
    net.add_rule("hold", lambda p: p.path is Path.REQ and p.peer.startswith(b"sub:late:"))
    late = net.add_subscriber("late", since=Start.HISTORY)
    net.set("vrrp", "vrrp/VI_2", "MASTER")
    net.post("vrrp", "vrrp.transition", to="MASTER")
    net.run()
    assert late.core.state_seq == -1 and not late.core.caught_up
    net.clear_faults()
    # ... and its reply is held back while more updates arrive (they must be applied after it).
    net.add_rule("hold", is_path(Path.REP, late.identity))
    net.release()
    net.run()
    net.delete("check", "check/web")
    net.set("check", "check/db", {"ok": False, "tries": 3})
    net.post("check", "check.fail", name="db")
    net.run()
    assert late.core.state_seq == -1
    net.clear_faults()
    net.release()
    net.run()
    net.set("vrrp", "vrrp/VI_1", "FAULT")
    net.post("vrrp", "vrrp.transition", to="FAULT")
    net.run()

    hub = net.hub_core
    snapshots = [r for r in late.replies if isinstance(r, Snapshot)]
    assert len(snapshots) == 1
    snapshot = snapshots[0]
    assert "vrrp/VI_2" in snapshot.items and snapshot.items["vrrp/VI_2"]["value"] == "MASTER"
    reset, changes = changes_after_reset(late)
    assert reset.items == {key: item["value"] for key, item in snapshot.items.items()}
    expected = [(u.key, u.value, u.deleted) for u in net.updates[hub.epoch] if u.seq > snapshot.state_seq]
    assert changes == expected
    assert [key for key, _, deleted in changes if deleted] == ["check/web"]
    assert late.core.state_seq == hub.state_seq
    assert net.mirror("late") == net.hub_state() == net.mirror("early")
    assert net.hub_state() == {"vrrp/VI_1": "FAULT", "vrrp/VI_2": "MASTER", "check/db": {"ok": False, "tries": 3}}

    everything = [(hub.epoch, seq) for seq in range(1, hub.event_seq + 1)]
    assert hub.event_seq == 4
    assert_once_in_order(net.delivered("late"), everything)
    assert_once_in_order(net.delivered("early"), everything)
    assert not net.missed("late") and not net.missed("early")
    assert all(node.core.caught_up for node in (late, early))


def test_late_joiner_from_now_gets_only_later_events() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    for _ in range(3):
        net.post("vrrp")
    net.run()
    net.add_subscriber("now")
    net.run()
    later = [net.post("vrrp") for _ in range(2)]
    net.run()
    assert net.delivered_ids("now") == later
    assert net.subs["now"].core.cursor == (net.hub_core.epoch, 5)


def test_a_prefix_subscriber_mirrors_only_its_keys_and_events() -> None:
    net = Bus()
    net.add_publisher("vrrp", {"vrrp/a": 1, "ipvs/x": 2})
    net.add_subscriber("vrrp-only", since=Start.HISTORY, prefix="vrrp")
    net.run()
    net.set("vrrp", "ipvs/y", 3)
    net.set("vrrp", "vrrp/b", 4)
    wanted = net.post("vrrp", "vrrp.up")
    net.post("vrrp", "ipvs.up")
    net.run()
    assert net.mirror("vrrp-only") == {"vrrp/a": 1, "vrrp/b": 4}
    assert net.delivered_ids("vrrp-only") == [wanted]
    # Skipped topics still move the cursor: a restart does not fetch them again.
    assert net.subs["vrrp-only"].core.cursor == (net.hub_core.epoch, 2)


# ------------------------------------------------------------ publisher restart


def test_a_restarted_publisher_replaces_its_keys_with_its_new_state() -> None:
    net = Bus()
    old = net.add_publisher("vrrp", {"vrrp/VI_1": "MASTER", "vrrp/VI_2": "BACKUP", "vrrp/VI_3": "BACKUP"})
    net.add_publisher("check", {"check/web": True})
    net.add_subscriber("watch", since=Start.HISTORY)
    net.run()
    # A message of the old incarnation still on its way when it dies.
    net.add_rule("hold", is_path(Path.INGEST, old.identity))
    net.set("vrrp", "vrrp/VI_3", "MASTER")
    net.clear_faults()

    new = net.restart_publisher("vrrp", {"vrrp/VI_1": "BACKUP", "vrrp/VI_4": "MASTER"})
    assert new.core.epoch != old.core.epoch
    # Until the new incarnation's state arrives, the old keys stay.
    assert net.hub_state()["vrrp/VI_2"] == "BACKUP"
    net.run()
    net.release()
    net.run()

    hub = net.hub_core
    assert net.hub_state() == {"vrrp/VI_1": "BACKUP", "vrrp/VI_4": "MASTER", "check/web": True}
    assert hub.publishers["vrrp"].epoch == new.core.epoch and hub.publishers["vrrp"].synced
    assert hub.publishers["vrrp"].keys == {"vrrp/VI_1", "vrrp/VI_4"}
    assert hub.counters.get("publisher_restarts") == 1
    assert hub.counters.get("drop_unknown_publisher") == 1  # the old incarnation's late message
    reset, changes = changes_after_reset(net.subs["watch"])
    assert reset.items == {}
    deleted = sorted(key for key, _, gone in changes if gone)
    assert deleted == ["vrrp/VI_2", "vrrp/VI_3"]
    assert ("vrrp/VI_1", "BACKUP", False) in changes and ("vrrp/VI_4", "MASTER", False) in changes
    assert all(not key.startswith("check/") for key, _, gone in changes if gone)
    assert net.mirror("watch") == net.hub_state()
    net.advance(ACK_WAIT)
    assert new.core.unacked == 0


def test_a_restarted_publisher_that_has_no_state_yet_deletes_every_old_key() -> None:
    net = Bus()
    net.add_publisher("vrrp", {"vrrp/VI_1": "MASTER", "vrrp/VI_2": "BACKUP"})
    net.add_subscriber("watch")
    net.run()
    net.restart_publisher("vrrp")
    net.run()
    assert net.hub_state() == {} == net.mirror("watch")
    net.set("vrrp", "vrrp/VI_1", "BACKUP")
    net.run()
    assert net.hub_state() == {"vrrp/VI_1": "BACKUP"} == net.mirror("watch")


# ------------------------------------------------------------------ hub restart


@pytest.mark.parametrize("downtime", [0.0, 2.0, 4.0], ids=["instant", "short", "past-silence-timeout"])
def test_a_hub_restart_is_detected_by_publishers_and_subscribers(downtime: float) -> None:
    net = Bus()
    net.add_publisher("vrrp", {"vrrp/VI_1": "MASTER"})
    net.add_publisher("check", {"check/web": True, "check/db": False})
    net.add_subscriber("watch", since=Start.HISTORY)
    net.run()
    net.post("vrrp")
    net.post("check")
    net.advance(ACK_WAIT)
    old_epoch = net.hub_core.epoch
    old_events = [(old_epoch, 1), (old_epoch, 2)]
    assert net.delivered("watch") == old_events

    # Posted as the hub dies: neither reaches it, and they stay unacknowledged in the outboxes.
    net.add_rule("drop", lambda p: p.path is Path.INGEST and not isinstance(p.message, Ping))
    unacked = [net.post("vrrp", "lost.1"), net.post("check", "lost.2")]
    net.set("check", "check/db", True)
    net.clear_faults()
    assert (net.pubs["vrrp"].core.unacked, net.pubs["check"].core.unacked) == (1, 2)
    net.crash_hub()
    net.advance(downtime)
    new_hub = net.start_hub()
    net.settle(8.0)

    assert new_hub.epoch != old_epoch
    for pub in net.pubs.values():
        assert pub.core.hub_epoch == new_hub.epoch and pub.core.welcomed and pub.core.unacked == 0
    # Full state again, and only the events the old hub never acknowledged.
    assert net.hub_state() == {"vrrp/VI_1": "MASTER", "check/web": True, "check/db": True}
    assert sorted(net.hub_event_ids()) == sorted(unacked)
    assert all(new_hub.publishers[name].synced for name in ("vrrp", "check"))

    watch = net.subs["watch"]
    missed = net.missed("watch")
    assert missed == [Missed(0, True, new_hub.epoch)]
    index = watch.effects.index(missed[0])
    new_events = [(new_hub.epoch, 1), (new_hub.epoch, 2)]
    assert_once_in_order(net.delivered("watch"), old_events + new_events)
    after_missed = [(e.event.hub_epoch, e.event.seq) for e in watch.effects[index:] if isinstance(e, EventDelivered)]
    assert after_missed == new_events
    assert watch.core.state_epoch == new_hub.epoch and net.mirror("watch") == net.hub_state()
    assert sum(isinstance(e, StateReset) for e in watch.effects) == 2  # the first snapshot, and the new hub's

    later = net.post("vrrp", "after")
    net.run()
    assert net.delivered("watch")[-1] == (new_hub.epoch, 3)
    assert net.delivered_ids("watch")[-1] == later


def test_a_late_ack_from_the_old_hub_makes_the_publisher_introduce_itself_again() -> None:
    net = Bus()
    pub = net.add_publisher("vrrp", {"vrrp/VI_1": "MASTER"})
    net.advance(ACK_WAIT)
    net.add_rule("hold", is_path(Path.ACK, pub.identity, Ack))
    net.post("vrrp")
    net.advance(ACK_WAIT)
    stale = net.held[:]
    assert len(stale) == 1
    net.clear_faults()
    net.held.clear()
    net.restart_hub()
    net.settle(5.0)
    hub = net.hub_core
    assert pub.core.hub_epoch == hub.epoch
    net.inflight.extend(stale)  # the old hub's Ack, delivered very late
    net.run()
    assert pub.core.counters.get("hub_restarts") == 1
    assert pub.core.welcomed and pub.core.hub_epoch == hub.epoch
    assert net.hub_state() == {"vrrp/VI_1": "MASTER"}


# ---------------------------------------------------------- subscriber restart


@pytest.mark.parametrize("resume_limit", [10_000, 3])
def test_a_restarted_subscriber_gets_exactly_the_events_it_missed(
    resume_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bus.hub_core, "MAX_RESUME_EVENTS", resume_limit)
    net = Bus(history_size=100)
    net.add_publisher("vrrp")
    net.add_subscriber("s", since=Start.HISTORY, want_state=False)
    for _ in range(3):
        net.post("vrrp")
    net.run()
    epoch = net.hub_core.epoch
    assert net.subs["s"].core.cursor == (epoch, 3)
    net.stop_subscriber("s")
    missed_ids = [net.post("vrrp") for _ in range(10)]
    net.run()
    net.restart_subscriber("s")
    net.run()
    later = [net.post("vrrp") for _ in range(2)]
    net.run()

    assert net.delivered("s") == [(epoch, seq) for seq in range(1, 16)]
    assert net.delivered_ids("s")[3:] == missed_ids + later
    assert net.missed("s") == []
    pages = [r for r in net.subs["s"].replies if isinstance(r, Resume)]
    assert len(pages) == 1 + (1 if resume_limit > 10 else 4)  # the first start's, then 10 events 3 a page


def test_a_restarted_subscriber_beyond_the_history_is_told_how_many_it_missed() -> None:
    net = Bus(history_size=5)
    net.add_publisher("vrrp")
    net.add_subscriber("s", since=Start.HISTORY, want_state=False)
    for _ in range(3):
        net.post("vrrp")
    net.run()
    epoch = net.hub_core.epoch
    net.stop_subscriber("s")
    ids = [net.post("vrrp") for _ in range(10)]  # events 4..13; the history keeps 9..13
    net.run()
    net.restart_subscriber("s")
    net.run()
    net.post("vrrp")
    net.run()

    s = net.subs["s"]
    assert net.missed("s") == [Missed(5, False, epoch)]
    tail = s.effects[s.effects.index(Missed(5, False, epoch)):]
    assert [(e.event.hub_epoch, e.event.seq) for e in tail if isinstance(e, EventDelivered)] == [
        (epoch, seq) for seq in range(9, 15)
    ]
    assert net.delivered_ids("s")[3:8] == ids[5:]
    assert s.core.cursor == (epoch, 14)


def test_a_subscriber_restarted_across_a_hub_restart_misses_the_whole_old_epoch_tail() -> None:
    net = Bus(history_size=4)
    net.add_publisher("vrrp")
    net.add_subscriber("s", since=Start.HISTORY, want_state=False)
    net.post("vrrp")
    net.run()
    net.stop_subscriber("s")
    net.post("vrrp")
    net.advance(ACK_WAIT)
    hub = net.restart_hub()
    net.settle(5.0)
    for _ in range(6):
        net.post("vrrp")  # events 1..6 of the new hub; its history keeps 3..6
    net.run()
    net.restart_subscriber("s")
    net.run()
    assert net.missed("s") == [Missed(2, True, hub.epoch)]
    assert net.delivered("s")[1:] == [(hub.epoch, seq) for seq in range(3, 7)]


# ----------------------------------------------------------- stalled subscriber


@pytest.mark.parametrize("revealed_by", ["next-event", "heartbeat", "silence"])
def test_a_stalled_subscriber_resyncs_and_gets_every_event_once_in_order(revealed_by: str) -> None:
    net = Bus()
    net.add_publisher("vrrp", {"vrrp/VI_1": "BACKUP"})
    slow = net.add_subscriber("slow", since=Start.HISTORY)
    net.add_subscriber("fast", since=Start.HISTORY)
    net.post("vrrp")
    net.run()
    # Its SUB socket overflows: it loses everything published for a while, heartbeats included.
    stall = net.add_rule("drop", is_path(Path.PUB, slow.identity))
    for n in range(5):
        net.post("vrrp")
        net.set("vrrp", f"vrrp/k{n}", n)
    net.delete("vrrp", "vrrp/VI_1")
    net.run()
    resyncs = slow.core.resyncs
    if revealed_by == "next-event":
        net.rules.remove(stall)
        net.post("vrrp")
        net.set("vrrp", "vrrp/last", True)
        net.run()
    elif revealed_by == "heartbeat":
        net.rules.remove(stall)
        net.advance(1.0)
    else:
        net.advance(3.75)  # still nothing published reaches it: the silence timer asks
        assert slow.core.caught_up
        net.rules.remove(stall)
    net.run()

    hub = net.hub_core
    assert slow.core.resyncs > resyncs
    everything = [(hub.epoch, seq) for seq in range(1, hub.event_seq + 1)]
    assert_once_in_order(net.delivered("slow"), everything)
    assert_once_in_order(net.delivered("fast"), everything)
    assert net.missed("slow") == []
    assert net.mirror("slow") == net.hub_state() == net.mirror("fast")
    assert slow.core.state_seq == hub.state_seq


def test_out_of_order_and_duplicated_publications_are_delivered_once_in_order() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    sub = net.add_subscriber("s", since=Start.HISTORY)
    net.run()
    net.add_rule("hold", is_path(Path.PUB, sub.identity, Event), times=2)
    net.add_rule("hold", is_path(Path.PUB, sub.identity, StateUpdate), times=1)
    net.add_rule("duplicate", is_path(Path.PUB, sub.identity))
    for n in range(6):
        net.post("vrrp")
        net.set("vrrp", "k", n)
    net.run()
    hub = net.hub_core
    assert net.mirror("s") == {"k": 5} and sub.core.state_seq == hub.state_seq == 6
    net.release()  # the first event and update, long after the others
    net.run()
    assert net.mirror("s") == {"k": 5} and sub.core.state_seq == 6
    changes = [(e.key, e.value) for e in sub.effects if isinstance(e, StateChanged)]
    assert changes == sorted(set(changes)), "a state change applied twice, or out of order"
    net.settle(3.0)
    assert_once_in_order(net.delivered("s"), [(hub.epoch, seq) for seq in range(1, 7)])
    assert net.mirror("s") == {"k": 5} == net.hub_state()


def test_a_late_copy_of_an_older_snapshot_is_ignored() -> None:
    net = Bus()
    net.add_publisher("vrrp", {"k": 0})
    net.run()
    net.add_rule("hold", lambda p: p.path is Path.REP and isinstance(p.message, Snapshot))
    sub = net.add_subscriber("s", want_events=False)
    net.run()
    net.clear_faults()
    late = net.held[0]
    net.release()
    net.run()
    net.set("vrrp", "k", 1)
    net.run()
    assert net.mirror("s") == {"k": 1} and sub.core.state_seq == 2
    net.inflight.append(late)  # the same answer again, overtaken by the update
    net.run()
    assert net.mirror("s") == {"k": 1} and sub.core.state_seq == 2
    assert sum(isinstance(e, StateReset) for e in sub.effects) == 1


# ------------------------------------------------------------- publisher outbox


def test_events_posted_while_the_hub_is_down_arrive_when_it_comes_back() -> None:
    net = Bus(hub_up=False)
    net.lose_to_down_hub = frozenset({Path.INGEST})  # only the outbox keeps them
    net.add_publisher("vrrp", {"vrrp/VI_1": "BACKUP"})
    ids = [net.post("vrrp", "vrrp.transition", n=n) for n in range(5)]
    net.set("vrrp", "vrrp/VI_1", "MASTER")
    net.advance(10.0)  # it keeps saying Hello, to nobody
    assert net.inflight == [] and net.pubs["vrrp"].core.unacked == 7
    hub = net.start_hub()
    net.add_subscriber("watch", since=Start.HISTORY)
    net.advance(2.0)
    assert net.hub_event_ids() == ids
    assert [e.data["n"] for e in net.events[hub.epoch]] == [0, 1, 2, 3, 4]
    assert net.hub_state() == {"vrrp/VI_1": "MASTER"} == net.mirror("watch")
    assert net.delivered_ids("watch") == ids
    assert net.pubs["vrrp"].core.unacked == 0


def test_an_outbox_overflow_drops_the_oldest_and_is_counted() -> None:
    net = Bus(hub_up=False)
    net.lose_to_down_hub = frozenset({Path.INGEST})
    net.add_publisher("vrrp", outbox_size=4)
    ids = [net.post("vrrp") for _ in range(7)]
    pub = net.pubs["vrrp"]
    assert pub.core.counters.get("outbox_overflow") == 3 and pub.core.unacked == 4
    net.start_hub()
    net.advance(2.0)
    assert net.hub_event_ids() == ids[3:]


def test_events_posted_while_the_hub_restarts_are_not_lost() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    net.add_subscriber("watch", since=Start.HISTORY, want_state=False)
    first = net.post("vrrp")
    net.advance(ACK_WAIT)  # acknowledged: it is not sent again
    net.crash_hub()
    net.lose_to_down_hub = frozenset({Path.INGEST})
    during = [net.post("vrrp") for _ in range(3)]
    net.advance(5.0)
    hub = net.start_hub()
    net.settle(5.0)
    assert net.hub_event_ids() == during
    assert net.delivered_ids("watch") == [first, *during]
    assert net.missed("watch") == [Missed(0, True, hub.epoch)]


# ------------------------------------------------ duplicates and reordering on ingest


def test_duplicated_publisher_messages_are_counted_and_do_not_repeat_events() -> None:
    net = Bus()
    pub = net.add_publisher("vrrp")
    net.add_subscriber("watch", since=Start.HISTORY)
    net.run()
    net.add_rule("duplicate", lambda p: p.path is Path.INGEST and isinstance(p.message, (EventPost, StateSet)))
    ids = [net.post("vrrp") for _ in range(5)]
    for n in range(3):
        net.set("vrrp", f"k{n}", n)
    net.run()
    hub = net.hub_core
    assert hub.counters.get("drop_duplicate") == 8
    assert hub.counters.get("publisher_gap") == 0
    assert net.hub_event_ids() == ids == net.delivered_ids("watch")
    assert net.hub_state() == {"k0": 0, "k1": 1, "k2": 2} == net.mirror("watch")
    net.advance(ACK_WAIT)
    assert pub.core.unacked == 0


def test_reordered_publisher_messages_are_counted_and_resent_in_order() -> None:
    net = Bus()
    pub = net.add_publisher("vrrp")
    net.add_subscriber("watch", since=Start.HISTORY)
    net.run()
    first = net.post("vrrp")
    net.add_rule("hold", is_path(Path.INGEST, pub.identity), times=1)
    second = net.post("vrrp")
    third = net.post("vrrp")
    net.set("vrrp", "k", 1)
    net.run()
    net.release()  # the held one arrives after everything else
    net.run()
    hub = net.hub_core
    assert hub.counters.get("publisher_gap") >= 1
    assert hub.counters.get("drop_duplicate") >= 1
    assert net.hub_event_ids() == [first, second, third] == net.delivered_ids("watch")
    assert net.hub_state() == {"k": 1} == net.mirror("watch")
    net.settle(3.0)
    assert pub.core.unacked == 0


def test_an_unknown_publisher_is_told_to_say_hello_again() -> None:
    net = Bus()
    pub = net.add_publisher("vrrp", {"a": 1})
    net.run()
    hub = net.hub_core
    del hub.publishers["vrrp"]  # as if the hub had forgotten it
    net.post("vrrp")
    net.run()
    assert hub.counters.get("drop_unknown_publisher") == 1
    net.advance(ACK_WAIT)
    assert pub.core.welcomed and pub.core.unacked == 0
    assert len(net.events[hub.epoch]) == 1


# ------------------------------------------------------------------ known bugs


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_a_lost_request_or_reply_is_asked_again(lost: str) -> None:
    net = Bus()
    net.add_publisher("vrrp", {"a": 1})
    net.run()
    path = Path.REQ if lost == "request" else Path.REP
    net.add_rule("drop", lambda p: p.path is path and p.peer.startswith(b"sub:s:"), times=2)
    sub = net.add_subscriber("s", since=Start.HISTORY)
    net.run()
    ids = [net.post("vrrp") for _ in range(3)]
    net.advance(30.0)  # heartbeats flow all along
    assert sub.core.caught_up
    assert net.mirror("s") == {"a": 1}
    assert net.delivered_ids("s") == ids


def test_two_outstanding_resume_requests_across_a_hub_restart_deliver_each_event_once() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    net.add_subscriber("s", since=Start.HISTORY, want_state=False)
    net.post("vrrp")
    net.advance(ACK_WAIT)
    net.crash_hub()
    net.advance(8.0)  # silent hub: the subscriber asks at 3.5 s and again at 7 s; both requests wait
    requests = [p for p in net.inflight if p.path is Path.REQ]
    assert [type(p.message) for p in requests] == [ResumeRequest, ResumeRequest]
    net.inflight = [p for p in net.inflight if p.path is not Path.REQ]
    hub = net.start_hub()
    net.advance(2.0)  # the publisher is back first ...
    net.post("vrrp")
    net.run()
    assert len(net.events[hub.epoch]) == 1
    net.inflight.extend(requests)  # ... then the hub answers both requests
    net.run()
    delivered = net.delivered("s")
    assert len(delivered) == len(set(delivered))
    assert net.missed("s") == [Missed(0, True, hub.epoch)]


def test_a_gap_beyond_the_history_is_reported_once_even_if_asked_twice() -> None:
    net = Bus(history_size=2)
    net.add_publisher("vrrp")
    net.add_subscriber("s", since=Start.HISTORY, want_state=False)
    net.run()
    net.stop_subscriber("s")
    for _ in range(5):
        net.post("vrrp")
    net.run()
    epoch = net.hub_core.epoch
    net.add_rule("hold", lambda p: p.path is Path.REQ)  # a busy hub: no answer for a while
    net.restart_subscriber("s")
    net.advance(4.0, deliver=False)
    net.clear_faults()
    net.release()
    net.run()
    assert net.delivered("s") == [(epoch, 4), (epoch, 5)]
    assert net.missed("s") == [Missed(3, False, epoch)]


def _stale_welcome(net: Bus) -> tuple[list[str], list[str]]:
    """A Welcome delayed past later traffic: a gap and then a ping both ask for a resend."""
    pub = net.pubs["vrrp"]
    net.run()
    net.add_rule("drop", is_path(Path.INGEST, pub.identity, StateSet), times=1)
    net.set("vrrp", "a", 1)  # lost
    net.add_rule("hold", is_path(Path.ACK, pub.identity, Welcome), times=2)
    net.set("vrrp", "b", 2)  # gap: Welcome 1
    early = [net.post("vrrp")]  # the hub already asked once: no second Welcome for the gap
    net.run()
    assert len(net.held) == 1
    net.advance(1.0)  # the ping says more was sent than the hub has: Welcome 2
    assert len(net.held) == 2
    first = net.held[0]
    net.release(lambda p: p is first)
    net.run()  # the first Welcome: everything resent and taken
    net.set("vrrp", "c", 3)
    early.append(net.post("vrrp"))
    net.run()
    net.release()  # the second Welcome, late
    net.run()
    later = [net.post("vrrp") for _ in range(3)]
    net.set("vrrp", "d", 4)
    net.settle(5.0)
    return early, later


def test_a_stale_welcome_loses_no_later_event_or_state() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    early, later = _stale_welcome(net)
    assert net.hub_event_ids() == early + later
    assert net.hub_state() == {"a": 1, "b": 2, "c": 3, "d": 4}


def test_a_slow_hub_takes_each_event_once() -> None:
    net = Bus()
    net.add_publisher("vrrp", {"k": 0})
    assert net.step()  # the hub takes the Hello; its Welcome is on the way
    net.advance(1.0, deliver=False)  # not welcomed yet: the publisher says Hello again
    net.run(paths=frozenset({Path.ACK}))  # the first Welcome: its state goes out
    net.advance(4.0, deliver=False)  # the hub stalls: no Ack for the pings, the publisher says Hello once more
    event = net.post("vrrp")
    net.settle(5.0)
    assert net.hub_state() == {"k": 0}
    assert net.hub_event_ids() == [event]


def test_a_lost_last_message_reaches_the_hub_eventually() -> None:
    net = Bus()
    pub = net.add_publisher("vrrp", {"a": 1})
    net.run()
    net.add_rule("drop", lambda p: p.path is Path.INGEST and not isinstance(p.message, Ping))
    net.set("vrrp", "a", 2)
    event = net.post("vrrp")
    net.clear_faults()
    net.advance(30.0)
    assert pub.core.unacked == 0
    assert net.hub_state() == {"a": 2}
    assert net.hub_event_ids() == [event]


def test_a_subscriber_from_now_never_gets_older_events() -> None:
    net = Bus()
    net.add_publisher("vrrp")
    for _ in range(3):
        net.post("vrrp")
    net.run()
    net.add_rule("drop", lambda p: p.peer.startswith(b"sub:now:") and p.path is Path.REQ, times=1)
    net.add_rule("drop", lambda p: p.peer.startswith(b"sub:now:") and p.path is Path.PUB)
    net.add_subscriber("now", want_state=False)
    net.advance(3.75)  # nothing reaches it: it asks again
    net.clear_faults()
    net.run()
    later = net.post("vrrp")
    net.settle(3.0)
    assert net.delivered_ids("now") == [later]


def test_a_blocked_ping_does_not_send_a_message_again() -> None:
    core = PublisherCore("vrrp", 7, 1, 0.0)
    core.start(0.0)
    core.on_reply(Welcome(9, 0), 0.0)  # StateSync 1 goes out
    assert [s.message.TYPE for s in core.post("t", {}, 0.0)] == ["post"]  # EventPost 2 goes out
    sends = core.tick(1.0)
    assert [type(s.message) for s in sends] == [Ping]
    core.mark_unsent([s.message for s in sends])  # the socket would have blocked on the Ping
    assert [s.message for s in core.post("t", {}, 1.0) if isinstance(s.message, EventPost)] == [
        EventPost("vrrp", 7, 3, 2, "t", {}, 1.0)
    ]
