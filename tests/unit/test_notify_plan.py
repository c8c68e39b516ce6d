"""services.notifier.plan: keepalived's notify arguments, and one command at a time per instance."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.plan import (
    Command,
    Notifying,
    Queues,
    Runnable,
    for_lower_priority_advert,
    for_transition,
    removal_state,
)


def script(*argv: str) -> Runnable:
    return Runnable(argv)


INSTANCE = Notifying(
    "INSTANCE",
    "VI_1",
    {
        "notify_master": script("/etc/keepalived/notify.sh", "master"),
        "notify": script("/etc/keepalived/notify.sh"),
        "notify_master_rx_lower_pri": script("/usr/local/bin/lower"),
    },
)


def test_the_state_script_runs_as_configured_then_notify_with_the_four_arguments() -> None:
    commands = for_transition(INSTANCE, "MASTER", 100)
    assert [c.argv for c in commands] == [
        ("/etc/keepalived/notify.sh", "master"),
        ("/etc/keepalived/notify.sh", "INSTANCE", "VI_1", "MASTER", "100"),
    ]
    assert [c.what for c in commands] == ["notify_master", "notify"]
    # No notify_backup configured: only the generic script.
    assert [c.argv for c in for_transition(INSTANCE, "BACKUP", 90)] == [
        ("/etc/keepalived/notify.sh", "INSTANCE", "VI_1", "BACKUP", "90")
    ]


def test_a_group_reports_priority_0() -> None:
    group = Notifying("GROUP", "G1", {"notify": script("/n.sh", "x")})
    assert for_transition(group, "FAULT", 100)[0].argv == ("/n.sh", "x", "GROUP", "G1", "FAULT", "0")


def test_a_removed_instance_is_reported_as_fault_or_with_notify_deleted_as_deleted() -> None:
    plain = Notifying("INSTANCE", "VI_2", {"notify": script("/n.sh")})
    assert removal_state(plain, "MASTER") == "FAULT"
    assert removal_state(plain, "FAULT") is None  # already reported as FAULT
    deleted = Notifying("INSTANCE", "VI_2", {"notify_deleted": script("/d.sh")}, notify_deleted=True)
    assert removal_state(deleted, "FAULT") == "DELETED"
    assert [c.argv for c in for_transition(deleted, "DELETED", 50)] == [("/d.sh",)]
    # A FAULT transition is always FAULT, whatever notify_deleted says.
    assert for_transition(deleted, "FAULT", 50) == []


def test_a_lower_priority_advert_runs_its_script_as_configured() -> None:
    assert [c.argv for c in for_lower_priority_advert(INSTANCE)] == [("/usr/local/bin/lower",)]
    assert for_lower_priority_advert(Notifying("INSTANCE", "VI_3", {})) == []


def test_one_command_at_a_time_per_unit_in_order() -> None:
    queues = Queues()
    first = queues.add(for_transition(INSTANCE, "MASTER", 100))
    assert [c.what for c in first] == ["notify_master"]  # notify waits for it
    other = Command("INSTANCE VI_9", ("/x",), None, None, "notify")
    assert queues.add([other]) == [other]  # another instance is not held up
    assert [c.what for c in queues.done("INSTANCE VI_1")] == ["notify"]
    assert queues.done("INSTANCE VI_1") == [] and queues.done("INSTANCE VI_9") == []
    assert queues.idle


@given(st.lists(st.sampled_from(["MASTER", "BACKUP", "FAULT"]), min_size=1, max_size=50))
def test_a_burst_of_transitions_runs_in_order_exactly_once(states: list[str]) -> None:
    queues = Queues()
    ran: list[tuple[str, ...]] = []
    running = queues.add([c for s in states for c in for_transition(INSTANCE, s, 100)])
    while running:
        (command,) = running
        ran.append(command.argv)
        running = queues.done(command.unit)
    expected = [c.argv for s in states for c in for_transition(INSTANCE, s, 100)]
    assert ran == expected
