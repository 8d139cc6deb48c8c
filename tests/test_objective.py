"""The objective scored from a staffed schedule alone is the one the returned plan reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.contract.check import check_plan
from models.contract.precision import objective_figure
from models.heuristics.constructive import constructive_schedule
from models.formulation.instance import compile_instance
from models.formulation.objective import plan_objective
from models.formulation.assemble import build_plan
from models.contract.validation import parse_problem
from models.heuristics.shed import budget_roster, shed, without

EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "example-small.json"


@pytest.mark.parametrize("kind", ["value", "cost", "makespan", "weighted_completion"])
def test_plan_objective_equals_the_plans_reported_objective(kind: str):
    data = json.loads(EXAMPLE.read_text())
    data["objective"]["kind"] = kind
    problem = parse_problem(json.dumps(data))
    inst = compile_instance(problem)
    schedule = constructive_schedule(inst)
    assert schedule is not None
    kept = shed(inst, schedule, budget_roster(inst, schedule))
    assert kept is not None
    plan = build_plan(inst, kept.schedule, kept.staffing, [])
    assert check_plan(problem, plan) == []
    # The plan states its objective at its precision (models.contract.precision): money to the cent.
    assert plan.objective == objective_figure(problem, plan_objective(inst, kept.schedule, kept.staffing))


def test_taking_a_trial_out_of_a_roster_leaves_every_other_trials_staffing_as_it_was():
    problem = parse_problem(EXAMPLE.read_text())
    inst = compile_instance(problem)
    schedule = constructive_schedule(inst)
    assert schedule is not None
    kept = shed(inst, schedule, budget_roster(inst, schedule))
    assert kept is not None
    needed = {p.trial for t in kept.schedule for p in inst.trials[t].predecessors}
    gone = min(t for t in kept.schedule if t not in inst.forced_run and t not in needed)
    rest = without(kept.staffing, {gone})
    assert rest.blocks == [b for b in kept.staffing.blocks if b.trial != gone]
    assert rest.flex == {k: v for k, v in kept.staffing.flex.items() if k[0] != gone}
    remaining = {t: v for t, v in kept.schedule.items() if t != gone}
    assert check_plan(problem, build_plan(inst, remaining, rest, [])) == []
