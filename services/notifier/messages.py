"""keepalived's words for a state change: the notify FIFO line and the e-mail subject and body (pure).

From keepalived 2.2.7's vrrp/vrrp_notify.c (notify_fifo, vrrp_smtp_notifier,
vrrp_sync_smtp_notifier) and core/smtp.c (smtp_alert).
"""

from __future__ import annotations

from dataclasses import dataclass

# state -> (subject end, body) for an instance, and for a sync group
INSTANCE_MAIL = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
    "DELETED": ("Deleted", "=> VRRP Deleted at reload <="),
}
GROUP_MAIL = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}


def fifo_line(kind: str, name: str, state: str, priority: int) -> str:
    """`INSTANCE "VI_1" MASTER 100`: a group's priority is 0. Also for MASTER_RX_LOWER_PRI,
    MASTER_PRIORITY and BACKUP_PRIORITY events."""
    return f'{kind} "{name}" {state} {priority if kind == "INSTANCE" else 0}\n'


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str


def state_mail(kind: str, name: str, state: str, router_id: str) -> Mail | None:
    """The alert keepalived e-mails for a state change; None for a state it sends none for."""
    texts = INSTANCE_MAIL if kind == "INSTANCE" else GROUP_MAIL
    found = texts.get(state)
    if found is None:
        return None
    what = "VRRP Instance" if kind == "INSTANCE" else "VRRP Group"
    return Mail(f"[{router_id}] {what} {name} - {found[0]}", found[1])
