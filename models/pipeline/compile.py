"""The first stage of a solve: the problem compiled once into sparse index sets, and, for
a pure scheduling problem, the start windows cut by the schedule core's makespan
(:mod:`models.heuristics.cp_schedule`). Where the trials that must run cannot all be
scheduled, or need more of a contracted service than its volume, the solve ends here
with an infeasible plan that says which.
"""

from __future__ import annotations

import time

from models.contract.plan import Explanation, Plan, StageTiming
from models.contract.problem import Problem
from models.formulation.instance import compile_instance
from models.heuristics.cp_schedule import STAGE as CORE_STAGE
from models.heuristics.cp_schedule import tighten_with_core
from models.pipeline.candidates import Candidates
from models.pipeline.clock import SCHEDULE_CORE_SHARE, Clock
from models.pipeline.diagnose import diagnosed, volumes_short
from models.pipeline.state import SolveState
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings


def compile_stage(problem: Problem, settings: EngineSettings, monitor: Monitor, began: float) -> SolveState:
    """The clock started, the problem compiled once (start windows cut for a pure scheduling problem)."""
    clock = Clock.start(problem, settings.time_limit, began)
    compiling = time.perf_counter()
    inst = compile_instance(problem)
    tightened = tighten_with_core(inst, settings, SCHEDULE_CORE_SHARE * clock.left(), SCHEDULE_CORE_SHARE * settings.time_limit, monitor)
    core = tightened.core if tightened is not None else None
    timings = [StageTiming(stage="compile", seconds=time.perf_counter() - compiling - (core.seconds if core else 0.0))]
    best = Candidates(inst, monitor)
    if tightened is None or core is None:
        return SolveState(problem, settings, inst, clock, monitor, timings, best)
    timings.append(StageTiming(stage=CORE_STAGE, seconds=core.seconds, solver_seconds=core.seconds, status=core.status))
    if tightened.staffed is not None:
        # A plan in hand before HiGHS starts: a round cut short by the clock loses nothing.
        best.consider(tightened.staffed, CORE_STAGE)
    # The core's bound is on the makespan, and every plan's objective is its makespan plus
    # scaled costs (never negative): it joins round 0's bound as the exact LP's would.
    bound = None if core.lower_bound is None else float(core.lower_bound)
    return SolveState(problem, settings, inst, clock, monitor, timings, best, lp_bound=bound)


def unschedulable_plan(s: SolveState) -> Plan | None:
    """An infeasible plan naming each trial that must run but has no start left, or each
    contract volume below what they need at the least, else None."""
    inst = s.inst
    if short := volumes_short(inst):
        return s.empty("infeasible", "trials that must run need more of a contracted service than its volume", short)
    unschedulable = [t for t in sorted(inst.forced_run) if not any(inst.starts[(t, o.id)] for o in inst.trials[t].options)]
    if not unschedulable:
        return None
    if any(t.stage == CORE_STAGE and t.status == "infeasible" for t in s.timings):
        # The core closed every window: no schedule of the trials that must run fits.
        why = [Explanation(reason="no schedule of the trials that must run fits role capacity, services, contract "
                                  "volumes, windows and predecessors together (the schedule core proved it)")]
        return diagnosed(s, "trials that must run cannot all be scheduled", why)
    why = [Explanation(trial=t, reason="no start month satisfies its window, deadline, predecessors and pins") for t in unschedulable]
    return diagnosed(s, "trials that must run have no feasible start", why)
