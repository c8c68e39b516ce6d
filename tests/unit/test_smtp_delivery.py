"""services.notifier.smtp_send and mailer against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.notifier import mailer as mailer_module
from services.notifier.mailer import Mailer
from services.notifier.smtp_dialog import Envelope, message_data
from services.notifier.smtp_send import DeliveryError, deliver, server_text

SENDER = "keepalived@example.org"
RECIPIENTS = ("ops@example.org", "oncall@example.org")


def envelope(subject: str, body: str = "=> VRRP Instance is now owning VRRP VIPs <=") -> Envelope:
    data = message_data("Mon, 01 Mar 2021 09:44:08 +0000", SENDER, subject, RECIPIENTS, body)
    return Envelope("node1", SENDER, RECIPIENTS, data)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps every mail, and refuses recipients when told to."""

    refuse_rcpt: str | None = None
    mails: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refuse_rcpt is not None:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.mails.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def taken(self) -> list[Received]:
        with self.lock:
            return list(self.mails)


def free_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_server(handler: Recorder, address: str = "127.0.0.1") -> Iterator[int]:
    controller = Controller(handler, hostname=address, port=free_port(address))
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def port(recorder: Recorder) -> Iterator[int]:
    with smtp_server(recorder) as p:
        yield p


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """Listens but never accepts nor says a word: the kernel completes the handshake all the same."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening, so nothing else takes it meanwhile: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_server_text_is_keepalived_s_address_and_port() -> None:
    assert server_text("192.0.2.1", 25) == "[192.0.2.1]:25"
    assert server_text("2001:db8:0::1", 587) == "[2001:db8::1]:587"
    assert server_text("mail.example.org", 25) == "[mail.example.org]:25"


def test_a_mail_is_delivered_with_keepalived_s_headers(recorder: Recorder, port: int) -> None:
    deliver("127.0.0.1", port, envelope("[node1] VRRP Instance VI_1 - Entering MASTER state"), timeout=5.0)
    [mail] = recorder.taken()
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == list(RECIPIENTS)
    assert mail.content.startswith(b"Date: Mon, 01 Mar 2021 09:44:08 +0000\r\n")
    assert b"\r\nFrom: keepalived@example.org\r\n" in mail.content
    assert b"\r\nSubject: [node1] VRRP Instance VI_1 - Entering MASTER state\r\n" in mail.content
    assert b"\r\nX-Mailer: Keepalived\r\n" in mail.content
    assert b"\r\nTo: ops@example.org, oncall@example.org\r\n" in mail.content
    assert b"\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n" in mail.content


def test_a_host_name_is_resolved_to_its_first_address() -> None:
    # the server listens where "localhost" resolves first here, 127.0.0.1 or ::1
    first = str(socket.getaddrinfo("localhost", 25, type=socket.SOCK_STREAM)[0][4][0])
    handler = Recorder()
    with smtp_server(handler, first) as port:
        deliver("localhost", port, envelope("by name"), timeout=5.0)
    assert len(handler.taken()) == 1


def test_the_server_removes_the_doubled_dots_again(recorder: Recorder, port: int) -> None:
    deliver("127.0.0.1", port, envelope("dots", body="first\n.\n.second"), timeout=5.0)
    [mail] = recorder.taken()
    assert mail.content.endswith(b"\r\n\r\nfirst\r\n.\r\n.second\r\n\r\n")


def test_a_refused_recipient_is_keepalived_s_rcpt_error() -> None:
    refusing = Recorder(refuse_rcpt="550 5.1.1 no such user")
    with smtp_server(refusing) as port, pytest.raises(DeliveryError) as caught:
        deliver("127.0.0.1", port, envelope("refused"), timeout=5.0)
    assert str(caught.value) == (f"Error processing RCPT cmd on SMTP server [127.0.0.1]:{port}. SMTP status code = 550")
    assert refusing.taken() == []


def test_a_closed_port_fails_at_once(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        deliver("127.0.0.1", closed_port, envelope("nobody there"), timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert str(caught.value) == f"SMTP connection ERROR to [127.0.0.1]:{closed_port}."
    assert caught.value.detail == "Connection refused"


def test_a_server_that_never_greets_times_out(silent_server: socket.socket) -> None:
    port = silent_server.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        deliver("127.0.0.1", port, envelope("silence"), timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 2.0
    assert str(caught.value) == f"Timeout reading data to remote SMTP server [127.0.0.1]:{port}."


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops further SYNs, so a connect hangs."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(8):
            probe = stack.enter_context(socket.socket())
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.fail("the listener's queue never filled up")
        yield port


def test_a_connection_that_is_never_set_up_times_out(full_listener: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        deliver("127.0.0.1", full_listener, envelope("no answer"), timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 2.0
    assert str(caught.value) == f"Timeout opening connection to remote SMTP server [127.0.0.1]:{full_listener}."


def test_a_server_that_hangs_up_is_reported(recorder: Recorder) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def greet_and_hang_up() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"220 hello\r\n")

        thread = threading.Thread(target=greet_and_hang_up, daemon=True)
        thread.start()
        with pytest.raises(DeliveryError) as caught:
            deliver("127.0.0.1", port, envelope("hung up"), timeout=5.0)
        thread.join(5.0)
    assert str(caught.value) == f"Remote SMTP server [127.0.0.1]:{port} has closed the connection."


def test_an_unresolvable_name_is_keepalived_s_invalid_server() -> None:
    # a label over 63 characters fails in Python's IDNA encoding, before any DNS query leaves the machine
    name = "x" * 64 + ".invalid"
    with pytest.raises(DeliveryError, match=rf"^Invalid smtp server {name} 25$"):
        deliver(name, 25, envelope("nowhere"), timeout=0.5)


# Mailer


def wait_for_results(mailer: Mailer, count: int, within: float) -> list[tuple[int, str | None]]:
    """Collect results by polling the mailer's descriptor, as the service loop does, until `count` or the deadline."""
    deadline = time.monotonic() + within
    results: list[tuple[int, str | None]] = []
    while len(results) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        readable, _, _ = select.select([mailer.fileno()], [], [], left)
        if readable:
            results += mailer.take_results()
    return results


def test_the_mailer_delivers_in_the_order_submitted(recorder: Recorder, port: int) -> None:
    mailer = Mailer("127.0.0.1", port, timeout=5.0)
    try:
        for mail_id in (1, 2, 3):
            mailer.submit(mail_id, envelope(f"mail {mail_id}"))
        assert wait_for_results(mailer, 3, within=20.0) == [(1, None), (2, None), (3, None)]
    finally:
        mailer.close(timeout=5.0)
    subjects = [line for m in recorder.taken() for line in m.content.split(b"\r\n") if line.startswith(b"Subject:")]
    assert subjects == [b"Subject: mail 1", b"Subject: mail 2", b"Subject: mail 3"]


def test_the_mailer_reports_a_failed_delivery_with_keepalived_s_text(closed_port: int) -> None:
    mailer = Mailer("127.0.0.1", closed_port, timeout=5.0)
    try:
        mailer.submit(4, envelope("refused"))
        assert wait_for_results(mailer, 1, within=10.0) == [(4, f"SMTP connection ERROR to [127.0.0.1]:{closed_port}.")]
        readable, _, _ = select.select([mailer.fileno()], [], [], 0)
        assert readable == []
    finally:
        mailer.close(timeout=5.0)


def test_an_unexpected_error_is_a_result_then_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(host: str, port: int, envelope: Envelope, timeout: float) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(mailer_module, "deliver", broken)
    mailer = Mailer("127.0.0.1", 25, timeout=1.0)
    try:
        mailer.submit(8, envelope("doomed"))
        assert wait_for_results(mailer, 1, within=10.0) == [(8, "unexpected error: ValueError('boom')")]
        # the descriptor stays readable so that the loop comes back for the exception
        readable, _, _ = select.select([mailer.fileno()], [], [], 10.0)
        assert readable == [mailer.fileno()]
        with pytest.raises(RuntimeError, match=r"(?s)mail worker died:.*Traceback.*ValueError: boom"):
            mailer.take_results()
        with pytest.raises(RuntimeError):
            mailer.take_results()
    finally:
        mailer.close(timeout=5.0)


def mailer_threads(port: int) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"mailer 127.0.0.1:{port}"]


def test_close_lets_the_delivery_under_way_finish_and_drops_the_rest(silent_server: socket.socket) -> None:
    port = silent_server.getsockname()[1]
    mailer = Mailer("127.0.0.1", port, timeout=0.5)
    for mail_id in (1, 2, 3):
        mailer.submit(mail_id, envelope(f"mail {mail_id}"))
    # the first delivery is under way once its connection waits in the listener's queue
    readable, _, _ = select.select([silent_server], [], [], 10.0)
    assert readable == [silent_server]
    started = time.monotonic()
    mailer.close(timeout=10.0)
    # one timed-out delivery, not three
    assert time.monotonic() - started < 1.4
    assert mailer_threads(port) == []
    assert mailer.take_results() == [(1, f"Timeout reading data to remote SMTP server [127.0.0.1]:{port}.")]
    with pytest.raises(RuntimeError, match="closed"):
        mailer.submit(4, envelope("too late"))


def test_close_gives_up_on_a_delivery_that_takes_too_long(silent_server: socket.socket) -> None:
    port = silent_server.getsockname()[1]
    mailer = Mailer("127.0.0.1", port, timeout=1.0)
    mailer.submit(1, envelope("slow"))
    readable, _, _ = select.select([silent_server], [], [], 10.0)
    assert readable == [silent_server]
    started = time.monotonic()
    mailer.close(timeout=0.1)
    assert time.monotonic() - started < 0.9
    [worker] = mailer_threads(port)
    assert worker.daemon
    worker.join(10.0)  # it ends by itself once its read times out
    assert not worker.is_alive()
