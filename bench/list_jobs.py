"""What a page of jobs costs: GET /v1/jobs?limit=100 over reference-size jobs.

The job list shows each job's problem name and objective kind and its plan's status,
objective and trials run; a planner's page holds jobs as large as the reference
portfolio. This fills a throw-away SQLite database through the service's own code
(``JobService.submit`` for each problem, then ``JobStore.claim_next`` and ``finish`` as
a solve process would) with ``--jobs`` succeeded jobs, each holding the reference
problem (data/pace-reference.json: 273 KB as a file, 185 KB as the compact JSON stored)
and one reference-size plan (about 355 KB stored), then times
``GET /v1/jobs?limit=100`` and ``GET /v1/jobs/{id}`` through the FastAPI app (a
TestClient with its lifespan, so migrations and the idle supervisor run as in
``pace serve``): one warm-up call, then ``--calls`` timed ones each.

The plan is the reference solved in-process under ``--time-limit`` seconds (a feasible
plan of the full portfolio, not the optimum: its size is what matters here), put
through the independent checker; ``--plan FILE`` reuses a stored plan of the reference
instead.

    python bench/list_jobs.py --label before [--jobs 100] [--calls 15] [--time-limit 10] [--plan FILE] [--commit REV]

To measure an earlier commit from this session, export its tree (``git archive REV | tar
-x -C DIR``), copy this script and bench/record.py into DIR/bench and run it there with
``--commit REV --csv`` pointing at this tree's CSV: the script imports the code beside it.

Rows are appended to ``bench/results/list_jobs.csv`` with the label, the commit, the
date and the machine, one row per endpoint; one summary line per endpoint is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api.auth import ANONYMOUS  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.db.store import JobStore  # noqa: E402
from app.main import create_app  # noqa: E402
from app.services.jobs import JobService  # noqa: E402
from app.settings import ServiceSettings  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.record import appender, commit  # noqa: E402
from models import solve  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.validation import parse_problem  # noqa: E402

REFERENCE = ROOT / "data" / "pace-reference.json"
FIELDS = [
    "label", "commit", "date", "machine", "endpoint", "jobs", "calls", "problem_kb", "plan_kb", "plan_status",
    "median_ms", "min_ms", "max_ms",
]


def reference_plan(time_limit: float, stored: Path | None) -> Plan:
    """A reference-size plan: ``stored`` if given, else a solve of the reference under ``time_limit``; checked either way."""
    problem = parse_problem(REFERENCE.read_bytes())
    if stored is not None:
        plan = Plan.model_validate_json(stored.read_text())
    else:
        problem.settings.time_limit = time_limit
        plan = solve(problem)
    violations = check_plan(problem, plan)
    if violations:
        raise SystemExit(f"the plan fails the checker: {[v.message for v in violations[:5]]}")
    return plan


def fill(database_url: str, jobs: int, plan: Plan) -> list[str]:
    """Store ``jobs`` succeeded jobs of the reference problem, each with ``plan``, as the service would; their ids."""
    store = JobStore.from_url(database_url)
    try:
        upgrade(store.engine)
        service = JobService(store, ServiceSettings(database_url=database_url), wake=lambda: None)
        body = REFERENCE.read_bytes()
        ids = []
        for _ in range(jobs):
            job_id = service.submit(ANONYMOUS, body).id
            claimed = store.claim_next()
            assert claimed is not None and claimed.id == job_id
            store.finish(job_id, claimed.attempts, plan, "succeeded")
            ids.append(job_id)
        return ids
    finally:
        store.dispose()


def timed(client: TestClient, url: str, calls: int) -> list[float]:
    """Milliseconds of ``calls`` GETs of ``url``, after one untimed warm-up call."""
    client.get(url).raise_for_status()
    latencies = []
    for _ in range(calls):
        began = time.perf_counter()
        response = client.get(url)
        latencies.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="what code was measured (e.g. before, after)")
    parser.add_argument("--jobs", type=int, default=100, help="Succeeded jobs stored (the page shows up to 100)")
    parser.add_argument("--calls", type=int, default=15, help="Timed calls per endpoint")
    parser.add_argument("--time-limit", type=float, default=10.0, help="Seconds for the reference solve giving the plan")
    parser.add_argument("--plan", type=Path, default=None, help="Reuse this plan of the reference instead of solving")
    parser.add_argument("--commit", default=None, help="the commit measured (default: HEAD of this tree)")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "list_jobs.csv")
    args = parser.parse_args()
    plan = reference_plan(args.time_limit, args.plan)
    plan_kb = round(len(plan.model_dump_json()) / 1000, 1)
    problem_kb = round(len(parse_problem(REFERENCE.read_bytes()).model_dump_json()) / 1000, 1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings(database_url=f"sqlite:///{tmp}/pace.db")
        ids = fill(settings.database_url, args.jobs, plan)
        with TestClient(create_app(settings)) as client:
            page = client.get("/v1/jobs?limit=100").json()
            shown = {(item["name"], item["status"], item["trials_run"]) for item in page["items"]}
            expected = {(parse_problem(REFERENCE.read_bytes()).name, plan.status, plan.kpis.trials_run)}
            if len(page["items"]) != min(args.jobs, 100) or shown != expected:
                raise SystemExit(f"the list does not show what was stored: {sorted(shown, key=str)[:3]}")
            latencies = {
                "GET /v1/jobs?limit=100": timed(client, "/v1/jobs?limit=100", args.calls),
                "GET /v1/jobs/{id}": timed(client, f"/v1/jobs/{ids[0]}", args.calls),
            }
    machine, today, measured = describe(), date.today().isoformat(), args.commit or commit()
    with appender(args.csv, FIELDS) as writer:
        for endpoint, ms in latencies.items():
            row = {
                "label": args.label, "commit": measured, "date": today, "machine": machine, "endpoint": endpoint,
                "jobs": args.jobs, "calls": len(ms), "problem_kb": problem_kb, "plan_kb": plan_kb, "plan_status": plan.status,
                "median_ms": round(statistics.median(ms), 1), "min_ms": round(min(ms), 1), "max_ms": round(max(ms), 1),
            }
            writer.writerow(row)
            print(
                f"{args.label} {endpoint}: median {row['median_ms']} ms (min {row['min_ms']}, max {row['max_ms']}) over "
                f"{row['calls']} calls; {args.jobs} jobs of {problem_kb} KB problems and {plan_kb} KB {plan.status} plans; "
                f"machine: {machine}"
            )


if __name__ == "__main__":
    main()
