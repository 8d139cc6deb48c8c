"""Shedding to a valid plan, cheaper rosters under budget pressure, putting trials back, repair rounds."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from models.contract.check import check_plan
from models.heuristics.greedy import greedy_staffing
from models.heuristics.insertion import insert_trials
from models.formulation.instance import compile_instance
from models.pipeline import solve
from models.formulation.assemble import build_plan
from models.pipeline.clock import late_roster_fits
from models.contract.plan import StageTiming
from models.formulation.portfolio import Reserve, solve_portfolio
from models.solver.settings import EngineSettings
from models.heuristics.shed import Staffed, budget_roster, overruns, shed
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from tests.conftest import base_problem


def _trial(tid: str, months: int = 3, fte: float = 1.0, **extra) -> dict:
    trial = {"id": tid, "options": [{"id": "std", "stages": [{"months": months, "demand": {"CRA": fte}}]}]}
    trial.update(extra)
    return trial


def _checked(problem: Problem, inst, solved: Staffed) -> float:
    plan = build_plan(inst, solved.schedule, solved.staffing, [])
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    assert plan.objective is not None
    return plan.objective


def _value(inst):
    return lambda solved: -build_plan(inst, solved.schedule, solved.staffing, [], explained=False).objective


def _two_year_overrun():
    """10,000 per FTE-month. Ta spends 30,000 in 2027, Tb 30,000 in 2028, Tl 20,000 in each:
    both years are 15,000 over their 35,000 budget."""
    problem = parse_problem(
        base_problem(
            horizon={"start": "2027-01", "months": 24},
            staff=[{"id": f"p{i}", "role": "CRA", "monthly_cost": 10000} for i in range(3)],
            trials=[_trial("Ta", value=100_000), _trial("Tb", value=100_000), _trial("Tl", months=4, value=150_000)],
            budget={"per_year": {"2027": 35_000, "2028": 35_000}},
        )
    )
    inst = compile_instance(problem)
    schedule = {"Ta": ("std", 0), "Tb": ("std", 12), "Tl": ("std", 10)}
    return problem, inst, schedule, greedy_staffing(inst, schedule)


def test_shed_drops_one_trial_spanning_both_overrun_years_rather_than_one_per_year():
    # Tl alone covers both overruns and loses 150,000 - 40,000 = 110,000 of net value;
    # Ta and Tb (one per year) would lose 2 x (100,000 - 30,000) = 140,000.
    problem, inst, schedule, staffing = _two_year_overrun()
    assert overruns(inst, schedule, staffing) == {"2027": 15_000, "2028": 15_000}
    kept = shed(inst, schedule, staffing)
    assert kept is not None
    assert set(kept.schedule) == {"Ta", "Tb"}
    _checked(problem, inst, kept)


def test_shedding_gives_up_at_its_deadline_for_a_caller_that_holds_a_plan():
    problem, inst, schedule, staffing = _two_year_overrun()
    assert shed(inst, schedule, staffing, deadline=0.0) is None
    kept = shed(inst, schedule, staffing)
    assert kept is not None
    _checked(problem, inst, kept)


def _pressed_problem(budget: float) -> Problem:
    # cat is the cheapest (8,000 per FTE-month) but has only 0.4 FTE; ben has a full FTE at 12,000.
    return parse_problem(
        base_problem(
            staff=[
                {"id": "cat", "role": "CRA", "fte": 0.4, "monthly_cost": 3200},
                {"id": "ben", "role": "CRA", "monthly_cost": 12000},
            ],
            trials=[_trial("T1", months=6, mandatory=True)],
            budget={"per_year": {"2027": budget}},
        )
    )


def test_roster_settles_for_smaller_blocks_of_cheaper_people_when_the_default_overruns_the_budget():
    problem = _pressed_problem(65_000)
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    default = greedy_staffing(inst, schedule)
    assert {(b.staff, b.fte) for b in default.blocks} == {("ben", 1.0)}
    assert overruns(inst, schedule, default) == {"2027": 72_000 - 65_000}
    cheaper = budget_roster(inst, schedule)
    assert {(b.staff, round(b.fte, 6)) for b in cheaper.blocks} == {("cat", 0.4), ("ben", 0.6)}
    assert overruns(inst, schedule, cheaper) == {}
    _checked(problem, inst, Staffed(schedule, cheaper))


def test_the_cheaper_roster_is_tried_only_if_one_fits_before_the_deadline():
    """Past the deadline the default roster comes back as it is, overrun and all (a caller
    holding a plan drops it rather than wait for a second roster); with time, the cheaper one."""
    problem = _pressed_problem(65_000)
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    late = budget_roster(inst, schedule, deadline=0.0)
    assert {(b.staff, b.fte) for b in late.blocks} == {("ben", 1.0)}
    assert overruns(inst, schedule, late) == {"2027": 72_000 - 65_000}
    in_time = budget_roster(inst, schedule, deadline=float("inf"))
    assert overruns(inst, schedule, in_time) == {}
    _checked(problem, inst, Staffed(schedule, in_time))


def test_roster_keeps_whole_blocks_when_the_budget_allows_them():
    problem = _pressed_problem(80_000)
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    roster = budget_roster(inst, schedule)
    assert {(b.staff, b.fte) for b in roster.blocks} == {("ben", 1.0)}
    _checked(problem, inst, Staffed(schedule, roster))


def _insertion_problem() -> Problem:
    # ana costs 10,000 a month, ben 12,000; the 2027 budget is 76,000. T1 (mandatory) and T2
    # take both for three months (66,000); T4 then fits with ana (10,000), while T3 (which
    # needs T2 finished plus a month) would add at least 30,000.
    return parse_problem(
        base_problem(
            trials=[
                _trial("T1", mandatory=True),
                _trial("T2", value=400_000),
                _trial("T3", value=900_000, predecessors=[{"trial": "T2", "lag": 1}]),
                _trial("T4", months=1, value=50_000),
            ],
            budget={"per_year": {"2027": 76_000}},
        )
    )


def test_insertion_adds_the_optional_trials_that_still_fit_and_improve_the_plan():
    problem = _insertion_problem()
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    start = Staffed(schedule, greedy_staffing(inst, schedule))
    before = _checked(problem, inst, start)
    grown = insert_trials(inst, start, _value(inst), deadline=float("inf"))
    assert set(grown.schedule) == {"T1", "T2", "T4"}, "T3 would overrun the budget"
    assert _checked(problem, inst, grown) > before


def test_insertion_starts_no_roster_that_would_not_fit_before_the_deadline():
    """Before any attempt has run, a roster is expected to take ``roster_seconds``."""
    problem = _insertion_problem()
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    start = Staffed(schedule, greedy_staffing(inst, schedule))
    soon = time.perf_counter() + 60.0
    unchanged = insert_trials(inst, start, _value(inst), deadline=soon, roster_seconds=120.0)
    assert unchanged.schedule == schedule
    _checked(problem, inst, unchanged)
    grown = insert_trials(inst, start, _value(inst), deadline=soon, roster_seconds=0.01)
    assert set(grown.schedule) == {"T1", "T2", "T4"}
    _checked(problem, inst, grown)


def test_insertion_starts_a_successor_only_after_its_predecessor_ends_plus_the_lag():
    problem = _insertion_problem()
    problem.budget.per_year["2027"] = 1_000_000
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0), "T2": ("std", 2)}
    start = Staffed(schedule, greedy_staffing(inst, schedule))
    grown = insert_trials(inst, start, _value(inst), deadline=float("inf"))
    assert "T3" in grown.schedule
    assert grown.schedule["T3"][1] >= 2 + 3 + 1
    _checked(problem, inst, grown)


def test_insertion_tries_a_successor_only_once_its_predecessor_runs():
    problem = _insertion_problem()
    problem.budget.per_year["2027"] = 1_000_000
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    grown = insert_trials(inst, Staffed(schedule, greedy_staffing(inst, schedule)), _value(inst), deadline=float("inf"), max_attempts=1)
    # Trials go into what the roster leaves free before any roster is run. T3, worth most, is
    # tried only once T2 runs, and then starts after T2 ends plus its lag.
    assert {"T2", "T3"} <= set(grown.schedule)
    t2, t3 = grown.schedule["T2"], grown.schedule["T3"]
    assert t3[1] >= t2[1] + inst.profiles[("T2", t2[0])].duration + 1
    _checked(problem, inst, grown)


def test_a_trial_put_into_what_the_roster_leaves_free_keeps_the_roster_as_it_was():
    from models.heuristics.insertion import staffed_into

    problem = _insertion_problem()
    problem.budget.per_year["2027"] = 1_000_000
    inst = compile_instance(problem)
    start = Staffed({"T1": ("std", 0)}, greedy_staffing(inst, {"T1": ("std", 0)}))
    added = staffed_into(inst, start, "T2", "std", 0)
    assert added is not None and added.schedule == {"T1": ("std", 0), "T2": ("std", 0)}
    assert added.staffing.blocks[: len(start.staffing.blocks)] == start.staffing.blocks
    assert {b.trial for b in added.staffing.blocks[len(start.staffing.blocks):]} == {"T2"}
    _checked(problem, inst, added)


def _concurrency_problem() -> Problem:
    # Stage 1 sees 2 FTE of CRA and three trial slots (ana one, ben two) for 0.8 + 0.4 + 0.8
    # in January to March, but no roster covers all three there: whoever of the three ana
    # takes, ben is left with 1.2 or 1.6 FTE of the other two.
    return parse_problem(
        base_problem(
            staff=[
                {"id": "ana", "role": "CRA", "monthly_cost": 10000, "max_concurrent_trials": 1},
                {"id": "ben", "role": "CRA", "monthly_cost": 12000, "max_concurrent_trials": 2},
            ],
            trials=[
                _trial("T1", fte=0.8, mandatory=True, latest_start="2027-01"),
                _trial("T0", fte=0.4, mandatory=True, latest_start="2027-01"),
                _trial("T2", fte=0.8, value=500_000),
            ],
        )
    )


def test_a_repair_round_re_solves_round_0s_model_with_the_reserve_as_parameters():
    inst = compile_instance(_concurrency_problem())
    settings = EngineSettings()
    first = solve_portfolio(inst, settings, 10, Reserve())
    assert first.schedule["T2"] == ("std", 0)
    reserve = Reserve()
    for month in range(3):
        reserve.capacity[("CRA", month)] += 0.4
    second = solve_portfolio(inst, settings, 10, reserve, previous=first)
    assert second.model is first.model and second.solver is first.solver
    assert second.schedule["T2"] == ("std", 3)


def test_repair_round_moves_the_trial_staffing_could_not_cover():
    problem = _concurrency_problem()
    plan = solve(problem)
    assert check_plan(problem, plan) == []
    assert "portfolio[1]" in [s.stage for s in plan.stages]
    t2 = next(t for t in plan.trials if t.id == "T2")
    assert t2.run and t2.start == "2027-04"


def test_re_solves_report_only_their_own_highs_time():
    # HiGHS's run clock accumulates over every run of one HiGHS object.
    inst = compile_instance(_concurrency_problem())
    settings = EngineSettings()
    runs = [solve_portfolio(inst, settings, 10, Reserve())]
    for _ in range(2):
        runs.append(solve_portfolio(inst, settings, 10, Reserve(), previous=runs[0]))
    assert runs[0].solver is not None and runs[0].solver._solver_model is not None
    total = runs[0].solver._solver_model.getRunTime()
    assert sum(r.outcome.solver_seconds for r in runs) == pytest.approx(total, rel=1e-9, abs=1e-9)


def test_highs_gets_the_time_limit_less_what_handing_the_model_over_took():
    # The limit is wall time from the call: a handover that takes 0.3 s leaves HiGHS at
    # most 4.7 s of a 5 s limit.
    import time

    from models.solver.highs import PersistentHighs
    from models.solver.highs import solve as highs_solve
    from models.formulation.portfolio import PortfolioModel

    class SlowHandover(PersistentHighs):
        def set_instance(self, model):
            time.sleep(0.3)
            return super().set_instance(model)

    settings = EngineSettings()
    model = PortfolioModel(compile_instance(_concurrency_problem()), settings, Reserve())
    solver = SlowHandover()
    outcome = highs_solve(model.m, settings, 5.0, 0.01, solver=solver)
    assert outcome.proven_optimal
    _, given = solver._solver_model.getOptionValue("time_limit")
    assert 0 < given <= 4.7


def test_shed_finds_the_cheapest_cover_among_more_candidates_than_it_combines():
    # 30 one-month trials (10,000 each, net value 90,000) and Tbig (three months, 30,000,
    # net value 170,000) overrun 2027 by 25,000: three small trials would cover it at a
    # loss of 270,000, Tbig alone at 170,000. More candidates than shedding combines.
    from models.heuristics.shed import COVER_CANDIDATES

    small = [f"S{i:02d}" for i in range(30)]
    assert len(small) + 1 > COVER_CANDIDATES
    problem = parse_problem(
        base_problem(
            horizon={"start": "2027-01", "months": 12},
            staff=[{"id": f"p{i}", "role": "CRA", "monthly_cost": 10000} for i in range(4)],
            trials=[_trial(t, months=1, value=100_000) for t in small] + [_trial("Tbig", months=3, value=200_000)],
            budget={"per_year": {"2027": 305_000}},
        )
    )
    inst = compile_instance(problem)
    schedule = {t: ("std", i % 12) for i, t in enumerate(small)} | {"Tbig": ("std", 9)}
    staffing = greedy_staffing(inst, schedule)
    assert overruns(inst, schedule, staffing) == {"2027": pytest.approx(25_000)}
    kept = shed(inst, schedule, staffing)
    assert kept is not None
    assert set(schedule) - set(kept.schedule) == {"Tbig"}
    _checked(problem, inst, kept)


def test_round_0_goes_past_its_soft_deadline_only_while_far_from_its_bound():
    from models.solver.highs import Watch
    from models.solver.progress import Monitor

    watch = Watch(Monitor(), "portfolio[0]", soft_deadline=100.0, soft_gap=0.05)
    assert not watch.soft_stop(99.0, 0.0)
    assert not watch.soft_stop(101.0, 0.30)
    assert not watch.soft_stop(101.0, float("inf"))
    assert watch.soft_stop(101.0, 0.04)
    assert not Watch(Monitor(), "portfolio[1]").soft_stop(1e9, 0.0)


def test_a_running_mips_gap_is_read_from_its_primal_and_dual_bounds():
    from types import SimpleNamespace

    from models.solver.highs import _gap

    assert _gap(SimpleNamespace(mip_primal_bound=-96.0, mip_dual_bound=-100.0)) == pytest.approx(4 / 96)
    assert _gap(SimpleNamespace(mip_primal_bound=1e40, mip_dual_bound=-100.0)) == float("inf")


def test_the_late_constructive_roster_needs_room_for_one_and_a_half_rosters():
    timings = [StageTiming(stage="staffing-greedy[0]", seconds=10.0), StageTiming(stage="portfolio[0]", seconds=90.0)]
    assert not late_roster_fits(timings, 14.0)
    assert late_roster_fits(timings, 16.0)
    assert late_roster_fits([], 0.5), "before any roster there is nothing to go by"


def test_on_a_portfolio_too_large_to_staff_beside_round_0_the_constructive_plan_is_staffed_last():
    """Unless the plan is proven within the gap first (see tests/test_repair_rounds.py):
    with no round after round 0, nothing is proven before the rounds end."""
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    settings = replace(EngineSettings.from_problem(problem.settings), staff_heuristic_beside_below=0, repair_rounds=0)
    plan = solve(problem, settings)
    assert check_plan(problem, plan) == []
    stages = [s.stage for s in plan.stages]
    late = [s for s in plan.stages if s.stage == "heuristic-staffing"]
    assert len(late) == 1 and late[0].alongside == ""
    assert stages.index("heuristic-staffing") > stages.index("portfolio[0]")
