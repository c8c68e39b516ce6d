"""Checks of the machine the configuration will run on: interfaces, scripts, users, script security.

A configuration is often checked on another machine than the one it runs on, so
these findings are warnings; `--strict-env` gives them keepalived's own
severity. The machine is reached through `Machine`, the one seam tests replace.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import shutil
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from conf.diagnostics import Diagnostics, Loc, Severity
from conf.model.common import EnvRef
from conf.schema import Block
from conf.values import Script

DEFAULT_SCRIPT_USER = "keepalived_script"


@dataclass(frozen=True)
class ScriptFile:
    path: str
    executable: bool
    insecure_part: str | None  # a path component writable by someone other than root


class Machine:
    """What the local machine has: interfaces (in this network namespace), users, files."""

    def interfaces(self) -> frozenset[str]:
        return frozenset(name for _, name in socket.if_nameindex())

    def user_exists(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def group_exists(self, name: str) -> bool:
        try:
            grp.getgrnam(name)
        except KeyError:
            return False
        return True

    def script_file(self, command: str) -> ScriptFile | None:
        """Find a command as keepalived would (absolute, or on PATH) and judge it; None if absent."""
        path = command if "/" in command else shutil.which(command)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return ScriptFile(path, bool(st.st_mode & 0o111), insecure_component(path))


def insecure_component(path: str) -> str | None:
    """keepalived's check_security(): every component root-owned and not writable by others.

    The path is resolved first, as keepalived's realpath() does: a symlink's own mode (0777)
    says nothing, and /bin -> usr/bin is everywhere.
    """
    parts = os.path.realpath(path).split("/")
    for i in range(1, len(parts) + 1):
        component = "/".join(parts[:i]) or "/"
        try:
            st = os.lstat(component)
        except OSError:
            return component
        is_dir = stat.S_ISDIR(st.st_mode)
        writable_by_others = bool((st.st_gid and st.st_mode & stat.S_IWGRP) or st.st_mode & stat.S_IWOTH)
        sticky_dir = is_dir and st.st_mode & stat.S_ISVTX
        if st.st_uid != 0 or (writable_by_others and not sticky_dir):
            return component
    return None


def iter_env_refs(node: Any) -> Iterator[EnvRef]:
    """Every EnvRef the model exposes, found by walking blocks and their items."""
    refs = getattr(node, "env_refs", None)
    if callable(refs):
        yield from refs()
    if isinstance(node, Block):
        for f in dataclasses.fields(node):
            if f.name in ("loc", "locs"):
                continue
            yield from iter_env_refs(getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from iter_env_refs(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type) and not callable(refs):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if isinstance(value, (tuple, Block)) or dataclasses.is_dataclass(value):
                yield from iter_env_refs(value)


def iter_scripts(node: Any, where: str = "") -> Iterator[tuple[Script, str]]:
    """Every configured script, with the path of fields that holds it (for messages)."""
    if isinstance(node, Script):
        yield node, where
    elif isinstance(node, Block):
        owner = f"{type(node).block_keyword} {getattr(node, 'name', '') or node.header_text()}".strip()
        for f in dataclasses.fields(node):
            if f.name not in ("loc", "locs"):
                yield from iter_scripts(getattr(node, f.name), f"{f.name} of {owner}" if owner else f.name)
    elif isinstance(node, tuple):
        for item in node:
            yield from iter_scripts(item, where)


def check_environment(config: Any, diags: Diagnostics, machine: Machine | None = None) -> None:
    machine = machine or Machine()
    global_defs = config.global_defs
    interfaces = machine.interfaces()
    dynamic = getattr(global_defs, "dynamic_interfaces", None)
    missing_if_severity = Severity.ERROR if dynamic else Severity.FATAL
    seen: set[tuple[str, str, Loc]] = set()
    for ref in iter_env_refs(config):
        key = (ref.kind, ref.name, ref.loc)
        if key in seen:
            continue
        seen.add(key)
        if ref.kind == "interface" and ref.name not in interfaces:
            diags.environment(
                ref.loc, f"interface {ref.name} ({ref.what}) doesn't exist on this machine", missing_if_severity
            )
        elif ref.kind == "user" and not machine.user_exists(ref.name):
            diags.environment(ref.loc, f"user {ref.name} ({ref.what}) does not exist on this machine")
        elif ref.kind == "group" and not machine.group_exists(ref.name):
            diags.environment(ref.loc, f"group {ref.name} ({ref.what}) does not exist on this machine")
        elif ref.kind == "file" and not os.path.exists(ref.name):
            diags.environment(ref.loc, f"file {ref.name} ({ref.what}) does not exist on this machine", Severity.WARNING)
    _check_scripts(config, diags, machine)


def _check_scripts(config: Any, diags: Diagnostics, machine: Machine) -> None:
    global_defs = config.global_defs
    security = bool(getattr(global_defs, "enable_script_security", False))
    default_user = getattr(global_defs, "script_user", None)
    default_user_name = default_user[0] if isinstance(default_user, tuple) else default_user
    default_is_root = default_user_name in (None, "root") and not (
        default_user_name is None and machine.user_exists(DEFAULT_SCRIPT_USER)
    )
    found_any = False
    first_loc: Loc | None = None
    for script, where in iter_scripts(config):
        loc = _script_loc(config, script)
        found = machine.script_file(script.argv[0])
        if found is None:
            diags.environment(loc, f"script {script.argv[0]} ({where}) not found on this machine; it would be disabled")
            continue
        found_any = True
        first_loc = first_loc or loc
        if not found.executable:
            diags.environment(loc, f"script {found.path} ({where}) is not executable; it would be disabled")
        runs_as_root = script.user in (None, "root") if script.user is not None else default_is_root
        if security and runs_as_root and found.insecure_part:
            diags.security(
                loc,
                f"script {found.path} ({where}) runs as root but {found.insecure_part} is writable "
                "by a non-root user; keepalived disables it",
            )
    if found_any and not security and first_loc is not None:
        diags.security(
            first_loc,
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled "
            "(add enable_script_security to global_defs)",
        )


def _script_loc(config: Any, script: Script) -> Loc:
    """The location of the statement holding this script object."""

    def search(node: Any) -> Loc | None:
        if isinstance(node, Block):
            for f in dataclasses.fields(node):
                if f.name in ("loc", "locs"):
                    continue
                value = getattr(node, f.name)
                if value is script:
                    return node.where(f.name)
                found = search(value)
                if found is not None:
                    return found
        elif isinstance(node, tuple):
            for item in node:
                found = search(item)
                if found is not None:
                    return found
        return None

    return search(config) or config.loc
