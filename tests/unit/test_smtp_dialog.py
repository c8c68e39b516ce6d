"""services.notifier.smtp_dialog and mail_retry: keepalived's SMTP conversation byte for byte, the retry schedule."""

from __future__ import annotations

import datetime
import itertools
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.mail_retry import RetryQueue
from services.notifier.smtp_dialog import Dialog, Envelope, message_data, rfc822_date

SERVER = "[192.0.2.1]:25"
DATA = message_data(
    "Mon, 01 Mar 2021 09:44:08 +0000",
    "keepalived@example.org",
    "[node1] VRRP Instance VI_1 - Entering MASTER state",
    ["ops@example.org", "oncall@example.org"],
    "=> VRRP Instance is now owning VRRP VIPs <=",
)
ENVELOPE = Envelope("node1", "keepalived@example.org", ("ops@example.org", "oncall@example.org"), DATA)

# (server reply, what keepalived sends after it): smtp.h's SMTP_*_CMD strings in SMTP_FSM's order
CONVERSATION = [
    (b"220 mail.example.org ESMTP\r\n", b"HELO node1\r\n"),
    (b"250 mail.example.org\r\n", b"MAIL FROM:<keepalived@example.org>\r\n"),
    (b"250 2.1.0 Ok\r\n", b"RCPT TO:<ops@example.org>\r\n"),
    (b"250 2.1.5 Ok\r\n", b"RCPT TO:<oncall@example.org>\r\n"),
    (b"250 2.1.5 Ok\r\n", b"DATA\r\n"),
    (b"354 End data with <CR><LF>.<CR><LF>\r\n", DATA),
    (b"250 2.0.0 Ok: queued as 4F2A1\r\n", b"QUIT\r\n"),
    (b"221 2.0.0 Bye\r\n", None),
]
ALL_REPLIES = b"".join(reply for reply, _ in CONVERSATION)
ALL_SENT = b"".join(sent for _, sent in CONVERSATION if sent is not None)


def test_the_whole_conversation_is_keepalived_s_byte_for_byte() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    for reply, expected in CONVERSATION:
        assert not dialog.done
        assert dialog.feed(reply) == ([] if expected is None else [expected])
    assert dialog.done
    assert dialog.sent
    assert dialog.error is None
    assert dialog.feed(b"250 late\r\n") == []


def test_nothing_is_said_before_the_greeting() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"") == []
    assert dialog.feed(b"220 mail.example.org") == []
    assert dialog.feed(b" ESMTP\r") == []
    assert dialog.feed(b"\n") == [b"HELO node1\r\n"]


def test_the_data_payload_is_keepalived_s_headers_then_the_body_then_the_end_marker() -> None:
    assert DATA == (
        b"Date: Mon, 01 Mar 2021 09:44:08 +0000\r\n"
        b"From: keepalived@example.org\r\n"
        b"Subject: [node1] VRRP Instance VI_1 - Entering MASTER state\r\n"
        b"X-Mailer: Keepalived\r\n"
        b"To: ops@example.org, oncall@example.org\r\n"
        b"\r\n"
        b"=> VRRP Instance is now owning VRRP VIPs <=\r\n"
        b"\r\n.\r\n"
    )


def test_body_lines_starting_with_a_dot_are_doubled_and_all_line_ends_are_crlf() -> None:
    data = message_data("D", "f@x", "s", ["t@x"], ".hidden\nplain\r\n.\rlast")
    assert data.endswith(b"\r\n\r\n..hidden\r\nplain\r\n..\r\nlast\r\n\r\n.\r\n")


def test_a_line_break_in_a_header_or_a_command_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="subject"):
        message_data("D", "f@x", "s\r\nBcc: evil@x", ["t@x"], "b")
    with pytest.raises(ValueError, match="line break"):
        Envelope("node1", "f@x\r\nRCPT TO:<evil@x>", ("t@x",), b"")
    with pytest.raises(ValueError, match="recipient"):
        Envelope("node1", "f@x", (), b"")


def test_multi_line_replies_count_by_their_last_line() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"220-mail.example.org ESMTP\r\n220-no UCE\r\n") == []
    assert dialog.feed(b"220 welcome\r\n250-mail.exa") == [b"HELO node1\r\n"]
    assert dialog.feed(b"mple.org\r\n250 HELP\r\n") == [b"MAIL FROM:<keepalived@example.org>\r\n"]
    assert dialog.error is None


def test_replies_ending_in_a_bare_lf_are_read_too() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"220 ok\n") == [b"HELO node1\r\n"]


def run_until(dialog: Dialog, replies: int) -> None:
    """Play the first `replies` server replies of the good conversation."""
    for reply, _ in CONVERSATION[:replies]:
        dialog.feed(reply)


@pytest.mark.parametrize(
    ("good_replies", "bad_reply", "cmd", "code"),
    [
        (0, b"554 go away\r\n", "(E)SMTP", 554),
        (1, b"501 bad name\r\n", "HELO", 501),
        (2, b"553 who?\r\n", "MAIL", 553),
        (3, b"550 no such user\r\n", "RCPT", 550),
        (4, b"550 no such user\r\n", "RCPT", 550),
        (5, b"503 need RCPT\r\n", "DATA", 503),
        (6, b"552 too big\r\n", "BODY", 552),
    ],
)
def test_an_unexpected_code_is_logged_as_keepalived_does_and_answered_with_quit(
    good_replies: int, bad_reply: bytes, cmd: str, code: int
) -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    run_until(dialog, good_replies)
    assert dialog.feed(bad_reply) == [b"QUIT\r\n"]
    assert dialog.error == f"Error processing {cmd} cmd on SMTP server [192.0.2.1]:25. SMTP status code = {code}"
    assert (dialog.done, dialog.sent) == (False, False)
    assert dialog.quit() == []
    assert dialog.feed(b"221 bye\r\n") == []
    assert (dialog.done, dialog.sent) == (True, False)


def test_a_bad_answer_to_quit_after_the_data_was_taken_still_counts_as_sent() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    run_until(dialog, 7)
    assert dialog.sent
    assert dialog.feed(b"500 what?\r\n") == []
    assert dialog.done
    assert dialog.sent
    assert dialog.error == "Error processing QUIT cmd on SMTP server [192.0.2.1]:25. SMTP status code = 500"


def test_only_the_first_error_is_kept() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"421 busy\r\n") == [b"QUIT\r\n"]
    assert dialog.feed(b"500 what?\r\n") == []
    assert dialog.done
    assert dialog.error == "Error processing (E)SMTP cmd on SMTP server [192.0.2.1]:25. SMTP status code = 421"


def test_a_garbled_reply_is_an_error() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    run_until(dialog, 1)
    assert dialog.feed(b"HTTP/1.1 400 Bad Request\r\n") == [b"QUIT\r\n"]
    assert dialog.error == "Garbled reply to HELO cmd from SMTP server [192.0.2.1]:25: 'HTTP/1.1 400 Bad Request'"
    assert dialog.feed(b"\x00\xff\r\n") == []
    assert dialog.done


def test_a_short_reply_is_garbled_too() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"22\r\n") == [b"QUIT\r\n"]
    assert dialog.error is not None
    assert dialog.error.startswith("Garbled reply to (E)SMTP cmd")


OVERFLOW = "Received buffer from remote SMTP server [192.0.2.1]:25 overflow our get read buffer length."


def test_a_reply_line_longer_than_keepalived_s_buffer_is_an_error_before_its_end_arrives() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"220 " + b"x" * 1018) == []  # 1022 bytes: a CRLF would still fit in 1023
    assert dialog.error is None
    assert dialog.feed(b"x") == [b"QUIT\r\n"]
    assert dialog.error == OVERFLOW


def test_a_whole_reply_line_longer_than_keepalived_s_buffer_is_an_error() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"220 " + b"x" * 1018 + b"\r\n") == [b"QUIT\r\n"]
    assert dialog.error == OVERFLOW
    dialog = Dialog(ENVELOPE, SERVER)
    assert dialog.feed(b"220 " + b"x" * 1017 + b"\r\n") == [b"HELO node1\r\n"]


def test_quit_gives_up_politely_once() -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    run_until(dialog, 2)
    assert dialog.quit() == [b"QUIT\r\n"]
    assert dialog.quitting
    assert dialog.quit() == []
    assert dialog.feed(b"221 bye\r\n") == []
    assert dialog.done
    assert not dialog.sent
    assert dialog.error is None  # the caller knows why it gave up


@given(st.lists(st.integers(min_value=0, max_value=len(ALL_REPLIES)), max_size=40))
def test_however_the_replies_are_split_the_same_bytes_are_sent(cuts: list[int]) -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    points = [0, *sorted(cuts), len(ALL_REPLIES)]
    sent = [chunk for a, b in itertools.pairwise(points) for chunk in dialog.feed(ALL_REPLIES[a:b])]
    assert b"".join(sent) == ALL_SENT
    assert dialog.done
    assert dialog.sent
    assert dialog.error is None


REPLY_PIECES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"220 hi\r\n", b"250 ok\r\n", b"250-more\r\n", b"354 go\r\n", b"221 bye\r\n", b"550 no\r\n"]),
    st.sampled_from([b"\r\n", b"\n", b"\r", b"-", b" ", b"2", b"25", b"x" * 1100]),
)


@given(st.lists(REPLY_PIECES, max_size=30))
def test_garbage_from_the_server_never_raises(pieces: list[bytes]) -> None:
    dialog = Dialog(ENVELOPE, SERVER)
    sent: list[bytes] = []
    for piece in pieces:
        sent += dialog.feed(piece)
    assert all(isinstance(chunk, bytes) for chunk in sent)
    assert sent.count(b"QUIT\r\n") <= 1
    if dialog.done:
        assert dialog.sent or dialog.error is not None
    if dialog.error is not None:
        assert b"QUIT\r\n" in sent


# rfc822_date: keepalived's strftime "%a, %d %b %Y %H:%M:%S %z" of localtime_r()

MARCH_1_2021 = 1614591848.75  # 2021-03-01 09:44:08.75 UTC, the example in smtp.c's body_cmd()


def test_the_date_is_keepalived_s_example_in_utc() -> None:
    assert rfc822_date(MARCH_1_2021, datetime.UTC) == "Mon, 01 Mar 2021 09:44:08 +0000"


def test_the_date_keeps_a_negative_half_hour_offset() -> None:
    tz = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))
    assert rfc822_date(MARCH_1_2021, tz) == "Mon, 01 Mar 2021 04:14:08 -0530"


def test_the_date_names_are_english_across_the_year() -> None:
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=45))
    assert rfc822_date(1735689599, tz) == "Wed, 01 Jan 2025 05:44:59 +0545"
    assert rfc822_date(1733011200, datetime.UTC) == "Sun, 01 Dec 2024 00:00:00 +0000"


@pytest.fixture
def local_zone_berlin() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"  # POSIX rule: needs no zone database
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.usefixtures("local_zone_berlin")
def test_without_a_zone_the_date_is_local_time_like_keepalived_s() -> None:
    assert rfc822_date(MARCH_1_2021) == "Mon, 01 Mar 2021 10:44:08 +0100"
    assert rfc822_date(1625132648) == "Thu, 01 Jul 2021 11:44:08 +0200"
    assert rfc822_date(MARCH_1_2021) == time.strftime("%a, %d %b %Y %H:%M:%S %z", time.localtime(MARCH_1_2021))


# RetryQueue: attempts after 1, 2, 4, 8, 16, 32, 60 seconds, 8 in all


def test_a_new_mail_is_due_at_once_and_handed_out_once() -> None:
    queue = RetryQueue()
    queue.add(7, now=100.0)
    assert queue.pending == 1
    assert queue.next_deadline() == 100.0
    assert queue.due(99.0) == []
    assert queue.due(100.0) == [7]
    assert queue.due(100.0) == []
    assert queue.next_deadline() is None
    queue.delivered(7)
    assert queue.pending == 0


def test_retries_back_off_to_a_minute_and_give_up_after_eight_attempts() -> None:
    queue = RetryQueue()
    queue.add(1, now=0.0)
    now = 0.0
    waits = []
    while True:
        assert queue.due(now) == [1]
        next_at = queue.failed(1, now)
        if next_at is None:
            break
        waits.append(next_at - now)
        assert queue.next_deadline() == next_at
        assert queue.due(next_at - 0.001) == []
        now = next_at
    assert waits == [1, 2, 4, 8, 16, 32, 60]
    assert len(waits) + 1 == 8
    assert queue.pending == 0
    assert queue.next_deadline() is None


def test_the_schedule_is_configurable() -> None:
    queue = RetryQueue(first_delay=0.5, factor=3.0, max_delay=10.0, attempts=5)
    queue.add(1, now=0.0)
    waits = []
    now = 0.0
    for _ in range(5):
        assert queue.due(now) == [1]
        next_at = queue.failed(1, now)
        if next_at is None:
            break
        waits.append(next_at - now)
        now = next_at
    assert waits == [0.5, 1.5, 4.5, 10.0]
    assert queue.pending == 0


def test_mails_are_handed_out_in_the_order_added() -> None:
    queue = RetryQueue()
    for mail_id in (5, 3, 9):
        queue.add(mail_id, now=10.0)
    assert queue.due(10.0) == [5, 3, 9]
    assert queue.failed(5, now=10.0) == 11.0
    assert queue.failed(3, now=10.0) == 11.0
    queue.delivered(9)
    assert queue.due(11.0) == [5, 3]


def test_a_mail_waiting_for_its_retry_does_not_hold_back_later_ones() -> None:
    queue = RetryQueue()
    queue.add(1, now=0.0)
    assert queue.due(0.0) == [1]
    assert queue.failed(1, now=0.0) == 1.0
    queue.add(2, now=0.5)
    assert queue.next_deadline() == 0.5
    assert queue.due(0.5) == [2]
    assert queue.pending == 2
    assert queue.due(1.0) == [1]


def test_unknown_or_duplicate_mails_are_refused() -> None:
    queue = RetryQueue()
    queue.add(1, now=0.0)
    with pytest.raises(ValueError, match="already queued"):
        queue.add(1, now=0.0)
    with pytest.raises(KeyError):
        queue.failed(2, now=0.0)
    with pytest.raises(KeyError):
        queue.delivered(2)
