"""A publisher's side of the bus without sockets or clocks.

A service owns some keys of the node's state and posts events. Until the hub
has acknowledged a message, the message is kept; whenever the hub welcomes
the publisher (at start, after the hub restarts, or after anything was lost)
the publisher sends its complete state and every unacknowledged event again,
numbered from what the hub says it has. Nothing posted is lost unless the
outbox overflows, which is counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from bus.messages import (
    Ack,
    Counters,
    EventPost,
    Hello,
    Message,
    Ping,
    StateSet,
    StateSync,
    Unknown,
    Value,
    Welcome,
)

DEFAULT_OUTBOX = 100_000


@dataclass(frozen=True)
class Send:
    message: Message


Outgoing = StateSet | StateSync | EventPost


class PublisherCore:
    def __init__(
        self,
        name: str,
        epoch: int,
        pid: int,
        now: float,
        *,
        ping_interval: float = 1.0,
        hub_timeout: float = 3.0,
        outbox_size: int = DEFAULT_OUTBOX,
    ) -> None:
        self.name = name
        self.epoch = epoch
        self.pid = pid
        self.state: dict[str, Value] = {}
        self.counters = Counters()
        self.hub_epoch: int | None = None
        self.welcomed = False
        self.ping_interval = ping_interval
        self.hub_timeout = hub_timeout
        self.outbox_size = outbox_size
        self._seq = 0  # the last sequence number given out; it never goes back
        self._sent_high = 0  # the last sequence number actually sent
        self._event_id = 0  # the last event id given out
        # Messages the hub has not acknowledged, oldest first; those from _sent on are not sent yet.
        self._outbox: deque[Outgoing] = deque()
        self._sent = 0
        self._last_heard = now
        self._next_ping = now

    # ----------------------------------------------------------------- API

    def start(self, now: float) -> list[Send]:
        self._last_heard = now
        self._next_ping = now + self.ping_interval
        return [Send(Hello(self.name, self.epoch, self.pid))]

    def set(self, key: str, value: Value) -> list[Send]:
        if key in self.state and self.state[key] == value:
            return []
        self.state[key] = value
        return self._queue(StateSet(self.name, self.epoch, 0, key, value))

    def delete(self, key: str) -> list[Send]:
        if key not in self.state:
            return []
        del self.state[key]
        return self._queue(StateSet(self.name, self.epoch, 0, key, None, True))

    def post(self, topic: str, data: dict[str, Value], time: float) -> list[Send]:
        self._event_id += 1
        return self._queue(EventPost(self.name, self.epoch, 0, self._event_id, topic, data, time))

    @property
    def unacked(self) -> int:
        return len(self._outbox)

    # ------------------------------------------------------------- replies

    def on_reply(self, message: Message, now: float) -> list[Send]:
        if isinstance(message, Welcome):
            self._last_heard = now
            self.hub_epoch = message.hub_epoch
            self.welcomed = True
            return self._resend_from(message.acked)
        if isinstance(message, Ack):
            self._last_heard = now
            if self.hub_epoch is not None and message.hub_epoch != self.hub_epoch:
                # The hub restarted: it must hear from us again.
                self.counters.add("hub_restarts")
                self.welcomed = False
                return [Send(Hello(self.name, self.epoch, self.pid))]
            self._trim(message.acked)
            return self._send_unsent()
        if isinstance(message, Unknown):
            self._last_heard = now
            self.welcomed = False
            return [Send(Hello(self.name, self.epoch, self.pid))]
        self.counters.add("drop_unexpected_reply")
        return []

    def tick(self, now: float) -> list[Send]:
        if now < self._next_ping:
            return []
        self._next_ping = now + self.ping_interval
        if now - self._last_heard > self.hub_timeout:
            # The hub is gone or restarting: keep introducing ourselves until it answers.
            self.welcomed = False
            return [Send(Hello(self.name, self.epoch, self.pid))]
        if not self.welcomed:
            return [Send(Hello(self.name, self.epoch, self.pid))]
        return [Send(Ping(self.name, self.epoch, self._sent_high)), *self._send_unsent()]

    def next_deadline(self) -> float:
        return self._next_ping

    def mark_unsent(self, messages: Sequence[Message]) -> None:
        """The socket would have blocked: these (the last ones sent) go out with the next send."""
        queued = [m for m in messages if isinstance(m, (StateSet, StateSync, EventPost))]
        self._sent = max(0, self._sent - len(queued))
        if queued:
            self._sent_high = min(self._sent_high, queued[0].seq - 1)

    # ------------------------------------------------------------ internals

    def _queue(self, message: StateSet | EventPost) -> list[Send]:
        if len(self._outbox) >= self.outbox_size:
            self._outbox.popleft()
            self._sent = max(0, self._sent - 1)
            self.counters.add("outbox_overflow")
        self._seq += 1
        self._outbox.append(_renumber(message, self._seq))
        return self._send_unsent()

    def _trim(self, acked: int) -> None:
        while self._outbox and self._outbox[0].seq <= acked:
            self._outbox.popleft()
            self._sent = max(0, self._sent - 1)

    def _resend_from(self, acked: int) -> list[Send]:
        """Everything the hub does not have, again: our whole state, then the events.

        The numbering only moves forward: a Welcome may be out of date, and numbers the hub
        has already taken must not be given to new messages. The hub takes the StateSync as
        a new base, and knows the events it already has by their ids.
        """
        events = [m for m in self._outbox if isinstance(m, EventPost) and m.seq > acked]
        self._outbox.clear()
        self._sent = 0
        self._seq += 1
        self._outbox.append(StateSync(self.name, self.epoch, self._seq, dict(self.state)))
        for event in events:
            self._seq += 1
            self._outbox.append(_renumber(event, self._seq))
        return self._send_unsent()

    def _send_unsent(self) -> list[Send]:
        if not self.welcomed or self._sent >= len(self._outbox):
            return []
        sends = [Send(self._outbox[i]) for i in range(self._sent, len(self._outbox))]
        self._sent = len(self._outbox)
        self._sent_high = self._outbox[-1].seq
        return sends


def _renumber(message: StateSet | EventPost, seq: int) -> StateSet | EventPost:
    if isinstance(message, StateSet):
        return StateSet(message.name, message.epoch, seq, message.key, message.value, message.deleted)
    return EventPost(message.name, message.epoch, seq, message.id, message.topic, message.data, message.time)
