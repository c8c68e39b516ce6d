"""The hub's logic without sockets or clocks: the node's state, its event history, its publishers.

Publishers (the services) send their state and events; the hub numbers them in
the node's two sequences (one for state updates, one for events), keeps the
state and a bounded event history, and answers snapshot and resume requests.
It receives messages with an explicit `now` (monotonic seconds) and returns
actions for its adapter to carry out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from bus.messages import (
    Ack,
    Counters,
    Event,
    EventPost,
    Heartbeat,
    Hello,
    Message,
    Ping,
    PublisherInfo,
    Resume,
    ResumeRequest,
    Snapshot,
    SnapshotRequest,
    StateSet,
    StateSync,
    StateUpdate,
    Unknown,
    Value,
    Welcome,
    event_to_map,
)

DEFAULT_HISTORY = 10_000
MAX_RESUME_EVENTS = 10_000  # per reply; the subscriber asks again for more
# Acks only let publishers forget what the hub has, so they can wait a little and cover many
# messages: one ack per message would cost the hub and each publisher as much as the message.
ACK_DELAY = 0.02
ACK_BATCH = 1000
# Publisher epochs grow with each start. A Hello from an older epoch is stale while the newer
# incarnation is heard from; after this long without a word from it, the older one may return
# (a clock stepped back between two starts, say).
STALE_HELLO_WINDOW = 3.0

STATE_TOPIC = b"S"
EVENT_TOPIC = b"E"
HEARTBEAT_TOPIC = b"H"


@dataclass(frozen=True)
class Reply:
    """Send `message` to the peer with this routing identity."""

    identity: bytes
    message: Message


@dataclass(frozen=True)
class Publish:
    """Publish `message` to subscribers under `topic` (its first frame)."""

    topic: bytes
    message: Message


Action = Reply | Publish


@dataclass
class PublisherRecord:
    name: str
    identity: bytes
    epoch: int
    pid: int
    acked: int = 0  # the last of its messages taken, in order
    synced: bool = False
    last_seen: float = 0.0
    keys: set[str] = field(default_factory=set)
    ack_due: bool = False
    last_event_id: int = 0  # events are taken once, however often they are sent
    gap_welcomed: bool = False  # a resend was asked for at `acked`; asking again would only repeat it


@dataclass
class StoredValue:
    value: Value
    publisher: str


class HubCore:
    def __init__(
        self, epoch: int, now: float, history_size: int = DEFAULT_HISTORY, heartbeat_interval: float = 1.0
    ) -> None:
        self.epoch = epoch
        self.state: dict[str, StoredValue] = {}
        self.state_seq = 0
        self.event_seq = 0
        self.history: deque[Event] = deque(maxlen=max(1, history_size))
        self.publishers: dict[str, PublisherRecord] = {}
        self.counters = Counters()
        self.heartbeat_interval = heartbeat_interval
        self.next_heartbeat = now
        self._next_ack: float | None = None  # when pending acks go out
        self._unacked_messages = 0

    # ------------------------------------------------------------ publishers

    def from_publisher(self, identity: bytes, message: Message, now: float) -> list[Action]:
        if isinstance(message, Hello):
            return self._hello(identity, message, now)
        if not isinstance(message, (StateSync, StateSet, EventPost, Ping)):
            self.counters.add("drop_unexpected_type")
            return []
        record = self.publishers.get(message.name)
        if record is None or record.epoch != message.epoch:
            self.counters.add("drop_unknown_publisher")
            return [Reply(identity, Unknown(self.epoch))]
        record.identity = identity
        record.last_seen = now
        if isinstance(message, Ping):
            if message.sent > record.acked:
                # It sent more than we have (the last of it was lost): have it send again.
                self.counters.add("publisher_gap")
                record.gap_welcomed = True
                return [Reply(identity, Welcome(self.epoch, record.acked))]
            return [Reply(identity, Ack(self.epoch, record.acked))]
        if message.seq <= record.acked:
            self.counters.add("drop_duplicate")
            self._ack_later(record, now)
            return []
        if message.seq != record.acked + 1 and not isinstance(message, StateSync):
            # Something between us was lost: make the publisher resend from what we have, once.
            self.counters.add("publisher_gap")
            if record.gap_welcomed:
                return []
            record.gap_welcomed = True
            return [Reply(identity, Welcome(self.epoch, record.acked))]
        # A resend starts with the publisher's whole state, which is a new base whatever its number.
        record.acked = message.seq
        record.gap_welcomed = False
        self._ack_later(record, now)
        if isinstance(message, StateSync):
            return list(self._sync(record, message.items))
        if isinstance(message, StateSet):
            return list(self._set(record, message.key, message.value, message.deleted))
        if message.id <= record.last_event_id:
            self.counters.add("drop_duplicate_event")
            return []
        record.last_event_id = message.id
        return [self._event(record, message)]

    def _ack_later(self, record: PublisherRecord, now: float) -> None:
        record.ack_due = True
        self._unacked_messages += 1
        if self._next_ack is None:
            self._next_ack = now + ACK_DELAY

    def flush_acks(self, now: float) -> list[Action]:
        """One Ack per publisher heard from, once the delay has passed or enough messages wait."""
        if self._next_ack is None or (now < self._next_ack and self._unacked_messages < ACK_BATCH):
            return []
        self._next_ack = None
        self._unacked_messages = 0
        actions: list[Action] = []
        for record in self.publishers.values():
            if record.ack_due:
                record.ack_due = False
                actions.append(Reply(record.identity, Ack(self.epoch, record.acked)))
        return actions

    def next_deadline(self) -> float:
        return self.next_heartbeat if self._next_ack is None else min(self.next_heartbeat, self._next_ack)

    def _hello(self, identity: bytes, hello: Hello, now: float) -> list[Action]:
        record = self.publishers.get(hello.name)
        if (
            record is not None
            and hello.epoch < record.epoch
            and now - record.last_seen < STALE_HELLO_WINDOW
        ):
            # A Hello from an earlier incarnation, late: the live one must not be replaced by it.
            self.counters.add("drop_stale_hello")
            return []
        if record is None or record.epoch != hello.epoch:
            if record is not None:
                self.counters.add("publisher_restarts")
            keys = record.keys if record is not None else set()
            # The keys of a previous incarnation stay until its new state arrives and replaces them.
            record = PublisherRecord(hello.name, identity, hello.epoch, hello.pid, keys=keys)
            self.publishers[hello.name] = record
        record.identity = identity
        record.last_seen = now
        return [Reply(identity, Welcome(self.epoch, record.acked))]

    def _sync(self, record: PublisherRecord, items: dict[str, Value]) -> Iterator[Action]:
        for key in sorted(record.keys - items.keys()):
            yield from self._set(record, key, None, True)
        for key, value in items.items():
            yield from self._set(record, key, value, False)
        record.synced = True

    def _set(self, record: PublisherRecord, key: str, value: Value, deleted: bool) -> Iterator[Action]:
        current = self.state.get(key)
        if deleted:
            record.keys.discard(key)
            if current is None:
                return
            del self.state[key]
        else:
            if current is not None and current.publisher != record.name:
                owner = self.publishers.get(current.publisher)
                if owner is not None:
                    owner.keys.discard(key)
            record.keys.add(key)
            if current is not None and current.value == value and current.publisher == record.name:
                return
            self.state[key] = StoredValue(value, record.name)
        self.state_seq += 1
        update = StateUpdate(self.epoch, self.state_seq, key, value, deleted, record.name)
        yield Publish(STATE_TOPIC + key.encode(), update)

    def _event(self, record: PublisherRecord, post: EventPost) -> Action:
        self.event_seq += 1
        event = Event(self.epoch, self.event_seq, post.topic, post.data, record.name, record.epoch, post.time)
        self.history.append(event)
        return Publish(EVENT_TOPIC + post.topic.encode(), event)

    # ----------------------------------------------------------- subscribers

    def request(self, identity: bytes, message: Message, now: float) -> list[Action]:
        if isinstance(message, SnapshotRequest):
            items = {
                key: {"value": stored.value, "publisher": stored.publisher}
                for key, stored in self.state.items()
                if key.startswith(message.prefix)
            }
            snapshot = Snapshot(
                self.epoch, self.state_seq, self.event_seq, items, self.publisher_map(now), self.counters.as_map()
            )
            return [Reply(identity, snapshot)]
        if isinstance(message, ResumeRequest):
            return [Reply(identity, self._resume(message))]
        self.counters.add("drop_unexpected_request")
        return []

    def _resume(self, request: ResumeRequest) -> Resume:
        epoch_changed = request.hub_epoch not in (0, self.epoch)
        echo = (request.hub_epoch, request.after)
        if request.after < 0 and not epoch_changed:
            return Resume(*echo, self.epoch, [], 0, False, self.event_seq, False)
        after = 0 if epoch_changed else request.after
        oldest = self.history[0].seq if self.history else self.event_seq + 1
        missed = max(0, oldest - 1 - after)
        limit = min(request.limit or MAX_RESUME_EVENTS, MAX_RESUME_EVENTS)
        start = max(after + 1, oldest) - oldest  # index into the history
        events = [event_to_map(event) for event in islice(self.history, start, start + limit)]
        more = start + len(events) < len(self.history)
        return Resume(*echo, self.epoch, events, missed, epoch_changed, self.event_seq, more)

    # ----------------------------------------------------------------- timers

    def tick(self, now: float) -> list[Action]:
        actions = self.flush_acks(now)
        if now < self.next_heartbeat:
            return actions
        self.next_heartbeat = now + self.heartbeat_interval
        heartbeat = Heartbeat(
            self.epoch, self.state_seq, self.event_seq, self.publisher_map(now), self.counters.as_map()
        )
        return [*actions, Publish(HEARTBEAT_TOPIC, heartbeat)]

    def publisher_map(self, now: float) -> dict[str, Value]:
        return {
            name: PublisherInfo(r.epoch, r.pid, r.synced, round(max(0.0, now - r.last_seen), 3)).to_map()
            for name, r in sorted(self.publishers.items())
        }
