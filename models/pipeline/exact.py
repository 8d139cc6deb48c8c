"""Small portfolios proven exactly: the monolithic model, started from the plan in hand.

The two-stage engine's bound is stage 1's, a relaxation that prices staffing over
aggregated people: it cannot see that a person may work on only so many trials at once,
that a role's demand must be met by people who are free in that very month, or what
fragmentation a roster really pays. On a portfolio it cannot prove, the plan comes back
with a gap the engine could not close, however long the limit. Where the portfolio is
small, the monolithic model (:mod:`models.formulation.monolithic`: every person, trial, role and month
as a column) is solved with the time left instead: HiGHS starts from the best plan found
(a warm start) and prunes everything that does not beat it (a cutoff), so it either finds
a better plan or proves that none exists within the gap; either way its bound is valid
for every plan of the problem (its plan space is the problem's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pyomo.core.base.var import VarData

from models.solver.highs import SolveOutcome, TriviallyInfeasible, Watch, solve
from models.formulation.instance import Instance
from models.formulation.monolithic import MonolithicModel
from models.formulation.portfolio import Reserve
from models.solver.settings import EngineSettings
from models.heuristics.shed import Staffed

#: Most named-FTE columns (person, trial, role, month) the monolithic model may have here:
#: on the family survey's small portfolios (up to about 3,000 of them) HiGHS proved the
#: optimum in under a second, mostly; the reference has about 1.5 million.
MAX_COLUMNS = 20_000
#: Least time left after the build for HiGHS to be handed the model and run at all.
MIN_RUN_SECONDS = 0.3


@dataclass(frozen=True)
class Exact:
    """What the monolithic run gave: a better plan (None if none was found) and its bound (plan sense)."""

    plan: Staffed | None
    bound: float | None
    outcome: SolveOutcome


def columns(inst: Instance, limit: int = MAX_COLUMNS) -> int:
    """How many named-FTE columns the monolithic model would have, counted up to just past ``limit``."""
    months: dict[tuple[str, str], set[int]] = {}
    for (t, o), starts in inst.starts.items():
        demand = inst.profiles[(t, o)].demand
        for s in starts:
            for k, month in enumerate(demand):
                for r in month:
                    months.setdefault((t, r), set()).add(s + k)
    count = 0
    for (t, r), active in months.items():
        for p in inst.eligible(t, r):
            count += sum(1 for m in active if inst.available[p][m])
            if count > limit:
                return count
    return count


def applies(inst: Instance) -> bool:
    """Whether the portfolio is small enough for the monolithic model (see ``MAX_COLUMNS``)."""
    return len(inst.staff) * len(inst.trials) <= MAX_COLUMNS and columns(inst) <= MAX_COLUMNS


def prove(
    inst: Instance,
    settings: EngineSettings,
    best: Staffed | None,
    objective: float | None,
    time_limit: float,
    watch: Watch | None,
    nodes: int | None = None,
) -> Exact | None:
    """Solve the monolithic model for a plan better than ``best`` (objective ``objective``,
    plan sense), or for any plan where there is none yet, within ``time_limit`` seconds
    (and ``nodes`` branch-and-bound nodes, if given); None if the model cannot hold the
    pinned assignments (it has no column for them). With no ``best``, an infeasible
    outcome proves that the problem has no plan: the model's plan space is the problem's."""
    began = time.perf_counter()
    try:
        model = MonolithicModel(inst, settings, Reserve())
    except TriviallyInfeasible:
        return None
    if not _pin(model, inst):
        return None
    if watch is not None:
        watch.units = model.in_objective_sense
        watch.start = _warm_start(model, best) if best is not None else []
    left = time_limit - (time.perf_counter() - began)
    if left < MIN_RUN_SECONDS:
        return None  # the build took the time: a run now would end past the deadline
    cutoff = None if objective is None else model.in_solver_sense(objective)
    outcome = solve(model.m, settings, left, settings.mip_gap, watch, cutoff, nodes=nodes)
    bound = model.in_objective_sense(outcome.bound)
    found = Staffed(model.schedule(), model.staffing(settings.tolerance)) if outcome.has_solution else None
    return Exact(found, bound, outcome)


def _pin(model: MonolithicModel, inst: Instance) -> bool:
    """Pinned assignments as lower bounds on their columns (False if one has no column)."""
    for b in inst.pinned:
        for m in range(b.first, b.last + 1):
            key = (b.staff, b.trial, b.role, m)
            if key not in model.m.z:
                return False
            model.m.z[key].setlb((model.m.z[key].lb or 0.0) + b.fte)
    return True


def _warm_start(model: MonolithicModel, best: Staffed) -> list[tuple[VarData, float]]:
    """Every column of the model at the plan ``best``: starts and choices, named FTE per month,
    who works on what, flex and shortfall."""
    m = model.m
    values = list(model.start_values(best.schedule))
    fte: dict[tuple[str, str, str, int], float] = {}
    for b in best.staffing.blocks:
        for month in range(b.first, b.last + 1):
            key = (b.staff, b.trial, b.role, month)
            fte[key] = fte.get(key, 0.0) + b.fte
    values += [(m.z[k], fte.get(k, 0.0)) for k in model.z_index]
    working = {(p, t, month) for (p, t, _, month), v in fte.items() if v > 0}
    values += [(m.w[k], float(k in working)) for k in model.w_index]
    pairs = {(p, t) for p, t, _ in working}
    values += [(m.u[k], float(k in pairs)) for k in model.u_index]
    values += [(m.flex[k], best.staffing.flex.get(k, 0.0)) for k in model.flex_index]
    values += [(m.short[k], best.staffing.shortfall.get(k, 0.0)) for k in model.short_index]
    return values
