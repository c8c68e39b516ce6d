"""The SMTP conversation of keepalived's e-mail alerts, without sockets or clocks (sans-IO).

Mirrors keepalived 2.2.7's keepalived/core/smtp.c and include/smtp.h: the SMTP_FSM table
(greeting 220, HELO 250, MAIL 250, one RCPT 250 per recipient, DATA 354, the message 250,
QUIT 221), the command strings SMTP_*_CMD, the DATA payload of body_cmd(), the strftime
date of body_cmd(), and the log texts of smtp_read_thread(). The blocking adapter that
drives a Dialog over a socket is services.notifier.smtp_send.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

# keepalived's receive buffer (smtp.c SMTP_BUFFER_MAX); one byte of it holds the C string's NUL,
# so a reply line with its line end must fit in 1023 bytes.
SMTP_BUFFER_MAX = 1024
MAX_REPLY_LINE = SMTP_BUFFER_MAX - 1

# strftime's %a and %b follow LC_TIME; keepalived runs in the C locale, so the names are fixed here.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_CODE = re.compile(rb"[0-9]{3}")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# (cmd_name in keepalived's SMTP_FSM, expected code), in conversation order
_GREETING = ("(E)SMTP", 220)
_HELO = ("HELO", 250)
_MAIL = ("MAIL", 250)
_RCPT = ("RCPT", 250)
_DATA = ("DATA", 354)
_BODY = ("BODY", 250)
_QUIT = ("QUIT", 221)

_QUIT_CMD = b"QUIT\r\n"


def rfc822_date(epoch_seconds: float, tz: datetime.tzinfo | None = None) -> str:
    """keepalived's Date header, strftime "%a, %d %b %Y %H:%M:%S %z" of localtime_r(); `tz` None is
    the local zone. For example "Mon, 01 Mar 2021 09:44:08 +0000"."""
    moment = datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC).astimezone(tz)
    offset = moment.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {sign}{hours:02d}{mins:02d}"
    )


def message_data(date: str, sender: str, subject: str, recipients: Sequence[str], body: str) -> bytes:
    """The bytes sent after DATA: keepalived's SMTP_HEADERS_CMD SMTP_BODY_CMD SMTP_SEND_CMD, with the
    recipients joined by ", " in To (build_to_header_rcpt_addrs)."""
    for name, value in (
        ("date", date),
        ("sender", sender),
        ("subject", subject),
        *(("recipient", r) for r in recipients),
    ):
        # a line break in a header would let configuration text add headers of its own
        if "\r" in value or "\n" in value:
            raise ValueError(f"line break in the mail's {name}: {value!r}")
    # keepalived sends the body as it is. Ours are keepalived's one-line texts, but a body line
    # that began with "." would be taken by the server as the end of the data (or lose its dot),
    # and a bare CR or LF could be read as a line end by one server and not by another (the trick
    # behind "SMTP smuggling"); so every line ends in CRLF and a leading "." is doubled (RFC 5321
    # 4.5.2), which a server undoes.
    lines = ["." + line if line.startswith(".") else line for line in _LINE_BREAK.split(body)]
    text = (
        f"Date: {date}\r\nFrom: {sender}\r\nSubject: {subject}\r\nX-Mailer: Keepalived\r\nTo: {', '.join(recipients)}"
        "\r\n\r\n" + "\r\n".join(lines) + "\r\n" + "\r\n.\r\n"
    )
    return text.encode("utf-8")


@dataclass(frozen=True)
class Envelope:
    """One mail: the HELO name, MAIL FROM, the RCPT TO addresses in order, and the DATA payload
    (message_data())."""

    helo: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    def __post_init__(self) -> None:
        if not self.recipients:
            # keepalived's smtp_alert() sends nothing without an address
            raise ValueError("a mail needs at least one recipient")
        for value in (self.helo, self.sender, *self.recipients):
            # a line break would smuggle a command of its own into the conversation
            if "\r" in value or "\n" in value:
                raise ValueError(f"line break in an SMTP command argument: {value!r}")


class Dialog:
    """keepalived's SMTP client conversation for one Envelope, fed with the bytes received and
    answering with the bytes to send.

    `server` is the server as keepalived names it in its logs ("[192.0.2.1]:25", see
    smtp_send.server_text). Like keepalived, a reply with the wrong code or one that cannot be
    read ends the conversation politely with QUIT; `error` keeps the first problem. `sent` turns
    True when the server took the message (250 after the data), whatever happens after it.
    """

    def __init__(self, envelope: Envelope, server: str) -> None:
        self._server = server
        self._steps: list[tuple[tuple[str, int], bytes]] = [
            (_HELO, f"HELO {envelope.helo}\r\n".encode()),
            (_MAIL, f"MAIL FROM:<{envelope.sender}>\r\n".encode()),
            *((_RCPT, f"RCPT TO:<{address}>\r\n".encode()) for address in envelope.recipients),
            (_DATA, b"DATA\r\n"),
            (_BODY, envelope.data),
            (_QUIT, _QUIT_CMD),
        ]
        self._waiting: tuple[str, int] = _GREETING
        self._buffer = b""
        self._done = False
        self._sent = False
        self._error: str | None = None

    @property
    def done(self) -> bool:
        """The conversation is over (after the reply to QUIT): the connection can be closed."""
        return self._done

    @property
    def sent(self) -> bool:
        """The server accepted the message (keepalived's "SMTP alert successfully sent.")."""
        return self._sent

    @property
    def error(self) -> str | None:
        """The first thing that went wrong, as keepalived logs it; None while all is well."""
        return self._error

    @property
    def quitting(self) -> bool:
        """QUIT has been sent (or the conversation is over)."""
        return self._done or self._waiting == _QUIT

    def quit(self) -> list[bytes]:
        """Give up: what keepalived sends after a read timeout or read error. Empty once QUIT was sent."""
        if self.quitting:
            return []
        self._waiting = _QUIT
        return [_QUIT_CMD]

    def feed(self, received: bytes) -> list[bytes]:
        """Take bytes from the server; return what to send now, in order (often nothing)."""
        if self._done:
            return []
        self._buffer += received
        out: list[bytes] = []
        while not self._done:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) >= MAX_REPLY_LINE:
                    # no line end can come within the limit any more; what follows is a new line
                    self._buffer = b""
                    out += self._fail(self._overflow())
                break
            line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
            if len(line) > MAX_REPLY_LINE:
                out += self._fail(self._overflow())
                continue
            out += self._reply_line(line.rstrip(b"\r\n"))
        return out

    def _reply_line(self, line: bytes) -> list[bytes]:
        cmd, expected = self._waiting
        # keepalived computes the code from the first three bytes whatever they are; here they must be digits
        if not _CODE.fullmatch(line[:3]):
            shown = line[:80].decode("ascii", "backslashreplace")
            return self._fail(f"Garbled reply to {cmd} cmd from SMTP server {self._server}: {shown!r}")
        if line[3:4] == b"-":
            # a continuation line (RFC 5321 4.2.1): keepalived reads the code of the last line only
            return []
        code = int(line[:3])
        if code != expected:
            return self._fail(f"Error processing {cmd} cmd on SMTP server {self._server}. SMTP status code = {code}")
        if self._waiting == _QUIT:
            self._done = True
            return []
        if self._waiting == _BODY:
            self._sent = True
        self._waiting, command = self._steps.pop(0)
        return [command]

    def _overflow(self) -> str:
        return f"Received buffer from remote SMTP server {self._server} overflow our get read buffer length."

    def _fail(self, message: str) -> list[bytes]:
        if self._error is None:
            self._error = message
        # keepalived answers any bad reply with QUIT; a bad answer to QUIT itself ends it all
        # (keepalived would send QUIT again until the read times out)
        if self._waiting == _QUIT:
            self._done = True
            return []
        self._waiting = _QUIT
        return [_QUIT_CMD]
