"""From the configuration to what the notifier runs: each instance's and sync group's notify
scripts (checked as services.script_security says), the notify FIFOs and the e-mail settings.

keepalived 2.2.7 (vrrp/vrrp.c check_vrrp_script_security, lib/notify.c
check_notify_script_secure): a notify script that cannot be found, is not
executable by its user, or is insecure under `enable_script_security` is
dropped, and the rest of the configuration runs. E-mail needs `smtp_server`
and at least one `notification_email`; the sender defaults to
`USER@HOSTNAME`, the HELO name and `router_id` to the host name
(core/global_data.c).
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
from dataclasses import dataclass

from conf.model.config import Config
from conf.model.global_values import NotifyFifo
from conf.values import Script
from services.notifier.core import Settings, UnitSettings
from services.notifier.plan import Notifying, Runnable
from services.script_security import (
    Checked,
    Identity,
    check_command,
    default_identity,
    identity,
    security_warning,
)

INSTANCE_SCRIPTS = (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify",
    "notify_master_rx_lower_pri",
)
GROUP_SCRIPTS = ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Fifo:
    """A notify FIFO: where it is, who owns it if it is created, its reader, and which lines it takes."""

    keyword: str  # notify_fifo, vrrp_notify_fifo, lvs_notify_fifo
    path: str
    uid: int | None
    gid: int | None
    script: Runnable | None
    vrrp: bool
    lvs: bool


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    timeout: float  # smtp_connect_timeout: every step of a delivery
    sender: str
    helo: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class NotifierSetup:
    settings: Settings
    fifos: tuple[Fifo, ...]
    mail: MailSettings | None
    messages: tuple[str, ...]  # what keepalived would log while setting its scripts up


def set_up_notifier(config: Config, host_name: str | None = None) -> NotifierSetup:
    local = host_name or socket.gethostname()
    defs = config.global_defs
    messages: list[str] = []
    checker = _Checker(config, messages)
    units: dict[str, UnitSettings] = {}
    group_alert = defs.smtp_alert_vrrp if defs.smtp_alert_vrrp is not None else defs.smtp_alert
    for instance in config.vrrp_instances:
        scripts = checker.scripts(instance, INSTANCE_SCRIPTS, f"vrrp_instance {instance.name}")
        notifying = Notifying("INSTANCE", instance.name, scripts, notify_deleted=bool(instance.notify_deleted))
        units[notifying.unit] = UnitSettings(notifying, instance.smtp_alert, bool(instance.notify_priority_changes))
    for group in config.vrrp_sync_groups:
        scripts = checker.scripts(group, GROUP_SCRIPTS, f"vrrp_sync_group {group.name}")
        notifying = Notifying("GROUP", group.name, scripts)
        alert = group.smtp_alert if group.smtp_alert is not None else bool(group_alert)
        units[notifying.unit] = UnitSettings(notifying, alert, bool(group.notify_priority_changes))
    fifos = _fifos(config, checker)
    warning = security_warning(checker.any_script, checker.insecure_any, defs.enable_script_security)
    if warning is not None:
        messages.append(warning)
    mail = _mail(config, local)
    settings = Settings(
        units=units,
        timeout=float(defs.hakeeper_notify_timeout),
        fifo=any(f.vrrp for f in fifos),
        mail=mail is not None,
        router_id=defs.router_id or local,
        no_email_faults=defs.no_email_faults,
    )
    return NotifierSetup(settings, fifos, mail, tuple(messages))


class _Checker:
    """Checks scripts one by one, remembering what keepalived's summary warning needs."""

    def __init__(self, config: Config, messages: list[str]) -> None:
        self.messages = messages
        self.security = config.global_defs.enable_script_security
        self.default = default_identity(config, messages)
        self.any_script = False
        self.insecure_any = False

    def scripts(self, block: object, keywords: tuple[str, ...], where: str) -> dict[str, Runnable]:
        """keyword -> script, for the block's notify scripts that may run."""
        found: dict[str, Runnable] = {}
        for keyword in keywords:
            script = getattr(block, keyword)
            if isinstance(script, Script) and (runnable := self.check(script, f"{keyword} of {where}")) is not None:
                found[keyword] = runnable
        return found

    def check(self, script: Script, what: str) -> Runnable | None:
        if script.user is not None:
            who: Identity | None = identity(script.user, script.group, self.messages)
        else:
            who = self.default
        if who is None:
            self.messages.append(f"Unable to set uid/gid for script '{script.text}' ({what}) - disabling")
            return None
        checked = check_command(script.argv, who, self.security, self.messages)
        if not isinstance(checked, Checked):
            self.messages.append(f"Disabling {what}: script {script.argv[0]} {checked}")
            return None
        self.any_script = True
        self.insecure_any |= checked.insecure
        return Runnable(checked.argv, checked.uid, checked.gid)


def _fifos(config: Config, checker: _Checker) -> tuple[Fifo, ...]:
    defs = config.global_defs
    found: list[Fifo] = []
    for keyword, vrrp, lvs in (
        ("notify_fifo", True, True),
        ("vrrp_notify_fifo", True, False),
        ("lvs_notify_fifo", False, True),
    ):
        fifo: NotifyFifo | None = getattr(defs, keyword)
        if fifo is None:
            continue
        script: Script | None = getattr(defs, f"{keyword}_script")
        reader = None if script is None else checker.check(script, f"{keyword}_script")
        uid, gid = _owner(fifo, checker.messages)
        found.append(Fifo(keyword, fifo.path, uid, gid, reader, vrrp, lvs))
    return tuple(found)


def _owner(fifo: NotifyFifo, messages: list[str]) -> tuple[int | None, int | None]:
    """Who a created FIFO belongs to (None: whoever runs the notifier)."""
    uid = gid = None
    if fifo.user is not None:
        try:
            entry = pwd.getpwnam(fifo.user)
            uid, gid = entry.pw_uid, entry.pw_gid
        except KeyError:
            messages.append(f"Unknown user {fifo.user} for fifo {fifo.path}")
    if fifo.group is not None:
        try:
            gid = grp.getgrnam(fifo.group).gr_gid
        except KeyError:
            messages.append(f"Unknown group {fifo.group} for fifo {fifo.path}")
    return uid, gid


def _mail(config: Config, local: str) -> MailSettings | None:
    defs = config.global_defs
    if defs.smtp_server is None or not defs.notification_email:
        return None
    sender = defs.notification_email_from or f"{pwd.getpwuid(os.getuid()).pw_name}@{local}"
    return MailSettings(
        host=defs.smtp_server.host,
        port=defs.smtp_server.port,
        timeout=float(defs.smtp_connect_timeout),
        sender=sender,
        helo=defs.smtp_helo_name or local,
        recipients=tuple(defs.notification_email),
    )
