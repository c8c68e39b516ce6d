"""A service's connection to the hub: PublisherCore behind a DEALER socket.

The service calls `set`, `delete` and `post` whenever it likes; none of them
blocks. It calls `process()` when `socket` is readable or `next_deadline()` has
come, typically from its own poll loop.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from bus.endpoints import Endpoints, readable
from bus.messages import BadFrame, Value, decode, encode, new_publisher_epoch
from bus.publisher_core import PublisherCore, Send

log = logging.getLogger("hakeeper.bus")

REPLY_MAX_FRAME = 64 * 1024
SEND_HWM = 100_000


class Publisher:
    def __init__(
        self,
        name: str,
        runtime_dir: Path,
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        ping_interval: float = 1.0,
        hub_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self.core = PublisherCore(
            name, new_publisher_epoch(), os.getpid(), clock(), ping_interval=ping_interval, hub_timeout=hub_timeout
        )
        self._own_context = context is None
        self._context = context or zmq.Context()
        self.socket: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.sndhwm = SEND_HWM
        self.socket.setsockopt(zmq.MAXMSGSIZE, REPLY_MAX_FRAME)
        self.socket.connect(Endpoints.in_dir(runtime_dir).ingest)
        self._send(self.core.start(clock()))

    @property
    def name(self) -> str:
        return self.core.name

    @property
    def epoch(self) -> int:
        return self.core.epoch

    def set(self, key: str, value: Value) -> None:
        self._send(self.core.set(key, value))

    def delete(self, key: str) -> None:
        self._send(self.core.delete(key))

    def post(self, topic: str, data: dict[str, Value]) -> None:
        self._send(self.core.post(topic, data, self.wall_clock()))

    def process(self) -> None:
        """Take the hub's replies and run the timers; never blocks."""
        while readable(self.socket):
            frames = self.socket.recv_multipart(zmq.NOBLOCK)
            if len(frames) != 1:
                self.core.counters.drop(log, f"bus publisher {self.name}", "bad_frames", f"{len(frames)} frames")
                continue
            try:
                message = decode(frames[0], REPLY_MAX_FRAME)
            except BadFrame as bad:
                self.core.counters.drop(log, f"bus publisher {self.name}", bad.reason, bad.detail)
                continue
            self._send(self.core.on_reply(message, self.clock()))
        self._send(self.core.tick(self.clock()))

    def next_deadline(self) -> float:
        return self.core.next_deadline()

    def flush(self, timeout: float) -> bool:
        """Wait until the hub has everything posted so far (at shutdown, in tests)."""
        deadline = self.clock() + timeout
        while self.core.unacked or not self.core.welcomed:
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self.socket.poll(math.ceil(min(remaining, 0.05) * 1000))
            self.process()
        return True

    def _send(self, sends: list[Send]) -> None:
        for index, send in enumerate(sends):
            try:
                self.socket.send(encode(send.message), zmq.NOBLOCK)
            except zmq.Again:
                self.core.counters.add("send_would_block")
                self.core.mark_unsent([s.message for s in sends[index:]])
                return

    def close(self) -> None:
        self.socket.close(linger=0)
        if self._own_context:
            self._context.term()
