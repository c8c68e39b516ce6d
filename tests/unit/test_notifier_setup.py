"""services.notifier.setup: the notify scripts that may run (keepalived's script security),
the FIFOs, and the e-mail settings with keepalived's defaults."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from conf.load import load
from services.notifier.setup import set_up_notifier
from tests.conftest import WriteConf


def script_file(directory: Path, name: str = "notify.sh", mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def conf(defs: str, instance: str, group: str = "") -> str:
    return (
        f"global_defs {{\n    enable_script_security\n    script_user root\n{defs}}}\n"
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n"
        f"    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n{instance}}}\n"
        + (f"vrrp_sync_group G1 {{\n    group {{\n        VI_1\n    }}\n{group}}}\n" if group else "")
    )


def test_scripts_keep_their_arguments_and_insecure_or_missing_ones_are_dropped(
    write_conf: WriteConf, tmp_path: Path
) -> None:
    good = script_file(tmp_path / "secure")
    tmp_path.chmod(0o755)
    writable = tmp_path / "open"
    bad = script_file(writable)
    writable.chmod(0o777)  # anyone could replace the script that root runs
    text = conf(
        "",
        f'    notify_master "{good} master"\n    notify_backup {bad}\n    notify_fault /nowhere/x.sh\n'
        f"    notify {good}\n    notify_deleted\n",
        f"    notify {good}\n",
    )
    setup = set_up_notifier(load(str(write_conf(text))).config, host_name="lb1")
    vi_1 = setup.settings.units["INSTANCE VI_1"].notifying
    assert sorted(vi_1.scripts) == ["notify", "notify_master"]
    assert vi_1.scripts["notify_master"].argv == (str(good), "master")
    assert vi_1.notify_deleted
    assert setup.settings.units["GROUP G1"].notifying.scripts["notify"].argv == (str(good),)
    messages = "\n".join(setup.messages)
    assert f"Unsafe permissions found for script '{bad}' - disabling." in messages
    assert "Script /nowhere/x.sh cannot be accessed" in messages
    assert "Disabling notify_backup of vrrp_instance VI_1" in messages


def test_fifos_and_which_lines_they_take(write_conf: WriteConf, tmp_path: Path) -> None:
    reader = script_file(tmp_path / "bin", "reader.sh")
    tmp_path.chmod(0o755)
    text = conf(
        f"    notify_fifo {tmp_path}/all.fifo\n    notify_fifo_script {reader}\n"
        f"    lvs_notify_fifo {tmp_path}/lvs.fifo root root\n",
        "",
    )
    setup = set_up_notifier(load(str(write_conf(text))).config, host_name="lb1")
    assert [(f.keyword, f.vrrp, f.lvs) for f in setup.fifos] == [
        ("notify_fifo", True, True),
        ("lvs_notify_fifo", False, True),
    ]
    assert setup.fifos[0].script is not None and setup.fifos[0].script.argv == (str(reader),)
    assert (setup.fifos[1].uid, setup.fifos[1].gid) == (0, 0)
    assert setup.settings.fifo


def test_mail_needs_a_server_and_recipients_and_takes_keepalived_defaults(write_conf: WriteConf) -> None:
    without = set_up_notifier(load(str(write_conf(conf("    smtp_server 192.0.2.25\n", "")))).config, "lb1")
    assert without.mail is None and not without.settings.mail
    text = conf(
        "    notification_email {\n        ops@example.com\n    }\n    smtp_server 192.0.2.25 2525\n"
        "    smtp_alert_vrrp\n",
        "",
        "    smtp_alert off\n",
    )
    setup = set_up_notifier(load(str(write_conf(text))).config, host_name="lb1")
    assert setup.mail is not None
    user = pwd.getpwuid(os.getuid()).pw_name
    assert (setup.mail.host, setup.mail.port, setup.mail.sender, setup.mail.helo) == (
        "192.0.2.25",
        2525,
        f"{user}@lb1",
        "lb1",
    )
    assert setup.mail.recipients == ("ops@example.com",) and setup.mail.timeout == 30.0
    assert setup.settings.router_id == "lb1" and setup.settings.timeout == 30.0
    assert setup.settings.units["INSTANCE VI_1"].smtp_alert  # from smtp_alert_vrrp
    assert not setup.settings.units["GROUP G1"].smtp_alert  # its own says off
