"""A subscriber's side of the bus without sockets or clocks: the Clone pattern's client.

State: subscribe first, then take a snapshot, then apply the queued updates
newer than it. Events: resume from a cursor `(hub epoch, sequence)` and then
follow the stream. A gap in a sequence, a new hub epoch, a heartbeat showing
more than was received, or silence all lead to a resync, so that every event
is delivered once and in order, and the state mirror is never stale. What the
hub can no longer deliver is reported as `Missed`, never silently skipped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bus.messages import (
    Event,
    Heartbeat,
    Message,
    Resume,
    ResumeRequest,
    Snapshot,
    SnapshotRequest,
    StateUpdate,
    Value,
    event_from_map,
)


@dataclass(frozen=True)
class Request:
    """Send this to the hub's request socket."""

    message: Message


@dataclass(frozen=True)
class EventDelivered:
    event: Event


@dataclass(frozen=True)
class StateChanged:
    key: str
    value: Value
    deleted: bool
    publisher: str


@dataclass(frozen=True)
class StateReset:
    """A snapshot replaced the whole mirror (at start, or after a resync)."""

    items: dict[str, Value]


@dataclass(frozen=True)
class Missed:
    """Events that cannot be delivered: the history no longer reaches back, or the hub restarted."""

    count: int
    epoch_changed: bool
    hub_epoch: int


Effect = Request | EventDelivered | StateChanged | StateReset | Missed


class Start(enum.Enum):
    """Where an event subscription starts when no cursor is given."""

    NOW = "now"  # only events from now on
    HISTORY = "history"  # everything the hub still holds


@dataclass
class _Stream:
    awaiting: bool = False
    sent_at: float = 0.0  # when the outstanding request went out
    request: tuple[int, int] | None = None  # the outstanding resume request's cursor
    buffer: list[Message] = field(default_factory=list)


class SubscriberCore:
    def __init__(
        self,
        now: float,
        *,
        want_state: bool = True,
        want_events: bool = True,
        since: tuple[int, int] | Start = Start.NOW,
        prefix: str = "",
        silence_timeout: float = 3.5,
    ) -> None:
        self.want_state = want_state
        self.want_events = want_events
        self.prefix = prefix
        self.silence_timeout = silence_timeout
        self.state_epoch: int | None = None  # the hub epoch the state mirror belongs to
        self.event_epoch: int | None = None  # the hub epoch event_seq counts in
        self.state: dict[str, Value] = {}
        self.state_seq = -1  # no snapshot yet
        self.event_seq = 0
        self.publishers: dict[str, Value] = {}
        self.counters: dict[str, Value] = {}
        self.resyncs = 0
        self._since = since
        self._report_missed = isinstance(since, tuple)
        self._states = _Stream()
        self._events = _Stream()
        self._last_heard = now
        self._now = now
        self._resumed = False  # a resume reply has been processed
        if isinstance(since, tuple):
            self.event_epoch, self.event_seq = since

    @property
    def cursor(self) -> tuple[int, int] | None:
        """(hub epoch, last event delivered): persist it to resume later."""
        return None if self.event_epoch is None else (self.event_epoch, self.event_seq)

    @property
    def caught_up(self) -> bool:
        """Everything the hub held when we started has been delivered (and the snapshot taken)."""
        state_ready = not self.want_state or (self.state_epoch is not None and not self._states.awaiting)
        events_ready = not self.want_events or (self._resumed and not self._events.awaiting)
        return state_ready and events_ready

    @property
    def hub_epoch(self) -> int | None:
        return self.state_epoch if self.state_epoch is not None else self.event_epoch

    # ------------------------------------------------------------------ start

    def start(self, now: float) -> list[Effect]:
        self._last_heard = self._now = now
        effects: list[Effect] = []
        if self.want_state:
            effects += self._snapshot()
        if self.want_events:
            effects += self._resume()
        return effects

    # --------------------------------------------------------- published

    def on_message(self, message: Message, now: float) -> list[Effect]:
        self._last_heard = self._now = now
        if isinstance(message, Heartbeat):
            return self._heartbeat(message)
        if isinstance(message, StateUpdate) and self.want_state:
            return self._state_update(message)
        if isinstance(message, Event) and self.want_events:
            return self._event(message)
        return []

    def _heartbeat(self, heartbeat: Heartbeat) -> list[Effect]:
        self.publishers = heartbeat.publishers
        self.counters = heartbeat.counters
        effects: list[Effect] = []
        if (
            self.want_state
            and not self._states.awaiting
            and (heartbeat.hub_epoch != self.state_epoch or heartbeat.state_seq > self.state_seq)
        ):
            effects += self._snapshot()
        if (
            self.want_events
            and not self._events.awaiting
            and (heartbeat.hub_epoch != self.event_epoch or heartbeat.event_seq > self.event_seq)
        ):
            effects += self._resume()
        return effects

    def _state_update(self, update: StateUpdate) -> list[Effect]:
        if self._states.awaiting:
            self._states.buffer.append(update)
            return []
        if update.hub_epoch != self.state_epoch or update.seq > self.state_seq + 1:
            self._states.buffer.append(update)
            return self._snapshot()
        if update.seq <= self.state_seq:
            return []
        return self._apply(update)

    def _event(self, event: Event) -> list[Effect]:
        if self._events.awaiting:
            self._events.buffer.append(event)
            return []
        if event.hub_epoch != self.event_epoch or event.seq > self.event_seq + 1:
            self._events.buffer.append(event)
            return self._resume()
        if event.seq <= self.event_seq:
            return []
        self.event_seq = event.seq
        return [EventDelivered(event)] if event.topic.startswith(self.prefix) else []

    # ----------------------------------------------------------- replies

    def on_reply(self, message: Message, now: float) -> list[Effect]:
        self._last_heard = self._now = now
        if isinstance(message, Snapshot) and self.want_state:
            return self._snapshot_reply(message)
        if isinstance(message, Resume) and self.want_events:
            return self._resume_reply(message)
        return []

    def _snapshot_reply(self, snapshot: Snapshot) -> list[Effect]:
        if snapshot.hub_epoch == self.state_epoch and snapshot.state_seq < self.state_seq:
            return []  # an older answer overtaken by a newer one
        self.state_epoch = snapshot.hub_epoch
        self.publishers = snapshot.publishers
        self.counters = snapshot.counters
        self.state = {key: item["value"] for key, item in snapshot.items.items() if isinstance(item, dict)}
        self.state_seq = snapshot.state_seq
        self._states.awaiting = False
        effects: list[Effect] = [StateReset(dict(self.state))]
        buffered = sorted((u for u in self._states.buffer if isinstance(u, StateUpdate)), key=lambda u: u.seq)
        self._states.buffer.clear()
        for update in buffered:
            if update.hub_epoch != snapshot.hub_epoch or update.seq <= self.state_seq:
                continue
            if update.seq != self.state_seq + 1:
                return effects + self._snapshot()
            effects += self._apply(update)
        return effects

    def _resume_reply(self, reply: Resume) -> list[Effect]:
        if not self._events.awaiting or self._events.request != (reply.request_epoch, reply.request_after):
            return []  # the answer to a request that has been replaced: what it says is out of date
        effects: list[Effect] = []
        if reply.epoch_changed or (self.event_epoch is not None and reply.hub_epoch != self.event_epoch):
            self.event_seq = 0
        if (reply.missed or reply.epoch_changed) and self._report_missed:
            effects.append(Missed(reply.missed, reply.epoch_changed, reply.hub_epoch))
        self._report_missed = True
        self.event_epoch = reply.hub_epoch
        for data in reply.events:
            event = event_from_map(data)
            if event.seq > self.event_seq:
                self.event_seq = event.seq
                if event.topic.startswith(self.prefix):
                    effects.append(EventDelivered(event))
        if reply.more:
            return effects + self._resume()
        self.event_seq = max(self.event_seq, reply.last_seq)
        self._events.awaiting = False
        self._resumed = True
        buffered = sorted((e for e in self._events.buffer if isinstance(e, Event)), key=lambda e: e.seq)
        self._events.buffer.clear()
        for event in buffered:
            if event.hub_epoch != self.event_epoch or event.seq <= self.event_seq:
                continue
            if event.seq != self.event_seq + 1:
                self._events.buffer.extend(e for e in buffered if e.seq > self.event_seq)
                return effects + self._resume()
            self.event_seq = event.seq
            if event.topic.startswith(self.prefix):
                effects.append(EventDelivered(event))
        return effects

    def refresh_events(self, now: float) -> list[Effect]:
        """Ask the hub for whatever it holds after the cursor now (a consumer about to stop
        makes sure it has seen everything published before it was asked to)."""
        self._now = now
        if not self.want_events or self._events.awaiting:
            return []
        return self._resume()

    # ------------------------------------------------------------- timers

    def tick(self, now: float) -> list[Effect]:
        self._now = now
        effects: list[Effect] = []
        silent = now - self._last_heard > self.silence_timeout
        if silent:
            # Nothing from the hub, not even a heartbeat: ask again from where we are.
            self._last_heard = now
        # An unanswered request is asked again, whatever the heartbeats say: it or its reply was lost.
        if self.want_state and (silent or self._overdue(self._states, now)):
            effects += self._snapshot()
        if self.want_events and (silent or self._overdue(self._events, now)):
            effects += self._resume()
        return effects

    def _overdue(self, stream: _Stream, now: float) -> bool:
        return stream.awaiting and now - stream.sent_at > self.silence_timeout

    def next_deadline(self) -> float:
        deadline = self._last_heard + self.silence_timeout
        for stream in (self._states, self._events):
            if stream.awaiting:
                deadline = min(deadline, stream.sent_at + self.silence_timeout)
        return deadline

    # ---------------------------------------------------------- internals

    def _snapshot(self) -> list[Effect]:
        self.resyncs += 1
        self._states.awaiting = True
        self._states.sent_at = self._now
        return [Request(SnapshotRequest(self.prefix))]

    def _resume(self) -> list[Effect]:
        self.resyncs += 1
        if self._resumed or isinstance(self._since, tuple):
            cursor = (self.event_epoch or 0, self.event_seq)
        else:
            # Until the first answer, the start asked for still holds ("now" or "all the history").
            cursor = (0, -1 if self._since is Start.NOW else 0)
        self._events.awaiting = True
        self._events.sent_at = self._now
        self._events.request = cursor
        return [Request(ResumeRequest(*cursor))]

    def _apply(self, update: StateUpdate) -> list[Effect]:
        self.state_seq = update.seq
        if not update.key.startswith(self.prefix):
            return []
        if update.deleted:
            self.state.pop(update.key, None)
        else:
            self.state[update.key] = update.value
        return [StateChanged(update.key, update.value, update.deleted, update.publisher)]
