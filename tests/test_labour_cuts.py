"""Stage 1 with labour priced by cuts: the month LP, Hall's rows, and agreement with the step model."""

from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo
import pytest

from models.tools.generate import generate
from models.solver.highs import solve
from models.formulation.instance import compile_instance
from models.formulation.labour_cuts import MonthLabour, NamedMonthLabour, linked, role_components
from models.formulation.portfolio import CapacityGroup, CostStep, CutPortfolioModel, PortfolioModel, Reserve, solve_portfolio
from models.solver.settings import EngineSettings
from tests.conftest import solve_checked


# One month: two CRAs (10k for 1 FTE, 12k for 1 FTE), one CRA/CTM person at 11k for 0.5 FTE,
# CTM flex at 30k up to 1 FTE, no CRA flex.
GROUPS = [
    CapacityGroup(("CRA",), (CostStep(10_000, (1.0,)), CostStep(12_000, (1.0,)))),
    CapacityGroup(("CRA", "CTM"), (CostStep(11_000, (0.5,)),)),
]
FLEX_MAX = {"CTM": 1.0}
FLEX_RATE = {"CTM": 30_000.0}


def _month() -> MonthLabour:
    return MonthLabour(GROUPS, ["CRA", "CTM"], 0, FLEX_MAX, FLEX_RATE)


def test_month_labour_is_priced_cheapest_first_with_the_last_fte_as_marginal():
    # 2 CRA: 1 at 10k, 0.5 at 11k, 0.5 at 12k.
    price = _month().price({"CRA": 2.0})
    assert price is not None
    assert price.cost == pytest.approx(10_000 + 5_500 + 6_000)
    assert price.marginal["CRA"] == pytest.approx(12_000)


def test_a_person_serving_two_roles_goes_where_flex_is_dearest():
    # CTM needs 1: the shared person (0.5) and CTM flex (0.5); CRA 1.5 then takes 10k and 12k.
    price = _month().price({"CRA": 1.5, "CTM": 1.0})
    assert price is not None
    assert price.cost == pytest.approx(5_500 + 15_000 + 10_000 + 6_000)
    assert price.marginal["CTM"] == pytest.approx(30_000)


def test_demand_beyond_people_and_flex_cannot_be_priced():
    assert _month().price({"CRA": 2.6}) is None
    assert _month().price({"CTM": 1.6}) is None


def test_named_month_labour_covers_each_trial_from_its_own_eligible_people():
    # ana (10k) may serve T1 only, ben (12k) T1 or T2; CRA flex 20k up to 0.5 FTE.
    month = NamedMonthLabour(
        [(1.0, 10_000.0), (1.0, 12_000.0)],
        [(("T1", "CRA"), "CRA", [0, 1]), (("T2", "CRA"), "CRA", [1])],
        {"CRA": 0.5},
        {"CRA": 20_000.0},
        uncovered_price=1e6,
    )
    price = month.price({("T1", "CRA"): 0.8, ("T2", "CRA"): 0.6})
    assert price is not None
    assert price.cost == pytest.approx(8_000 + 7_200)
    assert price.marginal[("T1", "CRA")] == pytest.approx(10_000)
    assert price.marginal[("T2", "CRA")] == pytest.approx(12_000)
    # Past ben's FTE, more T2 comes from flex; past flex, at the uncovered price (still a lower bound).
    tight = month.price({("T1", "CRA"): 0.8, ("T2", "CRA"): 1.2})
    assert tight is not None and tight.marginal[("T2", "CRA")] == pytest.approx(20_000)
    over = month.price({("T1", "CRA"): 0.8, ("T2", "CRA"): 2.0})
    assert over is not None and over.marginal[("T2", "CRA")] == pytest.approx(1e6)


def test_roles_linked_by_a_person_serving_both_form_one_component():
    components = role_components([("CRA",), ("CRA", "CTM"), ("DM",), ("MW", "REG")], ["CRA", "CTM", "DM", "MW", "REG", "PV"])
    assert sorted(sorted(c) for c in components) == [["CRA", "CTM"], ["DM"], ["MW", "REG"], ["PV"]]


def test_only_role_sets_linked_through_a_group_need_a_hall_row():
    groups = [CapacityGroup(("CRA", "CTA"), ()), CapacityGroup(("CRA", "CTM"), ()), CapacityGroup(("CTA",), ())]
    assert linked(("CRA",), groups)
    assert linked(("CTA", "CRA", "CTM"), groups)
    # CTA and CTM share no group: their row is the sum of their own two.
    assert not linked(("CTA", "CTM"), groups)


def _stage1(problem, labour_cuts: bool, named_pricing_below: int = 0):
    inst = compile_instance(problem)
    settings = EngineSettings(mip_gap=0.0, labour_cuts=labour_cuts, named_pricing_below=named_pricing_below)
    return solve_portfolio(inst, settings, 60, Reserve())


@pytest.mark.parametrize("seed", range(4))
def test_cut_model_reaches_the_step_models_optimum(seed: int):
    """Priced by capacity groups, both use the same cheapest-first curve: solved to optimality they agree."""
    problem = generate(staff=30, trials=6, months=18, seed=seed)
    cuts, steps = _stage1(problem, True), _stage1(problem, False)
    assert isinstance(cuts.model, CutPortfolioModel) and type(steps.model) is PortfolioModel
    assert cuts.outcome.proven_optimal and steps.outcome.proven_optimal
    assert cuts.bound == pytest.approx(steps.bound, rel=1e-5)
    assert cuts.model.in_objective_sense(cuts.outcome.objective) == pytest.approx(
        steps.model.in_objective_sense(steps.outcome.objective), rel=1e-5
    )


def test_cut_models_labour_per_year_is_the_exact_curve_price_of_its_schedule():
    problem = generate(staff=30, trials=6, months=18, seed=7)
    cuts = _stage1(problem, True)
    assert cuts.outcome.has_solution
    # The step model with its starts fixed to the cut model's schedule prices labour on the curve.
    steps = PortfolioModel(compile_instance(problem), EngineSettings(), Reserve())
    for i, (t, o, s) in enumerate(steps.keys):
        steps.m.x[i].fix(float(cuts.schedule.get(t) == (o, s)))
    assert solve(steps.m, EngineSettings(), 30, 0.0).has_solution
    for year, expr in steps.labour.items():
        assert cuts.labour.get(year, 0.0) == pytest.approx(pyo.value(expr), rel=1e-6, abs=1e-3)


def test_step_model_is_kept_where_shortfall_is_priced():
    problem = generate(staff=30, trials=6, months=18, seed=1)
    problem.objective.weights.shortfall = 50_000
    inst = compile_instance(problem)
    assert not CutPortfolioModel.applies(inst, EngineSettings())
    assert CutPortfolioModel.applies(compile_instance(generate(staff=30, trials=6, months=18, seed=1)), EngineSettings())
    assert not CutPortfolioModel.applies(compile_instance(generate(staff=30, trials=6, months=18, seed=1)), replace(EngineSettings(), labour_cuts=False))



@pytest.mark.parametrize("seed", range(4))
def test_named_pricing_bounds_at_least_as_tightly_as_the_curve(seed: int):
    """Named people cost at least the curve's cheapest of their group: a lower (value) bound, still above every plan."""
    problem = generate(staff=30, trials=6, months=18, seed=seed)
    named, curve = _stage1(problem, True, named_pricing_below=10**9), _stage1(problem, True)
    assert named.model is not None and named.model.named and not curve.model.named
    assert named.outcome.proven_optimal and curve.outcome.proven_optimal
    assert named.bound <= curve.bound + 1e-6 * abs(curve.bound)
    plan = solve_checked(problem)
    assert plan.objective <= named.bound + 1e-6 * abs(named.bound)


def test_a_plan_whose_best_trial_only_fits_on_the_curve_is_shown_optimal():
    # The one valuable trial (265.5 M) fits 2027's budget only at the curve's cheapest
    # rates; its eligible people cost 14 % more. Priced by groups the bound kept it and the
    # plan showed a 207 % gap; the monolithic optimum is the plan's (9.5038e7).
    problem = generate(staff=60, trials=4, months=12, seed=153)
    problem.settings.time_limit = 15
    plan = solve_checked(problem)
    assert plan.gap is not None and plan.gap <= 0.01


@pytest.mark.parametrize("seed", [0, 2])
def test_a_repair_round_settles_for_its_first_schedule_that_keeps_every_budget(seed: int, monkeypatch):
    """A reserve with a labour price factor is no relaxation: its bound is never reported, so
    the cut loop stops at the first schedule that holds its budgets at exact labour prices
    (without ``settle`` the same round runs HiGHS again to tighten its bound)."""
    problem = generate(staff=40, trials=8, months=24, seed=seed)
    inst = compile_instance(problem)
    budgets_held: list[bool | None] = []
    priced = CutPortfolioModel.exact_point

    def recorded(self, x):
        point = priced(self, x)
        budgets_held.append(None if point is None else point[1])
        return point

    monkeypatch.setattr(CutPortfolioModel, "exact_point", recorded)
    runs = {}
    for settle in (False, True):
        budgets_held.clear()
        reserve = Reserve()
        for y in inst.years:
            reserve.labour_factor[y] = 1.05
        result = solve_portfolio(inst, EngineSettings(mip_gap=0.0), 30, reserve, settle=settle)
        assert result.outcome.has_solution
        runs[settle] = list(budgets_held)
    assert runs[True][-1] is True and True not in runs[True][:-1]
    assert len(runs[False]) > len(runs[True])


def test_hall_rows_that_cannot_bind_are_left_out_until_held_fte_lets_them_bind():
    problem = generate(staff=30, trials=8, months=18, seed=3)
    inst = compile_instance(problem)
    model = CutPortfolioModel(inst, EngineSettings(), Reserve())
    stated = [row for row in model.hall if row.stated]
    left_out = [row for row in model.hall if not row.stated]
    assert stated and left_out and len(model.m.coverable) == len(stated)
    for row in left_out:
        # Each trial at its largest start (its FTE summed over the row's roles, recomputed
        # from stage 1's own demand terms): no choice of starts can exceed the capacity.
        roles = [r for r in model.inst.roles if (r, row.month) in model.role_terms and r in row.held]
        per_start: dict[int, float] = {}
        for r in roles:
            for i, v in model.role_terms[(r, row.month)]:
                per_start[i] = per_start.get(i, 0.0) + v
        assert per_start == pytest.approx(dict(row.terms))
        most = sum(max(v for i, v in per_start.items() if model.keys[i][0] == t) for t in {model.keys[i][0] for i in per_start})
        assert most == pytest.approx(row.most) and most <= row.capacity
    # Holding back every role's capacity in a month states that month's rows.
    row = left_out[0]
    reserve = Reserve()
    for r in row.held:
        reserve.capacity[(r, row.month)] = row.capacity
    model.apply(reserve)
    assert row.stated and len(model.m.coverable) > len(stated)
