"""PSPLIB j30 optimality rate: every instance solved through the engine, against its known optimum.

Each `.sm` file of `../shared/benchmarks/psplib/j30` is mapped to a PACE problem
(`models.psplib.load_sm`, objective makespan) and solved by `models.pipeline.solve` with
a time limit (default 10 s) and one HiGHS thread, in a fresh worker process per instance
(a crash, a hang or memory growth cannot poison the rest): a worker that exceeds
time_limit x 3 + 30 s of wall time is killed and counted as a failure. Every plan is put
through the independent checker. Rows are written to the CSV as instances finish, so an
interrupted run leaves its data. Prints one summary line: share solved to the known
optimum, how many end more than 5 % above it (targets: >= 95 % optimal, none > 5 %
above), wall times, checker violations, the machine.

    python bench/psplib.py [--time-limit 10] [--threads 1] [--jobs 1] [--limit N] [--pattern 'j30*_1.sm']
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import statistics
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

PSPLIB = ROOT.parent / "shared" / "benchmarks" / "psplib"
TARGET_OPTIMAL = 0.95
"""Issue 4: at least this share of j30 solved to the known optimum ..."""
TARGET_EXCESS = 0.05
"""... and no instance more than this far above it."""
ROW_MARK = "PSPLIB-ROW "
FIELDS = [
    "name",
    "optimum",
    "makespan",
    "status",
    "objective",
    "best_bound",
    "gap",
    "hit_optimum",
    "relative_excess",
    "violations",
    "solve_seconds",
    "process_seconds",
    "peak_rss_mib",
    "error",
]


def natural_key(path: Path) -> list[object]:
    """j301_1 < j301_2 < ... < j301_10 < j302_1 < ... < j3048_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]


# -- worker (runs in its own process) --------------------------------------------------
def solve_instance(path: Path, time_limit: float, threads: int) -> dict[str, object]:
    """Solve one instance and check its plan; the row of the CSV without process fields."""
    from models.check import check_plan
    from models.pipeline import solve
    from models.psplib import known_optimum, load_sm

    problem = load_sm(path)
    problem.settings.time_limit = time_limit
    problem.settings.threads = threads
    optimum = known_optimum(problem.name)
    began = time.perf_counter()
    plan = solve(problem)
    seconds = time.perf_counter() - began
    violations = check_plan(problem, plan)
    has_plan = plan.status in ("optimal", "feasible") and plan.objective is not None
    makespan = plan.kpis.makespan_months if has_plan else None
    return {
        "name": problem.name,
        "optimum": optimum,
        "makespan": makespan,
        "status": plan.status,
        "objective": plan.objective,
        "best_bound": plan.best_bound,
        "gap": plan.gap,
        "hit_optimum": makespan == optimum,
        "relative_excess": None if makespan is None else round((makespan - optimum) / optimum, 6),
        "violations": len(violations),
        "solve_seconds": round(seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "error": "; ".join(f"{v.rule}: {v.message}" for v in violations[:3]) or plan.message,
    }


def worker_main(path: Path, time_limit: float, threads: int) -> None:
    try:
        row = solve_instance(path, time_limit, threads)
    except Exception as exc:  # reported as a failed row by the parent
        traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1]
        row = {"name": path.stem, "status": "error", "error": f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"}
    print(ROW_MARK + json.dumps(row), flush=True)


# -- parent ----------------------------------------------------------------------------
def run_instance(path: Path, time_limit: float, threads: int) -> dict[str, object]:
    """Solve ``path`` in a fresh Python process with a hard wall timeout; never raises."""
    hard = time_limit * 3 + 30
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path), "--time-limit", str(time_limit), "--threads", str(threads)]
    began = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=hard)
    except subprocess.TimeoutExpired:
        row: dict[str, object] = {"name": path.stem, "status": "timeout", "error": f"killed after {hard:.0f} s wall"}
    else:
        lines = [line for line in proc.stdout.splitlines() if line.startswith(ROW_MARK)]
        if lines:
            row = json.loads(lines[-1][len(ROW_MARK) :])
        else:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            row = {"name": path.stem, "status": "crash", "error": f"exit {proc.returncode}: {tail}"}
    row["process_seconds"] = round(time.perf_counter() - began, 3)
    if "optimum" not in row:
        try:
            from models.psplib import known_optimum

            row["optimum"] = known_optimum(path.stem)
        except (KeyError, OSError):
            pass
    row.setdefault("hit_optimum", False)
    return row


def summarise(rows: list[dict[str, object]], selected: int, time_limit: float) -> str:
    n = len(rows)
    if n == 0:
        return f"psplib j30: no instance finished (of {selected} selected); machine: {describe()}"
    solved = [r for r in rows if r.get("makespan") not in (None, "")]
    failed = n - len(solved)
    hits = sum(1 for r in rows if r.get("hit_optimum") is True)
    excess = [float(r["relative_excess"]) for r in solved]  # type: ignore[arg-type]
    above5 = sum(1 for e in excess if e > TARGET_EXCESS + 1e-12)
    below = sum(1 for e in excess if e < -1e-12)
    off = [e for e in excess if abs(e) > 1e-12]
    violations = sum(int(r.get("violations") or 0) for r in rows)  # type: ignore[call-overload]
    seconds = [float(r["solve_seconds"]) for r in rows if r.get("solve_seconds") not in (None, "")]  # type: ignore[arg-type]
    share = hits / n
    optimal_met = share >= TARGET_OPTIMAL
    excess_met = above5 == 0 and failed == 0
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r.get("status"))] = statuses.get(str(r.get("status")), 0) + 1
    time_text = f"median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s per solve" if seconds else "no solve timed"
    partial = "" if n == selected else f" (partial: {n} of {selected} selected)"
    return (
        f"psplib j30{partial}: {hits}/{n} at the known optimum ({share:.1%}), "
        f"{above5} more than 5 % above, {failed} failed (no plan/timeout/crash), "
        f"{'mean excess of the rest ' + format(statistics.mean(off), '.2%') if off else 'none off the optimum'}"
        f"{f', {below} BELOW the proven optimum' if below else ''}; "
        f"{time_text} (limit {time_limit:g} s); statuses {dict(sorted(statuses.items()))}; violations {violations}; "
        f"targets: >= 95 % optimal {'met' if optimal_met else 'NOT met'}, none > 5 % above {'met' if excess_met else 'NOT met'}; "
        f"machine: {describe()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="engine time limit per instance (s)")
    parser.add_argument("--threads", type=int, default=1, help="HiGHS threads per instance")
    parser.add_argument("--jobs", type=int, default=1, help="instances solved at the same time")
    parser.add_argument("--limit", type=int, default=None, help="only the first N instances (natural order)")
    parser.add_argument("--pattern", default="j30*.sm", help="glob within the j30 directory")
    parser.add_argument("--dir", type=Path, default=PSPLIB / "j30")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "psplib.csv")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker_main(args.worker, args.time_limit, args.threads)
        return

    paths = sorted(args.dir.glob(args.pattern), key=natural_key)
    if args.limit is not None:
        paths = paths[: args.limit]
    if not paths:
        raise SystemExit(f"no instance matches {args.pattern!r} in {args.dir}")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        f.flush()
        pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
        try:
            futures = [pool.submit(run_instance, p, args.time_limit, args.threads) for p in paths]
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                writer.writerow(row)
                f.flush()
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            print(summarise(rows, len(paths), args.time_limit))
            raise SystemExit(130)
        pool.shutdown()
    print(summarise(rows, len(paths), args.time_limit))


if __name__ == "__main__":
    main()
