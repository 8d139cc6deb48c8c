"""Stop latency: how long ``solve`` takes to return once a stop is asked, stage by stage.

A planner who cancels a job waits for the engine to notice the stop and hand back the
best plan it holds (docs/service.md, "Cancel latency"). Each row is a fresh in-process
solve of one instance whose stop flag turns true a fixed number of seconds after the
solve began; the latency is from that moment to ``solve`` returning (the engine polls
the flag at most twice a second, so up to 0.5 s of it is the poll). Which stage was
running at the stop is read off the plan's stage times (stages run beside another add no
wall time). Every plan goes through the independent checker. Solves that ended before
their stop moment have no latency.

    python bench/cancel.py --label before [--instances reference x5] [--at 1 3 6 10 15] [--service]

Rows are appended to ``bench/results/cancel.csv`` with the label, the commit, the date
and the machine; the summary line per instance gives the median and worst latency.
With ``--service`` the reference is also solved as a job of a real ``pace serve`` (SQLite,
one worker, on 127.0.0.1): the job is cancelled ``--at`` seconds after it is first seen
running, and the latency is from the ``DELETE`` to the job first read as ``cancelled``
(polled every 0.1 s; the solve process looks at the database every 0.25 s); its rows have
instance ``service:reference``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from bench.record import appender, commit  # noqa: E402
from models import solve  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.problem import Problem  # noqa: E402
from models.tools.generate import generate  # noqa: E402

FIELDS = [
    "label", "commit", "date", "machine", "instance", "stop_after", "latency", "stage_at_stop",
    "status", "message", "solve_seconds", "violations",
]


def instance(name: str, time_limit: float) -> Problem:
    """The reference portfolio, or a generated one ``xN`` times its size (as bench/scale.py makes them)."""
    if name == "reference":
        problem = Problem.model_validate_json((ROOT / "data" / "pace-reference.json").read_text())
    else:
        factor = int(name.removeprefix("x"))
        problem = generate(staff=500 * factor, trials=30 * factor, months=36, seed=7)
    problem.settings.time_limit = time_limit
    return problem


def stage_at(plan: Plan, moment: float) -> str:
    """The stage whose wall time covers ``moment`` seconds into the solve (stages laid end to
    end in the order the plan lists them, those beside another left out)."""
    elapsed = 0.0
    for stage in plan.stages:
        if stage.alongside:
            continue
        elapsed += stage.seconds
        if elapsed >= moment:
            return stage.stage
    return "(after the last stage)"


def stopped_solve(problem: Problem, after: float) -> tuple[Plan, float | None]:
    """A fresh solve whose stop flag turns true ``after`` seconds in; its plan and the seconds
    from that moment to ``solve`` returning (None if it returned before)."""
    began = time.perf_counter()
    asked = began + after
    plan = solve(problem, stop=lambda: time.perf_counter() >= asked, started=began)
    returned = time.perf_counter()
    return plan, (returned - asked if returned >= asked else None)


@contextmanager
def server(workdir: Path) -> Iterator[str]:
    """A ``pace serve`` on a free port of 127.0.0.1 with its own SQLite file and one job worker; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PACE_DATABASE_URL": f"sqlite:///{workdir / 'pace.db'}", "PACE_WORKERS": "1"}
    # The solve processes import the engine from this tree (a copy of another commit, too).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    pace = Path(sys.executable).with_name("pace")
    with (workdir / "server.log").open("ab") as log:
        process = subprocess.Popen([str(pace), "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"pace serve did not answer: {(workdir / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def cancelled_job(url: str, problem: Problem, after: float) -> tuple[float, str, Plan | None]:
    """Submit the problem as a job, cancel it ``after`` seconds once it is seen running; the
    seconds from the ``DELETE`` to the job read as finished, its state and its plan (None if it has none)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/jobs", content=problem.model_dump_json(), headers={"content-type": "application/json"}).json()
        self_link = job["links"]["self"]
        while (state := client.get(self_link).json()["state"]) == "queued":
            time.sleep(0.05)
        if state != "running":
            raise SystemExit(f"the job ended {state} before it could be cancelled")
        time.sleep(after)
        asked = time.perf_counter()
        client.delete(self_link)
        while (done := client.get(self_link).json())["state"] in ("queued", "running"):
            time.sleep(0.1)
        latency = time.perf_counter() - asked
        plan = client.get(job["links"]["plan"])
        return latency, done["state"], Plan.model_validate(plan.json()) if plan.status_code == 200 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="what code was measured (e.g. before, after)")
    parser.add_argument("--instances", nargs="*", default=["reference", "x5"])
    parser.add_argument("--at", type=float, nargs="+", default=[1, 3, 6, 10, 15], help="seconds after the start to ask the stop")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--commit", default=None, help="the commit measured (default: HEAD of this tree)")
    parser.add_argument("--service", action="store_true", help="also cancel jobs of a real pace serve (the reference)")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "cancel.csv")
    args = parser.parse_args()
    machine, today, measured = describe(), date.today().isoformat(), args.commit or commit()
    with appender(args.csv, FIELDS) as writer:
        for name in args.instances:
            problem = instance(name, args.time_limit)
            latencies: list[float] = []
            for after in args.at:
                plan, latency = stopped_solve(problem, after)
                violations = len(check_plan(problem, plan)) if plan.status in ("optimal", "feasible") else 0
                row = {
                    "label": args.label, "commit": measured, "date": today, "machine": machine, "instance": name,
                    "stop_after": after, "latency": "" if latency is None else round(latency, 2),
                    "stage_at_stop": stage_at(plan, after), "status": plan.status, "message": plan.message[:80],
                    "solve_seconds": round(plan.solve_seconds, 2), "violations": violations,
                }
                writer.writerow(row)
                print(row, flush=True)
                if latency is not None:
                    latencies.append(latency)
            summarise(args.label, name, latencies)
        if args.service:
            problem = instance("reference", args.time_limit)
            latencies = []
            with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as url:
                for after in args.at:
                    latency, state, plan = cancelled_job(url, problem, after)
                    solved = plan is not None and plan.status in ("optimal", "feasible")
                    row = {
                        "label": args.label, "commit": measured, "date": today, "machine": machine, "instance": "service:reference",
                        "stop_after": after, "latency": round(latency, 2), "stage_at_stop": "" if plan is None else stage_at(plan, after),
                        "status": f"{state}/{plan.status if plan is not None else 'no plan'}",
                        "message": "" if plan is None else plan.message[:80], "solve_seconds": "" if plan is None else round(plan.solve_seconds, 2),
                        "violations": len(check_plan(problem, plan)) if solved and plan is not None else 0,
                    }
                    writer.writerow(row)
                    print(row, flush=True)
                    latencies.append(latency)
            summarise(args.label, "service:reference", latencies)


def summarise(label: str, name: str, latencies: list[float]) -> None:
    if latencies:
        print(
            f"{label} {name}: {len(latencies)} stops, latency median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
