"""Following a node's bus: SubscriberCore behind a SUB and a DEALER socket.

    with Subscriber(runtime_dir("/run/hakeeper"), want_state=False) as events:
        for effect in events.poll(1.0):
            ...

`poll` returns what happened (events delivered, state changes, missed events);
requests to the hub are sent inside it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import zmq

from bus.endpoints import Curve, Endpoints, TcpEndpoint, readable, secure_client
from bus.hub_core import EVENT_TOPIC, HEARTBEAT_TOPIC, STATE_TOPIC
from bus.messages import BadFrame, Batch, Counters, decode, encode, unbatch
from bus.subscriber_core import Effect, Request, Start, SubscriberCore

log = logging.getLogger("hakeeper.bus")

RECEIVE_MAX_FRAME = 64 * 1024 * 1024  # a snapshot of a large node, or a long resume
RECEIVE_HWM = 100_000


class Subscriber:
    def __init__(
        self,
        where: Path | TcpEndpoint,
        *,
        want_state: bool = True,
        want_events: bool = True,
        since: tuple[int, int] | Start = Start.NOW,
        prefix: str = "",
        silence_timeout: float = 3.5,
        curve: Curve | None = None,
        receive_hwm: int = RECEIVE_HWM,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.core = SubscriberCore(
            clock(),
            want_state=want_state,
            want_events=want_events,
            since=since,
            prefix=prefix,
            silence_timeout=silence_timeout,
        )
        self.counters = Counters()
        if isinstance(where, Path):
            publish, request = Endpoints.in_dir(where).publish, Endpoints.in_dir(where).request
        else:
            publish, request = where.publish, where.request
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._sub: zmq.Socket[bytes] = self._context.socket(zmq.SUB)
        self._req: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        for socket in (self._sub, self._req):
            socket.linger = 0
            socket.rcvhwm = receive_hwm
            socket.setsockopt(zmq.MAXMSGSIZE, RECEIVE_MAX_FRAME)
            secure_client(socket, curve)
        self._sub.setsockopt(zmq.SUBSCRIBE, HEARTBEAT_TOPIC)
        if want_state:
            self._sub.setsockopt(zmq.SUBSCRIBE, STATE_TOPIC)
        if want_events:
            self._sub.setsockopt(zmq.SUBSCRIBE, EVENT_TOPIC)
        # Subscribe before asking for the snapshot, so that nothing falls between the two.
        self._sub.connect(publish)
        self._req.connect(request)
        self._poller = zmq.Poller()
        self._poller.register(self._sub, zmq.POLLIN)
        self._poller.register(self._req, zmq.POLLIN)
        self._started = False

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def poll(self, timeout: float) -> list[Effect]:
        """Wait up to `timeout` seconds for something to happen; return what did."""
        out: list[Effect] = []
        if not self._started:
            self._started = True
            self._handle(self.core.start(self.clock()), out)
        deadline = self.clock() + timeout
        while True:
            wait = max(0.0, min(deadline, self.core.next_deadline()) - self.clock())
            ready = dict(self._poller.poll(math.ceil(wait * 1000)))
            if self._req in ready:
                self._drain(self._req, reply=True, out=out)
            if self._sub in ready:
                self._drain(self._sub, reply=False, out=out)
            self._handle(self.core.tick(self.clock()), out)
            if out or self.clock() >= deadline:
                return out

    @property
    def sockets(self) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        """For a caller's own poll loop: call `process()` when either is readable or at `next_deadline()`."""
        return self._sub, self._req

    def process(self) -> list[Effect]:
        """Take what has arrived and run the timers, without waiting."""
        out: list[Effect] = []
        if not self._started:
            self._started = True
            self._handle(self.core.start(self.clock()), out)
        self._drain(self._req, reply=True, out=out)
        self._drain(self._sub, reply=False, out=out)
        self._handle(self.core.tick(self.clock()), out)
        return out

    def next_deadline(self) -> float:
        return self.core.next_deadline()

    def refresh_events(self) -> None:
        """SubscriberCore.refresh_events: `core.caught_up` says when the answer has come."""
        self._handle(self.core.refresh_events(self.clock()), [])

    def follow(self, timeout: float = 1.0) -> Iterator[Effect]:
        """Every effect, forever (for `hakeeper events --follow` and long-running consumers)."""
        while True:
            yield from self.poll(timeout)

    def _drain(self, socket: zmq.Socket[bytes], reply: bool, out: list[Effect]) -> None:
        for _ in range(10_000):
            if not readable(socket):
                return
            frames = socket.recv_multipart(zmq.NOBLOCK)
            payload = frames[-1] if frames else b""
            if len(frames) != (1 if reply else 2):
                self.counters.drop(log, "bus subscriber", "bad_frames", f"{len(frames)} frames")
                continue
            try:
                message = decode(payload, RECEIVE_MAX_FRAME)
            except BadFrame as bad:
                self.counters.drop(log, "bus subscriber", bad.reason, bad.detail)
                continue
            now = self.clock()
            if reply:
                self._handle(self.core.on_reply(message, now), out)
                continue
            try:
                inner = unbatch(message) if isinstance(message, Batch) else [message]
            except BadFrame as bad:
                self.counters.drop(log, "bus subscriber", bad.reason, bad.detail)
                continue
            for one in inner:
                self._handle(self.core.on_message(one, now), out)

    def _handle(self, effects: list[Effect], out: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Request):
                try:
                    self._req.send(encode(effect.message), zmq.NOBLOCK)
                except zmq.Again:
                    self.counters.add("request_would_block")  # the silence timer asks again
            else:
                out.append(effect)

    def close(self) -> None:
        for socket in (self._sub, self._req):
            socket.close(linger=0)
        if self._own_context:
            self._context.term()
