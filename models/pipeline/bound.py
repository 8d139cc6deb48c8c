"""The bound stage: proving the plan within the gap asked for.

Round 0's bound is a relaxation's; a copy of its model is searched on for a tighter one
on the other core while the rounds run (:mod:`models.solver.bound_search`, refined by
cuts over named people where the portfolio is small enough), until the best plan is
proven within the gap or the deadline. Where a gap remains and the portfolio is small,
the exact model (:mod:`models.pipeline.exact`) gets the time left.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from models.contract.plan import StageTiming
from models.formulation.instance import Instance
from models.formulation.portfolio import CutPortfolioModel, PortfolioResult
from models.pipeline.candidates import Candidates, tighter
from models.pipeline.clock import EXACT_BUILD_FACTOR, MIN_BOUND_SEARCH_SECONDS, MIN_SOLVER_SECONDS, REPRODUCIBLE_BOUND_SHARE, timing
from models.pipeline.exact import applies as exact_applies
from models.pipeline.exact import Exact, prove
from models.solver.bound_search import BoundSearch, Refine
from models.solver.highs import Watch
from models.solver.progress import Monitor, relative_gap
from models.solver.settings import EngineSettings


def proven_within_gap(
    best: Candidates, bound: float | None, search: BoundSearch | None, first: PortfolioResult | None, settings: EngineSettings
) -> bool:
    """Whether the best plan so far is already within the gap of a proven bound (round 0's, one
    proven before it, or what the bound search has proven so far, read through round 0's
    model): a round could then only improve a plan that meets the planner's own target, at
    the cost of its time."""
    if best.objective is None:
        return False
    if search is not None:
        if first is None or first.model is None:
            return False
        bound = tighter(first.model.inst.problem.objective.kind, bound, first.model.in_objective_sense(search.bound))
    found = relative_gap(best.objective, bound)
    return found is not None and found <= settings.mip_gap + 1e-9


def start_bound_search(stage1: PortfolioResult, settings: EngineSettings, until: float, nodes: int | None = None) -> BoundSearch | None:
    """Search on in round 0's model for a tighter bound while the rest of the solve runs (see
    :mod:`models.solver.bound_search`), if round 0 left a gap or named pricing can tighten its
    optimum, and at least ``MIN_BOUND_SEARCH_SECONDS`` remain before ``until``."""
    seconds = until - time.perf_counter()
    found = stage1.outcome
    if not settings.bound_search or seconds < MIN_BOUND_SEARCH_SECONDS or stage1.solver is None or not found.has_solution:
        return None
    refine = named_refinement(stage1, settings)
    if stage1.solver._solver_model is None or ((relative_gap(found.objective, found.bound) or 0.0) <= 1e-9 and refine is None):
        return None
    return BoundSearch(stage1.solver._solver_model, settings, seconds, refine, nodes)


def named_refinement(stage1: PortfolioResult, settings: EngineSettings) -> Refine | None:
    """Cuts from each month's LP over named people for the bound search's copy of round 0's
    cut model (portfolios up to ``EngineSettings.named_bound_below`` staff x trials).

    Round 0 prices labour over capacity groups, which ignores what each trial's skills and
    regions and each person's rate cost; the named month LP prices them, and any of its
    cuts only underprices a roster, so the copy stays a relaxation. On the reference the
    cuts at round 0's schedule alone took the proven optimum from 2.2623e9 to 2.2603e9."""
    model, solver = stage1.model, stage1.solver
    if not isinstance(model, CutPortfolioModel) or model.named or solver is None:
        return None
    if len(model.inst.staff) * len(model.inst.trials) > settings.named_bound_below:
        return None
    cuts = model.named_cuts()
    column = dict(solver._pyomo_var_to_solver_var_map)
    x_cols = [column[id(model.m.x[i])] for i in range(len(model.keys))]
    theta_cols = {mo: column[id(var)] for mo, var in model.m.theta.items()}

    def refine(values: Sequence[float]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        out = []
        for terms, lower in cuts([values[c] for c in x_cols], {mo: values[c] for mo, c in theta_cols.items()}):
            merged: dict[int, float] = defaultdict(float)  # a start enters once per role it demands
            for coef, var in terms:
                merged[column[id(var)]] += coef
            out.append((np.array(list(merged), dtype=np.int32), np.array(list(merged.values())), lower))
        return out

    return refine


def finish_bound_search(
    search: BoundSearch,
    first: PortfolioResult,
    objective: float | None,
    bound: float | None,
    settings: EngineSettings,
    monitor: Monitor,
    timings: list[StageTiming],
    wait: bool = True,
) -> float | None:
    """The tighter of ``bound`` and the search's, once the search has proven the plan within
    the gap asked for, ended by itself, reached the deadline or a stop was asked for: the
    planner's limit is there to prove the plan (SPEC §4), so a plan not yet proven waits
    (unless ``wait`` is False: a re-plan whose kept plan is proven as the planner asked)."""
    model = first.model
    assert model is not None
    kind = model.inst.problem.objective.kind
    waited = time.perf_counter()
    if wait and objective is not None and not monitor.stopped() and (relative_gap(objective, bound) or 0.0) > settings.mip_gap:
        aim(search, first, objective, settings)
        search.wait(search.until, monitor.stopped)
    found, seconds = search.finish()
    now = time.perf_counter()
    # The search ran beside staffing and the repair rounds; whatever the plan then waited
    # for it is wall time spent in HiGHS.
    timings.append(
        StageTiming(stage="bound-search", seconds=now - search.began, solver_seconds=seconds, status="bound", alongside="staffing", nodes=search.nodes)
    )
    timings.append(StageTiming(stage="bound-wait", seconds=now - waited, solver_seconds=now - waited, status="bound"))
    return tighter(kind, bound, model.in_objective_sense(found))


def aim(search: BoundSearch, first: PortfolioResult | None, objective: float | None, settings: EngineSettings) -> None:
    """Tell the search the bound that proves the best plan so far within the gap (it stops there)."""
    if first is None or first.model is None or objective is None:
        return
    kind = first.model.inst.problem.objective.kind
    target = first.model.in_solver_sense(objective + (1 if kind == "value" else -1) * settings.mip_gap * max(1.0, abs(objective)))
    search.target = math.inf if target is None else target


def prove_exactly(
    inst: Instance,
    settings: EngineSettings,
    best: Candidates,
    bound: float | None,
    deadline: float,
    monitor: Monitor,
    timings: list[StageTiming],
    clock_ruled: list[str],
) -> float | None:
    """Where the plan is not proven within the gap and the portfolio is small, the time left
    goes to the monolithic model (:mod:`models.pipeline.exact`): a better plan joins the candidates,
    and its bound, valid for every plan, tightens ``bound``."""
    gap = relative_gap(best.objective, bound)
    left = deadline - time.perf_counter()
    if best.solved is None or best.objective is None or monitor.stopped() or (gap is not None and gap <= settings.mip_gap):
        return bound
    if not _exact_fits(inst, timings, left):
        return bound
    found = _exact_run(inst, settings, best, left, monitor, timings, clock_ruled)
    if found is None:
        return bound
    return tighter(inst.problem.objective.kind, bound, found.bound)


def find_exactly(
    inst: Instance,
    settings: EngineSettings,
    best: Candidates,
    deadline: float,
    monitor: Monitor,
    timings: list[StageTiming],
    clock_ruled: list[str],
) -> bool:
    """Where the rounds staffed nothing and the portfolio is small, the time left goes to the
    monolithic model from scratch: a plan it finds joins the candidates; True when it
    proves that no plan exists (stage 1 is only a relaxation, and repair rounds can
    make it infeasible without proving anything about the problem)."""
    left = deadline - time.perf_counter()
    if best.solved is not None or monitor.stopped() or not _exact_fits(inst, timings, left):
        return False
    found = _exact_run(inst, settings, best, left, monitor, timings, clock_ruled)
    return found is not None and found.outcome.infeasible


def _exact_fits(inst: Instance, timings: list[StageTiming], left: float) -> bool:
    """Whether the portfolio is small enough for the monolithic model and ``left`` seconds
    hold its build (``EXACT_BUILD_FACTOR`` times stage 1's longest) and a run."""
    build = max((t.build_seconds for t in timings if t.stage.startswith("portfolio")), default=0.0)
    return left >= MIN_SOLVER_SECONDS + EXACT_BUILD_FACTOR * build and exact_applies(inst)


def _exact_run(
    inst: Instance,
    settings: EngineSettings,
    best: Candidates,
    seconds: float,
    monitor: Monitor,
    timings: list[StageTiming],
    clock_ruled: list[str],
) -> Exact | None:
    """The monolithic model from the best plan so far (if any) for ``seconds``; a plan it finds joins the candidates."""
    nodes = settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE)
    found = prove(inst, settings, best.solved, best.objective, seconds, Watch(monitor, "exact"), nodes)
    if found is None:
        return None
    timings.append(timing("exact", found.outcome))
    if found.outcome.time_limited:
        clock_ruled.append("exact")
    if found.plan is not None:
        best.consider(found.plan, "exact")
    return found
