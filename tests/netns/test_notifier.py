"""The notifier service on a real node: notify scripts with keepalived's arguments, the notify
FIFO, e-mail through a real SMTP server (aiosmtpd, inside the node's namespace), timeouts,
and nothing lost or repeated across its own restart.

The scripts append their arguments to a file, one line per run, so that the file is the
record of what ran and in which order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.bus_cli import fetch_status
from tests.conftest import WriteConf, needs_root, wait_for
from tests.lab import LabNode, Lan, inside

VIP = "192.0.2.100/24"
SMTP_PORT = 2525


class Mailbox:
    """What the SMTP server received: (sender, recipients, message text)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.helo: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content.decode()))
        self.helo.append(str(session.host_name))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [line[len("Subject: ") :] for _, _, text in self.messages for line in text.splitlines()
                if line.startswith("Subject: ")]  # fmt: skip


@contextlib.contextmanager
def smtp_server(node: LabNode) -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1 inside the node's namespace (its thread is started there)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=SMTP_PORT)
    with inside(node.ns):
        controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def recorder(directory: Path, name: str, *, slow: bool = False) -> tuple[Path, Path]:
    """A notify script appending its arguments to a file; a slow one also starts a child that
    sleeps, records both pids, and waits for it."""
    script = directory / name
    record = directory / f"{name}.log"
    body = f'echo "$*" >> {record}\n'
    if slow:
        body += f'sleep 1000 &\necho "$$ $!" > {directory / (name + ".pids")}\nwait\n'
    script.write_text(f"#!/bin/sh\n{body}")
    script.chmod(0o755)
    return script, record


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def instance_block(notify: str, extra: str = "") -> str:
    return f"""\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {{
        {VIP}
    }}
{extra}    notify {notify}
}}
"""


def running(node: LabNode, service: str) -> bool:
    return any(p.name == service and p.state == "RUNNING" for p in node.supervisor.status())


def instance_state(node: LabNode) -> object:
    instances = fetch_status(node.runtime_dir)["instances"]
    return instances.get("VI_1", {}).get("state") if isinstance(instances, dict) else None


@needs_root
def test_scripts_fifo_and_mail_follow_the_transitions_and_stop_is_notified_before_exit(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    node = lan.add_node("a")
    notify, record = recorder(tmp_path, "notify.sh")
    fifo, fifo_out = tmp_path / "vrrp.fifo", tmp_path / "fifo.out"
    reader = tmp_path / "reader.sh"
    reader.write_text(f'#!/bin/sh\nexec cat "$1" >> {fifo_out}\n')
    reader.chmod(0o755)
    conf = write_conf(
        f"""\
global_defs {{
    router_id lb1
    enable_script_security
    script_user root
    notification_email {{
        ops@example.com
        noc@example.com
    }}
    notification_email_from hakeeper@example.com
    smtp_server 127.0.0.1 {SMTP_PORT}
    smtp_helo_name lb1.example.com
    smtp_alert
    vrrp_notify_fifo {fifo}
    vrrp_notify_fifo_script {reader}
}}
"""
        + instance_block(
            str(notify),
            f'    notify_master "{notify} master"\n    notify_backup "{notify} backup"\n'
            f'    notify_stop "{notify} stop"\n',
        ),
        "a.conf",
    )
    with smtp_server(node) as mailbox:
        node.start(conf)
        wait_for(lambda: len(lines(record)) >= 4, timeout=20)
        # keepalived's order: the state's own script as configured, then `notify` with
        # INSTANCE name STATE priority appended.
        assert lines(record) == ["backup", "INSTANCE VI_1 BACKUP 100", "master", "INSTANCE VI_1 MASTER 100"]
        wait_for(lambda: len(lines(fifo_out)) >= 2)
        assert lines(fifo_out) == ['INSTANCE "VI_1" BACKUP 100', 'INSTANCE "VI_1" MASTER 100']
        wait_for(lambda: len(mailbox.messages) >= 2)
        sender, recipients, text = mailbox.messages[1]
        assert (sender, recipients) == ("hakeeper@example.com", ["ops@example.com", "noc@example.com"])
        assert mailbox.helo[1] == "lb1.example.com"
        assert "From: hakeeper@example.com\r\n" in text or "From: hakeeper@example.com\n" in text
        assert "X-Mailer: Keepalived" in text and "To: ops@example.com, noc@example.com" in text
        assert "=> VRRP Instance is now owning VRRP VIPs <=" in text

        assert node.stop() == 0
        # Everything for STOP happened before the node was down.
        assert lines(record)[4:] == ["stop", "INSTANCE VI_1 STOP 100"]
        assert lines(fifo_out)[2:] == ['INSTANCE "VI_1" STOP 100']
        assert mailbox.subjects() == [
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
            "[lb1] VRRP Instance VI_1 - Entering MASTER state",
            "[lb1] VRRP Instance VI_1 - Stopping",
        ]
    assert not fifo.exists(), "the FIFO the notifier created is left behind"


@needs_root
def test_transitions_while_the_notifier_is_down_are_notified_once_in_order_or_reported_lost(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    node = lan.add_node("a")
    notify, record = recorder(tmp_path, "notify.sh")
    flag = tmp_path / "flag"
    flag.write_text("0\n")
    conf = write_conf(
        f"""\
global_defs {{
    enable_script_security
    script_user root
    hakeeper_bus_history 100
}}
vrrp_track_file flag {{
    file "{flag}"
    weight 0
}}
"""
        + instance_block(str(notify), "    track_file {\n        flag\n    }\n"),
        "a.conf",
    )
    node.start(conf)
    wait_for(lambda: len(lines(record)) >= 2, timeout=20)
    assert lines(record) == ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"], node.service_log("notifier")

    def state() -> object:
        return instance_state(node)

    # Down: FAULT, then BACKUP and MASTER again; up: each once, in order.
    assert node.ctl("stop", "notifier").returncode == 0
    flag.write_text("1\n")
    wait_for(lambda: state() == "FAULT")
    flag.write_text("0\n")
    wait_for(lambda: state() == "MASTER", timeout=15)
    assert len(lines(record)) == 2
    assert node.ctl("start", "notifier").returncode == 0
    expected = ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"]
    expected += ["INSTANCE VI_1 FAULT 100", "INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"]
    wait_for(lambda: len(lines(record)) >= len(expected))
    # One more transition: a repeat of anything earlier would have come before it.
    flag.write_text("1\n")
    wait_for(lambda: len(lines(record)) >= len(expected) + 1)
    assert lines(record) == [*expected, "INSTANCE VI_1 FAULT 100"]

    # Down again, and the bus history (100 events here) overflows meanwhile: the notifier
    # says transitions were lost and notifies the current state once.
    assert node.ctl("stop", "notifier").returncode == 0
    flag.write_text("0\n")
    wait_for(lambda: state() == "MASTER", timeout=15)
    publisher = node.publisher()
    for number in range(150):
        publisher.post("lab/filler", {"n": number})
    publisher.flush(5.0)
    assert node.ctl("start", "notifier").returncode == 0
    wait_for(lambda: "transitions lost" in node.service_log("notifier"))
    wait_for(lambda: len(lines(record)) >= len(expected) + 2)
    assert lines(record)[len(expected) + 1 :] == ["INSTANCE VI_1 MASTER 100"]
    assert node.stop() == 0


CHECK_ONLY_CONF = """\
global_defs {{
    enable_script_security
    script_user root
    hakeeper_notify_timeout 1
{mail}}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {{
        {vip}
    }}
{scripts}    notify {notify}
}}
"""


def transition(state: str, priority: int) -> dict[str, object]:
    return {"event": "transition", "state": state, "previous": "INIT", "reason": "test", "priority": priority}


@needs_root
def test_a_burst_of_50_transitions_is_notified_in_order(lan: Lan, write_conf: WriteConf, tmp_path: Path) -> None:
    """The vrrp service's part is played on the bus (the node runs the checkers only, `-C`), so
    that the burst is as fast as the bus carries it."""
    node = lan.add_node("a")
    notify, record = recorder(tmp_path, "notify.sh")
    conf = write_conf(CHECK_ONLY_CONF.format(mail="", vip=VIP, scripts="", notify=notify), "a.conf")
    node.start(conf, "-C")
    wait_for(lambda: running(node, "notifier"))
    publisher = node.publisher("vrrp")
    states = [("MASTER" if n % 2 else "BACKUP", n) for n in range(1, 51)]
    for state, priority in states:
        publisher.post("vrrp/VI_1", transition(state, priority))
    publisher.flush(5.0)
    wait_for(lambda: len(lines(record)) >= 50, timeout=30)
    assert lines(record) == [f"INSTANCE VI_1 {state} {priority}" for state, priority in states]
    assert node.stop() == 0


@needs_root
def test_a_script_past_its_timeout_is_killed_with_its_children_and_mail_is_retried(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    node = lan.add_node("a")
    notify, record = recorder(tmp_path, "notify.sh")
    slow, slow_record = recorder(tmp_path, "slow.sh", slow=True)
    mail = f"    notification_email {{\n        ops@example.com\n    }}\n    smtp_server 127.0.0.1 {SMTP_PORT}\n"
    mail += "    smtp_alert\n"
    conf = write_conf(
        CHECK_ONLY_CONF.format(mail=mail, vip=VIP, scripts=f"    notify_master {slow}\n", notify=notify), "a.conf"
    )
    node.start(conf, "-C")
    wait_for(lambda: running(node, "notifier"))
    publisher = node.publisher("vrrp")
    publisher.post("vrrp/VI_1", transition("MASTER", 100))
    publisher.flush(5.0)
    pids_file = tmp_path / "slow.sh.pids"
    wait_for(lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2)
    shell, sleeper = (int(p) for p in pids_file.read_text().split())
    # The next command of the instance waits for the slow one, which is killed at 1 s, child too.
    wait_for(lambda: lines(record) == ["INSTANCE VI_1 MASTER 100"], timeout=10)
    assert lines(slow_record) == [""]
    for pid in (shell, sleeper):
        wait_for(lambda pid=pid: not _alive(pid))  # type: ignore[misc]
    log = node.service_log("notifier")
    assert "notify_master script" in log and "timed out" in log

    # No SMTP server yet: the alert fails, is retried with backoff, and arrives once one listens.
    wait_for(lambda: "SMTP" in node.service_log("notifier"), timeout=10)
    with smtp_server(node) as mailbox:
        wait_for(lambda: len(mailbox.messages) == 1, timeout=20)
        assert "VRRP Instance VI_1 - Entering MASTER state" in mailbox.messages[0][2]
        assert node.stop() == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie left for its parent to reap counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True
