"""The service as deployed: a real `pace serve` (uvicorn) process on 127.0.0.1.

These tests kill the server the hard way (SIGKILL, no shutdown at all) while a job
runs, start it again on the same database and expect the job to finish there.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.store import JobStore

from tests.service import (
    JSON,
    PACE,
    REFERENCE,
    SMALL,
    Server,
    assert_checker_clean,
    children_of,
    finished,
    problem_json,
    process_state,
    wait_for,
    wait_for_job,
)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; each is stopped at the end whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _serve(servers: list[Server], tmp_path: Path, **env: str) -> Server:
    server = Server(tmp_path, {"PACE_DATABASE_URL": f"sqlite:///{tmp_path / 'pace.db'}", **env})
    servers.append(server)
    return server.start()


def _job(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    return client.get(job["links"]["self"]).json()


def test_a_job_survives_its_server_being_killed_mid_solve(servers: list[Server], tmp_path: Path):
    problem = problem_json(REFERENCE, time_limit=8)
    first = _serve(servers, tmp_path)
    with first.client() as client:
        job = client.post("/v1/jobs", content=problem, headers=JSON).json()
        wait_for_job(lambda: _job(client, job), lambda j: j["state"] == "running", timeout=120)
    time.sleep(2)  # let the solve process get into the solve
    assert first.process is not None
    solver_pids = children_of(first.process.pid)
    assert solver_pids, "the solve runs in a child process of the server"
    first.kill()
    store = JobStore.from_url(first.env["PACE_DATABASE_URL"])
    try:
        assert store.get(job["id"], None).state == "running", "the server was killed while the job ran"
    finally:
        store.dispose()
    wait_for(
        lambda: all(process_state(pid) in ("Z", "X") for pid in solver_pids),
        timeout=30,
        what="the orphaned solve process to die with its server",
    )

    second = _serve(servers, tmp_path)
    with second.client() as client:
        done = wait_for_job(lambda: _job(client, job), finished, timeout=180)
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 2
        assert_checker_clean(problem, client.get(job["links"]["plan"]).text)


def test_over_http_a_key_cannot_see_another_keys_job(servers: list[Server], tmp_path: Path):
    server = _serve(servers, tmp_path, PACE_API_KEYS="alpha-key,beta-key")
    problem = problem_json(SMALL)
    with server.client(**{"X-API-Key": "alpha-key"}) as alpha, server.client(Authorization="Bearer beta-key") as beta:
        job = alpha.post("/v1/jobs", content=problem, headers=JSON).json()
        hidden = beta.get(job["links"]["self"])
        assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
        assert beta.get("/v1/jobs").json()["items"] == []
        assert httpx.get(f"{server.url}/v1/jobs").status_code == 401
        done = wait_for_job(lambda: _job(alpha, job), finished, timeout=120)
        assert done["state"] == "succeeded"
        assert beta.get(job["links"]["plan"]).status_code == 404
        assert_checker_clean(problem, alpha.get(job["links"]["plan"]).text)


def test_pace_serve_answers_probes_metrics_and_openapi(servers: list[Server], tmp_path: Path):
    server = _serve(servers, tmp_path)
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
        assert "pace_http_requests_total" in client.get("/metrics").text
        plan = client.post("/v1/solve", content=problem_json(SMALL), headers=JSON)
        assert plan.status_code == 200
        assert_checker_clean(problem_json(SMALL), plan.text)


def test_a_second_server_on_the_same_database_never_takes_over_the_first_ones_running_job(servers: list[Server], tmp_path: Path):
    """Issue 20: a second `pace serve` that could not bind its port first re-ran the first's
    job (attempts 1 -> 3) and left a zombie. Now it stops before touching the database, and a
    second server on a free port leaves the first's leased job alone."""
    problem = problem_json(REFERENCE, time_limit=10)
    first = _serve(servers, tmp_path)
    with first.client() as client:
        job = client.post("/v1/jobs", content=problem, headers=JSON).json()
        wait_for_job(lambda: _job(client, job), lambda j: j["state"] == "running", timeout=120)

        clash = subprocess.run(
            [PACE, "serve", "--host", "127.0.0.1", "--port", str(first.port)],
            cwd=tmp_path,
            env=first.env,
            capture_output=True,
            timeout=60,
        )
        assert clash.returncode == 6
        assert f"cannot listen on 127.0.0.1:{first.port}" in clash.stderr.decode()
        assert "is another server running there?" in clash.stderr.decode()
        assert "Traceback" not in clash.stderr.decode()

        second = _serve(servers, tmp_path)
        with second.client() as other:
            assert _job(other, job)["attempts"] == 1
            done = wait_for_job(lambda: _job(other, job), finished, timeout=120)
        assert (done["state"], done["attempts"]) == ("succeeded", 1), done
        assert_checker_clean(problem, client.get(job["links"]["plan"]).text)
    assert first.process is not None and second.process is not None
    for server in (first, second):
        zombies = [pid for pid in children_of(server.process.pid) if process_state(pid) == "Z"]
        assert zombies == [], f"zombie children of the server: {zombies}"
