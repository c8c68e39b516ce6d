"""From the configuration's vrrp_script blocks to runnable scripts, with keepalived's user and security rules.

keepalived 2.2.7 (vrrp/vrrp.c check_vrrp_script_security): only scripts some
instance or sync group tracks run ("script X is not used"); each is checked as
services.script_security says, and one that cannot run is removed with
keepalived's "Disabling track script" message. Without `enable_script_security`
any script at all brings the SECURITY VIOLATION warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from conf.model.config import Config
from conf.model.trackers import VrrpScript
from services.healthcheck.script_core import ScriptSpec
from services.script_security import (
    INSECURE,
    NOT_EXECUTABLE,
    Checked,
    Identity,
    check_command,
    default_identity,
    identity,
    security_warning,
)
from services.tracked import tracked_names


@dataclass(frozen=True)
class Setup:
    specs: tuple[ScriptSpec, ...]
    messages: tuple[str, ...]  # what keepalived would log while setting its scripts up


def set_up_scripts(config: Config) -> Setup:
    messages: list[str] = []
    tracked = tracked_names(config, "track_script")
    security = config.global_defs.enable_script_security
    default = default_identity(config, messages)
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
    warning = security_warning(any_script, insecure_any, security)
    if warning is not None:
        messages.append(warning)
    return Setup(tuple(specs), tuple(messages))


def _set_up(
    script: VrrpScript, default: Identity | None, security: bool, messages: list[str]
) -> tuple[ScriptSpec, bool] | None:
    """The runnable script and whether it is insecure; None (with the messages) if removed."""
    assert script.script is not None  # completion removed scripts without one
    name = script.name
    if script.user is not None:
        who = identity(script.user[0], script.user[1], messages)
        if who is None:
            messages.append(f"Unable to set uid/gid for script '{script.script.text}'")
            return None
    elif default is None:
        messages.append(f"Unable to set default user for vrrp script {name} - removing")
        return None
    else:
        who = default
    checked = check_command(script.script.argv, who, security, messages)
    if not isinstance(checked, Checked):
        if checked == INSECURE:
            messages.append(f"Disabling track script {name} due to insecure")
        elif checked != NOT_EXECUTABLE:
            messages.append(f"Disabling track script {name} since not found/accessible")
        return None
    spec = ScriptSpec(
        name=name,
        argv=checked.argv,
        interval=float(script.interval),
        timeout=float(script.timeout or script.interval),
        rise=script.rise,
        fall=script.fall,
        uid=checked.uid,
        gid=checked.gid,
        init_fail=script.init_fail,
    )
    return spec, checked.insecure
