"""vrrp_script scheduling and rise/fall, as keepalived 2.2.7 does them (pure: explicit `now`, no processes).

The adapter (services.script_runner) starts the runs this core asks for,
signals their process groups when it says so, and reports how each ended.

keepalived's rules (vrrp_scheduler.c vrrp_script_thread, vrrp_script_child_thread):
- a script first runs at start, then every `interval` (here on a fixed cadence
  that does not drift, the scripts' second runs spread evenly over their
  interval so that a thousand of them do not all fall due at once);
- `result` counts 0..rise+fall-1 and the script is OK while `result >= rise`;
  it starts at rise-1, so the first result decides at once either way;
  afterwards an OK script fails after `fall` failures in a row, and a failed one
  recovers after `rise` successes in a row;
- only exit status 0 is a success; a run still going at `timeout` (the interval
  when unset) gets SIGTERM to its process group, SIGKILL 2 s later, then SIGKILL
  every 10 s; dying of those signals is `timed_out`.

Two deliberate differences (docs/compatibility.md): `init_fail` does what
keepalived documents (the script counts as failed from the start, until `rise`
successes), where 2.2.7 ignores it for tracked scripts; and a script never
overlaps with itself. keepalived 2.2.7 logs "Track script X is already running, expect idle -
skipping run" and starts another copy anyway; here the run is skipped, as the
message says and as keepalived 2.0 did.
"""

from __future__ import annotations

import heapq
import itertools
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from services.script_runs import Ending, Exited

KILL_AFTER = 2.0  # seconds from SIGTERM to the first SIGKILL
KILL_AGAIN = 10.0  # seconds between further SIGKILLs of a group that will not die


@dataclass(frozen=True)
class ScriptSpec:
    name: str
    argv: tuple[str, ...]
    interval: float
    timeout: float  # seconds a run may take (keepalived: the interval when unset)
    rise: int = 1
    fall: int = 1
    uid: int | None = None  # None: as this process
    gid: int | None = None
    init_fail: bool = False  # assume failed until `rise` successes (keepalived's documented init_fail)


# ---------------------------------------------------------------- what the adapter must do


@dataclass(frozen=True)
class Spawn:
    script: str
    run: int  # the id the adapter reports the run's end with (and its start, with `launched`)
    due: float  # when the run was due


@dataclass(frozen=True)
class SignalGroup:
    script: str
    run: int
    signal: int
    again: bool = False  # a SIGKILL that did not take: the adapter logs it with the pid


@dataclass(frozen=True)
class Result:
    """The script's state changed (or was decided for the first time): publish it."""

    script: str
    ok: bool
    reason: str  # "succeeded", "failed (exited with status 1)", "timed_out", ...


@dataclass(frozen=True)
class Log:
    message: str


Action = Spawn | SignalGroup | Result | Log


class Phase(Enum):
    RUNNING = "running"
    TERMINATING = "terminating"  # SIGTERM sent
    KILLING = "killing"  # SIGKILL sent


@dataclass
class _Run:
    id: int
    due: float = 0.0  # when it was due to start
    phase: Phase = Phase.RUNNING
    next_step: float = 0.0  # when the timeout handling acts next


@dataclass
class ScriptState:
    spec: ScriptSpec
    result: int = 0
    decided: bool = False  # a first result came
    last_status: int = 0  # the last normal exit status (keepalived's "now returning" line)
    run: _Run | None = None
    next_launch: float = 0.0  # when the next run is due
    runs: int = 0
    skipped: int = 0  # runs not started because the previous one was still going

    @property
    def ok(self) -> bool:
        return self.result >= self.spec.rise


class ScriptsCore:
    def __init__(self, specs: Iterable[ScriptSpec]) -> None:
        self.scripts = {
            spec.name: ScriptState(spec, result=0, decided=True) if spec.init_fail else ScriptState(spec, spec.rise - 1)
            for spec in specs
        }
        # Seconds each run (but the first of each script, which is "at once") started after it was due;
        # the adapter takes them for its statistics.
        self.lateness: list[float] = []
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._run_ids = itertools.count(1)
        self._order = {name: index for index, name in enumerate(self.scripts)}
        self._started_at = 0.0

    def start(self, now: float) -> list[Action]:
        self._started_at = now
        actions: list[Action] = []
        for name, state in self.scripts.items():
            state.next_launch = now
            self._push(now, name)
            if state.spec.init_fail and state.runs == 0:
                actions.append(Result(name, False, "init_fail"))
        return actions + self.tick(now)

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, name = heapq.heappop(self._heap)
            state = self.scripts.get(name)
            if state is None:
                continue
            run = state.run
            if run is not None and run.next_step <= now:
                actions += self._time_out(state, run, now)
            if state.next_launch <= now:
                actions += self._launch(state, now)
        return actions

    def ended(self, name: str, run_id: int, ending: Ending, now: float) -> list[Action]:
        """A run ended (reaped by the adapter)."""
        state = self.scripts.get(name)
        if state is None or state.run is None or state.run.id != run_id:
            return []
        run, state.run = state.run, None
        actions: list[Action] = []
        if isinstance(ending, Exited):
            if ending.status != state.last_status:
                actions.append(Log(f"Script `{name}` now returning {ending.status}"))
                state.last_status = ending.status
            success = ending.status == 0
            reason = "succeeded" if success else f"failed (exited with status {ending.status})"
        else:
            timed_out = (run.phase is Phase.TERMINATING and ending.signal == signal.SIGTERM) or (
                run.phase is Phase.KILLING and ending.signal in (signal.SIGTERM, signal.SIGKILL)
            )
            success = False
            reason = "timed_out" if timed_out else f"failed (due to signal {ending.signal})"
        actions += self._count(state, success, reason)
        return actions

    # ------------------------------------------------------------ internals

    def _count(self, state: ScriptState, success: bool, reason: str) -> list[Action]:
        """keepalived's update of `result`; a Result when the state flips, or on the first result."""
        rise, fall = state.spec.rise, state.spec.fall
        first = not state.decided
        state.decided = True
        was_ok = state.ok
        if success:
            if state.result < rise - 1:
                state.result += 1
            else:
                state.result = rise + fall - 1
        elif state.result > rise:
            state.result -= 1
        else:
            state.result = 0
        if state.ok == was_ok and not first:
            return []
        name = state.spec.name
        return [Log(f"VRRP_Script({name}) {reason}"), Result(name, state.ok, reason)]

    def _launch(self, state: ScriptState, now: float) -> list[Action]:
        spec = state.spec
        due = state.next_launch
        if state.runs or state.skipped:
            # A fixed cadence from the first launch: lateness never adds up (keepalived counts each
            # interval from the previous launch, so it drifts by each launch's lateness).
            state.next_launch += spec.interval
            while state.next_launch <= now:
                state.next_launch += spec.interval
        else:
            state.next_launch = now + spec.interval  # until `launched` says when it really started
        self._push(state.next_launch, spec.name)
        if state.run is not None:
            state.skipped += 1
            doing = "already running" if state.run.phase is Phase.RUNNING else "being timed out"
            return [Log(f"Track script {spec.name} is {doing}, expect idle - skipping run")]
        run = _Run(next(self._run_ids), due=due, next_step=now + spec.timeout)
        state.run = run
        state.runs += 1
        self._push(run.next_step, spec.name)
        return [Spawn(spec.name, run.id, due)]

    def launched(self, name: str, run_id: int, at: float) -> None:
        """The adapter started run `run_id` at `at`: its timeout counts from then, and the
        lateness of every run but a script's first is recorded."""
        state = self.scripts.get(name)
        if state is None or state.run is None or state.run.id != run_id:
            return
        state.run.next_step = at + state.spec.timeout
        self._push(state.run.next_step, name)
        if state.runs == 1 and not state.skipped:
            # Every script's first run is at once; from the second on, the scripts are spread
            # evenly over their interval, so that many of them never fall due together.
            position = self._order[name] / len(self._order)
            state.next_launch = self._started_at + state.spec.interval * (1 + position)
            self._push(state.next_launch, name)
        else:
            self.lateness.append(at - state.run.due)

    def _time_out(self, state: ScriptState, run: _Run, now: float) -> list[Action]:
        name = state.spec.name
        actions: list[Action] = []
        if run.phase is Phase.RUNNING:
            run.phase, run.next_step = Phase.TERMINATING, now + KILL_AFTER
            actions.append(SignalGroup(name, run.id, signal.SIGTERM))
        else:
            again = run.phase is Phase.KILLING
            run.phase = Phase.KILLING
            run.next_step = now + (KILL_AGAIN if again else KILL_AFTER)
            actions.append(SignalGroup(name, run.id, signal.SIGKILL, again=again))
        self._push(run.next_step, name)
        return actions

    def _push(self, at: float, name: str) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), name))
