"""services.notifier.core: what each event asks for, in order, and what has been acted on."""

from __future__ import annotations

import signal

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.core import (
    FifoLine,
    Kill,
    Known,
    Log,
    NotifierCore,
    Run,
    SendMail,
    Settings,
    UnitSettings,
    unit_of,
)
from services.notifier.plan import Notifying, Runnable

NOTIFY = Runnable(("/etc/keepalived/notify.sh",))
VI_1 = UnitSettings(
    Notifying(
        "INSTANCE",
        "VI_1",
        {"notify_master": Runnable(("/etc/keepalived/notify.sh", "master")), "notify": NOTIFY},
    ),
    smtp_alert=True,
    priority_changes=True,
)
G1 = UnitSettings(Notifying("GROUP", "G1", {"notify": NOTIFY}), smtp_alert=True)
SETTINGS = Settings({"INSTANCE VI_1": VI_1, "GROUP G1": G1}, timeout=5.0, fifo=True, mail=True, router_id="lb1")


def transition(state: str, priority: int = 100, **more: object) -> dict[str, object]:
    return {"event": "transition", "state": state, "previous": "BACKUP", "reason": "test", "priority": priority, **more}


def runs(actions: list[object]) -> list[tuple[str, ...]]:
    return [a.command.argv for a in actions if isinstance(a, Run)]


def finish_all(core: NotifierCore, actions: list[object], now: float = 0.0) -> list[tuple[str, ...]]:
    """Let every started command end at once, in turn; every argv that ran, in order."""
    ran: list[tuple[str, ...]] = []
    pending = [a for a in actions if isinstance(a, Run)]
    while pending:
        run = pending.pop(0)
        ran.append(run.command.argv)
        pending += [a for a in core.ended(run.job, now) if isinstance(a, Run)]
    return ran


def test_a_transition_runs_the_state_script_then_notify_writes_the_fifo_and_mails() -> None:
    core = NotifierCore(SETTINGS)
    actions = core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0)
    assert runs(actions) == [("/etc/keepalived/notify.sh", "master")]  # notify waits for it
    assert FifoLine('INSTANCE "VI_1" MASTER 100\n') in actions
    (mail,) = [a.mail for a in actions if isinstance(a, SendMail)]
    assert mail.subject == "[lb1] VRRP Instance VI_1 - Entering MASTER state"
    assert mail.body == "=> VRRP Instance is now owning VRRP VIPs <="
    (first,) = [a for a in actions if isinstance(a, Run)]
    assert runs(core.ended(first.job, 0.1)) == [("/etc/keepalived/notify.sh", "INSTANCE", "VI_1", "MASTER", "100")]


def test_a_group_transition_reports_priority_0_and_the_group_mail() -> None:
    core = NotifierCore(SETTINGS)
    actions = core.event(1, "vrrp_group/G1", {"event": "transition", "state": "FAULT", "previous": "MASTER"}, 0.0)
    assert runs(actions) == [("/etc/keepalived/notify.sh", "GROUP", "G1", "FAULT", "0")]
    assert FifoLine('GROUP "G1" FAULT 0\n') in actions
    (mail,) = [a.mail for a in actions if isinstance(a, SendMail)]
    assert (mail.subject, mail.body) == (
        "[lb1] VRRP Group G1 - Entering FAULT state",
        "=> All VRRP group instances are now in FAULT state <=",
    )


def test_mail_only_when_the_state_e_mailed_changes_and_no_email_faults() -> None:
    core = NotifierCore(SETTINGS)
    assert any(isinstance(a, SendMail) for a in core.event(1, "vrrp/VI_1", transition("BACKUP"), 0.0))
    assert not any(isinstance(a, SendMail) for a in core.event(2, "vrrp/VI_1", transition("BACKUP"), 0.0))
    quiet = NotifierCore(Settings(SETTINGS.units, fifo=False, mail=True, router_id="lb1", no_email_faults=True))
    assert not any(isinstance(a, SendMail) for a in quiet.event(1, "vrrp/VI_1", transition("FAULT"), 0.0))
    assert not any(isinstance(a, FifoLine) for a in quiet.event(2, "vrrp/VI_1", transition("MASTER"), 0.0))


def test_a_removed_instance_is_reported_as_fault_unless_notify_deleted() -> None:
    core = NotifierCore(SETTINGS)
    core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0)
    actions = core.event(2, "vrrp/VI_1", transition("STOP", removed=True), 0.0)
    assert FifoLine('INSTANCE "VI_1" FAULT 100\n') in actions
    deleted = UnitSettings(Notifying("INSTANCE", "VI_2", {"notify": NOTIFY}, notify_deleted=True))
    core = NotifierCore(Settings({"INSTANCE VI_2": deleted}, fifo=True))
    actions = core.event(1, "vrrp/VI_2", transition("STOP", 50, removed=True, previous="FAULT"), 0.0)
    assert runs(actions) == [("/etc/keepalived/notify.sh", "INSTANCE", "VI_2", "DELETED", "50")]
    # Already FAULT without notify_deleted: nothing more to say.
    core = NotifierCore(SETTINGS)
    core.event(1, "vrrp/VI_1", transition("FAULT"), 0.0)
    assert core.event(2, "vrrp/VI_1", transition("STOP", removed=True), 0.0) == []


def test_priority_lines_and_lower_priority_adverts_on_the_fifo() -> None:
    core = NotifierCore(SETTINGS)
    core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0)
    assert core.event(2, "vrrp/VI_1", {"event": "priority", "priority": 90, "previous_priority": 100}, 0.0) == [
        FifoLine('INSTANCE "VI_1" MASTER_PRIORITY 90\n')
    ]
    # Our own effective priority, not the advert's.
    lower = core.event(3, "vrrp/VI_1", {"event": "master_rx_lower_pri", "priority": 50, "source": "x"}, 0.0)
    assert lower == [FifoLine('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 90\n')]


def test_a_command_past_its_timeout_gets_term_then_kill_and_the_next_one_starts() -> None:
    core = NotifierCore(SETTINGS)
    (first,) = [a for a in core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0) if isinstance(a, Run)]
    assert core.next_deadline() == 5.0
    assert core.tick(4.9) == []
    timed_out = core.tick(5.0)
    assert Kill(first.job, signal.SIGTERM) in timed_out and any(isinstance(a, Log) for a in timed_out)
    assert core.tick(7.0) == [Kill(first.job, signal.SIGKILL)]
    assert core.tick(17.0) == [Kill(first.job, signal.SIGKILL, again=True)]
    assert runs(core.ended(first.job, 17.5)) == [("/etc/keepalived/notify.sh", "INSTANCE", "VI_1", "MASTER", "100")]


@given(st.lists(st.sampled_from(["MASTER", "BACKUP", "FAULT", "STOP"]), min_size=1, max_size=50))
def test_a_burst_of_transitions_runs_in_order_each_once(states: list[str]) -> None:
    core = NotifierCore(SETTINGS)
    actions: list[object] = []
    for seq, state in enumerate(states, 1):
        actions += core.event(seq, "vrrp/VI_1", transition(state), 0.0)
    expected: list[tuple[str, ...]] = []
    for state in states:
        if state == "MASTER":
            expected.append(("/etc/keepalived/notify.sh", "master"))
        expected.append(("/etc/keepalived/notify.sh", "INSTANCE", "VI_1", state, "100"))
    assert finish_all(core, actions) == expected
    assert core.idle and core.acted_through == len(states)
    fifo = [a.line for a in actions if isinstance(a, FifoLine)]
    assert fifo == [f'INSTANCE "VI_1" {s} 100\n' for s in states]


def test_acted_through_waits_for_every_command_of_earlier_events_to_start() -> None:
    core = NotifierCore(SETTINGS)
    first = [a for a in core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0) if isinstance(a, Run)]
    assert core.acted_through == 0  # notify of event 1 has not started
    core.event(2, "vrrp/other", {"event": "whatever"}, 0.0)
    core.event(3, "vrrp/VI_1", transition("BACKUP"), 0.0)
    assert core.acted_through == 0
    started = [a for a in core.ended(first[0].job, 0.0) if isinstance(a, Run)]
    assert core.acted_through == 2  # event 1 wholly started; 3 still waits behind it
    core.ended(started[0].job, 0.0)
    assert core.acted_through == 3


def test_after_lost_events_only_what_changed_is_notified_once() -> None:
    core = NotifierCore(SETTINGS)
    core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0)
    core.event(2, "vrrp_group/G1", {"event": "transition", "state": "MASTER"}, 0.0)
    actions = core.catch_up({"INSTANCE VI_1": Known("FAULT", 100), "GROUP G1": Known("MASTER", 0)}, 1.0)
    assert FifoLine('INSTANCE "VI_1" FAULT 100\n') in actions
    assert not any(isinstance(a, FifoLine) and "G1" in a.line for a in actions)
    assert core.catch_up({"INSTANCE VI_1": Known("FAULT", 100)}, 2.0) == []


def test_the_states_known_can_be_written_again_at_reload() -> None:
    core = NotifierCore(SETTINGS)
    core.event(1, "vrrp/VI_1", transition("MASTER"), 0.0)
    core.event(2, "vrrp_group/G1", {"event": "transition", "state": "MASTER"}, 0.0)
    assert core.state_lines() == [FifoLine('GROUP "G1" MASTER 0\n'), FifoLine('INSTANCE "VI_1" MASTER 100\n')]


def test_topics() -> None:
    assert unit_of("vrrp/VI_1") == "INSTANCE VI_1"
    assert unit_of("vrrp_group/G1") == "GROUP G1"
    assert unit_of("track/script/x") is None
