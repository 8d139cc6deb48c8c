"""Parallelism inside one solve (issue 19 item 5): an infeasible problem's diagnosis and the
checks of its least changes are independent sub-problems, and ``solve(..., executor=...)``
runs them side by side on the same executor abstraction batches use.

Where time does not bind, the plan says exactly what the sequential solve says: the same
status, message, explanations and relaxations (each verified alike), and the same checks
in its stages. A sub-solve that never comes back is abandoned at the time limit, not
waited for; an executor that refuses work leaves the changes unchecked and the solve
still answers. A feasible problem never uses the executor. Every plan goes through the
independent checker.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest
from distributed import Client, LocalCluster

from models import parse_problem, solve
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.pipeline.run import CHECKS_STAGE, check_change
from tests.conftest import base_problem
from tests.service import assert_checker_clean


def _trial(tid: str, months: int, demand: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"id": tid, "options": [{"id": "std", "stages": [{"months": months, "demand": demand}]}], **extra}


def too_few_for_a_deadline() -> Problem:
    """One CRA: A holds her 2027-01..2027-04, so B (3 months, due 2027-05) ends 2 months late
    under ``cost``, where a mandatory deadline is hard: one more CRA or a 2-month slip fixes
    it, and so would open windows. Two changes to check, seven rule families to try."""
    return parse_problem(
        base_problem(
            staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
            trials=[
                _trial("A", 4, {"CRA": 1.0}, mandatory=True, latest_start="2027-01"),
                _trial("B", 3, {"CRA": 1.0}, mandatory=True, deadline="2027-05"),
            ],
            objective={"kind": "cost", "weights": {"fragmentation": 0}},
            settings={"time_limit": 20},
        )
    )


def budget_and_people_together() -> Problem:
    """Capacity alone needs a CRA the 2027 budget cannot pay; only both together fix it."""
    return parse_problem(
        base_problem(
            trials=[_trial("T1", 2, {"CRA": 3.0}, mandatory=True, value=1_000_000, latest_start="2027-01")],
            budget={"per_year": {"2027": 40_000}},
            objective={"kind": "cost", "weights": {"fragmentation": 0}},
            settings={"time_limit": 20},
        )
    )


def content(plan: Plan) -> dict[str, Any]:
    """What a plan says: everything but its timings, and the checks among its stages by name and status."""
    said = plan.model_dump(exclude={"solve_seconds", "stages"})
    said["checks"] = [(st.stage, st.status) for st in plan.stages if st.stage.startswith("check-change[")]
    return said


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("forkserver")) as executor:
        yield executor


@pytest.mark.parametrize("make", [too_few_for_a_deadline, budget_and_people_together])
def test_on_a_process_pool_an_infeasible_plan_says_what_the_sequential_one_says(make: Callable[[], Problem], pool):
    problem = make()
    alone = assert_checker_clean(problem, solve(problem))
    side_by_side = assert_checker_clean(problem, solve(problem, executor=pool))
    assert alone.status == "infeasible" and alone.relaxations
    assert all(r.verified is True for r in alone.relaxations)
    assert content(side_by_side) == content(alone)
    beside = [st for st in side_by_side.stages if st.stage.startswith("check-change[")]
    assert beside and {st.alongside for st in beside} == {CHECKS_STAGE}
    assert CHECKS_STAGE in [st.stage for st in side_by_side.stages]


def test_both_changes_and_the_open_windows_are_found_and_checked_side_by_side(pool):
    plan = assert_checker_clean(too_few_for_a_deadline(), solve(too_few_for_a_deadline(), executor=pool))
    assert [(r.kind, r.verified) for r in plan.relaxations] == [("capacity", True), ("deadlines", True)]
    assert any("start windows and deadlines" in e.reason for e in plan.explanations)
    assert [st.stage for st in plan.stages if st.stage.startswith("check-change[")] == ["check-change[capacity x1]", "check-change[deadlines x1]"]


def test_on_a_dask_cluster_the_plan_is_the_same_as_alone():
    problem = too_few_for_a_deadline()
    alone = assert_checker_clean(problem, solve(problem))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with Client(cluster.scheduler_address) as client:
            on_cluster = assert_checker_clean(problem, solve(problem, executor=client))
    assert content(on_cluster) == content(alone)


class Silent(Executor):
    """A cluster that takes the named tasks and never answers; any other task runs on one thread."""

    def __init__(self, silent_on: tuple[Callable[..., Any], ...] | None = None) -> None:
        self.silent_on = silent_on
        self.taken: list[str] = []
        self.thread = ThreadPoolExecutor(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.taken.append(fn.__name__)
        if self.silent_on is None or fn in self.silent_on:
            return Future()
        return self.thread.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.thread.shutdown(wait=wait, cancel_futures=cancel_futures)


def solve_in_thread(problem: Problem, executor: Executor) -> Plan:
    """The solve on a thread of its own, so that one that waited for ever fails the test instead of hanging it."""
    answer: list[Plan] = []
    worker = threading.Thread(target=lambda: answer.append(solve(problem, executor=executor)), daemon=True)
    worker.start()
    worker.join(timeout=10 * problem.settings.time_limit)
    assert answer, "the solve waited on its executor past its time limit"
    return answer[0]


def _with_limit(problem: Problem, seconds: float) -> Problem:
    return problem.model_copy(update={"settings": problem.settings.model_copy(update={"time_limit": seconds})})


def test_checks_that_never_come_back_are_abandoned_and_the_changes_left_unverified():
    problem = _with_limit(too_few_for_a_deadline(), 4)
    silent = Silent(silent_on=(check_change,))
    plan = assert_checker_clean(problem, solve_in_thread(problem, silent))
    silent.shutdown()
    assert "check_change" in silent.taken
    assert plan.status == "infeasible"
    assert [(r.kind, r.verified) for r in plan.relaxations] == [("capacity", None), ("deadlines", None)]
    assert not any(st.stage.startswith("check-change[") for st in plan.stages)
    assert all("(checked" not in e.reason for e in plan.explanations)


def test_a_diagnosis_that_never_comes_back_is_abandoned_and_the_plan_still_says_infeasible():
    problem = _with_limit(too_few_for_a_deadline(), 4)
    silent = Silent()
    plan = assert_checker_clean(problem, solve_in_thread(problem, silent))
    assert set(silent.taken) == {"least_change", "admits_a_plan"}
    assert plan.status == "infeasible" and plan.relaxations == []
    assert plan.message == solve(problem).message


class Refusing(Executor):
    """An executor that takes nothing (a process pool broken by a lost worker refuses so)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise RuntimeError("cannot schedule new futures after shutdown")


def test_an_executor_that_refuses_work_leaves_the_changes_unchecked_but_the_solve_answers():
    # No single kind or family was tried, so only the combined change (found in this
    # process, as it is only tried once the single ones are in) may be named; none checked.
    problem = too_few_for_a_deadline()
    plan = assert_checker_clean(problem, solve(problem, executor=Refusing()))
    assert plan.status == "infeasible"
    assert {r.kind for r in plan.relaxations} <= {"combined"}
    assert all(r.verified is None for r in plan.relaxations)
    assert not any(st.stage.startswith("check-change[") for st in plan.stages)


def test_a_feasible_problem_never_uses_the_executor_and_gets_the_same_plan():
    problem = parse_problem(base_problem(settings={"reproducible": True, "time_limit": 20}))
    alone = assert_checker_clean(problem, solve(problem))
    beside = assert_checker_clean(problem, solve(problem, executor=Refusing()))
    assert alone.status == "optimal"
    assert content(beside) == content(alone)
