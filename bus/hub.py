"""The hub process: HubCore behind ZeroMQ sockets.

    services --DEALER--> [ROUTER ingest]  hub  [PUB publish]  --SUB--> subscribers
                                               [ROUTER request] <-DEALER- subscribers

A PUB socket never blocks: a subscriber that stops reading loses messages at its
high-water mark, sees the gap in the sequence and resyncs. Frames that are not
valid messages are counted by reason and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from bus.endpoints import (
    Endpoints,
    TcpEndpoint,
    readable,
    restrict_socket_files,
    secure_server,
)
from bus.hub_core import DEFAULT_HISTORY, HubCore, Publish, Reply
from bus.messages import BadFrame, Message, decode, encode, encode_batch, new_epoch
from bus.runtime_dir import ensure_runtime_dir

log = logging.getLogger("hakeeper.bus")

INGEST_MAX_FRAME = 16 * 1024 * 1024  # a service's complete state
REQUEST_MAX_FRAME = 64 * 1024
SOCKET_MAX_MESSAGE = 64 * 1024 * 1024  # beyond this ZeroMQ drops the peer before we see it
PUBLISH_HWM = 100_000
DRAIN_BATCH = 1000  # messages taken from one socket before the others get a turn


class Hub:
    def __init__(
        self,
        runtime_dir: Path,
        *,
        history_size: int = DEFAULT_HISTORY,
        heartbeat_interval: float = 1.0,
        tcp: TcpEndpoint | None = None,
        publish_hwm: int = PUBLISH_HWM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.publish_hwm = publish_hwm
        self.clock = clock
        self.core = HubCore(new_epoch(), clock(), history_size, heartbeat_interval)
        self.tcp = tcp
        self._context = zmq.Context()
        self._auth: object | None = None
        self._ingest = self._socket(zmq.ROUTER)
        self._publish = [self._socket(zmq.PUB)]
        self._request = [self._socket(zmq.ROUTER)]
        self._closed = False
        self._ready: list[Publish] = []  # published while draining; sent together afterwards

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] = self._context.socket(kind)
        socket.linger = 0
        socket.setsockopt(zmq.MAXMSGSIZE, SOCKET_MAX_MESSAGE)
        if kind == zmq.PUB:
            socket.sndhwm = self.publish_hwm
        if kind == zmq.ROUTER:
            socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        return socket

    def bind(self) -> None:
        ensure_runtime_dir(self.runtime_dir)
        endpoints = Endpoints.in_dir(self.runtime_dir)
        for path in Endpoints.socket_paths(self.runtime_dir):
            # A socket file left by a previous hub would make bind fail for no reason.
            if path.is_socket():
                path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._ingest.bind(endpoints.ingest)
            self._publish[0].bind(endpoints.publish)
            self._request[0].bind(endpoints.request)
        finally:
            os.umask(old_umask)
        restrict_socket_files(self.runtime_dir)
        if self.tcp is not None:
            self._bind_tcp(self.tcp)
        log.info("bus hub epoch %d listening in %s", self.core.epoch, self.runtime_dir)

    def _bind_tcp(self, tcp: TcpEndpoint) -> None:
        if tcp.curve is not None:
            self._start_authenticator(tcp)
        publish = self._socket(zmq.PUB)
        request = self._socket(zmq.ROUTER)
        for socket, url in ((publish, tcp.publish), (request, tcp.request)):
            secure_server(socket, tcp.curve)
            socket.bind(url)
        self._publish.append(publish)
        self._request.append(request)
        log.info("bus hub also on %s and %s%s", tcp.publish, tcp.request, " (CURVE)" if tcp.curve else "")

    def _start_authenticator(self, tcp: TcpEndpoint) -> None:
        from zmq.auth.thread import ThreadAuthenticator  # noqa: PLC0415 - only CURVE endpoints need it

        auth = ThreadAuthenticator(self._context)
        auth.start()
        if tcp.allowed_clients:
            auth.configure_curve(domain="*", location=tcp.allowed_clients)
        else:
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        self._auth = auth

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event | None = None, wake_fd: int | None = None) -> None:
        """Serve until `stop` is set (or forever). Whoever sets `stop` from a signal handler
        should also make `wake_fd` readable (signal.set_wakeup_fd): the hub then sleeps until
        its next deadline instead of looking at `stop` ten times a second."""
        poller = zmq.Poller()
        poller.register(self._ingest, zmq.POLLIN)
        for socket in self._request:
            poller.register(socket, zmq.POLLIN)
        if wake_fd is not None:
            poller.register(wake_fd, zmq.POLLIN)
        max_wait = 0.1 if stop is not None and wake_fd is None else 1.0
        while stop is None or not stop.is_set():
            ready = self.run_once(poller, max_wait)
            if wake_fd is not None and wake_fd in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_fd, 512)

    def run_once(self, poller: zmq.Poller, max_wait: float) -> dict[Any, int]:
        now = self.clock()
        wait = max(0.0, min(max_wait, self.core.next_deadline() - now))
        # Rounded up: rounded down, a wait shorter than a millisecond would spin until the deadline.
        ready = dict(poller.poll(math.ceil(wait * 1000)))
        if self._ingest in ready:
            self._drain(self._ingest, INGEST_MAX_FRAME, self.core.from_publisher)
        for socket in self._request:
            if socket in ready:
                self._drain(socket, REQUEST_MAX_FRAME, self.core.request)
        self._perform(self.core.tick(self.clock()), self._ingest)
        self._publish_ready()
        return ready

    def _drain(
        self,
        socket: zmq.Socket[bytes],
        max_frame: int,
        handle: Callable[[bytes, Message, float], list[Reply | Publish]],
    ) -> None:
        for _ in range(DRAIN_BATCH):
            if not readable(socket):
                return
            frames = socket.recv_multipart(zmq.NOBLOCK)
            if len(frames) != 2:
                self.core.counters.drop(log, "bus hub", "bad_frames", f"{len(frames)} frames")
                continue
            identity, payload = frames
            try:
                message = decode(payload, max_frame)
            except BadFrame as bad:
                self.core.counters.drop(log, "bus hub", bad.reason, bad.detail)
                continue
            self._perform(handle(identity, message, self.clock()), socket)

    def _perform(self, actions: list[Reply | Publish], reply_socket: zmq.Socket[bytes]) -> None:
        for action in actions:
            if isinstance(action, Publish):
                self._ready.append(action)
                continue
            try:
                reply_socket.send_multipart([action.identity, encode(action.message)], zmq.NOBLOCK)
            except zmq.Again:
                self.core.counters.add("reply_dropped_hwm")

    def _publish_ready(self) -> None:
        """Send what was published, batching runs of the same kind (state, events) into one frame each."""
        ready, self._ready = self._ready, []
        start = 0
        while start < len(ready):
            kind = ready[start].topic[:1]
            end = start + 1
            while end < len(ready) and ready[end].topic[:1] == kind:
                end += 1
            if end - start == 1:
                frames = [ready[start].topic, encode(ready[start].message)]
            else:
                frames = [kind, encode_batch([p.message for p in ready[start:end]])]
            for socket in self._publish:
                socket.send_multipart(frames, zmq.NOBLOCK)
            start = end

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._auth is not None:
            self._auth.stop()  # type: ignore[attr-defined]
        for socket in (self._ingest, *self._publish, *self._request):
            socket.close(linger=0)
        self._context.term()
        for path in Endpoints.socket_paths(self.runtime_dir):
            if path.is_socket():
                path.unlink()
