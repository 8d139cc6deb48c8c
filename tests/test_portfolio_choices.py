"""Stage 1's choice binaries (whether a trial runs, in which option) follow its starts."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from models.tools.generate import generate
from models.formulation.instance import compile_instance
from models.formulation.portfolio import CutPortfolioModel, PortfolioModel, Reserve, solve_portfolio
from models.solver.settings import EngineSettings


@pytest.mark.parametrize("labour_cuts", [True, False])
def test_run_and_pick_are_what_the_chosen_start_says(labour_cuts: bool):
    problem = generate(staff=30, trials=8, months=18, seed=3)
    inst = compile_instance(problem)
    result = solve_portfolio(inst, EngineSettings(mip_gap=0.0, labour_cuts=labour_cuts), 60, Reserve())
    model = result.model
    assert result.outcome.has_solution and model is not None
    assert isinstance(model, CutPortfolioModel) == labour_cuts
    assert model.pick_index, "the generated portfolio should have trials with more than one option"
    for t in model.run_index:
        assert round(pyo.value(model.m.run[t])) == int(t in result.schedule)
    for t, o in model.pick_index:
        assert round(pyo.value(model.m.pick[t, o])) == int(result.schedule.get(t, ("", 0))[0] == o)
    # Trials that must run have no run variable: their starts sum to one.
    assert not set(model.run_index) & inst.forced_run


def test_a_warm_start_sets_every_choice_consistently_with_its_starts():
    inst = compile_instance(generate(staff=30, trials=8, months=18, seed=3))
    model = PortfolioModel(inst, EngineSettings(), Reserve())
    t, o = model.pick_index[0]
    start = next(s for (tt, oo, s) in model.keys if (tt, oo) == (t, o))
    values = {v.name: x for v, x in model.start_values({t: (o, start)})}
    assert values[model.m.pick[t, o].name] == 1.0
    assert all(values[model.m.pick[t, other].name] == 0.0 for tt, other in model.pick_index if tt == t and other != o)
    if t in model.run_index:
        assert values[model.m.run[t].name] == 1.0
    assert all(values[model.m.run[u].name] == 0.0 for u in model.run_index if u != t)
