"""Service under load: 50 concurrent clients for 60 s against a real `pace serve` (SPEC §5, issue 20).

Starts `pace serve` on a free port of 127.0.0.1 with a throw-away SQLite database and
the default workers (2 job solves, 2 synchronous solves at once), then runs ``--clients``
asyncio clients (httpx) for ``--seconds``. Each client repeats, with a think time of
0.25-0.75 s: poll the status of one of its jobs (most requests), submit a small problem
as a job, or solve a small problem synchronously (``data/example-small.json``, 20 staff,
0.2 s of solving). Requests still unanswered 30 s after the window are dropped and
counted apart. Every answer other than the expected one (200 poll, 202 submit, 200
solve) or a transport error counts as an error. After the run it counts the jobs that
finished inside the window (jobs per minute) and prints one summary line; ``--json``
writes the figures with the date and machine.

    python bench/load.py [--clients 50] [--seconds 60] [--json bench/results/load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

PACE = str(Path(sys.executable).with_name("pace"))
SMALL = ROOT / "data" / "example-small.json"
JSON = {"content-type": "application/json"}
#: Share of each kind of request in a client's loop (the rest are status polls).
SUBMIT_SHARE, SOLVE_SHARE = 0.03, 0.02
#: Seconds past the window that requests still in flight may take before they are dropped (not errors).
DRAIN_SECONDS = 30.0
THINK_SECONDS = (0.25, 0.75)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"poll": [], "submit": [], "solve": []})
    dropped: int = 0
    errors: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def request(api: httpx.AsyncClient, tally: Tally, kind: str, expected: int, method: str, url: str, **kw: object) -> httpx.Response | None:
    began = time.perf_counter()
    try:
        response = await api.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        tally.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        return None
    tally.latencies[kind].append((time.perf_counter() - began) * 1000)
    if response.status_code != expected:
        tally.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return None
    return response


async def client(api: httpx.AsyncClient, tally: Tally, problem: bytes, until: float, rng: random.Random) -> None:
    mine: list[str] = []
    while time.monotonic() < until:
        draw = rng.random()
        if not mine or draw < SUBMIT_SHARE:
            response = await request(api, tally, "submit", 202, "POST", "/v1/jobs", content=problem, headers=JSON)
            if response is not None:
                mine.append(response.json()["id"])
                tally.jobs.append(mine[-1])
        elif draw < SUBMIT_SHARE + SOLVE_SHARE:
            await request(api, tally, "solve", 200, "POST", "/v1/solve", content=problem, headers=JSON)
        else:
            await request(api, tally, "poll", 200, "GET", f"/v1/jobs/{rng.choice(mine)}")
        await asyncio.sleep(rng.uniform(*THINK_SECONDS))


async def run(url: str, clients: int, seconds: float, seed: int) -> tuple[Tally, float, float]:
    problem = SMALL.read_bytes()
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as api:
        began = time.monotonic()
        until = began + seconds
        tasks = [asyncio.create_task(client(api, tally, problem, until, random.Random(seed + i))) for i in range(clients)]
        _, pending = await asyncio.wait(tasks, timeout=seconds + DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        tally.dropped = len(pending)
        await asyncio.gather(*pending, return_exceptions=True)
        ended = time.monotonic()
    return tally, began, ended


def finished_in_window(url: str, jobs: list[str], window_start: datetime, window_end: datetime) -> tuple[int, int]:
    """(jobs that finished inside the window, jobs that succeeded overall)."""
    inside = succeeded = 0
    with httpx.Client(base_url=url, timeout=30) as api:
        for job_id in jobs:
            job = api.get(f"/v1/jobs/{job_id}").json()
            succeeded += job["state"] == "succeeded"
            if job["finished_at"] and window_start <= datetime.fromisoformat(job["finished_at"]) <= window_end:
                inside += 1
    return inside, succeeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PACE_DATABASE_URL": f"sqlite:///{tmp}/pace.db"}
        with open(Path(tmp) / "server.log", "wb") as log:
            server = subprocess.Popen([PACE, "serve", "--port", str(port)], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"`pace serve` did not start:\n{(Path(tmp) / 'server.log').read_text()}")
                time.sleep(0.2)
            window_start = datetime.now(UTC)
            tally, began, ended = asyncio.run(run(url, args.clients, args.seconds, args.seed))
            window_end = datetime.now(UTC)
            inside, succeeded = finished_in_window(url, tally.jobs, window_start, window_end)
        finally:
            server.terminate()
            server.wait(timeout=60)

    minutes = (ended - began) / 60
    polls = tally.latencies["poll"]
    figures = {
        "date": window_start.date().isoformat(),
        "machine": describe(),
        "clients": args.clients,
        "seconds": round(ended - began, 1),
        "requests": sum(len(v) for v in tally.latencies.values()),
        "errors": len(tally.errors),
        "requests_dropped_after_the_window": tally.dropped,
        "first_errors": tally.errors[:10],
        "poll_p50_ms": round(statistics.median(polls), 1) if polls else None,
        "poll_p99_ms": round(percentile(polls, 0.99), 1) if polls else None,
        "polls": len(polls),
        "solve_p50_ms": round(statistics.median(tally.latencies["solve"]), 1) if tally.latencies["solve"] else None,
        "solves": len(tally.latencies["solve"]),
        "jobs_submitted": len(tally.jobs),
        "jobs_finished_in_window": inside,
        "jobs_per_minute": round(inside / minutes, 1),
        "jobs_succeeded_by_the_end": succeeded,
    }
    print(
        f"{figures['clients']} clients, {figures['seconds']} s: {figures['requests']} requests, {figures['errors']} errors; "
        f"status polls p50 {figures['poll_p50_ms']} ms, p99 {figures['poll_p99_ms']} ms ({figures['polls']}); "
        f"{figures['solves']} synchronous solves (p50 {figures['solve_p50_ms']} ms); "
        f"{figures['jobs_submitted']} jobs submitted, {figures['jobs_per_minute']} finished per minute"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
