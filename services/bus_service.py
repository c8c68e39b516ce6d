"""`hakeeper service bus`: the node's bus hub, as a supervised program."""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bus.endpoints import TcpEndpoint, load_curve_keys
from bus.hub import Hub
from bus.runtime_dir import EndpointError
from services.forked import ChildFailed, run_in_child

log = logging.getLogger("hakeeper.bus")


@dataclass(frozen=True)
class BusSettings:
    history: int = 10_000
    tcp: TcpEndpoint | None = None


def settings_from(
    config_file: str | None, tcp: str | None, curve_key: str | None, curve_clients: str | None, history: int | None
) -> BusSettings:
    """Command-line flags win over the hakeeper_bus_* keywords of global_defs."""
    tcp_host: str | None = None
    tcp_port = 0
    key_file = curve_key
    clients = curve_clients
    size = history
    if config_file is not None:
        try:
            defs = run_in_child(lambda: _bus_keywords(config_file))
        except ChildFailed as exc:
            raise EndpointError(f"cannot read {config_file}: {exc}") from None
        if defs is None:
            raise EndpointError(f"cannot read {config_file}")
        if defs["tcp"] is not None:
            tcp_host, tcp_port = defs["tcp"]
        key_file = key_file or defs["curve_key"]
        clients = clients or defs["curve_clients"]
        size = size or defs["history"]
    if tcp is not None:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            raise EndpointError(f"--bus-tcp wants [ADDRESS:]PORT, not {tcp!r}")
        tcp_host, tcp_port = host.strip("[]") or "127.0.0.1", int(port)
    endpoint = None
    if tcp_host is not None:
        curve = load_curve_keys(key_file) if key_file else None
        endpoint = TcpEndpoint(tcp_host, tcp_port, curve, clients)
    return BusSettings(size or 10_000, endpoint)


def _bus_keywords(config_file: str) -> dict[str, Any] | None:
    """The hakeeper_bus_* keywords (None: the configuration cannot be read). Run in a child: the
    hub itself never loads the configuration's model."""
    from conf.diagnostics import Severity  # noqa: PLC0415
    from conf.load import load  # noqa: PLC0415

    loaded = load(config_file)
    if loaded.diagnostics.worst == Severity.FATAL:
        return None
    defs = loaded.config.global_defs
    tcp = defs.hakeeper_bus_tcp
    return {
        "tcp": None if tcp is None else [tcp.host, tcp.port],
        "curve_key": defs.hakeeper_bus_curve_key,
        "curve_clients": defs.hakeeper_bus_curve_clients,
        "history": defs.hakeeper_bus_history,
    }


def serve(runtime_dir: Path, settings: BusSettings) -> int:
    hub = Hub(runtime_dir, history_size=settings.history, tcp=settings.tcp)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    # A reload does not concern the hub: its state lives on, and services resend theirs.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        hub.bind()
        hub.run(stop, wake_read)
    finally:
        hub.close()
        signal.set_wakeup_fd(-1)
        os.close(wake_read)
        os.close(wake_write)
    log.info("bus hub stopped")
    return 0
