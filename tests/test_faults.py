"""Faults from outside: a solve process killed, the server killed, the database stopped.

Each test breaks something the way production breaks it (SIGKILL, a PostgreSQL server
going away and coming back) and then asks the service what it did: no job is lost, none
is stuck ``running``, a job that keeps dying stops after its attempts with the reason,
and plans stored before the fault come back byte for byte.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.service import (
    HOOKS,
    JSON,
    REFERENCE,
    SMALL,
    Server,
    assert_checker_clean,
    children_of,
    client_for,
    finished,
    free_port,
    problem_json,
    settings_for,
    wait_for,
    wait_for_job,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: How long the database stays down in the outage test (the issue's ten seconds).
OUTAGE_SECONDS = 10.0


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _solve_processes() -> list[int]:
    """This process's solve processes (spawned children; the resource tracker is not one)."""
    pids = []
    for pid in children_of(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


def _kill_the_solve(client: TestClient, job: dict[str, Any], attempt: int, stage: str | None = None) -> None:
    """SIGKILL the solve process of ``job``'s run ``attempt`` once it is solving."""

    def solving(j: dict[str, Any]) -> bool:
        return j["attempts"] == attempt and any(stage is None or p["stage"] == stage for p in j["progress"])

    wait_for_job(lambda: client.get(job["links"]["self"]).json(), solving, timeout=120)
    (pid,) = wait_for(_solve_processes, timeout=30, what="the job's solve process")
    os.kill(pid, signal.SIGKILL)


def test_a_solve_process_killed_mid_solve_is_retried_and_its_job_never_stays_running(tmp_path: Path):
    # 15 s: at 8 s a busy 2-core machine could end the reference with no plan before it
    # reported any progress, and the kill below waits for progress.
    problem = problem_json(REFERENCE, time_limit=15)
    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}", workers=1)) as client:
        job = client.post("/v1/jobs", content=problem, headers=JSON).json()
        _kill_the_solve(client, job, attempt=1)
        done = wait_for_job(lambda: client.get(job["links"]["self"]).json(), finished, timeout=180)
        assert (done["state"], done["attempts"], done["error"]) == ("succeeded", 2, None), done
        assert_checker_clean(problem, client.get(job["links"]["plan"]).text)


def test_a_job_whose_solve_is_killed_every_time_fails_after_its_attempts_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HOOKS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PACE_TEST_FAULT", "hang")
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", workers=1, job_max_attempts=2)
    with client_for(settings) as client:
        job = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
        for attempt in (1, 2):
            _kill_the_solve(client, job, attempt, stage="hang")
        done = wait_for_job(lambda: client.get(job["links"]["self"]).json(), finished, timeout=60)
        assert (done["state"], done["attempts"]) == ("failed", 2), done
        assert done["error"] == (
            "the solve process was killed (SIGKILL), most likely for using too much memory; gave up after 2 attempts"
        )
        assert client.get(job["links"]["plan"]).status_code == 409


def test_a_server_killed_and_restarted_finishes_its_queued_and_running_jobs_and_keeps_its_plans(
    servers: list[Server], tmp_path: Path
):
    env = {"PACE_DATABASE_URL": f"sqlite:///{tmp_path / 'pace.db'}", "PACE_WORKERS": "1"}
    small, reference = problem_json(SMALL), problem_json(REFERENCE, time_limit=6)
    first = Server(tmp_path, env)
    servers.append(first.start())
    with first.client() as client:
        done = client.post("/v1/jobs", content=small, headers=JSON).json()
        wait_for_job(lambda: client.get(done["links"]["self"]).json(), finished, timeout=120)
        stored = client.get(done["links"]["plan"]).content
        running = client.post("/v1/jobs", content=reference, headers=JSON).json()
        queued = client.post("/v1/jobs", content=small, headers=JSON).json()
        wait_for_job(lambda: client.get(running["links"]["self"]).json(), lambda j: bool(j["progress"]), timeout=120)
        assert client.get(queued["links"]["self"]).json()["state"] == "queued"
    first.kill()

    second = Server(tmp_path, env)
    servers.append(second.start())
    with second.client() as client:
        for job, problem, attempts in ((running, reference, 2), (queued, small, 1)):
            after = wait_for_job(lambda: client.get(job["links"]["self"]).json(), finished, timeout=180)
            assert (after["state"], after["attempts"]) == ("succeeded", attempts), after
            assert_checker_clean(problem, client.get(job["links"]["plan"]).text)
        assert client.get(done["links"]["plan"]).content == stored


class PrivatePostgres:
    """A PostgreSQL server of this test's own (initdb into a temporary directory, a free
    port), so stopping it disturbs nobody else's tests. As root, it runs as ``postgres``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pace-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout.decode()}{result.stderr.decode()}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 binaries missing at {PG_BIN} (the test starts a private server)")
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text


def test_a_postgresql_outage_answers_503_with_retry_after_then_recovers_losing_nothing(servers: list[Server], tmp_path: Path):
    small, reference = problem_json(SMALL), problem_json(REFERENCE, time_limit=8)
    with private_postgres() as database:
        server = Server(tmp_path, {"PACE_DATABASE_URL": database.url, "PACE_WORKERS": "1"})
        servers.append(server.start())
        with server.client() as client:
            done = client.post("/v1/jobs", content=small, headers=JSON).json()
            wait_for_job(lambda: client.get(done["links"]["self"]).json(), finished, timeout=120)
            stored = client.get(done["links"]["plan"]).content
            running = client.post("/v1/jobs", content=reference, headers=JSON).json()
            queued = client.post("/v1/jobs", content=small, headers=JSON).json()
            wait_for_job(lambda: client.get(running["links"]["self"]).json(), lambda j: bool(j["progress"]), timeout=120)

            database.stop()
            outage = wait_for(lambda: _still_down(client), timeout=OUTAGE_SECONDS + 30, what="the outage to be noticed")
            _unavailable(outage)
            _unavailable(client.post("/v1/jobs", content=small, headers=JSON))
            _unavailable(client.get("/v1/jobs"))
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
            down_until = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < down_until:
                _unavailable(client.get(running["links"]["self"]))
                time.sleep(1)
            database.start()

            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=60, what="the service to be ready again")
            for job, problem in ((running, reference), (queued, small)):
                after = wait_for_job(lambda: client.get(job["links"]["self"]).json(), finished, timeout=180)
                assert after["state"] == "succeeded", after
                assert_checker_clean(problem, client.get(job["links"]["plan"]).text)
            assert client.get(done["links"]["plan"]).content == stored
            assert client.get("/v1/jobs").json()["total"] == 3, "the requests refused during the outage left nothing behind"


def _still_down(client: httpx.Client) -> httpx.Response | None:
    response = client.get("/v1/jobs/00000000-0000-0000-0000-000000000000")
    return response if response.status_code == 503 else None
