"""Batch what-if studies: a sweep of scenarios solved on the local pool and on a Dask cluster alike.

The problems are small and solved in reproducible mode, so the same scenario gives the
same plan wherever it runs; summaries are compared without their ``seconds`` column.
Every plan a test gets goes through the independent checker.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster

from models import solve
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.tools.batch import LocalPool, SummaryRow, compare, invalid_row, solve_many, summary_row
from models.tools.generate import generate
from models.tools.scenarios import BASE, Scenario, expand, read_scenario_file
from tests.conftest import ROOT, base_problem
from tests.service import assert_checker_clean, wait_for

SMALL = ROOT / "data" / "example-small.json"
PACE = str(Path(sys.executable).with_name("pace"))
#: Budget factors of the sweep: from one trial run to all three.
FACTORS = [0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.2]


def sweep_file() -> dict[str, Any]:
    return {
        "base": json.loads(SMALL.read_text()),
        "settings": {"reproducible": True, "time_limit": 10},
        "scenarios": [
            {"name": "T01 mandatory", "changes": [{"set": "trials[T01].mandatory", "value": True}]},
            {"name": "unknown role", "changes": [{"set": "trials[T01].options[0].stages[0].demand.CRX", "value": 1.0}]},
        ],
        "sweep": {"path": "budget.per_year.2027", "op": "scale", "values": FACTORS, "name": "budget x{value}"},
    }


def scenarios() -> list[Scenario]:
    spec = read_scenario_file(sweep_file())
    return expand(spec, spec.base if isinstance(spec.base, dict) else {})


def summarise(all_scenarios: list[Scenario], plans: list[Plan]) -> list[SummaryRow]:
    """The summary of a batch, each plan checked first."""
    solved = iter(plans)
    rows = []
    for s in all_scenarios:
        if s.problem is None:
            rows.append(invalid_row(s.name, s.errors))
            continue
        plan = next(solved)
        assert_checker_clean(s.problem, plan)
        rows.append(summary_row(s.name, plan))
    return rows


def without_seconds(rows: list[SummaryRow] | list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in (asdict(r) if isinstance(r, SummaryRow) else r).items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real Dask cluster over TCP on 127.0.0.1: two worker processes of one thread each."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local


@pytest.fixture(scope="module")
def local_summary() -> list[SummaryRow]:
    every = scenarios()
    return summarise(every, solve_many(solve, [s.problem for s in every if s.problem is not None]))


def test_a_sweep_gives_the_same_summary_on_the_local_pool_and_on_a_dask_cluster(local_summary, cluster):
    every = scenarios()
    assert len([s for s in every if s.name.startswith("budget x")]) >= 8
    with Client(cluster.scheduler_address) as client:
        on_cluster = summarise(every, solve_many(solve, [s.problem for s in every if s.problem is not None], executor=client))
    assert [r.scenario for r in on_cluster] == [s.name for s in every]
    assert without_seconds(on_cluster) == without_seconds(local_summary)


def test_an_infeasible_and_an_invalid_scenario_appear_as_such_in_the_summary(local_summary):
    by_name = {r.scenario: r for r in local_summary}
    assert by_name["T01 mandatory"].status == "infeasible" and by_name["T01 mandatory"].objective is None
    assert by_name["unknown role"].status == "invalid"
    assert "trials[0].options[0].stages[0].demand.CRX: unknown role 'CRX'" in by_name["unknown role"].message
    assert {by_name[f"budget x{f}"].status for f in FACTORS} == {"optimal"}


def test_solve_many_returns_each_plan_in_the_order_of_its_problem(local_summary):
    every = {s.name: s.problem for s in scenarios()}
    for name in ("budget x0.6", "budget x1.2"):
        problem = every[name]
        assert problem is not None
        alone = assert_checker_clean(problem, solve(problem))
        row = next(r for r in local_summary if r.scenario == name)
        assert (row.objective, row.trials_run) == (alone.objective, alone.kpis.trials_run)
    assert next(r for r in local_summary if r.scenario == "budget x0.6").trials_run == 1
    assert next(r for r in local_summary if r.scenario == "budget x1.2").trials_run == 3


def _solve_unless_named_boom(problem: Problem, stop: Any = None) -> Plan:
    if problem.name == "boom":
        raise RuntimeError("the solver fell over")
    return solve(problem, stop=stop)


def test_a_solve_that_raises_is_an_error_plan_and_the_others_still_finish():
    good = scenarios()[0].problem
    assert good is not None
    problems = [good, good.model_copy(update={"name": "boom"}), good]
    with ThreadPoolExecutor(max_workers=1) as executor:
        plans = solve_many(_solve_unless_named_boom, problems, executor)
    assert [p.status for p in plans] == ["optimal", "error", "optimal"]
    assert "RuntimeError: the solver fell over" in plans[1].message
    assert_checker_clean(good, plans[0])
    assert_checker_clean(good, plans[2])


def _solve_unless_named_crash(problem: Problem, stop: Any = None) -> Plan:
    if problem.name == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    return solve(problem, stop=stop)


def test_a_solve_whose_process_dies_fails_alone_on_the_local_pool():
    good = scenarios()[0].problem
    assert good is not None
    problems = [good.model_copy(update={"name": "crash"}), good, good.model_copy(update={"name": "crash"}), good]
    with LocalPool(2) as pool:
        plans = solve_many(_solve_unless_named_crash, problems, pool)
    assert [p.status for p in plans] == ["error", "optimal", "error", "optimal"]
    assert "WorkerLost: the solve process died (exit code -9)" in plans[0].message
    for plan in plans[1::2]:
        assert_checker_clean(good, plan)


def test_the_comparison_puts_each_scenario_beside_the_base():
    every = scenarios()
    valid = [s for s in every if s.problem is not None]
    plans = dict(zip([s.name for s in valid], solve_many(solve, [s.problem for s in valid])))
    for s in valid:
        assert_checker_clean(s.problem, plans[s.name])  # type: ignore[arg-type]
    rows = {r.scenario: r for r in compare(plans[BASE], [(s.name, plans.get(s.name) or "invalid") for s in every])}
    base = rows[BASE]
    assert base.objective_change == 0 and set(base.cost_per_year) == {"2027"}
    assert base.cost_per_year["2027"] == pytest.approx(plans[BASE].kpis.total_cost)
    assert set(base.fte_per_role) == set(json.loads(SMALL.read_text())["roles"])
    cut = rows["budget x0.6"]
    assert cut.objective_change is not None and cut.objective_change < 0 and cut.trials_run == 1
    assert cut.cost_per_year["2027"] <= 0.6 * json.loads(SMALL.read_text())["budget"]["per_year"]["2027"] + 1e-6
    assert rows["unknown role"].status == "invalid" and rows["unknown role"].cost_per_year == {}


def _summary_csv(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def _run_cli(scenario_file: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [PACE, "batch", str(scenario_file), "-o", str(out), "--no-progress", *options], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


def test_pace_batch_writes_every_plan_and_the_same_summary_locally_and_on_the_cluster(tmp_path, cluster, local_summary):
    scenario_file = tmp_path / "sweep.json"
    scenario_file.write_text(json.dumps(sweep_file()))
    _run_cli(scenario_file, tmp_path / "local", "--workers", "2")
    result = _run_cli(scenario_file, tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    local, remote = _summary_csv(tmp_path / "local"), _summary_csv(tmp_path / "dask")
    assert [r["scenario"] for r in local] == [s.name for s in scenarios()]
    assert without_seconds(local) == without_seconds(remote)
    assert [r["status"] for r in local] == [r.status for r in local_summary]
    assert "budget x0.6" in result.stdout and "infeasible" in result.stdout
    problems = {s.name: s.problem for s in scenarios()}
    comparison = {r["scenario"]: r for r in csv.DictReader((tmp_path / "dask" / "comparison.csv").open())}
    for name, problem in problems.items():
        if problem is None:
            assert comparison[name]["plan"] == ""
            continue
        plan_file = tmp_path / "dask" / comparison[name]["plan"]
        assert_checker_clean(problem, plan_file.read_text())
    diff = (tmp_path / "dask" / comparison["budget x0.6"]["diff"]).read_text()
    assert "trials run: 3 -> 1" in diff
    assert comparison[BASE]["diff"] == "" and comparison["T01 mandatory"]["diff"] == ""


def test_a_scenario_file_that_is_not_one_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: {}\nscenarios:\n  - name: base\n")
    result = subprocess.run([PACE, "batch", str(bad), "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "scenarios[0].name" in result.stderr


def test_ctrl_c_stops_the_batch_and_keeps_what_finished(tmp_path):
    """One quick problem, then three that would run two minutes each on the one worker:
    Ctrl+C (to the whole process group, as a terminal sends it) once the quick plan is
    written stops the running solve with its best plan (or, caught starting, with none)
    and never starts the others."""
    quick = json.loads(SMALL.read_text())
    (tmp_path / "a-quick.json").write_text(json.dumps(quick))
    slow = generate(staff=60, trials=8, months=24, seed=3)
    slow.settings = slow.settings.model_copy(update={"time_limit": 120.0, "mip_gap": 0.0})
    names = ["a-quick"] + [f"slow-{i}" for i in range(3)]
    for name in names[1:]:
        (tmp_path / f"{name}.json").write_text(slow.model_dump_json())
    out = tmp_path / "out"
    process = subprocess.Popen(
        [PACE, "batch", *(str(tmp_path / f"{n}.json") for n in names), "-o", str(out), "--workers", "1", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: (out / "plans" / "000-a-quick.json").exists(), timeout=120, what="the quick plan")
        time.sleep(2)  # let the first slow solve get going
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    rows = {r["scenario"]: r for r in _summary_csv(out)}
    assert list(rows) == names
    assert rows["a-quick"]["status"] == "optimal"
    assert_checker_clean(json.dumps(quick), (out / "plans" / "000-a-quick.json").read_text())
    assert rows["slow-0"]["status"] in ("feasible", "no_solution", "not run")
    if rows["slow-0"]["status"] == "feasible":
        assert "stopped on request" in rows["slow-0"]["message"]
        assert_checker_clean(slow, (out / "plans" / "001-slow-0.json").read_text())
    assert [rows[n]["status"] for n in names[2:]] == ["not run", "not run"]


def test_pace_batch_of_problem_files_reports_an_invalid_file_and_solves_the_others(tmp_path):
    good = json.loads(SMALL.read_text())
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps({**good, "roles": "CRA"}))
    out = tmp_path / "out"
    result = subprocess.run(
        [PACE, "batch", str(tmp_path / "good.json"), str(tmp_path / "bad.json"), "-o", str(out), "--workers", "1", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = {r["scenario"]: r for r in _summary_csv(out)}
    assert rows["good"]["status"] == "optimal" and rows["bad"]["status"] == "invalid"
    assert rows["bad"]["message"].startswith("roles:")
    assert_checker_clean(json.dumps(good), (out / "plans" / "000-good.json").read_text())
    assert not (out / "comparison.csv").exists()


def test_a_scenario_file_with_a_yaml_syntax_error_exits_2_naming_the_line(tmp_path):
    """It was one `invalid` row saying "invalid JSON", exit 0: a file that cannot be read is no scenario's result."""
    broken = tmp_path / "what-if.yaml"
    broken.write_text("base: base.json\nscenarios:\n  - name: a\n    changes: [{set: budget.total, value: 1}\n  - name: b\n")
    result = subprocess.run([PACE, "batch", str(broken), "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "YAML syntax error at line 5, column 3: expected ',' or ']', but got '-'" in result.stderr
    assert not (tmp_path / "out").exists()


def _flat(text: str) -> str:
    """Table text without its borders and spacing, so a cell wrapped over lines reads as one."""
    return "".join(text.replace("│", "").split())


def test_the_batch_table_says_why_a_scenario_is_invalid_or_infeasible_with_its_least_change(tmp_path):
    base = base_problem()
    scenario_file = tmp_path / "what-if.json"
    scenario_file.write_text(
        json.dumps(
            {
                "base": base,
                "scenarios": [
                    {"name": "five CRAs", "changes": [{"set": "trials[T1].options[0].stages[0].demand.CRA", "value": 5}]},
                    {"name": "no months", "changes": [{"set": "horizon.months", "value": 0}]},
                ],
            }
        )
    )
    out = tmp_path / "out"
    result = _run_cli(scenario_file, out, "--workers", "1")
    rows = {r["scenario"]: r for r in _summary_csv(out)}
    assert [rows[name]["status"] for name in (BASE, "five CRAs", "no months")] == ["optimal", "infeasible", "invalid"]
    comparison = {r["scenario"]: r for r in csv.DictReader((out / "comparison.csv").open())}
    infeasible = comparison["five CRAs"]
    plan = assert_checker_clean(json.dumps(scenario_file_problem(base, 5)), (out / infeasible["plan"]).read_text())
    assert_checker_clean(json.dumps(base), (out / comparison[BASE]["plan"]).read_text())
    assert plan.relaxations, "the diagnosis found a least change"
    least = "; or ".join(r.summary for r in plan.relaxations)
    assert infeasible["least_change"] == rows["five CRAs"]["least_change"] == least
    assert comparison[BASE]["least_change"] == ""
    table = _flat(result.stdout)
    assert _flat(f"least change: {least}") in table
    assert _flat("horizon.months: Input should be greater than or equal to 1") in table


def scenario_file_problem(base: dict[str, Any], cras: float) -> dict[str, Any]:
    """``base`` with its one trial's stage needing ``cras`` CRAs a month."""
    changed = json.loads(json.dumps(base))
    changed["trials"][0]["options"][0]["stages"][0]["demand"]["CRA"] = cras
    return changed
