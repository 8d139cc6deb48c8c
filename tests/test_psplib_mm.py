"""PSPLIB multi-mode instances (issue 21): modes become options, nonrenewable resources
contract volumes; hand-made files whose optimum is derived by hand, one infeasible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from models.contract.problem import Settings
from models.contract.validation import parse_problem
from models.tools.psplib import PsplibError
from models.tools.psplib_mm import generate_mm, load_mm, parse_mm
from tests.conftest import solve_checked, trial_plan

DATA = Path(__file__).parent / "data" / "psplib"


def test_modes_become_options_and_nonrenewable_resources_contract_volumes():
    problem = load_mm(DATA / "two-modes.mm")
    assert [t.id for t in problem.trials] == ["J2", "J3", "J4"]
    options = {o.id: o for o in problem.trials[0].options}
    assert set(options) == {"m1", "m2"}
    assert options["m1"].duration == 2 and options["m1"].stages[0].demand == {"R1": 2.0}
    assert options["m1"].service_totals == {"N1": 3.0}
    assert [(s.id, s.contract_volume) for s in problem.services] == [("N1", 5.0)]
    assert [p.trial for p in problem.trials[2].predecessors] == ["J2", "J3"]
    assert len([s for s in problem.staff if s.role == "R1"]) == 2


def test_two_modes_optimum_derived_by_hand():
    # R1 has 2 units, N1 a stock of 5. Jobs 2 and 3: mode 1 lasts 2 months on 2 R1 and 3 N1,
    # mode 2 lasts 4 months on 1 R1 and 1 N1; job 4 (1 month, 1 R1) follows both.
    # Both in mode 1 need 6 N1 (> 5). One of each: mode 1's 2 R1 cannot overlap mode 2's
    # 1 R1, so 2 + 4 + 1 = 7 months. Both in mode 2 run side by side: 4 + 1 = 5 months.
    plan = solve_checked(load_mm(DATA / "two-modes.mm"))
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 5
    assert [trial_plan(plan, t).option for t in ("J2", "J3")] == ["m2", "m2"]
    assert [(v.service, v.used) for v in plan.service_volumes] == [("N1", 2.0)]


def test_a_stock_too_small_for_any_mode_choice_is_proven_infeasible_naming_the_resource():
    # The same project with a stock of 1 N1: jobs 2 and 3 need at least 1 each.
    plan = solve_checked(load_mm(DATA / "stock-too-small.mm"))
    assert plan.status == "infeasible"
    reasons = " | ".join(e.reason for e in plan.explanations)
    assert "service N1: the trials that must run need at least 2 units over the horizon, its contract volume is 1" in reasons


def test_pace_import_psplib_reads_a_multi_mode_file(tmp_path: Path):
    out = tmp_path / "problem.json"
    result = CliRunner().invoke(cli, ["import-psplib", str(DATA / "two-modes.mm"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    problem = parse_problem(json.loads(out.read_text()))
    assert problem == load_mm(DATA / "two-modes.mm").model_copy(update={"name": problem.name})


def test_a_job_listing_fewer_modes_than_it_announces_is_refused():
    text = (DATA / "two-modes.mm").read_text().replace("         2     4       1    1\n  3", "  3", 1)
    with pytest.raises(PsplibError, match="job 2 announces 2 modes but lists 1"):
        parse_mm(text)


def test_a_mode_asking_more_of_a_renewable_resource_than_exists_is_left_out():
    text = (DATA / "two-modes.mm").read_text().replace("  2      1     2       2    3", "  2      1     2       3    3", 1)
    problem = parse_mm(text)
    assert [o.id for o in problem.trials[0].options] == ["m2"]


def test_generated_instances_are_reproducible_and_a_short_stock_is_proven_infeasible():
    assert generate_mm(8, seed=3) == generate_mm(8, seed=3)
    feasible = solve_checked(parse_mm(generate_mm(8, seed=3)).model_copy(update={"settings": Settings(time_limit=10)}))
    assert feasible.status in ("optimal", "feasible")
    short = solve_checked(parse_mm(generate_mm(8, seed=3, stock_tightness=-1)).model_copy(update={"settings": Settings(time_limit=10)}))
    assert short.status == "infeasible"
    assert any("service N1" in e.reason for e in short.explanations)
