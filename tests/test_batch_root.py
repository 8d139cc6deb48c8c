"""``models.solve_many``: the package's own batch call, on a process pool and on a Dask cluster.

Issue 19 item 4: a notebook solves many problems with ``models.solve_many(problems,
executor=...)`` and gets the plans back in the problems' order, whatever runs them. The
problems are a budget sweep of the small example in reproducible mode (the same problem
gives the same plan wherever it runs), chosen so that each runs a different number of
trials: a plan returned out of order cannot pass. Every plan goes through the checker.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from distributed import Client, LocalCluster

import models
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from tests.conftest import ROOT
from tests.service import assert_checker_clean

SMALL = ROOT / "data" / "example-small.json"
#: Yearly budget factors whose plans run 1, 2 and 3 trials (see tests/test_batch.py's sweep).
FACTORS = [1.2, 0.6, 0.85, 1.0]


def problems() -> list[Problem]:
    out = []
    for factor in FACTORS:
        data = json.loads(SMALL.read_text())
        data["name"] = f"budget x{factor}"
        data["budget"]["per_year"] = {year: cap * factor for year, cap in data["budget"]["per_year"].items()}
        data["settings"] = {**data.get("settings", {}), "reproducible": True, "time_limit": 10}
        out.append(parse_problem(json.dumps(data)))
    return out


def content(plan: Plan) -> dict[str, Any]:
    """What a plan says, without how long its stages took."""
    return plan.model_dump(exclude={"solve_seconds", "stages"})


@pytest.fixture(scope="module")
def on_a_process_pool() -> list[Plan]:
    every = problems()
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        plans = models.solve_many(every, executor=pool)
    return [assert_checker_clean(problem, plan) for problem, plan in zip(every, plans, strict=True)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real Dask cluster over TCP on 127.0.0.1: two worker processes."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local


def test_solve_many_is_exported_from_the_package_root():
    assert "solve_many" in models.__all__


def test_on_a_process_pool_each_plan_comes_back_in_the_order_of_its_problem(on_a_process_pool):
    assert [p.status for p in on_a_process_pool] == ["optimal"] * len(FACTORS)
    assert [p.kpis.trials_run for p in on_a_process_pool] == [3, 1, 2, 3]
    alone = models.solve(problems()[1])
    assert content(alone) == content(on_a_process_pool[1])


def test_a_dask_cluster_gives_the_same_plans_in_the_same_order(on_a_process_pool, cluster):
    every = problems()
    with Client(cluster.scheduler_address) as client:
        plans = models.solve_many(every, executor=client)
    checked = [assert_checker_clean(problem, plan) for problem, plan in zip(every, plans, strict=True)]
    assert [content(p) for p in checked] == [content(p) for p in on_a_process_pool]


def test_no_problems_give_no_plans():
    assert models.solve_many([]) == []
