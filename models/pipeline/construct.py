"""The constructive stage: a first schedule for HiGHS and a staffed plan to fall back on.

The constructive schedule (:mod:`models.heuristics.constructive`) is round 0's warm start.
Staffed (rostered, shed to a valid plan, optional trials put back), it is the plan a solve
can always return: beside round 0 on a second thread for portfolios up to
``EngineSettings.staff_heuristic_beside_below`` staff x trials, last and only if it fits
for larger ones. Where no constructive schedule exists (people holding several roles, one
trial at a time), the serial plan with people booked as they go stands in for both.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from models.contract.plan import StageTiming
from models.formulation.instance import Instance
from models.formulation.objective import plan_objective
from models.heuristics.constructive import serial_plan
from models.heuristics.insertion import insert_trials
from models.heuristics.shed import Staffed, budget_roster, shed
from models.pipeline.candidates import Candidates, minimised
from models.pipeline.clock import FIRST_PLAN_GRACE
from models.solver.progress import Cutoff, Deadline, cutoff

Schedule = dict[str, tuple[str, int]]

#: How often :meth:`HeuristicBeside.collect` looks at the stop flag while it waits for the
#: worker (the monitor throttles the caller's flag itself, so this only bounds the delay).
COLLECT_POLL_SECONDS = 0.1


def serial(inst: Instance, best: Candidates, timings: list[StageTiming], deadline: float) -> Staffed | None:
    """The serial plan with people booked as they go (see :func:`models.heuristics.constructive.serial_plan`),
    offered to ``best``; it ends by the ``deadline`` or once the solve's monitor sees a stop (after
    ``FIRST_PLAN_GRACE`` if ``best`` holds no plan yet)."""
    began = time.perf_counter()
    plan = serial_plan(inst, best.monitor.cutoff(deadline, first_plan_grace(best)))
    if plan is not None:
        best.consider(plan, "serial")
    timings.append(StageTiming(stage="serial", seconds=time.perf_counter() - began, status="heuristic"))
    return plan


def staff_heuristic(inst: Instance, start: Schedule, best: Candidates, timings: list[StageTiming], shed_by: float, insert_by: float) -> None:
    """Staff the constructive schedule now: last, on portfolios above
    ``EngineSettings.staff_heuristic_beside_below`` (staff x trials), where one greedy roster
    costs real time; first, in reproducible mode (no thread races round 0).
    (Smaller portfolios staff it beside round 0: see :class:`HeuristicBeside`.)
    A stop the solve's monitor sees ends it at once (its roster and shedding after
    ``FIRST_PLAN_GRACE`` if ``best`` holds no plan yet), keeping what it had staffed."""
    began = time.perf_counter()
    monitor = best.monitor
    if (kept := staffed_heuristic(inst, start, monitor.cutoff(shed_by, first_plan_grace(best)), monitor.cutoff(insert_by))) is not None:
        best.consider(kept, "heuristic")
    timings.append(StageTiming(stage="heuristic-staffing", seconds=time.perf_counter() - began, status="heuristic"))


def first_plan_grace(best: Candidates) -> float:
    """How long a fallback may go on after a stop: ``FIRST_PLAN_GRACE`` while it would give the solve its first plan, else none."""
    return FIRST_PLAN_GRACE if best.solved is None else 0.0


def staffed_heuristic(inst: Instance, start: Schedule, deadline: Deadline = math.inf, insert_by: Deadline = math.inf) -> Staffed | None:
    """The constructive schedule with a roster, shedding what breaks a rule (None if nothing
    valid is left, or if the ``deadline`` passes or a stop is asked first), then optional
    trials put back while they fit and pay, until ``insert_by`` (or a stop)."""
    kept, roster_seconds = shed_heuristic(inst, start, deadline)
    return None if kept is None else insert_heuristic(inst, kept, insert_by, roster_seconds)


def shed_heuristic(inst: Instance, start: Schedule, deadline: Deadline = math.inf) -> tuple[Staffed | None, float]:
    """The constructive schedule rostered and shed to a valid plan, and how long its roster took
    (no plan if a stop cut the roster short)."""
    began = time.perf_counter()
    roster = budget_roster(inst, start, deadline)
    roster_seconds = time.perf_counter() - began
    if cutoff(deadline).stopped():
        return None, roster_seconds
    return shed(inst, start, roster, deadline), roster_seconds


def insert_heuristic(inst: Instance, kept: Staffed, insert_by: Deadline, roster_seconds: float) -> Staffed:
    """Shedding is blunt (on the reference it drops five trials, 1.72e9); insertion puts
    four back (2.12e9) in about 5 s."""
    return insert_trials(inst, kept, lambda solved: minimised(inst, solved), insert_by, roster_seconds=roster_seconds)


class HeuristicBeside:
    """The constructive plan staffed on a worker thread while round 0 runs in HiGHS.

    On portfolios up to ``EngineSettings.staff_heuristic_beside_below`` this plan is the
    fallback every solve can return; staffing it first cost 5 s of the reference's wall
    time before HiGHS started. HiGHS releases the GIL while it searches, so the roster
    takes the machine's second core instead. The worker starts when HiGHS first asks for
    a user solution (after its set-up): started with round 0, it slowed the Pyomo build
    and hand-over, which need the GIL, by 1.5 s on the reference. Once staffed, its
    schedule is handed to HiGHS as a solution (HiGHS asks for one repeatedly at the root
    node). The plan joins the candidates from the main thread (progress reports stay on
    one thread); if HiGHS never asked, it is staffed then.

    A stop reaches the worker through an event: the caller's stop flag may be a database
    query bound to the main thread, so only the main thread polls it (HiGHS's callback
    stops round 0 on it); :meth:`collect`, while it waits, sets the event with the moment
    the stop takes effect (``FIRST_PLAN_GRACE`` after it was seen if no other plan is in
    hand), which the worker's cutoffs read. The worker then returns within a segment of its roster.
    """

    def __init__(self, inst: Instance, start: Schedule, deadline: float, last_call: float):
        self._inst, self._start = inst, start
        self._stopping = threading.Event()
        self._stop_from = math.inf
        # Shedding makes the fallback plan, which may run to the last call; insertion only improves it.
        self._deadline = Cutoff(deadline, self._stopped)
        self._last_call = Cutoff(last_call, self._stopped)
        self._shed: tuple[Schedule, float] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pace-heuristic")
        self._future: Future[tuple[Staffed | None, float]] | None = None

    def _stopped(self) -> bool:
        """The worker's stop flag: set by :meth:`collect`, in effect from ``_stop_from``."""
        return self._stopping.is_set() and time.perf_counter() >= self._stop_from

    def _begin(self) -> Future[tuple[Staffed | None, float]]:
        if self._future is None:
            self._future = self._pool.submit(self._run)
        return self._future

    def _run(self) -> tuple[Staffed | None, float]:
        began = time.perf_counter()
        kept, roster_seconds = shed_heuristic(self._inst, self._start, self._last_call)
        if kept is None:
            return None, time.perf_counter() - began
        self._shed = kept.schedule, plan_objective(self._inst, kept.schedule, kept.staffing)
        return insert_heuristic(self._inst, kept, self._deadline, roster_seconds), time.perf_counter() - began

    def ready(self) -> tuple[Schedule, float] | None:
        """The shed plan's schedule and objective once it is staffed (None before, or if nothing
        valid was left): round 0 hands it to HiGHS as a solution while it runs, and insertion goes on.
        Handing HiGHS the plan after insertion instead (2.12e9 on the reference, found
        later) moved the generated 1x portfolio's result from 2.44 % to 3.01 % (one run
        each). The first call starts the roster."""
        self._begin()
        return self._shed

    def collect(self, best: Candidates, timings: list[StageTiming], alongside: str) -> None:
        """Wait for the plan (staffing it now if HiGHS never asked), offer it to ``best`` and record its time.

        While it waits it polls the solve's monitor every ``COLLECT_POLL_SECONDS`` and passes
        a stop on to the worker, which then returns what it has (no plan, if its roster or
        shedding was cut short; the plan before insertion's current attempt, if insertion was)."""
        overlapped = self._future is not None
        future = self._begin()
        try:
            while not wait([future], timeout=COLLECT_POLL_SECONDS).done:
                if not self._stopping.is_set() and best.monitor.stopped() and best.monitor.stop_seen is not None:
                    # The moment is written before the event is set: the worker reads it only after.
                    self._stop_from = best.monitor.stop_seen + first_plan_grace(best)
                    self._stopping.set()
            kept, seconds = future.result()
        finally:
            self._pool.shutdown()
        if kept is not None:
            best.consider(kept, "heuristic")
        timings.append(
            StageTiming(stage="heuristic-staffing", seconds=seconds, status="heuristic", alongside=alongside if overlapped else "")
        )
