"""One virtual router: the VRRP state machine, without sockets, clocks or netlink.

Events come in with an explicit `now` (monotonic seconds) and actions come out
(services.vrrp.actions). The service sleeps until `next_deadline()` and then
calls `timer_fired(now)`; after any call on a member of a sync group it must
re-read the deadlines of every member, since the group moves them together.

The behaviour is RFC 5798's (RFC 3768's for VRRPv2) as keepalived 2.2.7
implements it (vrrp.c vrrp_state_backup, vrrp_state_master_rx,
vrrp_state_master_tx, vrrp_state_leave_master, vrrp_state_leave_fault;
vrrp_scheduler.c vrrp_init_state, try_up_instance; vrrp_track.c down_instance,
vrrp_set_effective_priority). Where the two differ:

- A MASTER that hears a lower priority sends an advert at once unless
  lower_prio_no_advert is set (keepalived; the RFC discards it, which is what
  lower_prio_no_advert and strict mode give).
- The MASTER's advert timer restarts only when it sends an advert (RFC).
  keepalived also restarts it on any advert received, valid or not, so a flood
  of bad adverts could silence its MASTER.
- MASTER -> FAULT sends one priority 0 advert; keepalived sends two in a row.
- An address owner whose fault clears comes back through BACKUP and takes over
  when the master down timer expires, as in keepalived; only at startup does it
  go to MASTER at once (RFC 5798 6.4.1).
- A priority change in BACKUP moves the running down timer by the change in
  skew time. keepalived recomputes the whole interval, so a change made just
  after a priority 0 advert stretches the short skew-only timer to a full one.
- During vrrp_startup_delay an address owner waits in INIT (keepalived waits as
  a BACKUP that tells no one); other routers wait in BACKUP, as in keepalived.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

from services.vrrp.actions import (
    Action,
    AnnounceSource,
    Log,
    LowerPriorityAdvert,
    PriorityChanged,
    Resumed,
    SendAdvert,
    Transition,
)
from services.vrrp.received import Received
from services.vrrp.settings import RouterSettings
from services.vrrp.states import State, check_transition

IPAddress = IPv4Address | IPv6Address

PRIORITY_OWNER = 255
PRIORITY_STOP = 0
# A timer is due when `now` reaches it; a wake-up this early still counts (float rounding).
TIMER_SLACK = 1e-6


class SyncHooks(Protocol):
    """What a router asks of the vrrp_sync_group it belongs to (services.vrrp.sync)."""

    name: str

    def may_become_master(self, router: VirtualRouter) -> bool: ...

    def after_event(self, router: VirtualRouter, old: State, now: float, reason: str) -> list[Action]: ...

    def member_fault(self, router: VirtualRouter, now: float, reason: str) -> list[Action]: ...

    def member_ready(self, router: VirtualRouter, now: float, reason: str) -> list[Action]: ...

    def member_names(self) -> tuple[str, ...]: ...


class VirtualRouter:
    def __init__(self, settings: RouterSettings) -> None:
        self._settings = settings
        self._state = State.INIT
        # The state this router would be in, whatever its sync group says (keepalived's wantstate).
        self._wantstate = settings.initial_state
        self._started = False
        self._priority = settings.priority
        self._demoted_owner = False
        self._fault = False
        self._pending = False
        self._fault_reason = ""
        self._primary = settings.primary_address
        self._master_adver_int = settings.advert_int
        self._master_address: IPAddress | None = None
        self._master_priority = 0
        self._last_advert = 0.0  # MASTER: when the last advert went out
        self._down_deadline = 0.0  # BACKUP: when the master down timer expires
        self._advert_at = float("-inf")  # when the last advert reached this router through advert_received
        self._start_at: float | None = None  # INIT: an owner waiting for vrrp_startup_delay
        self._delayed_start: float | None = None
        self._preempt_at: float | None = None
        self._group: SyncHooks | None = None

    # ------------------------------------------------------------------ reading

    @property
    def name(self) -> str:
        return self._settings.name

    @property
    def settings(self) -> RouterSettings:
        return self._settings

    @property
    def state(self) -> State:
        return self._state

    @property
    def wantstate(self) -> State:
        return self._wantstate

    @property
    def started(self) -> bool:
        return self._started

    @property
    def priority(self) -> int:
        """The effective priority: what this router advertises."""
        return self._priority

    @property
    def fault(self) -> bool:
        """This router's own trackers put it in FAULT (not only its sync group)."""
        return self._fault

    @property
    def pending(self) -> bool:
        """Some tracker that can fault this router has not reported yet."""
        return self._pending

    @property
    def fault_reason(self) -> str:
        return self._fault_reason

    @property
    def primary_address(self) -> IPAddress | None:
        """The address this router's adverts come from, which breaks ties between equal priorities."""
        return self._primary

    @property
    def master_address(self) -> IPAddress | None:
        """The source of the last advert accepted from a MASTER (keepalived's master_saddr)."""
        return self._master_address

    @property
    def master_priority(self) -> int:
        return self._master_priority

    @property
    def master_adver_int(self) -> float:
        return self._master_adver_int

    @property
    def group(self) -> SyncHooks | None:
        return self._group

    def next_deadline(self) -> float | None:
        """When `timer_fired` is next due; None while no timer runs (FAULT, STOP, INIT)."""
        if self._state is State.MASTER:
            return self._last_advert + self._settings.advert_int
        if self._state is State.BACKUP:
            return self._down_deadline
        if self._state is State.INIT:
            return self._start_at
        return None

    # ------------------------------------------------------------------ timers

    def skew_time(self, priority: int | None = None) -> float:
        """RFC 3768: (256 - Priority) / 256; RFC 5798: that times Master_Adver_Interval."""
        value = 256 - (self._priority if priority is None else priority)
        if self._settings.version == 3:
            return value * self._master_adver_int / 256
        return value / 256

    def master_down_interval(self, priority: int | None = None) -> float:
        return self._settings.down_timer_adverts * self._master_adver_int + self.skew_time(priority)

    def _reset_down_timer(self, now: float, interval: float) -> None:
        start = now
        if self._delayed_start is not None:
            if now < self._delayed_start:
                start = self._delayed_start
            else:
                self._delayed_start = None
        self._down_deadline = start + interval

    # ------------------------------------------------------------------ events

    def join(self, group: SyncHooks) -> None:
        """Make this router a member of a sync group (done by services.vrrp.sync.SyncGroup)."""
        if self._group is not None and self._group is not group:
            raise ValueError(f"({self.name}) is already in sync group {self._group.name}")
        self._group = group

    def startup(self, now: float) -> list[Action]:
        """RFC 5798 6.4.1 Startup, at the start of the service (vrrp_startup_delay applies)."""
        self._require_unstarted("startup")
        if self._group is not None:
            raise RuntimeError(f"({self.name}) is in sync group {self._group.name}: start the group")
        self._started = True
        if self._settings.startup_delay > 0:
            self._delayed_start = now + self._settings.startup_delay
        if self._fault:
            self._wantstate = State.FAULT
        return self._leave_init(now, "startup", self._wantstate)

    def resume(
        self, previous: State, now: float, master: IPAddress | None = None, *, reason: str = "resumed"
    ) -> list[Action]:
        """Take up the state a previous run of the service left, without a transition.

        A MASTER sends an advert at once and keeps its VIPs; a BACKUP restarts its
        master down timer; a FAULT stays quiet. Trackers already reported through
        `trackers_changed` then apply: a fault moves the router to FAULT, a cleared
        one brings it up. Trackers still pending do not hold a resumed MASTER back:
        they move it when they report. An INIT or STOP previous state is a plain
        startup without vrrp_startup_delay.
        """
        self._require_unstarted("resume")
        self._started = True
        self._master_address = master
        if previous not in (State.MASTER, State.BACKUP, State.FAULT):
            if self._fault:
                self._wantstate = State.FAULT
            return self._leave_init(now, reason, self._wantstate)
        return self._adopt(previous, now, reason)

    def _adopt(self, previous: State, now: float, reason: str, *, advertise: bool = True) -> list[Action]:
        self._state = previous
        self._wantstate = previous
        actions: list[Action] = [Resumed(self.name, previous)]
        if previous is State.MASTER:
            self._log(actions, f"Resuming MASTER STATE ({reason})")
            if advertise and not self._fault:
                actions += self._advertise(now, self._priority)
            else:
                self._last_advert = now
        elif previous is State.BACKUP:
            self._log(actions, f"Resuming BACKUP STATE ({reason})")
            self._reset_down_timer(now, self.master_down_interval())
        else:
            self._log(actions, f"Resuming FAULT STATE ({reason})")
        if self._fault and previous is not State.FAULT:
            actions += self._go_down(now, self._fault_reason)
        elif not self._fault and not self._pending and previous is State.FAULT:
            actions += self._come_up(now, reason)
        return actions

    def reconfigure(self, settings: RouterSettings, now: float) -> list[Action]:
        """A reload changed this router's settings but not its identity: keep its state.

        As keepalived's reload does (vrrp.c restore_vrrp_state, vrrp_init_state): a
        MASTER advertises at once (its deadline is now, so that a `trackers_changed`
        with the new trackers' priority can come first), a BACKUP restarts its master
        down timer, what it learnt from the MASTER is forgotten, and the effective
        priority starts again from the configured one until the trackers report.
        """
        if self._state is State.STOP:
            raise RuntimeError(f"({self.name}) is stopped")
        old_priority = self._priority
        self._settings = settings
        self._primary = settings.primary_address
        self._demoted_owner = False
        self._priority = settings.priority
        self._master_adver_int = settings.advert_int
        self._master_address = None
        self._master_priority = 0
        self._preempt_at = None
        actions: list[Action] = []
        if self._priority != old_priority:
            actions.append(PriorityChanged(self.name, old_priority, self._priority))
        if self._state is State.INIT:
            if not self._started:
                self._wantstate = settings.initial_state
            return actions
        if self._state in (State.MASTER, State.BACKUP):
            self._wantstate = self._state
        if self._state is State.MASTER:
            self._last_advert = now - settings.advert_int
        elif self._state is State.BACKUP:
            self._reset_down_timer(now, self.master_down_interval())
        return actions

    def primary_address_changed(self, address: IPAddress | None) -> None:
        """The interface's primary address changed (only used when no source address is configured)."""
        self._primary = address

    def timer_fired(self, now: float) -> list[Action]:
        deadline = self.next_deadline()
        if deadline is None or now + TIMER_SLACK < deadline:
            return []
        old = self._state
        actions: list[Action] = []
        if old is State.MASTER:
            actions += self._advertise(now, self._priority)
        elif old is State.BACKUP:
            self._log(actions, "Receive advertisement timeout", detail=True)
            actions += self._goto_master(now, "master down timer expired")
        else:
            self._start_at = None
            actions += self._goto_master(now, "startup")
        actions += self._after(old, now, "master down timer expired" if old is State.BACKUP else "advert sent")
        return actions

    def advert_received(self, advert: Received, now: float) -> list[Action]:
        """An advert that passed services.vrrp.acceptance (whose address check a BACKUP may
        skip for `master_address`). One dropped there changes nothing here: a BACKUP's
        master down timer keeps running, as keepalived's does for any advert it ignores."""
        self._advert_at = now
        if self._state is State.BACKUP:
            return self._backup_received(advert, now)
        if self._state is State.MASTER:
            return self._master_received(advert, now)
        # keepalived ignores adverts until the router is up, and while in FAULT.
        return []

    def repeat_changes_nothing(self, advert: Received) -> bool:
        """Whether hearing `advert` again, at any later time and with nothing else happening,
        would only restart the master down timer (RFC 5798 6.4.2's steady BACKUP): then the
        service may let the kernel hold its repeats back and report only the last one's
        arrival through `repeat_heard`."""
        settings = self._settings
        return (
            self._state is State.BACKUP
            and self._wantstate is State.BACKUP
            and self._started
            and advert.priority != PRIORITY_STOP
            and (advert.priority >= self._priority or (settings.nopreempt and settings.preempt_delay == 0))
            and self._preempt_at is None
            and self._delayed_start is None
            and advert.source == self._master_address
            and advert.priority == self._master_priority
            and (settings.version != 3 or advert.interval == self._master_adver_int)
        )

    def repeat_heard(self, advert: Received, at: float) -> None:
        """A repeat of `advert` arrived at `at` (the kernel's time, possibly before the last
        event this router saw). It counts only if nothing reached the router since: a
        repeat that arrived before a priority 0, say, must not restart the timer again."""
        if at <= self._advert_at or not self.repeat_changes_nothing(advert):
            return
        self._down_deadline = max(self._down_deadline, at + self.master_down_interval())

    def trackers_changed(
        self, effective_priority: int, fault: bool, now: float, reason: str, *, pending: bool = False
    ) -> list[Action]:
        """The trackers' verdict (services.vrrp.trackers.TrackerSet): the priority to
        advertise, whether the router must be in FAULT, and whether some tracker that
        could fault it has not reported yet (the router then waits in INIT).

        Before the router starts this only records the verdict.
        """
        if not PRIORITY_STOP < effective_priority <= PRIORITY_OWNER:
            raise ValueError(f"({self.name}) effective priority {effective_priority} out of range")
        actions: list[Action] = []
        if self._demoted_owner:
            effective_priority = min(effective_priority, PRIORITY_OWNER - 1)
        if effective_priority != self._priority:
            actions += self._set_priority(effective_priority)
        self._fault = fault
        self._pending = pending
        if fault:
            self._fault_reason = reason
        if not self._started or self._state is State.STOP:
            return actions
        if fault and self._state is not State.FAULT:
            actions += self._go_down(now, reason)
        elif not fault and not pending and (
            self._state is State.FAULT or (self._state is State.INIT and self._start_at is None)
        ):
            actions += self._come_up(now, reason)
        return actions

    def shutdown(self, now: float, *, release: bool = True) -> list[Action]:
        """Stop for good. A MASTER sends priority 0 so that a BACKUP takes over after its
        skew time; `release=False` (keepalived's --dont-release-vrrp) keeps quiet and
        leaves the VIPs to whoever comes next."""
        if self._state is State.STOP:
            return []
        old = self._state
        actions: list[Action] = []
        if old is State.MASTER and release:
            actions.append(SendAdvert(self.name, PRIORITY_STOP, self._settings.advert_int))
            self._log(actions, "sent 0 priority", detail=True)
        actions += self._enter(State.STOP, "shutdown")
        self._start_at = None
        return actions

    # ------------------------------------------------------------------ for the sync group

    def sync_to(self, state: State, now: float, reason: str) -> list[Action]:
        """Move with the sync group (keepalived's vrrp_sync_master/backup/fault): no
        cascade back to the group, which is moving everyone itself."""
        if self._state is state or not self._started or self._state is State.STOP:
            return []
        self._wantstate = state
        if state is State.MASTER:
            return self._goto_master(now, reason, gated=False)
        if self._state is State.MASTER:
            return self._leave_master(state, now, reason)
        return self._leave_fault(now, reason)

    def group_start(self, now: float, group_state: State, reason: str) -> list[Action]:
        """Start as a member of a sync group whose initial state is `group_state`."""
        self._require_unstarted("startup")
        self._started = True
        if self._settings.startup_delay > 0:
            self._delayed_start = now + self._settings.startup_delay
        if self._fault:
            self._wantstate = State.FAULT
        return self._leave_init(now, reason, group_state)

    def hold_back(self) -> None:
        """Before startup: a sync group that cannot start as MASTER makes every member
        start wanting BACKUP (keepalived vrrp_complete_init)."""
        self._require_unstarted("hold_back")
        if self._wantstate is State.MASTER:
            self._wantstate = State.BACKUP

    def group_resume(
        self, previous: State, now: float, master: IPAddress | None, reason: str, *, advertise: bool = True
    ) -> list[Action]:
        """Resume as a member of a sync group (SyncGroup.resume decides `previous`, and
        whether a resumed MASTER advertises or is about to step down)."""
        self._require_unstarted("resume")
        self._started = True
        self._master_address = master
        return self._adopt(previous, now, reason, advertise=advertise)

    def hold_in_init(self, now: float) -> None:
        """Started, but the sync group waits for a member's trackers to report."""
        self._require_unstarted("startup")
        self._started = True
        if self._settings.startup_delay > 0:
            self._delayed_start = now + self._settings.startup_delay

    # ------------------------------------------------------------------ the machine

    def _require_unstarted(self, what: str) -> None:
        if self._started:
            raise RuntimeError(f"({self.name}) {what}: already started")

    def _log(self, actions: list[Action], text: str, *, detail: bool = False) -> None:
        actions.append(Log(self.name, f"({self.name}) {text}", detail))

    def _enter(self, new: State, reason: str) -> list[Action]:
        old = self._state
        check_transition(self.name, old, new)
        self._state = new
        return [Transition(self.name, old, new, reason)]

    def _advertise(self, now: float, priority: int) -> list[Action]:
        self._last_advert = now
        return [SendAdvert(self.name, priority, self._settings.advert_int)]

    def _after(self, old: State, now: float, reason: str) -> list[Action]:
        if self._group is None:
            return []
        return self._group.after_event(self, old, now, reason)

    def _leave_init(self, now: float, reason: str, target: State) -> list[Action]:
        """vrrp_init_state(): where a started router goes first."""
        actions: list[Action] = []
        if self._fault or target is State.FAULT:
            self._log(actions, "Entering FAULT STATE (init)")
            actions += self._enter(State.FAULT, self._fault_reason if self._fault else reason)
            return actions
        if self._pending:
            return actions
        self._master_adver_int = self._settings.advert_int
        if target is State.MASTER and self._settings.owner and self._wantstate is State.MASTER:
            if self._delayed_start is not None and now < self._delayed_start:
                self._start_at = self._delayed_start
                return actions
            return self._goto_master(now, reason)
        if target is State.BACKUP and self._wantstate is State.MASTER:
            # A sync group holds this would-be MASTER back: give it one advert interval to hear one.
            interval = self._master_adver_int + self.skew_time(PRIORITY_OWNER)
        else:
            interval = self.master_down_interval()
        self._reset_down_timer(now, interval)
        self._log(actions, "Entering BACKUP STATE (init)")
        actions += self._enter(State.BACKUP, reason)
        return actions

    def _goto_master(self, now: float, reason: str, *, gated: bool = True) -> list[Action]:
        """vrrp_state_goto_master(): unless the sync group holds it back."""
        if gated and self._group is not None and not self._group.may_become_master(self):
            self._wantstate = State.MASTER
            if self._state is State.BACKUP:
                self._reset_down_timer(now, self.master_down_interval())
            return []
        self._wantstate = State.MASTER
        self._master_adver_int = self._settings.advert_int
        # The advert goes first, so that an old MASTER drops the VIPs before our ARPs.
        actions = self._advertise(now, self._priority)
        self._log(actions, "Entering MASTER STATE")
        actions += self._enter(State.MASTER, reason)
        return actions

    def _leave_master(self, new: State, now: float, reason: str) -> list[Action]:
        """vrrp_state_leave_master(): to BACKUP quietly, to FAULT with a priority 0 advert."""
        actions: list[Action] = []
        if new is State.BACKUP:
            self._log(actions, "Entering BACKUP STATE")
            self._preempt_at = None
        else:
            self._log(actions, "Entering FAULT STATE")
            actions.append(SendAdvert(self.name, PRIORITY_STOP, self._settings.advert_int))
            self._log(actions, "sent 0 priority", detail=True)
        actions += self._enter(new, reason)
        self._reset_down_timer(now, self.master_down_interval())
        return actions

    def _leave_fault(self, now: float, reason: str) -> list[Action]:
        """vrrp_state_leave_fault(): to the state wanted (also from INIT, for a sync group)."""
        if self._wantstate is State.MASTER:
            return self._goto_master(now, reason, gated=False)
        actions: list[Action] = []
        new = self._wantstate
        if new is State.BACKUP:
            self._preempt_at = None
        self._master_adver_int = self._settings.advert_int
        if new is not self._state:
            self._log(actions, f"Entering {new} STATE")
            actions += self._enter(new, reason)
        self._start_at = None
        if new is State.BACKUP:
            self._reset_down_timer(now, self.master_down_interval())
        return actions

    def _go_down(self, now: float, reason: str) -> list[Action]:
        """down_instance(): a tracker failed."""
        self._wantstate = State.FAULT
        if self._state is State.MASTER:
            actions = self._leave_master(State.FAULT, now, reason)
        else:
            actions = self._leave_fault(now, reason)
        if self._group is not None:
            actions += self._group.member_fault(self, now, reason)
        return actions

    def _come_up(self, now: float, reason: str) -> list[Action]:
        """try_up_instance(): the trackers are all well again (or reported for the first time)."""
        leaving_init = self._state is State.INIT
        if not (leaving_init and self._wantstate is State.MASTER and self._settings.owner):
            self._wantstate = State.BACKUP
        if self._group is not None:
            return self._group.member_ready(self, now, reason)
        return self._bring_up(now, reason)

    def bring_up(self, now: float, reason: str) -> list[Action]:
        """Leave FAULT or INIT for the state wanted (the sync group calls this once its
        members are all well)."""
        return self._bring_up(now, reason)

    def _bring_up(self, now: float, reason: str) -> list[Action]:
        want = self._wantstate
        if want is State.MASTER and self._group is not None and not self._group.may_become_master(self):
            # The group cannot go MASTER yet: come up as BACKUP, still wanting MASTER.
            self._wantstate = State.BACKUP
            actions = self._leave_fault(now, reason)
            self._wantstate = want
        else:
            actions = self._leave_fault(now, reason)
        if self._settings.unicast and self._primary is not None and self._state is not State.FAULT:
            actions.append(AnnounceSource(self.name, self._primary))
        return actions

    def _set_priority(self, priority: int) -> list[Action]:
        """vrrp_set_effective_priority(): a BACKUP's running down timer moves with its skew."""
        old = self._priority
        actions: list[Action] = []
        self._log(actions, f"Changing effective priority from {old} to {priority}")
        if self._state is State.BACKUP:
            self._down_deadline += self.skew_time(priority) - self.skew_time(old)
        self._priority = priority
        actions.append(PriorityChanged(self.name, old, priority))
        return actions

    def _compare_source(self, source: IPAddress) -> int:
        """keepalived's vrrp_saddr_cmp(): an advert's source against our primary address."""
        ours = self._primary
        if ours is None:
            return 1 if int(source) else 0
        if ours.version != source.version:
            return 0
        return (int(source) > int(ours)) - (int(source) < int(ours))

    def _backup_received(self, advert: Received, now: float) -> list[Action]:
        """vrrp_state_backup() / RFC 5798 6.4.2."""
        settings = self._settings
        actions: list[Action] = []
        if advert.priority == PRIORITY_STOP:
            self._log(actions, "Backup received priority 0 advertisement", detail=True)
            self._reset_down_timer(now, self.skew_time())
            return actions
        waiting = settings.preempt_delay > 0 and (self._preempt_at is None or self._preempt_at > now)
        if settings.nopreempt or advert.priority >= self._priority or waiting:
            if settings.version == 3 and advert.interval != self._master_adver_int:
                self._log(
                    actions,
                    f"advertisement interval updated from {round(self._master_adver_int * 1000)}ms to "
                    f"{round(advert.interval * 1000)}ms by master",
                    detail=True,
                )
                self._master_adver_int = advert.interval
            self._master_address = advert.source
            self._master_priority = advert.priority
            if settings.preempt_delay > 0:
                if advert.priority >= self._priority:
                    if self._preempt_at is not None:
                        self._log(actions, "stop preempt delay", detail=True)
                        self._preempt_at = None
                elif self._preempt_at is None:
                    self._log(actions, f"start preempt delay ({settings.preempt_delay:.6f})", detail=True)
                    self._preempt_at = now + settings.preempt_delay
            self._wantstate = State.BACKUP
            self._reset_down_timer(now, self.master_down_interval())
            return actions
        self._log(actions, f"received lower priority ({advert.priority}) advert from {advert.source} - discarding")
        self._master_address = advert.source
        return actions

    def _master_received(self, advert: Received, now: float) -> list[Action]:
        """vrrp_state_master_rx() / RFC 5798 6.4.3."""
        settings = self._settings
        actions: list[Action] = []
        ours = self._priority
        theirs = advert.priority
        cmp = self._compare_source(advert.source)
        higher = theirs > ours or (theirs == ours and cmp > 0)
        if theirs == PRIORITY_STOP or (settings.higher_prio_send_advert and higher):
            actions += self._advertise(now, ours)
            if theirs == PRIORITY_STOP:
                self._log(actions, "Master received priority 0 message", detail=True)
                return actions
        if theirs == ours:
            if cmp == 0:
                self._log(actions, "WARNING - equal priority advert received from remote host with our IP address.")
            elif ours == PRIORITY_OWNER:
                self._log(
                    actions,
                    "CONFIGURATION ERROR: local instance and a remote instance are both configured as "
                    "address owner, please fix - reducing local priority",
                )
                self._demoted_owner = True
                self._priority = ours = PRIORITY_OWNER - 1
                actions.append(PriorityChanged(self.name, PRIORITY_OWNER, ours))
                higher = theirs > ours or (theirs == ours and cmp > 0)
        if theirs < ours or (theirs == ours and cmp < 0):
            election = "" if settings.lower_prio_no_advert else ", forcing new election"
            self._log(
                actions,
                f"Received advert from {advert.source} with lower priority {theirs}, ours {ours}{election}",
            )
            if not settings.lower_prio_no_advert:
                actions += self._advertise(now, ours)
            announce: tuple[str, ...] = (self.name,)
            if self._group is not None:
                announce += tuple(n for n in self._group.member_names() if n != self.name)
            actions.append(LowerPriorityAdvert(self.name, advert.source, theirs, announce))
            return actions
        if not higher:
            return actions
        if theirs > ours:
            self._log(
                actions, f"Master received advert from {advert.source} with higher priority {theirs}, ours {ours}"
            )
            reason = f"higher priority advert from {advert.source} (priority {theirs})"
        else:
            self._log(
                actions,
                f"Master received advert from {advert.source} with same priority {theirs} but higher IP address "
                "than ours",
            )
            reason = f"equal priority advert from higher address {advert.source}"
        if settings.version == 3 and advert.interval != self._master_adver_int:
            self._master_adver_int = advert.interval
        self._master_address = advert.source
        self._master_priority = theirs
        self._wantstate = State.BACKUP
        actions += self._leave_master(State.BACKUP, now, reason)
        actions += self._after(State.MASTER, now, reason)
        return actions
