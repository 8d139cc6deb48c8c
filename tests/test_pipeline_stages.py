"""The pipeline's stages one by one: the clock, the candidates, the final check, the messages."""

from __future__ import annotations

import time

import pytest

from models.contract.check import check_plan
from models.contract.validation import parse_problem
from models.formulation.instance import Block
from models.formulation.staffing import StaffingResult
from models.heuristics.shed import Staffed
from models.pipeline.candidates import Candidates, tighter
from models.pipeline.clock import LAST_CALL_SECONDS, MAX_ASSEMBLY_SHARE, Clock, assembly_reserve
from models.pipeline.finish import checked_plan, message
from models.pipeline.compile import compile_stage
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings
from tests.conftest import base_problem


def _state(**overrides: object):
    problem = parse_problem(base_problem(**overrides))
    settings = EngineSettings.from_problem(problem.settings)
    return compile_stage(problem, settings, Monitor(), time.perf_counter())


def test_the_clock_keeps_room_to_assemble_the_plan_and_a_last_call_past_the_limit():
    problem = parse_problem(base_problem())
    clock = Clock.start(problem, 10.0, started=100.0)
    assert clock.began == 100.0
    assert clock.deadline == pytest.approx(110.0 - assembly_reserve(problem, 10.0))
    assert clock.last_call == pytest.approx(110.0 + LAST_CALL_SECONDS)
    assert clock.fallback_by(True) == clock.deadline and clock.fallback_by(False) == clock.last_call


def test_the_assembly_reserve_never_takes_more_than_its_share_of_a_short_limit():
    problem = parse_problem(base_problem())
    problem.staff = problem.staff * 10_000  # not revalidated: only its size matters here
    assert assembly_reserve(problem, 1.0) == pytest.approx(MAX_ASSEMBLY_SHARE)


def test_candidates_rank_best_first_and_keep_the_first_of_equals():
    s = _state()
    inst = s.inst
    ana = StaffingResult(None, [Block("ana", "T1", "CRA", 0, 2, 1.0)], {}, {})
    ben = StaffingResult(None, [Block("ben", "T1", "CRA", 0, 2, 1.0)], {}, {})
    best = Candidates(inst, Monitor())
    best.consider(Staffed({"T1": ("std", 0)}, ben), "dearer")
    best.consider(Staffed({"T1": ("std", 0)}, ana), "cheaper")
    best.consider(Staffed({"T1": ("std", 0)}, ana), "cheaper again")
    assert [source for _, source in best.ranked()] == ["cheaper", "cheaper again", "dearer"]
    assert best.source == "cheaper"


def test_tighter_bounds_by_the_objectives_sense():
    assert tighter("value", 10.0, 8.0) == 8.0 and tighter("cost", 10.0, 8.0) == 10.0
    assert tighter("cost", None, 8.0) == 8.0 and tighter("value", 9.0, None) == 9.0


def test_a_better_plan_the_checker_rejects_is_passed_over_and_the_plan_says_so():
    """The engine's guard against its own bugs (SPEC §4): a candidate that leaves T1's demand
    uncovered where the objective prices no shortfall costs nothing, so it ranks first; the
    checker rejects it, the next one is returned, and the message says what was passed over."""
    s = _state()
    inst = s.inst
    broken = StaffingResult(None, [], {}, {("T1", "CRA", m): 1.0 for m in range(3)})
    sound = StaffingResult(None, [Block("ben", "T1", "CRA", 0, 2, 1.0)], {}, {})
    best = Candidates(inst, Monitor())
    best.consider(Staffed({"T1": ("std", 0)}, sound), "sound")
    best.consider(Staffed({"T1": ("std", 0)}, broken), "broken")
    assert [source for _, source in best.ranked()] == ["broken", "sound"]
    checked = checked_plan(inst, best.ranked(), s.timings, None, s.settings, "", "no bound")
    assert checked is not None
    plan, _, source = checked
    assert source == "sound"
    assert check_plan(s.problem, plan) == []
    assert [a.staff for a in plan.assignments] == ["ben"]
    assert "passed over 1 better plan(s) that broke a rule, first broken (demand_coverage" in plan.message
    assert plan.status == "feasible"


def test_no_plan_when_every_candidate_breaks_a_rule():
    s = _state()
    broken = StaffingResult(None, [Block("ana", "T1", "CRA", 0, 2, 1.0), Block("ben", "T1", "CRA", 0, 2, 1.0)], {}, {})
    best = Candidates(s.inst, Monitor())
    best.consider(Staffed({"T1": ("std", 0)}, broken), "broken")
    assert checked_plan(s.inst, best.ranked(), s.timings, None, s.settings, "", "") is None


def test_the_message_says_why_the_rounds_ended():
    s = _state()
    assert message(s) == f"staffing did not match the portfolio stage within {s.settings.repair_rounds} repair rounds: best fully staffed plan found"
    s.ended = "time"
    assert message(s).startswith("the time limit ended the repair rounds")
    s.converged = True
    assert message(s) == ""
    s.monitor = Monitor(flag=lambda: True, interval=0.0)
    assert message(s).startswith("stopped on request")
