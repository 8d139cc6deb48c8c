"""Batch throughput: 32 reference-size scenarios through `pace batch` on 1 and on 2 local workers.

The scenarios are a sweep of the reference portfolio's yearly budgets (factors spread
over 0.80-1.20), each with a short time limit (10 s): the clock ends each solve (the
reference needs about 29 s to prove its plan), so a run measures how long a batch of
time-limited solves takes, and its plans' statuses and gaps say what the shared cores
cost each solve. Each run is a fresh `pace batch` process timed from outside; every plan
goes through the independent checker. The load average is written before and after
each run: another process on the machine makes the figures worthless. Prints the median
wall time per worker count and the speed-up, and writes bench/results/batch.csv.

    python bench/batch.py [--scenarios 32] [--time-limit 10] [--workers 1 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.tools.scenarios import expand, read_scenario_file  # noqa: E402

REFERENCE = ROOT / "data" / "pace-reference.json"
PACE = str(Path(sys.executable).with_name("pace"))


def scenario_file(count: int, time_limit: float) -> dict[str, object]:
    factors = [round(0.8 + 0.4 * i / max(1, count - 2), 4) for i in range(count - 1)]
    return {
        "base": json.loads(REFERENCE.read_text()),
        "settings": {"time_limit": time_limit},
        "sweep": {"path": "budget.per_year.*", "op": "scale", "values": factors, "name": "budget x{value}"},
    }


def run(path: Path, workers: int, out: Path) -> tuple[float, list[dict[str, str]]]:
    began = time.perf_counter()
    proc = subprocess.run([PACE, "batch", str(path), "-o", str(out), "--workers", str(workers), "--no-progress"], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"pace batch failed ({proc.returncode}): {proc.stderr}")
    with (out / "summary.csv").open() as handle:
        return wall, list(csv.DictReader(handle))


def checked(spec: dict[str, object], out: Path) -> int:
    """Violations the independent checker finds in every plan of the run."""
    parsed = read_scenario_file(spec)
    problems = {s.name: s.problem for s in expand(parsed, spec["base"])}  # type: ignore[arg-type]
    with (out / "comparison.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return sum(len(check_plan(problems[r["scenario"]], Plan.model_validate_json((out / r["plan"]).read_text()))) for r in rows if r["plan"])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=32, help="Scenarios in all, the base included")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch.csv")
    args = parser.parse_args()

    spec = scenario_file(args.scenarios, args.time_limit)
    machine = describe()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenarios.json"
        path.write_text(json.dumps(spec))
        for repeat in range(args.repeats):
            for workers in args.workers:
                out = Path(tmp) / f"w{workers}-r{repeat}"
                load = os.getloadavg()[0]
                wall, summary = run(path, workers, out)
                statuses = {s: sum(1 for r in summary if r["status"] == s) for s in sorted({r["status"] for r in summary})}
                gaps = [float(r["gap"]) for r in summary if r["gap"]]
                rows.append(
                    {
                        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                        "workers": workers,
                        "scenarios": len(summary),
                        "time_limit": args.time_limit,
                        "wall_seconds": round(wall, 2),
                        "solve_seconds_median": round(statistics.median(float(r["seconds"]) for r in summary if r["seconds"]), 2),
                        "statuses": json.dumps(statuses),
                        "gap_median": round(statistics.median(gaps), 5) if gaps else "",
                        "violations": checked(spec, out),
                        "load_before": round(load, 2),
                        "load_after": round(os.getloadavg()[0], 2),
                        "machine": machine,
                    }
                )
                print(
                    f"{workers} worker(s): {wall:.1f} s wall, {rows[-1]['statuses']}, median gap {rows[-1]['gap_median']}, "
                    f"load {load:.2f} before, {rows[-1]['load_after']} after",
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    medians = {w: statistics.median(float(r["wall_seconds"]) for r in rows if r["workers"] == w) for w in args.workers}  # type: ignore[arg-type]
    print(f"median wall: {', '.join(f'{w} worker(s) {m:.1f} s' for w, m in medians.items())}")
    if len(args.workers) > 1:
        first, last = args.workers[0], args.workers[-1]
        print(f"speed-up {first} -> {last} workers: {medians[first] / medians[last]:.2f}x")


if __name__ == "__main__":
    main()
