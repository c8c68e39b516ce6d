"""services.healthcheck.script_setup: which vrrp_scripts run, as whom, and keepalived's security rules."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from conf.load import load
from services.healthcheck.script_setup import set_up_scripts
from tests.conftest import WriteConf


def script_file(directory: Path, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "check.sh"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def conf(
    script: str, *, security: bool = True, user: str | None = "root", tracked: bool = True, extra: str = ""
) -> str:
    defs = ("    enable_script_security\n" if security else "") + (f"    script_user {user}\n" if user else "")
    track = "    track_script {\n        chk\n    }\n" if tracked else ""
    return (
        f"global_defs {{\n{defs}}}\n"
        f'vrrp_script chk {{\n    script "{script}"\n    interval 2\n{extra}}}\n'
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n"
        f"    priority 100\n{track}    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n"
    )


def set_up(write_conf: WriteConf, text: str) -> tuple[list[str], list[str]]:
    setup = set_up_scripts(load(str(write_conf(text))).config)
    return [spec.name for spec in setup.specs], list(setup.messages)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files owned by root)")


@needs_root
def test_a_secure_script_runs_with_its_arguments_and_settings(write_conf: WriteConf, tmp_path: Path) -> None:
    path = script_file(tmp_path / "secure")
    setup = set_up_scripts(load(str(write_conf(conf(f"{path} 'a b' c", extra="    timeout 1\n    rise 2\n")))).config)
    (spec,) = setup.specs
    assert spec.argv == (str(path), "a b", "c")
    assert (spec.interval, spec.timeout, spec.rise, spec.fall) == (2.0, 1.0, 2, 1)
    assert setup.messages == ()


@needs_root
def test_an_insecure_script_is_removed_with_security_and_only_logged_without(
    write_conf: WriteConf, tmp_path: Path
) -> None:
    open_dir = tmp_path / "open"
    path = script_file(open_dir)
    open_dir.chmod(0o777)  # writable by anyone, not sticky
    names, messages = set_up(write_conf, conf(str(path)))
    assert names == []
    assert messages == [
        f"Unsafe permissions found for script '{path}' - disabling.",
        "Disabling track script chk due to insecure",
    ]
    names, messages = set_up(write_conf, conf(str(path), security=False))
    assert names == ["chk"]
    assert messages == [
        f"Unsafe permissions found for script '{path}'.",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts.",
    ]


@needs_root
def test_a_script_its_user_cannot_execute_is_removed(write_conf: WriteConf, tmp_path: Path) -> None:
    path = script_file(tmp_path / "plain", mode=0o644)
    names, messages = set_up(write_conf, conf(str(path)))
    assert names == []
    assert messages == [f"WARNING - script '{path}' is not executable for uid:gid 0:0 - disabling."]


def test_without_its_user_a_script_is_removed(write_conf: WriteConf, tmp_path: Path) -> None:
    names, messages = set_up(write_conf, conf("/bin/true", user="no_such_user_hk"))
    assert names == []
    assert "Script user 'no_such_user_hk' does not exist" in messages


def test_security_without_a_script_user_removes_scripts_that_have_none(write_conf: WriteConf) -> None:
    try:
        pwd.getpwnam("keepalived_script")
        pytest.skip("this machine has a keepalived_script user")
    except KeyError:
        pass
    names, messages = set_up(write_conf, conf("/bin/true", user=None))
    assert names == []
    assert messages == [
        "Script user 'keepalived_script' does not exist",
        "Unable to set default user keepalived_script for script",
        "Unable to set default user for vrrp script chk - removing",
    ]


def test_an_untracked_script_does_not_run_and_a_bare_name_is_looked_up(write_conf: WriteConf) -> None:
    names, messages = set_up(write_conf, conf("/bin/true", tracked=False))
    assert names == [] and messages == ["Warning - script chk is not used"]
    names, messages = set_up(write_conf, conf("true"))
    assert names == ["chk"]
    assert messages[0].startswith("WARNING - script `true` resolved by path search to `")
