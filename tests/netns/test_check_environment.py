"""check-config on a real machine: interfaces in a network namespace, real script files and users."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import WriteConf, add_veth, needs_root

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_root


def check(ns: str, path: Path, *extra: str) -> tuple[int, str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "services.cli", "check-config", "--config-id", "n",
         "-f", str(path), *extra],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stderr


CONF = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_interface {
        eth7
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


def test_missing_interface_is_a_warning_unless_strict(netns: str, write_conf: WriteConf) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    path = write_conf(CONF)
    code, out = check(netns, path)
    assert code == 0, out
    assert f"{path}:5: warning: interface eth7 (track_interface of vrrp_instance VI_1) doesn't exist" in out
    assert "interface eth0" not in out
    code, out = check(netns, path, "--strict-env")
    assert code == 4, out
    assert f"{path}:5: error: interface eth7" in out


def test_every_interface_present_is_clean(netns: str, write_conf: WriteConf) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    add_veth(netns, "eth7")
    code, out = check(netns, write_conf(CONF), "--strict-env")
    assert (code, out) == (0, "")


def _script(directory: Path, mode: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    script = directory / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, mode)
    return script


def test_scripts_without_script_security_are_a_violation(netns: str, write_conf: WriteConf, tmp_path: Path) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    script = _script(tmp_path / "safe", 0o755)
    path = write_conf(CONF.replace("    track_interface {\n        eth7\n    }\n", f"    notify_master {script}\n"))
    code, out = check(netns, path)
    assert code == 6, out
    assert "SECURITY VIOLATION - scripts are being executed but script_security not enabled" in out


def test_writable_root_script_is_a_violation_with_script_security(
    netns: str, write_conf: WriteConf, tmp_path: Path
) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    os.chmod(tmp_path, 0o755)
    safe = _script(tmp_path / "safe", 0o755)
    unsafe = _script(tmp_path / "unsafe", 0o777)
    body = f"    notify_master {safe} root\n    notify_backup {unsafe} root\n"
    path = write_conf(
        "global_defs {\n    enable_script_security\n}\n"
        + CONF.replace("    track_interface {\n        eth7\n    }\n", body)
    )
    code, out = check(netns, path)
    assert code == 6, out
    assert f"{path}:8: error: script {unsafe}" in out and "writable by a non-root user" in out
    assert str(safe) + " " not in out.replace(str(unsafe), "")


def test_a_script_reached_through_a_symlinked_directory_is_judged_by_its_real_path(
    netns: str, write_conf: WriteConf, tmp_path: Path
) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    os.chmod(tmp_path, 0o755)
    real = tmp_path / "usr-bin"
    real.mkdir(mode=0o755)
    script = _script(real / "notify", 0o755)
    link = tmp_path / "bin"
    link.symlink_to("usr-bin")  # as /bin -> usr/bin: the link itself is mode 0777
    body = f"    notify_master {link / 'notify' / script.name} root\n"
    path = write_conf(
        "global_defs {\n    enable_script_security\n}\n"
        + CONF.replace("    track_interface {\n        eth7\n    }\n", body)
    )
    code, out = check(netns, path)
    assert code == 0, out
    assert "writable" not in out and "not found" not in out


def test_missing_script_and_user_are_warnings(netns: str, write_conf: WriteConf) -> None:
    add_veth(netns, "eth0", "192.0.2.10/24")
    body = "    notify_master /nonexistent/notify.sh no_such_user_hk\n"
    path = write_conf(CONF.replace("    track_interface {\n        eth7\n    }\n", body))
    code, out = check(netns, path)
    assert code == 0, out
    assert "script /nonexistent/notify.sh" in out and "user no_such_user_hk" in out
    code, _ = check(netns, path, "--strict-env")
    assert code == 5
