"""`hakeeper service bus`: the node's bus hub, as a supervised program."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bus.endpoints import EndpointError, TcpEndpoint, load_curve_keys
from bus.hub import Hub
from conf.diagnostics import Severity
from conf.load import load

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
        loaded = load(config_file)
        if loaded.diagnostics.worst == Severity.FATAL:
            raise EndpointError(f"cannot read {config_file}")
        defs = loaded.config.global_defs
        if defs.hakeeper_bus_tcp is not None:
            tcp_host, tcp_port = defs.hakeeper_bus_tcp.host, defs.hakeeper_bus_tcp.port
        key_file = key_file or defs.hakeeper_bus_curve_key
        clients = clients or defs.hakeeper_bus_curve_clients
        size = size or defs.hakeeper_bus_history
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


def serve(runtime_dir: Path, settings: BusSettings) -> int:
    hub = Hub(runtime_dir, history_size=settings.history, tcp=settings.tcp)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    # A reload does not concern the hub: its state lives on, and services resend theirs.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        hub.bind()
        hub.run(stop)
    finally:
        hub.close()
    log.info("bus hub stopped")
    return 0
