"""HiGHS options compared across the benchmarks, not on one instance.

The round-0 portfolio model of several benchmark problems (the reference, generated 1x
portfolios with other seeds, the same portfolio under the cost objective, PSPLIB j30
instances from easy and scarce-resource classes) is written to MPS once; each is then
solved by HiGHS alone (highspy, no warm start, HiGHS's default threads) under every
option set and several random seeds (a MIP's path, and so its time under a limit, moves
with the seed as much as with most options), with the gap the engine would use and a
time limit; all in one process run, so option sets are measured side by side. Prints
one summary line per option set (shifted geometric mean of time with unsolved runs at
the limit, solved count, mean final gap) and writes a CSV.

    python bench/options.py [--time-limit 30] [--psplib-limit 10] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import highspy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.tools.generate import generate  # noqa: E402
from models.formulation.instance import compile_instance  # noqa: E402
from models.formulation.portfolio import PortfolioModel, Reserve  # noqa: E402
from models.contract.problem import Problem  # noqa: E402
from models.tools.psplib import load_sm  # noqa: E402
from models.solver.settings import EngineSettings  # noqa: E402
from models.heuristics.sgs import tighten_for_makespan  # noqa: E402

PSPLIB = ROOT.parent / "shared" / "benchmarks" / "psplib" / "j30"
PSPLIB_SAMPLE = ["j301_1", "j305_3", "j309_2", "j3013_1", "j3021_4", "j3041_2"]

#: Candidate option sets; the engine's own (EngineSettings.highs_options) is "default".
OPTION_SETS: dict[str, dict[str, object]] = {
    "default": {},
    "heuristic-effort-0.3": {"mip_heuristic_effort": 0.3},
    "no-symmetry": {"mip_detect_symmetry": False},
    "no-restart": {"mip_allow_restart": False},
}


@dataclass
class Case:
    name: str
    mps: Path
    gap: float
    time_limit: float


def _write(problem: Problem, name: str, tmp: Path, time_limit: float) -> Case:
    inst = compile_instance(problem)
    tighten_for_makespan(inst)
    model = PortfolioModel(inst, EngineSettings(), Reserve())
    path = tmp / f"{name}.mps"
    model.m.write(str(path))
    gap = 0.01 if problem.objective.kind != "makespan" else min(0.01, 0.9 / inst.months)
    return Case(name, path, gap, time_limit)


def cases(tmp: Path, time_limit: float, psplib_limit: float) -> list[Case]:
    reference = Problem.model_validate_json((ROOT / "data" / "pace-reference.json").read_text())
    out = [_write(reference, "reference", tmp, time_limit)]
    cost = reference.model_copy(deep=True)
    cost.objective.kind = "cost"
    out.append(_write(cost, "reference-cost", tmp, time_limit))
    for seed in (11, 23):
        out.append(_write(generate(staff=500, trials=30, months=36, seed=seed), f"generated-seed{seed}", tmp, time_limit))
    for name in PSPLIB_SAMPLE:
        out.append(_write(load_sm(PSPLIB / f"{name}.sm"), name, tmp, psplib_limit))
    return out


def run(case: Case, options: dict[str, object], seed: int) -> dict[str, object]:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(case.mps))
    h.setOptionValue("mip_rel_gap", case.gap)
    h.setOptionValue("time_limit", case.time_limit)
    h.setOptionValue("random_seed", seed)
    for key, value in options.items():
        h.setOptionValue(key, value)
    began = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - began
    info = h.getInfo()
    solved = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return {
        "seconds": round(seconds, 2),
        "solved": solved,
        "gap": info.mip_gap if math.isfinite(info.mip_gap) else 1.0,
        "objective": info.objective_function_value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--psplib-limit", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "options.csv")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(Path(tmp), args.time_limit, args.psplib_limit):
            for seed in args.seeds:
                for label, options in OPTION_SETS.items():
                    result = run(case, options, seed)
                    rows.append({"case": case.name, "seed": seed, "options": label, **result})
                    print(f"  {case.name:20s} seed {seed} {label:22s} {result['seconds']:6.1f} s solved={result['solved']} gap={result['gap']:.4f}", flush=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for label in OPTION_SETS:
        mine = [r for r in rows if r["options"] == label]
        sgm = math.exp(sum(math.log(float(r["seconds"]) + 1.0) for r in mine) / len(mine)) - 1.0
        solved = sum(1 for r in mine if r["solved"])
        gap = sum(float(r["gap"]) for r in mine) / len(mine)
        print(f"options {label}: shifted geometric mean {sgm:.2f} s, solved {solved}/{len(mine)}, mean final gap {gap:.4f}")
    print(f"machine: {describe()}")


if __name__ == "__main__":
    main()
