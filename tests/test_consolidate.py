"""Consolidation (models.heuristics.consolidate): a roster with fewer (person, trial) pairs
where the rate difference costs less than the pairs removed and every budget holds."""

from __future__ import annotations

import math
from typing import Any

from models.contract.check import check_plan
from models.contract.validation import parse_problem
from models.formulation.assemble import build_plan
from models.formulation.instance import Block, compile_instance
from models.formulation.staffing import StaffingResult
from models.heuristics.consolidate import consolidate
from models.heuristics.shed import Staffed
from models.solver.progress import Cutoff
from tests.conftest import base_problem

NEVER = Cutoff(math.inf)


def _halves(**overrides: Any) -> tuple[Any, Any, Staffed]:
    """T1 needs one CRA for 2027-01..2027-03; the roster splits it between ana (10,000 a month)
    and ben (12,000), 0.5 FTE each: two pairs."""
    problem = parse_problem(base_problem(objective={"kind": "cost", "weights": {"fragmentation": 10_000}}, **overrides))
    inst = compile_instance(problem)
    blocks = [Block("ana", "T1", "CRA", 0, 2, 0.5), Block("ben", "T1", "CRA", 0, 2, 0.5)]
    return problem, inst, Staffed({"T1": ("std", 0)}, StaffingResult(None, blocks, {}, {}))


def _checked(problem: Any, inst: Any, solved: Staffed) -> float:
    plan = build_plan(inst, solved.schedule, solved.staffing, [])
    assert check_plan(problem, plan) == []
    assert plan.objective is not None
    return plan.objective


def test_a_trial_split_between_two_people_goes_to_one_where_that_costs_less():
    problem, inst, split = _halves()
    merged = consolidate(inst, split, NEVER)
    assert {(b.staff, b.trial) for b in merged.staffing.blocks} in ({("ana", "T1")}, {("ben", "T1")})
    assert _checked(problem, inst, merged) < _checked(problem, inst, split)


def test_a_handover_that_would_break_a_budget_is_not_made_and_the_cheaper_one_is():
    # 33,000 spent in 2027 and a budget of exactly that: ana's half to ben would add 3,000;
    # ben's half to ana saves 3,000.
    problem, inst, split = _halves(budget={"per_year": {"2027": 33_000}})
    merged = consolidate(inst, split, NEVER)
    assert [(b.staff, b.first, b.last, b.fte) for b in merged.staffing.blocks] == [("ana", 0, 2, 1.0)]
    assert _checked(problem, inst, merged) < _checked(problem, inst, split)


def test_pinned_work_stays_with_its_person():
    problem, inst, split = _halves(pins={"assignments": [
        {"staff": "ana", "trial": "T1", "role": "CRA", "start": "2027-01", "end": "2027-03", "fte": 0.5}]})
    merged = consolidate(inst, split, NEVER)
    assert ("ana", "T1") in {(b.staff, b.trial) for b in merged.staffing.blocks}
    _checked(problem, inst, merged)
