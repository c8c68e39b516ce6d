"""Where a node's bus lives: IPC sockets in its runtime directory, and an optional TCP endpoint."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import zmq

from bus.runtime_dir import EndpointError

INGEST_SOCKET = "bus-ingest.sock"  # services -> hub
PUBLISH_SOCKET = "bus-pub.sock"  # hub -> subscribers
REQUEST_SOCKET = "bus-req.sock"  # subscribers <-> hub: snapshots and resumes


@dataclass(frozen=True)
class Endpoints:
    ingest: str
    publish: str
    request: str

    @classmethod
    def in_dir(cls, directory: Path) -> Endpoints:
        return cls(
            ingest=f"ipc://{directory / INGEST_SOCKET}",
            publish=f"ipc://{directory / PUBLISH_SOCKET}",
            request=f"ipc://{directory / REQUEST_SOCKET}",
        )

    @staticmethod
    def socket_paths(directory: Path) -> list[Path]:
        return [directory / name for name in (INGEST_SOCKET, PUBLISH_SOCKET, REQUEST_SOCKET)]


@dataclass(frozen=True)
class Curve:
    """CURVE keys: our pair, and the hub's public key when we are a client."""

    public: bytes
    secret: bytes
    server_public: bytes | None = None


def load_curve_keys(key_file: str, need_secret: bool = True) -> Curve:
    """A certificate written by `hakeeper bus-keys` (or zmq.auth.create_certificates)."""
    import zmq.auth  # noqa: PLC0415 - only TCP endpoints need it

    try:
        public, secret = zmq.auth.load_certificate(key_file)
    except (OSError, ValueError) as exc:
        raise EndpointError(f"cannot read CURVE key {key_file}: {exc}") from None
    if secret is None and need_secret:
        raise EndpointError(f"{key_file} holds no secret key")
    return Curve(public, secret or b"")


def fresh_curve_keys() -> Curve:
    public, secret = zmq.curve_keypair()
    return Curve(public, secret)


def write_curve_keys(directory: Path, name: str) -> tuple[str, str]:
    """NAME.key (public, shareable) and NAME.key_secret (0600) in `directory`."""
    import zmq.auth  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(directory), name)
    Path(secret).chmod(0o600)
    return public, secret


@dataclass(frozen=True)
class TcpEndpoint:
    """The read-only remote endpoint: publish on `port`, requests on `port + 1`."""

    host: str
    port: int
    curve: Curve | None = None
    allowed_clients: str | None = None  # directory of client public keys; None: any client with the hub key
    remote: bool = False  # a client's view of another node's endpoint (any address may be reached)

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65534:
            raise EndpointError(f"bus TCP port {self.port} out of range [1, 65534]")
        if self.remote:
            return
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            raise EndpointError(f"bus TCP address must be an IP address, not {self.host!r}") from None
        if not address.is_loopback and self.curve is None:
            raise EndpointError(
                f"binding the bus to {self.host} (not loopback) needs CURVE keys: "
                "set hakeeper_bus_curve_key in global_defs or pass --bus-curve-key"
            )

    def _url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{port}"

    @property
    def publish(self) -> str:
        return self._url(self.port)

    @property
    def request(self) -> str:
        return self._url(self.port + 1)


def secure_server(socket: zmq.Socket[bytes], curve: Curve | None) -> None:
    if curve is None:
        return
    socket.curve_server = True
    socket.curve_secretkey = curve.secret
    socket.curve_publickey = curve.public


def secure_client(socket: zmq.Socket[bytes], curve: Curve | None) -> None:
    if curve is None or curve.server_public is None:
        return
    socket.curve_serverkey = curve.server_public
    socket.curve_publickey = curve.public
    socket.curve_secretkey = curve.secret


def restrict_socket_files(directory: Path) -> None:
    """IPC sockets are for root (or whoever runs the node): 0600."""
    for path in Endpoints.socket_paths(directory):
        if path.exists():
            path.chmod(0o600)


def readable(socket: zmq.Socket[bytes]) -> bool:
    """A message is waiting (cheaper than a receive that raises zmq.Again when nothing is)."""
    events = socket.get(zmq.EVENTS)
    return isinstance(events, int) and bool(events & zmq.POLLIN)
