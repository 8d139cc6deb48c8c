"""Reproducible mode (SPEC §4): the same problem gives the same plan on every run, whatever
the load, because work limits replace wall-clock ones and no stage races another."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from models.contract.check import check_plan
from models.tools.generate import generate
from models.pipeline import solve
from models.solver.settings import MIN_NODES, EngineSettings
from tests.conftest import ROOT

#: Solves the problem on stdin in reproducible mode and prints the plan without its timings.
_RUN = """
import json, sys
from models.pipeline import solve
from models.contract.validation import parse_problem
problem = parse_problem(sys.stdin.read())
plan = solve(problem)
print(json.dumps(plan.model_dump(mode="json", exclude={"stages", "solve_seconds"}), sort_keys=True))
"""


def _run(problem_json: str, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _RUN], input=problem_json, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_three_runs_in_reproducible_mode_give_the_same_plan():
    """Three processes, each with its own string hashing (so its own set order), one of
    them with the other core kept busy: one plan."""
    problem = generate(staff=60, trials=8, months=18, seed=3)
    problem.settings.time_limit = 30
    problem.settings.reproducible = True
    text = problem.model_dump_json()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        plans = {_run(text, seed) for seed in ("1", "2", "3")}
    finally:
        busy.kill()
    assert len(plans) == 1
    plan = json.loads(plans.pop())
    assert plan["status"] in ("optimal", "feasible") and "time limit" not in plan["message"]


def test_reproducible_mode_limits_every_highs_run_by_its_work():
    problem = generate(staff=60, trials=8, months=18, seed=3)
    settings = EngineSettings(time_limit=30, reproducible=True)
    plan = solve(problem, settings)
    assert check_plan(problem, plan) == []
    runs = [s for s in plan.stages if s.stage.startswith(("portfolio[", "staffing-mip", "exact"))]
    assert runs
    most = settings.work_limit(settings.time_limit * settings.portfolio_share_max)
    assert all(s.nodes <= most for s in runs)
    assert not any(s.alongside for s in plan.stages if s.stage == "heuristic-staffing"), "no roster races round 0"


@pytest.mark.parametrize("seconds", [0.0, 1.0, 60.0])
def test_a_work_limit_only_in_reproducible_mode(seconds: float):
    assert EngineSettings(reproducible=False).work_limit(seconds) is None
    nodes = EngineSettings(reproducible=True).work_limit(seconds)
    assert nodes is not None and nodes >= MIN_NODES
