"""The notifier service: keepalived's notify scripts, notify FIFOs and e-mail alerts, from the bus.

It follows the vrrp service's events (`vrrp/<instance>`, `vrrp_group/<group>`)
and carries out what services.notifier.core decides: commands through
services.script_runner (each instance's one at a time, killed at
`hakeeper_notify_timeout`), lines to the FIFOs (services.notifier.fifos) and
e-mail through a worker thread (services.notifier.mailer), retried with backoff
(services.notifier.mail_retry) so that a slow or dead SMTP server never holds
up a script.

Nothing is lost: the last event acted on is saved under the runtime directory
(services.notifier.cursor), and a restarted notifier resumes from the bus
history after it. If the history no longer reaches back, the notifier says so
and notifies each instance's current state once. Asked to stop, it first takes
everything the bus holds (the vrrp service's STOP transitions come just before)
and lets the commands and e-mails it has finish.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from bus.subscriber_core import Effect, EventDelivered, Missed, Start
from conf.model.config import Config
from services.base import Service, Watch
from services.notifier.core import (
    KILL_AFTER,
    Action,
    FifoLine,
    Kill,
    Known,
    Log,
    NotifierCore,
    Run,
    SendMail,
    unit_of,
)
from services.notifier.cursor import Cursor, cursor_path, load_cursor, save_cursor
from services.notifier.fifos import Fifos
from services.notifier.mail_retry import RetryQueue
from services.notifier.mailer import Mailer
from services.notifier.setup import MailSettings, NotifierSetup, set_up_notifier
from services.notifier.smtp_dialog import Envelope, message_data, rfc822_date
from services.script_runner import Runner
from services.script_runs import Exited, Launch, Signalled
from services.service_options import ServiceOptions

COUNTERS_KEY = "counters/notifier"
MAIL_CLOSE_WAIT = 2.0  # seconds a delivery under way may take to finish at stop


class NotifierService(Service):
    name: ClassVar[str] = "notifier"
    syslog_ident: ClassVar[str] = "Keepalived_vrrp"
    wants_state: ClassVar[bool] = True  # the current states, for a catch-up after lost events
    wants_events: ClassVar[bool] = True
    bus_prefix: ClassVar[str] = "vrrp"  # vrrp/<instance> and vrrp_group/<group>

    def __init__(self, options: ServiceOptions) -> None:
        super().__init__(options)
        self.core: NotifierCore | None = None
        self.setup: NotifierSetup | None = None
        self.runner = Runner()
        self.fifos: Fifos | None = None
        self.mailer: Mailer | None = None
        self.mail: MailSettings | None = None
        self.retries = RetryQueue()
        self.counters: Counter[str] = Counter()
        self._saved = load_cursor(cursor_path(options.runtime_dir))
        self._mails: dict[int, Envelope] = {}
        self._next_mail = 1
        self._jobs: dict[int, str] = {}  # job -> the command's keyword, for the log
        self._epoch: int | None = None
        self._catch_up = False
        self._drain_until: float | None = None
        self._counters_dirty = True
        self._last_saved: Cursor | None = None

    # ------------------------------------------------------------ lifecycle

    def events_from(self) -> tuple[int, int] | Start:
        if self._saved is None:
            return Start.NOW
        return (self._saved.epoch, self._saved.seq)

    def start(self, config: Config) -> None:
        self.setup = set_up_notifier(config)
        for message in self.setup.messages:
            self.log.info("%s", message)
        self.core = NotifierCore(self.setup.settings)
        if self._saved is not None:
            self.core.known = dict(self._saved.known)
            self.core.mailed = dict(self._saved.mailed)
            self.core.acted_through = self._saved.seq
            self._epoch = self._saved.epoch
        self.fifos = Fifos(self.setup.fifos)
        self._set_mail(self.setup.mail)

    def reload(self, config: Config) -> None:
        assert self.core is not None
        setup = set_up_notifier(config)
        for message in setup.messages:
            self.log.info("%s", message)
        self.core.reconfigure(setup.settings)
        if self.setup is None or setup.fifos != self.setup.fifos:
            if self.fifos is not None:
                self.fifos.close()
            self.fifos = Fifos(setup.fifos)
        if setup.mail != self.mail:
            self._set_mail(setup.mail)
        self.setup = setup
        if config.global_defs.fifo_write_vrrp_states_on_reload:
            self._execute(self.core.state_lines(), self.clock())

    def on_stop_requested(self) -> None:
        assert self.core is not None
        if self.view is not None:
            self.view.refresh_events()
        self._drain_until = self.clock() + 2 * self.core.settings.timeout + KILL_AFTER + 1.0

    def draining(self) -> bool:
        if self._drain_until is None or self.clock() >= self._drain_until:
            return False
        assert self.core is not None
        caught_up = self.view is None or self.view.core.caught_up
        fifo_waiting = self.fifos is not None and self.fifos.backlog > 0
        return not (caught_up and self.core.idle and not fifo_waiting and not self._mails)

    def stop(self) -> None:
        if self.core is not None and not self.core.idle:
            self.log.info("Stopping with notify commands still running or queued: killing them")
        self.runner.stop_all(grace=KILL_AFTER)
        if self.fifos is not None:
            self.fifos.close()
        if self.mailer is not None:
            if self._mails:
                self.log.info("%d e-mail alert(s) not sent before stop", len(self._mails))
            self.mailer.close(MAIL_CLOSE_WAIT)
        self._save()
        self._publish_counters()

    # ------------------------------------------------------------ the loop

    def watches(self) -> list[Watch]:
        found = [Watch(fd, _reaper(self, fd)) for fd in self.runner.fds()]
        if self.fifos is not None:
            fifos = self.fifos
            found += [Watch(fd, _fifo_reaper(fifos, fd)) for fd in fifos.readers.fds()]
        if self.mailer is not None:
            found.append(Watch(self.mailer.fileno(), self._mail_results))
        return found

    def next_deadline(self) -> float | None:
        now = self.clock()
        deadlines = [
            self.core.next_deadline() if self.core is not None else None,
            self.retries.next_deadline(),
            self.fifos.next_deadline(now) if self.fifos is not None else None,
            self._drain_until,
        ]
        found = [d for d in deadlines if d is not None]
        return min(found) if found else None

    def on_deadline(self, now: float) -> None:
        assert self.core is not None
        self._execute(self.core.tick(now), now)
        if self.fifos is not None:
            self.fifos.flush()

    def before_wait(self) -> None:
        now = self.clock()
        self._first_cursor()
        if self.mailer is not None:
            for mail_id in self.retries.due(now):
                envelope = self._mails.get(mail_id)
                if envelope is not None:
                    self.mailer.submit(mail_id, envelope)
        if self._counters_dirty:
            self._publish_counters()

    def on_bus(self, effects: list[Effect]) -> None:
        assert self.core is not None
        now = self.clock()
        for effect in effects:
            if isinstance(effect, Missed):
                self._missed(effect)
            elif isinstance(effect, EventDelivered):
                event = effect.event
                self._epoch = event.hub_epoch
                self._execute(self.core.event(event.seq, event.topic, event.data, now), now)
                self.counters["events"] += 1
        # The state mirror (read when catching up) is whole once the snapshot has come.
        if self._catch_up and self.view is not None and self.view.core.caught_up:
            self._catch_up = False
            self._execute(self.core.catch_up(self._current_states(), now), now)
        self._save()

    def _first_cursor(self) -> None:
        """Without a saved cursor, the first answer from the hub says where "now" is: saved at once,
        so that a restart before the first event still resumes from there."""
        if self._epoch is not None or self.view is None or self.core is None:
            return
        cursor = self.view.core.cursor
        if cursor is None or not self.view.core.caught_up:
            return
        self._epoch = cursor[0]
        if self.core.idle:
            self.core.acted_through = cursor[1]
        self._save()

    def _missed(self, missed: Missed) -> None:
        assert self.core is not None
        if missed.epoch_changed:
            self.core.new_epoch()
        self._epoch = missed.hub_epoch
        if missed.count == 0:
            return  # a new hub: its history is whole from its start
        self.counters["events_lost"] += missed.count
        self.log.warning(
            "Notifier: %d bus event(s) were lost before they could be acted on (the history no longer reaches "
            "back): transitions lost; notifying the current state of every instance and sync group that changed",
            missed.count,
        )
        self._catch_up = True

    def _current_states(self) -> dict[str, Known]:
        assert self.view is not None
        current: dict[str, Known] = {}
        for key, value in self.view.core.state.items():
            unit = unit_of(key)
            if unit is None or not isinstance(value, dict) or not isinstance(value.get("state"), str):
                continue
            priority = value.get("effective_priority")
            current[unit] = Known(value["state"], priority if isinstance(priority, int) else 0)
        return current

    # ------------------------------------------------------------ carrying out

    def _execute(self, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Run):
                self._start_command(action, now)
            elif isinstance(action, Kill):
                if action.signum == signal.SIGTERM:
                    self.counters["commands_timed_out"] += 1
                self.runner.signal_group(self._jobs.get(action.job, "?"), action.job, action.signum, again=action.again)
            elif isinstance(action, FifoLine):
                if self.fifos is not None:
                    self.fifos.write_vrrp(action.line)
                    self.counters["fifo_lines"] += 1
            elif isinstance(action, SendMail):
                self._queue_mail(action, now)
            elif isinstance(action, Log):
                self.log.info("%s", action.message)
        self._counters_dirty = True

    def _start_command(self, action: Run, now: float) -> None:
        assert self.core is not None
        command = action.command
        self._jobs[action.job] = command.what
        launch = Launch(command.what, command.argv, command.uid, command.gid)
        self.counters["commands_run"] += 1
        if self.runner.spawn(launch, action.job) is not None:
            self.counters["commands_failed"] += 1
            self._jobs.pop(action.job, None)
            self._execute(self.core.ended(action.job, now), now)

    def reaped(self, fd: int) -> None:
        assert self.core is not None
        ended = self.runner.reap(fd)
        if ended is None:
            return
        _, job, ending = ended
        self._jobs.pop(job, None)
        if isinstance(ending, Exited) and ending.status != 0:
            self.counters["commands_failed"] += 1
        elif isinstance(ending, Signalled):
            self.counters["commands_killed"] += 1
        now = self.clock()
        self._execute(self.core.ended(job, now), now)
        self._save()

    # ------------------------------------------------------------ e-mail

    def _set_mail(self, mail: MailSettings | None) -> None:
        if self.mailer is not None:
            # Queued or under way with the old server: each starts again with the new one.
            self.mailer.close(MAIL_CLOSE_WAIT)
            self.mailer = None
            self.retries = RetryQueue()
            if mail is None:
                self._mails.clear()
            for mail_id in self._mails:
                self.retries.add(mail_id, self.clock())
        self.mail = mail
        if mail is not None:
            self.mailer = Mailer(mail.host, mail.port, mail.timeout)

    def _queue_mail(self, action: SendMail, now: float) -> None:
        mail = self.mail
        if mail is None:
            return
        data = message_data(
            rfc822_date(time.time()), mail.sender, action.mail.subject, mail.recipients, action.mail.body
        )
        mail_id = self._next_mail
        self._next_mail += 1
        self._mails[mail_id] = Envelope(mail.helo, mail.sender, mail.recipients, data)
        self.retries.add(mail_id, now)

    def _mail_results(self) -> None:
        assert self.mailer is not None
        now = self.clock()
        for mail_id, error in self.mailer.take_results():
            if error is None:
                self._mails.pop(mail_id, None)
                self.retries.delivered(mail_id)
                self.counters["mails_sent"] += 1
                self.log.info("SMTP alert successfully sent.")
                continue
            self.log.info("%s", error)
            again = self.retries.failed(mail_id, now)
            if again is None:
                self._mails.pop(mail_id, None)
                self.counters["mails_failed"] += 1
                self.log.info("Giving up on an e-mail alert after repeated failures")
            else:
                self.counters["mail_retries"] += 1
        self._counters_dirty = True

    # ------------------------------------------------------------ records

    def _save(self) -> None:
        if self.core is None or self._epoch is None:
            return
        cursor = Cursor(self._epoch, self.core.acted_through, dict(self.core.known), dict(self.core.mailed))
        if cursor != self._last_saved:
            save_cursor(cursor_path(self.options.runtime_dir), cursor)
            self._last_saved = cursor

    def _publish_counters(self) -> None:
        if self.bus is None:
            return
        self._counters_dirty = False
        values: dict[str, Any] = dict(sorted(self.counters.items()))
        values["acted_through"] = self.core.acted_through if self.core is not None else 0
        self.bus.set(COUNTERS_KEY, values)


def _reaper(service: NotifierService, fd: int) -> Callable[[], None]:
    return lambda: service.reaped(fd)


def _fifo_reaper(fifos: Fifos, fd: int) -> Callable[[], None]:
    return lambda: fifos.reap(fd)
