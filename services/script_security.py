"""Who a script runs as and whether it may run: keepalived's script security rules, shared by
every service that runs scripts (the healthcheck's tracked scripts, the notifier's notify scripts).

keepalived 2.2.7 (lib/notify.c check_script_secure, set_script_uid_gid,
get_default_script_user):
- a script runs as its own `USER [GROUP]`, else `script_user`, else
  `keepalived_script` if that user exists, else as root; with
  `enable_script_security` and no such user, a script without a user of its own
  cannot run;
- a bare name is looked up on PATH (with a warning), the path is resolved, and a
  script its user cannot execute is disabled;
- a script run as root (user or group 0) must have every component of its path
  owned by root and not writable by anyone else (sticky directories excepted):
  with `enable_script_security` an insecure one is disabled, without it only
  logged.

The messages are keepalived's; each caller adds the words it logs about what it disables.
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

NOT_FOUND = "not found"
NOT_EXECUTABLE = "not executable"
INSECURE = "insecure"


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int


@dataclass(frozen=True)
class Checked:
    argv: tuple[str, ...]  # the command's resolved path first
    uid: int | None  # None: as this process
    gid: int | None
    insecure: bool  # runs as root from a path others could change (allowed without script security)


def default_identity(config: Config, messages: list[str]) -> Identity | None:
    """The identity scripts without a user of their own run as; None: none can be had."""
    configured = config.global_defs.script_user
    if configured is not None:
        return identity(configured[0], configured[1], messages)
    try:
        entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        messages.append(f"Script user '{DEFAULT_SCRIPT_USER}' does not exist")
        if config.global_defs.enable_script_security:
            messages.append(f"Unable to set default user {DEFAULT_SCRIPT_USER} for script")
            return None
        return Identity(os.geteuid(), os.getegid())
    return Identity(entry.pw_uid, entry.pw_gid)


def identity(user: str, group: str | None, messages: list[str]) -> Identity | None:
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
    return Identity(entry.pw_uid, gid)


def check_command(argv: tuple[str, ...], who: Identity, security: bool, messages: list[str]) -> Checked | str:
    """The command as it will run, or why it cannot (NOT_FOUND, NOT_EXECUTABLE, INSECURE)."""
    command = argv[0]
    if "/" not in command:
        found = shutil.which(command)
        if found is None:
            messages.append(f"Cannot find script {command} in path - disabling")
            return NOT_FOUND
        messages.append(f"WARNING - script `{command}` resolved by path search to `{found}`. Please specify full path.")
        command = found
    path = os.path.realpath(command)
    try:
        st = os.stat(path)
    except OSError as exc:
        messages.append(f"Script {command} cannot be accessed - {exc.strerror}")
        return NOT_FOUND
    if not _executable(st, who):
        messages.append(f"WARNING - script '{path}' is not executable for uid:gid {who.uid}:{who.gid} - disabling.")
        return NOT_EXECUTABLE
    insecure = False
    if who.uid == 0 or who.gid == 0:
        insecure = insecure_component(path) is not None
        if insecure:
            messages.append(f"Unsafe permissions found for script '{path}'{' - disabling' if security else ''}.")
            if security:
                return INSECURE
    as_us = who.uid == os.geteuid() and who.gid == os.getegid()
    return Checked((path, *argv[1:]), None if as_us else who.uid, None if as_us else who.gid, insecure)


def security_warning(any_script: bool, insecure_any: bool, security: bool) -> str | None:
    """keepalived's warning when scripts run without script security."""
    if not any_script or security:
        return None
    suffix = " There are insecure scripts." if insecure_any else ""
    return f"SECURITY VIOLATION - scripts are being executed but script_security not enabled.{suffix}"


def _executable(st: os.stat_result, who: Identity) -> bool:
    mode = st.st_mode
    if who.uid == 0:
        return bool(mode & 0o111)
    if st.st_uid == who.uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid == who.gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)
