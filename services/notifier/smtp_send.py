"""Send one mail over TCP the way keepalived does, blocking: smtp_dialog.Dialog on a socket.

keepalived 2.2.7's keepalived/core/smtp.c bounds the connect and every read by
smtp_connect_timeout (global_data->smtp_connection_to); so does deliver() here, and every write
too. The DeliveryError texts are the ones smtp.c logs for each failure.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket

from services.notifier.smtp_dialog import SMTP_BUFFER_MAX, Dialog, Envelope


class DeliveryError(Exception):
    """The mail was not delivered; str() is keepalived's log line, `detail` the system's reason if any."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


def server_text(host: str, port: int) -> str:
    """keepalived's FMT_SMTP_HOST(), inet_sockaddrtopair(): "[192.0.2.1]:25", "[2001:db8::1]:25"."""
    # a host name stays as written until it is resolved
    with contextlib.suppress(ValueError):
        host = str(ipaddress.ip_address(host))
    return f"[{host}]:{port}"


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[object, ...], str]:
    """The family, the socket address and the address as text of the server's first address."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        # keepalived resolves smtp_server once, when reading its configuration (global_parser.c)
        raise DeliveryError(f"Invalid smtp server {host} {port}", str(e)) from e
    # like keepalived's domain_stosockaddr(), the first address only
    for family, _type, _proto, _name, address in found[:1]:
        if isinstance(address[0], str):
            return family, address, address[0]
    raise DeliveryError(f"Invalid smtp server {host} {port}", "no IPv4 or IPv6 address")


def deliver(host: str, port: int, envelope: Envelope, timeout: float) -> None:
    """Send `envelope` to the SMTP server at host:port; raise DeliveryError unless it took the data.

    `host` is an IPv4 or IPv6 address, or a name for getaddrinfo (whose own wait `timeout` cannot
    bound). The connect, each read and each write may take up to `timeout` seconds.
    """
    family, address, address_text = _resolve(host, port)
    server = server_text(address_text, port)
    try:
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    except OSError as e:
        raise DeliveryError(f"SMTP connection ERROR to {server}.", str(e)) from e
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except TimeoutError as e:
            # Python's TimeoutError is both socket.timeout (our timer, smtp.c connection_in_progress())
            # and ETIMEDOUT from the kernel (socket_state() -> connect_timeout, connection_timeout())
            if e.errno == errno.ETIMEDOUT:
                raise DeliveryError(f"Timeout connecting SMTP server {server}.", str(e)) from e
            raise DeliveryError(f"Timeout opening connection to remote SMTP server {server}.") from e
        except OSError as e:
            raise DeliveryError(f"SMTP connection ERROR to {server}.", e.strerror or str(e)) from e
        _converse(sock, Dialog(envelope, server), server)


def _converse(sock: socket.socket, dialog: Dialog, server: str) -> None:
    """Run the dialog to its end; raise DeliveryError unless the server took the data."""
    failure: DeliveryError | None = None
    while not dialog.done and failure is None:
        try:
            received = sock.recv(SMTP_BUFFER_MAX)
        except TimeoutError:
            failure = DeliveryError(f"Timeout reading data to remote SMTP server {server}.")
            _say_goodbye(sock, dialog)
        except OSError as e:
            failure = DeliveryError(f"Error reading data from remote SMTP server {server}.", e.strerror or str(e))
            _say_goodbye(sock, dialog)
        else:
            if received:
                failure = _send(sock, dialog.feed(received), server)
            else:
                failure = DeliveryError(f"Remote SMTP server {server} has closed the connection.")
    if dialog.sent:
        return
    if dialog.error is not None:
        # the server's refusal says more than how the goodbye after it went
        raise DeliveryError(dialog.error)
    if failure is None:  # pragma: no cover - a dialog ends only with the data taken or an error
        failure = DeliveryError(f"SMTP connection ERROR to {server}.", "the conversation ended unfinished")
    raise failure


def _say_goodbye(sock: socket.socket, dialog: Dialog) -> None:
    # keepalived sends QUIT after a read timeout or read error, and does not wait for the answer
    with contextlib.suppress(OSError):
        sock.sendall(b"".join(dialog.quit()))


def _send(sock: socket.socket, chunks: list[bytes], server: str) -> DeliveryError | None:
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except OSError as e:
            return DeliveryError(f"Cannot send data to remote SMTP server {server}.", e.strerror or str(e))
    return None
