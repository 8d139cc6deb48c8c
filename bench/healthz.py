"""API latency under load: GET /healthz while two long solves run (SPEC §6, issue 3).

Starts `pace serve` with 2 workers on a free port and a throw-away SQLite database,
submits the reference problem twice as jobs, waits until both solve processes are busy,
then times N requests to /healthz (a new connection each, as a probe makes) while they
run. Solves run in their own lower-priority processes, so the API should answer in
milliseconds even with every core solving. Prints one summary line and writes a CSV.

    python bench/healthz.py [--requests 200] [--csv bench/results/healthz.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

PACE = str(Path(sys.executable).with_name("pace"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(probe, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def measure(url: str, problem: bytes, requests: int, interval: float) -> tuple[list[float], int]:
    """Latencies (ms) of ``requests`` GET /healthz, and how many were taken with both jobs running."""
    with httpx.Client(base_url=url, timeout=30) as api:
        jobs = [api.post("/v1/jobs", content=problem, headers={"content-type": "application/json"}).json() for _ in range(2)]

        def states() -> list[str]:
            return [api.get(job["links"]["self"]).json()["state"] for job in jobs]

        def solving() -> bool:
            return all(api.get(job["links"]["self"]).json()["progress"] for job in jobs)

        wait(solving, 120, "both solves to report progress")
        latencies: list[float] = []
        under_load = 0
        # No keep-alive: every request opens its own connection, as a probe does. (httpx.get
        # would also time building a client and its TLS context, ~20 ms of client work.)
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as probe:
            for i in range(requests):
                began = time.perf_counter()
                response = probe.get(f"{url}/healthz")
                latencies.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
                if i % 10 == 0:
                    both = states() == ["running", "running"]
                under_load += both
                time.sleep(interval)
        for job in jobs:
            api.delete(job["links"]["self"])
    return latencies, under_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05, help="Seconds between two requests")
    parser.add_argument("--problem", type=Path, default=ROOT / "data" / "pace-reference.json")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "healthz.csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PACE_DATABASE_URL": f"sqlite:///{tmp}/pace.db", "PACE_WORKERS": "2"}
        with open(Path(tmp) / "server.log", "wb") as log:
            server = subprocess.Popen([PACE, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait(lambda: up(url), 60, "`pace serve` to start")
            latencies, under_load = measure(url, args.problem.read_bytes(), args.requests, args.interval)
        finally:
            server.terminate()
            server.wait(timeout=60)
    ordered = sorted(latencies)
    row = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "requests": len(latencies),
        "under_load": under_load,
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "machine": describe(),
    }
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    print(
        f"healthz: median {row['median_ms']} ms, p95 {row['p95_ms']} ms, max {row['max_ms']} ms over {row['requests']} "
        f"requests ({under_load} while both reference solves ran, 2 workers); machine: {row['machine']}"
    )


if __name__ == "__main__":
    main()
