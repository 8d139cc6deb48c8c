"""The engine off the reference path: shapes of portfolio it once got wrong, each derived by hand.

Every plan goes through the independent checker (``solve_checked``).
"""

from __future__ import annotations

import pytest

from bench.families import family_problem

from models.formulation.assemble import build_plan
from models.contract.check import check_plan
from models.tools.generate import generate
from models.heuristics import cp_portfolio
from models.heuristics.constructive import constructive_schedule, serial_plan
from models.formulation.instance import compile_instance
from models.pipeline.clock import round_limits
from models.contract.validation import parse_problem
from models.solver.settings import EngineSettings
from models.heuristics.serial_staffing import staffed_serial
from models.heuristics.sgs import applies, longest_path_first
from models.formulation.staffing import StaffingResult
from tests.conftest import base_problem, solve_checked


def _multi_skilled(**overrides: object) -> dict:
    """Three people whose primary role (A) no trial asks for: B and C are only ever secondary
    roles, and nobody may work on two trials in one month. T1 needs B 1.0 and C 0.5, T2 needs
    B 0.5 and C 1.0, two months each. Together they need 3 FTE, all three people, and the one
    covering both a B and a C share would be on two trials at once: they must run one after the other."""
    problem = base_problem(
        roles=["A", "B", "C"],
        staff=[
            {"id": "p1", "role": "A", "secondary_roles": ["B"], "monthly_cost": 1000, "max_concurrent_trials": 1},
            {"id": "p2", "role": "A", "secondary_roles": ["C"], "monthly_cost": 1000, "max_concurrent_trials": 1},
            {"id": "p3", "role": "A", "secondary_roles": ["B", "C"], "monthly_cost": 1000, "max_concurrent_trials": 1},
        ],
        trials=[
            {"id": "T1", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 1.0, "C": 0.5}}]}]},
            {"id": "T2", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 0.5, "C": 1.0}}]}]},
        ],
        horizon={"start": "2027-01", "months": 6},
        objective={"kind": "makespan", "weights": {"fragmentation": 0}},
        settings={"time_limit": 20},
    )
    problem.update(overrides)
    return problem


def test_trials_that_fit_one_after_another_get_a_plan_where_only_secondary_roles_can_staff_them():
    problem = parse_problem(_multi_skilled())
    inst = compile_instance(problem)
    assert constructive_schedule(inst) is None  # role capacity counted in primary roles: none for B or C
    serial = serial_plan(inst)
    assert serial is not None and serial.staffing.shortfall == {}
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 4  # one after the other: 2 + 2 months


def test_the_serial_plan_tries_other_priority_rules_where_the_first_overruns_the_horizon():
    """A PSPLIB-shaped portfolio's horizon is the best of several rules' makespans: longest
    path first alone does not fit every trial into it, another rule does."""
    problem = family_problem("psplib_portfolio", 3)
    inst = compile_instance(problem)
    assert staffed_serial(inst, longest_path_first(inst)) is None
    serial = serial_plan(inst)
    assert serial is not None and set(serial.schedule) == set(inst.trials)
    assert all(start + inst.profiles[(t, o)].duration <= inst.months for t, (o, start) in serial.schedule.items())
    assert serial.staffing.shortfall == {}
    assert check_plan(problem, build_plan(inst, serial.schedule, serial.staffing, [])) == []


def test_a_schedule_search_on_role_capacity_does_not_cut_windows_where_concurrency_limits_can_bind():
    """The makespan shortcut (a serial schedule's length caps every start) holds only where
    a schedule fitting role capacity can always be staffed."""
    inst = compile_instance(parse_problem(_multi_skilled()))
    assert not applies(inst)
    whole = _multi_skilled()
    for person in whole["staff"]:
        person["secondary_roles"] = []
        person["role"] = "B"
    whole["roles"] = ["A", "B"]
    whole["trials"] = [
        {"id": t, "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 1.0}}]}]} for t in ("T1", "T2")
    ]
    # Whole FTE demands, full-time people: one person per trial and month always exists.
    assert applies(compile_instance(parse_problem(whole)))


def test_demand_is_left_uncovered_where_its_price_is_below_every_persons_cost():
    """Under ``cost`` with shortfall priced at 3,000 per FTE-month, covering T1's 3 FTE-months
    costs 10,000 each (plus the fragmentation penalty); leaving them uncovered costs 9,000."""
    problem = base_problem(objective={"kind": "cost", "weights": {"shortfall": 3000, "fragmentation": 1000}})
    plan = solve_checked(problem)
    assert plan.objective == pytest.approx(9000)
    assert plan.assignments == []
    assert plan.kpis.shortfall_fte_months == pytest.approx(3.0)
    assert plan.status == "optimal"


def test_the_bound_counts_the_fragmentation_every_roster_pays():
    """T1 needs 2 FTE for 3 months from people of FTE 1: any roster names at least two
    people, so at a fragmentation weight of 50,000 every plan costs at least
    2 x 3 x 10,000 + 2 x 50,000 = 160,000, which the cheapest plan (ana and ben) costs."""
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
            {"id": "cy", "role": "CRA", "monthly_cost": 10000},
        ],
        trials=[{"id": "T1", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 2.0}}]}]}],
        objective={"kind": "cost", "weights": {"fragmentation": 50000}},
    )
    plan = solve_checked(problem)
    assert plan.objective == pytest.approx(160_000)
    assert plan.best_bound == pytest.approx(160_000)
    assert plan.status == "optimal"


def test_flex_is_reported_pro_rata_to_each_trials_uncovered_demand():
    """§2: flex cost goes to trials pro rata to their uncovered demand of the role-month. A
    roster that buys T1's whole 1.0 FTE as flex and leaves T2's short (priced) reports
    0.5 FTE of flex, and half its cost, on each."""
    problem = parse_problem(
        base_problem(
            staff=[],
            flex=[{"role": "CRA", "monthly_rate": 20000, "max_fte": 1.0}],
            trials=[
                {"id": t, "mandatory": True, "options": [{"id": "std", "stages": [{"months": 1, "demand": {"CRA": 1.0}}]}]}
                for t in ("T1", "T2")
            ],
            objective={"kind": "cost", "weights": {"shortfall": 50000, "fragmentation": 0}},
        )
    )
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0), "T2": ("std", 0)}
    roster = StaffingResult(None, [], {("T1", "CRA", 0): 1.0}, {("T2", "CRA", 0): 1.0})
    plan = build_plan(inst, schedule, roster, [])
    assert check_plan(problem, plan) == []
    for trial in plan.trials:
        assert trial.coverage.flex == pytest.approx(0.5) and trial.coverage.uncovered == pytest.approx(0.5)
        assert trial.cost_split.flex == pytest.approx(10_000)
    assert plan.objective == pytest.approx(20_000 + 50_000)


def test_a_small_portfolio_stage_1_cannot_prove_is_proven_by_the_exact_model():
    """Stage 1 sees 2 FTE and three trial slots for T1 (0.8), T0 (0.4) and T2 (0.8) from
    January, but no roster covers all three (ana may work on one trial, ben on two), so
    its bound values T2 started in January. The plan starts T2 in April; only the exact
    model (every person, trial and month) proves that nothing better exists."""
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000, "max_concurrent_trials": 1},
            {"id": "ben", "role": "CRA", "monthly_cost": 12000, "max_concurrent_trials": 2},
        ],
        trials=[
            {"id": t, "value": value, "mandatory": value == 0, "latest_start": "2027-01" if value == 0 else None,
             "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": fte}}]}]}
            for t, fte, value in (("T1", 0.8, 0), ("T0", 0.4, 0), ("T2", 0.8, 500_000))
        ],
    )
    plan = solve_checked(problem)
    assert {t.id: t.start for t in plan.trials if t.run}["T2"] == "2027-04"
    assert "exact" in [s.stage for s in plan.stages]
    assert plan.status == "optimal" and plan.gap == pytest.approx(0.0, abs=1e-9)


def test_stages_run_one_after_another_add_up_to_no_more_than_the_solve():
    """Stages that ran beside another are marked so; the rest ran one after another, so
    their times add up to at most the solve's (a portfolio round once counted its model's
    build twice)."""
    problem = generate(staff=60, trials=8, months=18, seed=3)
    problem.settings.time_limit = 10
    plan = solve_checked(problem)
    assert any(s.stage.startswith("portfolio[") and s.build_seconds > 0 for s in plan.stages)
    assert sum(s.seconds for s in plan.stages if not s.alongside) <= plan.solve_seconds + 1e-6


def test_no_portfolio_round_is_given_more_time_than_is_left():
    inst = compile_instance(parse_problem(_multi_skilled()))
    for round_ in range(3):
        limit, soft = round_limits(inst, EngineSettings(), 0.3, round_)
        assert 0 <= limit <= 0.3 and (soft is None or soft <= limit)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"budget": {"per_year": {"2027": 20_000}}}, "budget 2027 short by 10,000"),  # T1 costs at least 30,000
        ({"services": [{"id": "lab", "capacity": 1}]}, "service capacity"),  # T1 needs 2 units a month
    ],
)
def test_an_infeasible_portfolio_says_which_rule_makes_it_so(change: dict, named: str):
    problem = base_problem(**change)
    if "services" in change:
        problem["trials"][0]["options"][0]["stages"][0]["services"] = {"lab": 2}
    plan = solve_checked(problem)
    assert plan.status == "infeasible"
    reasons = [e.reason for e in plan.explanations]
    assert any(named in reason for reason in reasons), reasons
    assert not any("predecessors" in reason or "pins" in reason for reason in reasons), "only what binds is named"


def test_a_problem_asking_for_one_thread_solves_after_one_that_took_the_default(monkeypatch: pytest.MonkeyPatch):
    """HiGHS sets up one task scheduler per thread with the count of its first run and then
    refused every run asking for another: a worker that solved with the default threads
    returned no bound and the constructive plan for the next problem asking for one.
    (The portfolio core, which serves this portfolio, is off: its plan would let HiGHS prune
    everything, and HiGHS's own answer is what this is about.)"""
    monkeypatch.setattr(cp_portfolio, "IN_ENGINE", False)
    problem = generate(staff=30, trials=5, months=18, seed=1)
    solve_checked(problem)
    problem.settings.threads = 1
    plan = solve_checked(problem)
    assert [s.status for s in plan.stages if s.stage == "portfolio[0]"] == ["optimal"]
    assert plan.status == "optimal"


@pytest.mark.parametrize("kind", ["cost", "makespan"])
def test_under_cost_and_makespan_only_the_trials_the_problem_makes_run_run(kind: str):
    """T0 is optional but T1, mandatory, needs it first; T2 is optional, free and demands
    nothing: T0 runs (the problem makes it), T2 does not (these objectives run no other)."""
    problem = base_problem(
        trials=[
            {"id": "T0", "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.5}}]}]},
            {"id": "T1", "mandatory": True, "predecessors": [{"trial": "T0"}],
             "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.5}}]}]},
            {"id": "T2", "options": [{"id": "std", "stages": [{"months": 1}]}]},
        ],
        objective={"kind": kind, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert {t.id for t in plan.trials if t.run} == {"T0", "T1"}
    assert plan.status == "optimal"
