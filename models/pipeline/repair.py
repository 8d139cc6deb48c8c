"""The repair stage of a round: what staffing could not deliver, fed back into stage 1."""

from __future__ import annotations

from collections import defaultdict

from models.formulation.coverage_cuts import violated_coverage
from models.formulation.instance import Instance
from models.formulation.objective import year_spend
from models.formulation.portfolio import PortfolioResult, Reserve
from models.formulation.staffing import StaffingResult


def repair(inst: Instance, stage1: PortfolioResult, staffing: StaffingResult, reserve: Reserve) -> bool:
    """Feed back what staffing could not deliver (uncovered FTE, budget overrun); True if anything.

    Uncovered FTE becomes a coverage row when people eligible for overlapping trials
    cannot cover them at all, else (concurrency, contiguous blocks) that FTE is held back
    from the role's capacity in that month.

    An overrun first recalibrates that year's labour price factor (real roster cost over
    stage 1's curve-priced labour); once the factor stops rising, the overrun itself is
    held back from the budget. (A 1 % margin on the factor cost the reference 0.3 % of its
    objective: in budget-tight years a unit of budget is worth about 20 of value.)
    """
    schedule = stage1.schedule
    repaired = False
    if inst.problem.objective.weights.shortfall is None:
        short: dict[tuple[str, int], float] = defaultdict(float)
        for (_, r, mo), v in staffing.shortfall.items():
            short[(r, mo)] += v
        for (r, mo), v in short.items():
            repaired = True
            cut = violated_coverage(inst, schedule, r, mo)
            if cut is not None and cut not in reserve.coverage:
                reserve.coverage.append(cut)
            else:
                reserve.capacity[(r, mo)] += v
    budget = inst.problem.budget
    if budget.per_year or budget.total is not None:
        labour = year_spend(inst, {}, staffing)
        external = inst.external_spend(schedule)
        spend = {y: labour.get(y, 0.0) + external.get(y, 0.0) for y in inst.years}
        over = {y: spend.get(y, 0.0) - cap for y, cap in budget.per_year.items()}
        if budget.total is not None:
            excess = sum(spend.values()) - budget.total
            for y in inst.years:
                over[y] = max(over.get(y, 0.0), excess / len(inst.years))
        for y, amount in over.items():
            if amount <= 1e-6 * max(1.0, spend.get(y, 0.0)):
                continue
            repaired = True
            planned = stage1.labour.get(y, 0.0)
            factor = labour.get(y, 0.0) / planned if planned > 0 else 1.0
            if factor > reserve.labour_factor[y]:
                reserve.labour_factor[y] = factor
            else:
                reserve.budget[y] += amount
    return repaired
