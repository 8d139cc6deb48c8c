"""Progress while a solve runs, stop on request, and the fallback that sheds unstaffable trials."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from models.contract.check import check_plan
from models.heuristics.greedy import greedy_staffing
from models.formulation.instance import compile_instance
from models.pipeline import solve
from models.formulation.assemble import build_plan
from models.heuristics.shed import shed
from models.contract.plan import Plan
from models.contract.validation import parse_problem
from models.solver.progress import Monitor, Progress, activity, relative_gap
from tests.conftest import ROOT, base_problem
from tests.test_heuristic import heuristic_plan


def _assert_clean(problem, plan) -> None:
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)


def _trial(tid: str, fte: float = 1.0, **extra) -> dict:
    trial = {"id": tid, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": fte}}]}]}
    trial.update(extra)
    return trial


def test_last_progress_report_is_the_plans_objective_bound_and_gap():
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    seen: list[Progress] = []
    plan = solve(problem, progress=seen.append)
    _assert_clean(problem, plan)
    assert seen, "a finished solve reports at least its result"
    last = seen[-1]
    assert last.stage == "done"
    assert (last.incumbent, last.bound) == (plan.objective, plan.best_bound)
    assert last.gap == pytest.approx(plan.gap)
    assert all(b.elapsed >= a.elapsed for a, b in zip(seen, seen[1:]))


def test_stop_before_the_portfolio_stage_returns_the_constructive_plan_and_says_why():
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    plan = solve(problem, stop=lambda: True)
    assert plan.status == "feasible"
    assert "stopped on request" in plan.message
    assert not any(s.stage.startswith("portfolio") for s in plan.stages)
    assert [s.stage for s in plan.stages if s.stage.startswith("chosen: ")] == ["chosen: heuristic"]
    assert {t.id for t in plan.trials if t.run} == {"T1", "T2"}
    _assert_clean(problem, plan)


def test_stop_during_a_long_solve_returns_a_checker_clean_plan_quickly():
    problem = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    incumbents: list[Progress] = []

    def progress(p: Progress) -> None:
        # The first fully staffed plan (the constructive one): a stop keeps the best such plan.
        if p.stage == "heuristic" and p.incumbent is not None:
            incumbents.append(p)

    plan = solve(problem, progress=progress, stop=lambda: bool(incumbents))
    assert plan.status == "feasible"
    assert "stopped on request" in plan.message
    assert plan.solve_seconds < problem.settings.time_limit
    _assert_clean(problem, plan)
    stages = [s.stage for s in plan.stages]
    assert "portfolio[1]" not in stages, "no repair round starts after a stop"


def test_shed_drops_the_unstaffable_optional_trial_and_its_successor_but_keeps_the_mandatory_one():
    # Only ben holds the skill T2 needs, and T2 needs 1.5 FTE of it: it cannot be covered.
    problem = parse_problem(
        base_problem(
            staff=[
                {"id": "ana", "role": "CRA", "monthly_cost": 10000},
                {"id": "ben", "role": "CRA", "monthly_cost": 12000, "skills": ["psoriasis"]},
            ],
            trials=[
                _trial("T1", mandatory=True),
                _trial("T2", fte=1.5, value=900_000, required_skills={"CRA": ["psoriasis"]}),
                _trial("T3", value=900_000, predecessors=[{"trial": "T2"}]),
            ],
        )
    )
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0), "T2": ("std", 0), "T3": ("std", 4)}
    staffing = greedy_staffing(inst, schedule)
    assert {t for t, _, _ in staffing.shortfall} == {"T2"}
    kept = shed(inst, schedule, staffing)
    assert kept is not None
    assert set(kept.schedule) == {"T1"}
    plan = build_plan(inst, kept.schedule, kept.staffing, [])
    plan.status = "feasible"
    _assert_clean(problem, plan)


def test_shed_gives_up_when_a_mandatory_trial_cannot_be_staffed():
    problem = parse_problem(
        base_problem(
            staff=[{"id": "ben", "role": "CRA", "monthly_cost": 12000, "skills": ["psoriasis"]}],
            trials=[_trial("T1", fte=1.5, mandatory=True, required_skills={"CRA": ["psoriasis"]})],
        )
    )
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0)}
    assert shed(inst, schedule, greedy_staffing(inst, schedule)) is None


def test_shed_leaves_out_the_least_valuable_optional_trial_of_a_year_over_budget():
    problem = parse_problem(
        base_problem(
            trials=[_trial("T1", mandatory=True), _trial("T2", value=300_000), _trial("T3", value=200_000)],
            budget={"per_year": {"2027": 70_000}},
        )
    )
    inst = compile_instance(problem)
    schedule = {"T1": ("std", 0), "T2": ("std", 0), "T3": ("std", 4)}
    kept = shed(inst, schedule, greedy_staffing(inst, schedule))
    assert kept is not None
    assert set(kept.schedule) == {"T1", "T2"}
    plan = build_plan(inst, kept.schedule, kept.staffing, [])
    plan.status = "feasible"
    _assert_clean(problem, plan)


def test_monitor_polls_the_stop_flag_sparingly_and_latches_it():
    calls: list[int] = []

    def flag() -> bool:
        calls.append(1)
        return len(calls) >= 2

    monitor = Monitor(flag=flag, interval=3600)
    assert [monitor.stopped() for _ in range(5)] == [False] * 5
    assert len(calls) == 1
    monitor = Monitor(flag=flag, interval=0)
    assert monitor.stopped() and monitor.stopped()
    assert len(calls) == 2


def test_relative_gap_matches_the_plans_definition():
    assert relative_gap(90.0, 100.0) == pytest.approx(10 / 90)
    assert relative_gap(0.0, 0.5) == pytest.approx(0.5)
    assert relative_gap(None, 1.0) is None


def _pace() -> str:
    return str(Path(sys.executable).with_name("pace"))


def test_cli_progress_line_shows_incumbent_bound_and_gap(tmp_path):
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [_pace(), "solve", str(ROOT / "data" / "example-small.json"), "--progress", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    done = [line for line in result.stderr.splitlines() if " done: plan checked and ready " in line]
    assert done and "gap" in done[0] and "incumbent" in done[0]
    _assert_clean(parse_problem((ROOT / "data" / "example-small.json").read_text()), Plan.model_validate_json(out.read_text()))


def test_ctrl_c_stops_the_cli_solve_and_writes_the_best_plan_so_far(tmp_path):
    out = tmp_path / "plan.json"
    source = ROOT / "data" / "pace-reference.json"
    proc = subprocess.Popen(
        [_pace(), "solve", str(source), "--progress", "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "building a first plan quickly " in line and "incumbent" in line and line.split("incumbent")[1].split()[0] != "-":
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    plan = Plan.model_validate_json(out.read_text())
    assert plan.status == "feasible" and "stopped on request" in plan.message
    _assert_clean(parse_problem(source.read_text()), plan)


def test_each_new_best_plan_is_reported_with_its_real_objective():
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    seen: list[Progress] = []
    plan = solve(problem, progress=seen.append)
    _assert_clean(problem, plan)
    heuristic = [p for p in seen if p.stage == "heuristic"]
    assert len(heuristic) == 1, "the constructive plan, staffed beside round 0, is reported once"
    floor = heuristic_plan(problem)
    assert floor is not None
    _assert_clean(problem, floor)
    assert heuristic[0].incumbent == pytest.approx(floor.objective)
    assert heuristic[0].bound == pytest.approx(plan.best_bound), "it arrives once round 0 has a bound"
    stages = {s.stage: s for s in plan.stages}
    assert stages["heuristic-staffing"].alongside == "portfolio[0]"


def test_an_error_while_staffing_the_constructive_plan_beside_round_0_reaches_the_caller(monkeypatch):
    """The worker thread's failure is not swallowed (nor does the solve hang on it)."""
    import models.pipeline.construct as construct

    def broken(*_args, **_kwargs):
        raise RuntimeError("roster failed")

    monkeypatch.setattr(construct, "shed_heuristic", broken)
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    with pytest.raises(RuntimeError, match="roster failed"):
        solve(problem)


def test_every_stage_a_solve_reports_has_plain_words_for_planners():
    problem = parse_problem(base_problem(trials=[_trial("T1", mandatory=True), _trial("T2", value=500_000)]))
    seen: list[Progress] = []
    _assert_clean(problem, solve(problem, progress=seen.append))
    assert seen
    for p in seen:
        assert p.activity != p.stage and "[" not in p.activity, p.stage
    assert activity("portfolio[0]") == "choosing trials, options and start months"
    assert activity("portfolio[2]") == "choosing trials, options and start months (repair round 2)"
