"""The staffing stage of a round: the best roster of a schedule, by what repair it would need."""

from __future__ import annotations

import time

from models.contract.plan import StageTiming
from models.formulation.instance import Instance
from models.formulation.staffing import StaffingModel, StaffingResult, candidate_bound, solve_staffing_mip, staffing_cost
from models.heuristics.lp_roster import lp_roster
from models.heuristics.shed import budget_roster, overruns
from models.pipeline.clock import MIN_SOLVER_SECONDS, REPRODUCIBLE_BOUND_SHARE, STAFFING_MIP_SHARE, timing
from models.solver.progress import Deadline, Monitor, cutoff
from models.solver.settings import EngineSettings


def staff_schedule(
    inst: Instance,
    settings: EngineSettings,
    schedule: dict[str, tuple[str, int]],
    deadline: Deadline,
    timings: list[StageTiming],
    round_: int,
    monitor: Monitor | None = None,
) -> StaffingResult | None:
    """The best of the greedy roster, the month-by-month LP roster (up to
    ``EngineSettings.lp_roster_below`` staff x trials) and the staffing MIP (when that is
    small enough), ranked by :func:`roster_rank`; None once a stop asked through the
    ``deadline`` (a :class:`models.solver.progress.Cutoff`) cuts a roster short, since a
    round stopped on request keeps the plans it holds rather than staff this schedule."""
    until = cutoff(deadline)
    began = time.perf_counter()
    best = budget_roster(inst, schedule, until)
    greedy_seconds = time.perf_counter() - began
    timings.append(StageTiming(stage=f"staffing-greedy[{round_}]", seconds=greedy_seconds, status="heuristic"))
    if until.stopped():
        return None
    rank = roster_rank(inst, schedule, best)
    # The LP roster starts only if one as long as the last (before any, the greedy one) fits.
    lp_seconds = max((t.seconds for t in timings if t.stage.startswith("staffing-lp")), default=greedy_seconds)
    if len(inst.staff) * len(inst.trials) <= settings.lp_roster_below and until.fits(lp_seconds):
        began = time.perf_counter()
        lp = lp_roster(inst, schedule, cutoff=until)
        timings.append(StageTiming(stage=f"staffing-lp[{round_}]", seconds=time.perf_counter() - began, status="heuristic"))
        if until.stopped():
            return None
        if (lp_rank := roster_rank(inst, schedule, lp)) < rank:
            best, rank = lp, lp_rank
    # Counting eligible people per segment bounds the model's candidates without its
    # month-by-month check (13 s for 2.2 million candidates at 10x the reference).
    if candidate_bound(inst, schedule) > settings.staffing_mip_max_pairs:
        return best
    model = StaffingModel(inst, schedule)
    if 0 < len(model.pairs) <= settings.staffing_mip_max_pairs and not until.stopped():
        remaining = STAFFING_MIP_SHARE * (until.moment - time.perf_counter())
        if remaining < MIN_SOLVER_SECONDS:
            return best
        mip = solve_staffing_mip(model, settings, remaining, monitor, settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE))
        timings.append(timing(f"staffing-mip[{round_}]", mip.outcome))
        if mip.outcome.has_solution and roster_rank(inst, schedule, mip) < rank:
            best = mip
    return best


def roster_rank(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> tuple[float, float, float]:
    """How good a roster is, smaller first: uncovered FTE, then budget overrun (either
    sends the schedule back to repair, which costs far more than any roster), then
    cost (staff, flex, fragmentation)."""
    return (round(sum(staffing.shortfall.values()), 6), round(sum(overruns(inst, schedule, staffing).values()), 2), staffing_cost(inst, staffing))
