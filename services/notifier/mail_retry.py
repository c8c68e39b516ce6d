"""When to try a mail again (pure: the caller passes the time in).

keepalived 2.2.7 (keepalived/core/smtp.c) tries each alert once and only logs a failure; an
alert lost to a short outage of the mail server is worth a few more tries, so here a mail is
tried again after 1, 2, 4, 8, 16, 32 and 60 seconds, 8 attempts in all, then given up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Mail:
    due_at: float
    delay: float
    attempts: int = 0
    in_flight: bool = False


class RetryQueue:
    """Mails waiting for an attempt, oldest first.

    add() makes a mail due at once. due() hands out each due mail once, in the order the mails were
    added; the caller then reports it delivered() or failed(). A mail waiting for its retry does not
    hold back the mails added after it.
    """

    def __init__(
        self, first_delay: float = 1.0, factor: float = 2.0, max_delay: float = 60.0, attempts: int = 8
    ) -> None:
        if first_delay < 0 or factor < 1 or max_delay < 0 or attempts < 1:
            raise ValueError("retry delays must not be negative, nor shrink, and a mail needs an attempt")
        self._first_delay = first_delay
        self._factor = factor
        self._max_delay = max_delay
        self._attempts = attempts
        # dicts keep insertion order: the order the mails were added
        self._mails: dict[int, _Mail] = {}

    @property
    def pending(self) -> int:
        """Mails neither delivered nor given up, those being attempted included."""
        return len(self._mails)

    def add(self, mail_id: int, now: float) -> None:
        if mail_id in self._mails:
            raise ValueError(f"mail {mail_id} is already queued")
        self._mails[mail_id] = _Mail(due_at=now, delay=min(self._first_delay, self._max_delay))

    def due(self, now: float) -> list[int]:
        """The mails to attempt now, oldest first; each is handed out once until reported."""
        ready = [mail_id for mail_id, mail in self._mails.items() if not mail.in_flight and mail.due_at <= now]
        for mail_id in ready:
            mail = self._mails[mail_id]
            mail.in_flight = True
            mail.attempts += 1
        return ready

    def delivered(self, mail_id: int) -> None:
        del self._mails[mail_id]

    def failed(self, mail_id: int, now: float) -> float | None:
        """The time of the mail's next attempt, or None when it has had all its attempts (and is dropped)."""
        mail = self._mails[mail_id]
        if mail.attempts >= self._attempts:
            del self._mails[mail_id]
            return None
        mail.in_flight = False
        mail.due_at = now + mail.delay
        # grown step by step rather than as factor ** n, which overflows a float after many attempts
        mail.delay = min(mail.delay * self._factor, self._max_delay)
        return mail.due_at

    def next_deadline(self) -> float | None:
        """The earliest time a mail not being attempted is due (maybe past already); None if there is none."""
        waiting = [mail.due_at for mail in self._mails.values() if not mail.in_flight]
        return min(waiting, default=None)
