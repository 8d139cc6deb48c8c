"""A stop ends the staffing stages at once (issue 20: a cancel ends a running solve within about a second).

HiGHS and CP-SAT poll the stop flag; the heuristic stages work against a cutoff, their
deadline that comes at once when a stop is asked. Each stage is driven deterministically:
the stop is asked when the stage's function is first called, the call waits until the stop
has reached that call's own cutoff (so the stage cannot finish first by luck of the clock),
then runs for real and must notice it. What is asserted is what the stage did after the
stop (segments staffed, months rostered, trials placed, stages that followed), never how
long it took. A stopped solve returns a checker-clean plan that says it was stopped, or
``no_solution``; it never raises.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.formulation.assemble import build_plan
from models.formulation.instance import Instance, compile_instance
from models.heuristics import constructive, greedy, insertion, serial_staffing
from models.heuristics import lp_roster as lp_roster_module
from models.heuristics import shed as shed_module
from models.heuristics.constructive import constructive_schedule
from models.heuristics.greedy import greedy_staffing
from models.heuristics.insertion import insert_trials
from models.heuristics.lp_roster import lp_roster
from models.heuristics.shed import Staffed, shed
from models.heuristics.swap import move_to_cheaper
from models.pipeline import construct, roster, solve
from models.solver.progress import NEVER, Cutoff, Monitor, cutoff
from models.solver.settings import EngineSettings
from models.tools.generate import generate

#: How long a stage's first call waits for the stop to reach it before the test gives up
#: (a hang guard, not a measurement: the stop arrives within a poll of the flag).
GIVE_UP_SECONDS = 60.0


def _problem() -> Problem:
    """A generated portfolio whose round 0 needs repair: every staffing stage runs (120 staff, 10 trials)."""
    problem = generate(staff=120, trials=10, months=24, seed=7)
    problem.settings.time_limit = 60
    return problem


def _settings(problem: Problem, **changes: Any) -> EngineSettings:
    """The problem's settings without the staffing MIP (a HiGHS run, which already polls the flag)."""
    return replace(EngineSettings.from_problem(problem.settings), staffing_mip_max_pairs=0, **changes)


class StopAtStage:
    """A stop flag that turns true when a stage's function is first called.

    ``wrap`` replaces the function: its first call asks the stop, waits until the stop has
    reached the cutoff that call was given (through the solve's monitor, or through the
    event of the thread the constructive plan is staffed on), then runs the real function.
    ``segments`` and ``months`` count the greedy roster's segments and the LP roster's months
    worked on inside that call. (Other stages may still work after a stop: a fallback that
    would give the solve its first plan has a short grace.)
    """

    def __init__(self) -> None:
        self.asked = False
        self.reached = False
        self.calls = 0
        self.segments = 0
        self.months = 0
        self._lock = threading.Lock()
        self._inside: int | None = None

    def _counting(self) -> bool:
        return self._inside == threading.get_ident()

    def flag(self) -> bool:
        return self.asked

    def wrap(self, real: Callable[..., Any], cutoff_of: Callable[[tuple[Any, ...], dict[str, Any]], Cutoff]) -> Callable[..., Any]:
        def stage(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                first = self.calls == 1
            if first:
                self.asked = True
                until = cutoff_of(args, kwargs)
                give_up = time.monotonic() + GIVE_UP_SECONDS
                while not until.stopped() and time.monotonic() < give_up:
                    time.sleep(0.01)
                self.reached = until.stopped()
                self._inside = threading.get_ident()
                try:
                    return real(*args, **kwargs)
                finally:
                    self._inside = None
            return real(*args, **kwargs)

        return stage

    def count_work(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Count the roster work done inside the stopped call."""
        staff_segment, cover = greedy._Roster.staff_segment, lp_roster_module._cover_within_limits

        def counted_segment(roster_: Any, *args: Any, **kwargs: Any) -> None:
            self.segments += self._counting()
            staff_segment(roster_, *args, **kwargs)

        def counted_month(*args: Any, **kwargs: Any) -> Any:
            self.months += self._counting()
            return cover(*args, **kwargs)

        monkeypatch.setattr(greedy._Roster, "staff_segment", counted_segment)
        monkeypatch.setattr(lp_roster_module, "_cover_within_limits", counted_month)


def _argument(position: int, name: str) -> Callable[[tuple[Any, ...], dict[str, Any]], Cutoff]:
    """The cutoff a stage function was called with (positionally or by name)."""
    return lambda args, kwargs: cutoff(kwargs[name] if name in kwargs else args[position])


def _assert_stopped_cleanly(problem: Problem, plan: Plan) -> None:
    """A stopped solve: a checker-clean plan that says it was stopped, or no plan at all."""
    assert plan.status in ("feasible", "no_solution"), plan.message
    if plan.status == "feasible":
        assert "stopped on request" in plan.message
        violations = check_plan(problem, plan)
        assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)


def _stages(plan: Plan) -> list[str]:
    return [s.stage for s in plan.stages]


def test_a_stop_while_the_constructive_plan_is_staffed_beside_round_0_ends_its_roster(monkeypatch):
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    monkeypatch.setattr(construct, "budget_roster", stop.wrap(construct.budget_roster, _argument(2, "deadline")))
    plan = solve(problem, _settings(problem), stop=stop.flag)
    assert stop.reached, "the stop reached the thread staffing the constructive plan"
    assert stop.segments == 0 and stop.months == 0, "the roster started after the stop staffed nothing"
    assert "heuristic-staffing" in _stages(plan)
    assert not any(s.startswith(("shed[", "portfolio[1]")) for s in _stages(plan))
    _assert_stopped_cleanly(problem, plan)


def test_a_stop_while_the_late_constructive_plan_is_staffed_keeps_the_plan_in_hand(monkeypatch):
    # Above staff_heuristic_beside_below the constructive plan is staffed last, after the rounds.
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    monkeypatch.setattr(construct, "budget_roster", stop.wrap(construct.budget_roster, _argument(2, "deadline")))
    plan = solve(problem, _settings(problem, staff_heuristic_beside_below=0, repair_rounds=0), stop=stop.flag)
    assert stop.reached and stop.segments == 0
    assert "heuristic-staffing" in _stages(plan)
    assert plan.status == "feasible", "round 0's shed plan was in hand before the stop"
    _assert_stopped_cleanly(problem, plan)


def test_a_stop_during_a_rounds_greedy_roster_ends_the_round(monkeypatch):
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    monkeypatch.setattr(roster, "budget_roster", stop.wrap(roster.budget_roster, _argument(2, "deadline")))
    plan = solve(problem, _settings(problem), stop=stop.flag)
    assert stop.reached and stop.segments == 0
    stages = _stages(plan)
    assert "staffing-greedy[0]" in stages
    assert not any(s.startswith(("staffing-lp", "shed[", "portfolio[1]")) for s in stages), stages
    _assert_stopped_cleanly(problem, plan)


def test_a_stop_during_the_lp_roster_ends_it_between_months(monkeypatch):
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    monkeypatch.setattr(roster, "lp_roster", stop.wrap(roster.lp_roster, lambda args, kwargs: kwargs["cutoff"]))
    plan = solve(problem, _settings(problem), stop=stop.flag)
    assert stop.reached and stop.months == 0, "no month of the LP roster was solved after the stop"
    stages = _stages(plan)
    assert "staffing-lp[0]" in stages
    assert not any(s.startswith(("shed[", "portfolio[1]")) for s in stages), stages
    _assert_stopped_cleanly(problem, plan)


def test_a_stop_while_shedding_ends_the_round_without_insertion(monkeypatch):
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    # shed() re-rosters through its own module's budget_roster after each drop.
    monkeypatch.setattr(shed_module, "budget_roster", stop.wrap(shed_module.budget_roster, _argument(2, "deadline")))
    inserted = StopAtStage()
    monkeypatch.setattr(insertion, "budget_roster", inserted.wrap(insertion.budget_roster, _argument(2, "deadline")))
    plan = solve(problem, _settings(problem, staff_heuristic_beside_below=0), stop=stop.flag)
    assert stop.reached and stop.segments == 0
    assert "shed[0]" in _stages(plan) and "portfolio[1]" not in _stages(plan)
    assert inserted.calls == 0, "no insertion after shedding was cut short"
    _assert_stopped_cleanly(problem, plan)


def test_a_stop_during_insertion_keeps_the_plan_before_the_attempt(monkeypatch):
    problem, stop = _problem(), StopAtStage()
    stop.count_work(monkeypatch)
    # Every trial goes through a roster attempt (none fits into what the roster leaves free).
    monkeypatch.setattr(insertion, "staffed_into", lambda *args: None)
    monkeypatch.setattr(insertion, "budget_roster", stop.wrap(insertion.budget_roster, _argument(2, "deadline")))
    plan = solve(problem, _settings(problem), stop=stop.flag)
    assert stop.reached and stop.calls == 1, "one attempt, cut short: no second attempt started"
    assert stop.segments == 0
    assert "portfolio[1]" not in _stages(plan)
    assert plan.status == "feasible", "insertion only improves a plan it holds"
    _assert_stopped_cleanly(problem, plan)


# The heuristics on their own: each loop notices a stop between steps and says what it did.


def _instance() -> tuple[Instance, dict[str, tuple[str, int]]]:
    """The generated portfolio compiled, and its constructive schedule."""
    inst = compile_instance(_problem())
    schedule = constructive_schedule(inst)
    assert schedule is not None
    return inst, schedule


def _after(calls: list[int], n: int) -> Cutoff:
    """A cutoff with no moment whose stop turns true once ``calls`` counts ``n``."""
    return Cutoff(math.inf, lambda: len(calls) >= n)


def test_the_greedy_roster_stops_between_segments_and_leaves_the_rest_uncovered(monkeypatch):
    inst, schedule = _instance()
    staffed: list[int] = []
    staff_segment = greedy._Roster.staff_segment

    def counted(roster_: Any, *args: Any, **kwargs: Any) -> None:
        staffed.append(1)
        staff_segment(roster_, *args, **kwargs)

    monkeypatch.setattr(greedy._Roster, "staff_segment", counted)
    full = greedy_staffing(inst, schedule)
    segments = len(staffed)
    staffed.clear()
    cut = greedy_staffing(inst, schedule, cutoff=_after(staffed, 3))
    assert segments > 3 and len(staffed) == 3
    assert sum(cut.shortfall.values()) + sum(cut.flex.values()) > sum(full.shortfall.values()) + sum(full.flex.values())


def test_moving_blocks_to_cheaper_people_stops_at_once_and_moves_nothing():
    inst, schedule = _instance()
    blocks = greedy_staffing(inst, schedule).blocks
    spare = greedy._Roster(inst, schedule, 1e-9, greedy.GOOD_ENOUGH_SHARE)
    row = spare.row
    stopped = Cutoff(math.inf, lambda: True)
    assert move_to_cheaper(inst, blocks, spare.spare_fte.copy(), row, cutoff=stopped) == blocks


def test_the_lp_roster_stops_between_months_and_leaves_the_rest_uncovered(monkeypatch):
    inst, schedule = _instance()
    solved: list[int] = []
    cover = lp_roster_module._cover_within_limits

    def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(1)
        return cover(*args, **kwargs)

    monkeypatch.setattr(lp_roster_module, "_cover_within_limits", counted)
    full = lp_roster(inst, schedule)
    months = len(solved)
    solved.clear()
    cut = lp_roster(inst, schedule, cutoff=_after(solved, 2))
    assert months > 2 and len(solved) == 2
    assert sum(cut.shortfall.values()) + sum(cut.flex.values()) > sum(full.shortfall.values()) + sum(full.flex.values())


def test_shedding_stops_after_the_roster_a_stop_cut_short(monkeypatch):
    inst, schedule = _instance()
    rosters: list[int] = []
    real = shed_module.budget_roster

    def counted(*args: Any, **kwargs: Any) -> Any:
        rosters.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(shed_module, "budget_roster", counted)
    staffing = greedy_staffing(inst, schedule)
    assert shed(inst, schedule, staffing) is not None
    full = len(rosters)
    rosters.clear()
    assert shed(inst, schedule, staffing, _after(rosters, 1)) is None
    assert full > 1 and len(rosters) == 1


def test_insertion_stops_after_the_attempt_a_stop_cut_short_and_returns_the_plan_it_had(monkeypatch):
    inst, schedule = _instance()
    # Only the trials that must run: every optional one is a candidate to put back.
    forced = {t: v for t, v in schedule.items() if t in inst.forced_run}
    kept = shed(inst, forced, greedy_staffing(inst, forced))
    assert kept is not None
    attempts: list[int] = []
    real = insertion.budget_roster

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(insertion, "budget_roster", counted)
    monkeypatch.setattr(insertion, "staffed_into", lambda *args: None)  # every candidate through a roster attempt

    def score(solved: Staffed) -> float:
        return -len(solved.schedule)  # more trials is better: every candidate that fits is kept

    insert_trials(inst, kept, score, math.inf)
    full = len(attempts)
    attempts.clear()
    grown = insert_trials(inst, kept, score, _after(attempts, 1))
    assert full > 1 and len(attempts) == 1
    assert grown is kept


def test_insertion_into_what_the_roster_leaves_free_stops_on_a_stop_too(monkeypatch):
    inst, schedule = _instance()
    forced = {t: v for t, v in schedule.items() if t in inst.forced_run}
    kept = shed(inst, forced, greedy_staffing(inst, forced))
    assert kept is not None
    calls: list[int] = []
    real = insertion.staffed_into
    monkeypatch.setattr(insertion, "staffed_into", lambda *args: calls.append(1) or real(*args))
    grown = insert_trials(inst, kept, lambda solved: -len(solved.schedule), math.inf)
    assert len(grown.schedule) > len(kept.schedule) and calls
    assert check_plan(inst.problem, build_plan(inst, grown.schedule, grown.staffing, [])) == []
    calls.clear()
    assert insert_trials(inst, kept, lambda solved: -len(solved.schedule), Cutoff(math.inf, lambda: True)) is kept
    assert calls == []


def test_the_serial_plan_stops_between_trials(monkeypatch):
    inst, _ = _instance()
    placed: list[int] = []
    earliest = serial_staffing._earliest

    def counted(*args: Any, **kwargs: Any) -> Any:
        placed.append(1)
        return earliest(*args, **kwargs)

    monkeypatch.setattr(serial_staffing, "_earliest", counted)
    full = constructive.serial_plan(inst)
    trials = len(placed)
    placed.clear()
    assert constructive.serial_plan(inst, _after(placed, 2)) is None
    assert full is not None and trials > 2 and len(placed) == 2


def test_a_stop_makes_every_cutoff_now_and_a_first_plan_grace_delays_it():
    monitor = Monitor(flag=lambda: True, interval=0.0)
    later = monitor.cutoff(math.inf, grace=3600.0)
    now = monitor.cutoff(math.inf)
    assert now.stopped() and now.passed() and not now.fits(0.0)
    assert not later.stopped() and not later.passed() and later.fits(1.0)
    assert not NEVER.stopped() and not NEVER.passed() and cutoff(math.inf) == NEVER
    assert cutoff(0.0).passed() and not cutoff(0.0).stopped(), "a bare moment ends by time, never by a stop"


def test_shed_and_insert_as_before_without_a_stop():
    # A bare deadline (the callers that hold no stop flag) gives the same plan as a cutoff no stop reaches.
    inst, schedule = _instance()
    staffing = greedy_staffing(inst, schedule)
    bare, with_cutoff = shed(inst, schedule, staffing, math.inf), shed(inst, schedule, staffing, Cutoff(math.inf, lambda: False))
    assert isinstance(bare, Staffed) and isinstance(with_cutoff, Staffed)
    assert bare.schedule == with_cutoff.schedule and bare.staffing.blocks == with_cutoff.staffing.blocks


def test_a_stop_before_any_staffed_plan_says_so():
    """The reference's first staffed plan takes seconds: a stop asked from the start ends
    with no plan, and the message says why (not a time limit, not repair rounds)."""
    problem = generate(staff=500, trials=30, months=36, seed=7)
    plan = solve(problem, stop=lambda: True)
    assert check_plan(problem, plan) == []
    assert plan.status == "no_solution"
    assert plan.message == "stopped on request before any fully staffed plan was found"
