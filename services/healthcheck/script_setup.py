"""From the configuration's vrrp_script blocks to runnable scripts, with keepalived's user and security rules.

keepalived 2.2.7 (lib/notify.c check_script_secure, get_default_script_user;
vrrp/vrrp.c check_vrrp_script_security):
- only scripts some instance or sync group tracks run ("script X is not used");
- a script runs as its `user USER [GROUP]`, else `script_user`, else
  `keepalived_script` if that user exists, else as root; with
  `enable_script_security` and no such user, a script without a user of its
  own is removed;
- a bare name is looked up on PATH (with a warning), the path is resolved, and
  a script not executable by its user is removed;
- a script run as root (user or group 0) must have every component of its path
  owned by root and not writable by anyone else (sticky directories excepted):
  with `enable_script_security` an insecure one is removed, without it only
  logged; and without it any script at all brings the SECURITY VIOLATION warning.

The messages are keepalived's.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from dataclasses import dataclass

from conf.environment import DEFAULT_SCRIPT_USER, insecure_component
from conf.model.config import Config
from conf.model.trackers import VrrpScript
from services.healthcheck.script_core import ScriptSpec
from services.tracked import tracked_names


@dataclass(frozen=True)
class Setup:
    specs: tuple[ScriptSpec, ...]
    messages: tuple[str, ...]  # what keepalived would log while setting its scripts up


@dataclass(frozen=True)
class _Identity:
    uid: int
    gid: int


def set_up_scripts(config: Config) -> Setup:
    messages: list[str] = []
    tracked = tracked_names(config, "track_script")
    security = config.global_defs.enable_script_security
    default = _default_identity(config, messages)
    specs: list[ScriptSpec] = []
    any_script = insecure_any = False
    for script in config.vrrp_scripts:
        if script.name not in tracked:
            messages.append(f"Warning - script {script.name} is not used")
            continue
        spec = _set_up(script, default, security, messages)
        if spec is None:
            continue
        any_script = True
        specs.append(spec[0])
        insecure_any |= spec[1]
    if any_script and not security:
        suffix = " There are insecure scripts." if insecure_any else ""
        messages.append(f"SECURITY VIOLATION - scripts are being executed but script_security not enabled.{suffix}")
    return Setup(tuple(specs), tuple(messages))


def _default_identity(config: Config, messages: list[str]) -> _Identity | None:
    """The identity scripts without a user of their own run as; None: none can be had."""
    configured = config.global_defs.script_user
    if configured is not None:
        return _identity(configured[0], configured[1], messages)
    try:
        entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        messages.append(f"Script user '{DEFAULT_SCRIPT_USER}' does not exist")
        if config.global_defs.enable_script_security:
            messages.append(f"Unable to set default user {DEFAULT_SCRIPT_USER} for script")
            return None
        return _Identity(os.geteuid(), os.getegid())
    return _Identity(entry.pw_uid, entry.pw_gid)


def _identity(user: str, group: str | None, messages: list[str]) -> _Identity | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        messages.append(f"Script user '{user}' does not exist")
        return None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            messages.append(f"Script group '{group}' does not exist")
            return None
    return _Identity(entry.pw_uid, gid)


def _set_up(
    script: VrrpScript, default: _Identity | None, security: bool, messages: list[str]
) -> tuple[ScriptSpec, bool] | None:
    """The runnable script and whether it is insecure; None (with the messages) if removed."""
    assert script.script is not None  # completion removed scripts without one
    name = script.name
    if script.user is not None:
        who = _identity(script.user[0], script.user[1], messages)
        if who is None:
            messages.append(f"Unable to set uid/gid for script '{script.script.text}'")
            return None
    elif default is None:
        messages.append(f"Unable to set default user for vrrp script {name} - removing")
        return None
    else:
        who = default
    argv = list(script.script.argv)
    command = argv[0]
    if "/" not in command:
        found = shutil.which(command)
        if found is None:
            messages.append(f"Cannot find script {command} in path - disabling")
            messages.append(f"Disabling track script {name} since not found/accessible")
            return None
        messages.append(f"WARNING - script `{command}` resolved by path search to `{found}`. Please specify full path.")
        command = found
    path = os.path.realpath(command)
    try:
        st = os.stat(path)
    except OSError as exc:
        messages.append(f"Script {command} cannot be accessed - {exc.strerror}")
        messages.append(f"Disabling track script {name} since not found/accessible")
        return None
    if not _executable(st, who):
        messages.append(f"WARNING - script '{path}' is not executable for uid:gid {who.uid}:{who.gid} - disabling.")
        return None
    insecure = False
    if who.uid == 0 or who.gid == 0:
        insecure = insecure_component(path) is not None
        if insecure:
            messages.append(f"Unsafe permissions found for script '{path}'{' - disabling' if security else ''}.")
            if security:
                messages.append(f"Disabling track script {name} due to insecure")
                return None
    argv[0] = path
    as_us = who.uid == os.geteuid() and who.gid == os.getegid()
    spec = ScriptSpec(
        name=name,
        argv=tuple(argv),
        interval=float(script.interval),
        timeout=float(script.timeout or script.interval),
        rise=script.rise,
        fall=script.fall,
        uid=None if as_us else who.uid,
        gid=None if as_us else who.gid,
        init_fail=script.init_fail,
    )
    return spec, insecure


def _executable(st: os.stat_result, who: _Identity) -> bool:
    mode = st.st_mode
    if who.uid == 0:
        return bool(mode & 0o111)
    if st.st_uid == who.uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid == who.gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)

