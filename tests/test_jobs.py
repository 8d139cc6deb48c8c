"""Job lifecycle on SQLite and PostgreSQL: solve, progress, cancel, failures, restart.

Faults are injected into the solve processes only (see ``tests/hooks/sitecustomize.py``),
so the server under test is the product as shipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.migrate import upgrade
from app.db.store import JobStore
from app.settings import ServiceSettings
from tests.service import (
    HOOKS,
    JSON,
    REFERENCE,
    SMALL,
    assert_checker_clean,
    client_for,
    database_url,  # noqa: F401 (fixture)
    finished,
    postgres_admin_url,  # noqa: F401 (fixture)
    problem_json,
    settings_for,
    wait_for_job,
)


def _poller(client: TestClient, job: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: client.get(job["links"]["self"]).json()


@pytest.fixture
def fault(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Arm a fault in every solve process started from now on."""

    def arm(name: str) -> None:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HOOKS), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.setenv("PACE_TEST_FAULT", name)

    yield arm


def test_job_is_accepted_polled_to_completion_and_its_plan_is_checker_clean(database_url: str):  # noqa: F811
    problem = problem_json(SMALL)
    with client_for(settings_for(database_url)) as client:
        submitted = client.post("/v1/jobs", content=problem, headers=JSON)
        assert submitted.status_code == 202
        job = submitted.json()
        assert submitted.headers["location"] == f"/v1/jobs/{job['id']}" == job["links"]["self"]
        assert job["state"] in ("queued", "running")
        done = wait_for_job(_poller(client, job), finished, timeout=120)
        assert done["state"] == "succeeded", done
        assert done["created_at"] <= done["started_at"] <= done["finished_at"]
        assert done["attempts"] == 1 and done["error"] is None
        assert done["progress"] and done["progress"][-1]["stage"] == "done"
        assert done["progress"][-1]["activity"] == "done: plan checked and ready"
        plan = assert_checker_clean(problem, client.get(job["links"]["plan"]).json())
        assert done["result"] == {"status": plan.status, "objective": plan.objective, "gap": plan.gap}
        assert 'pace_jobs{state="succeeded"} 1.0' in client.get("/metrics").text


def test_cancel_of_running_job_keeps_best_plan(database_url: str):  # noqa: F811
    problem = problem_json(REFERENCE)
    with client_for(settings_for(database_url, workers=1)) as client:
        running = client.post("/v1/jobs", content=problem, headers=JSON).json()
        waiting = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
        poll = _poller(client, running)
        # A cancel keeps the best fully staffed plan: wait for the first (the constructive
        # plan, reported as stage "heuristic"); before it a cancel ends with no plan.
        seen = wait_for_job(poll, lambda j: any(p["stage"] == "heuristic" for p in j["progress"]) or finished(j), timeout=120)
        assert seen["state"] == "running", "the reference solve should still be running once it has a staffed plan"

        queued = client.delete(waiting["links"]["self"])
        assert queued.status_code == 200 and queued.json()["state"] == "cancelled"
        assert client.get(waiting["links"]["plan"]).status_code == 409

        asked = client.delete(running["links"]["self"])
        assert asked.status_code == 202 and asked.json()["cancel_requested"] is True
        done = wait_for_job(poll, finished, timeout=120)
        assert done["state"] == "cancelled", done
        plan = assert_checker_clean(problem, client.get(running["links"]["plan"]).json())
        assert plan.status == "feasible" and "stopped on request" in plan.message
        assert client.delete(running["links"]["self"]).status_code == 200, "cancelling again changes nothing"
        assert _poller(client, waiting)()["attempts"] == 0, "the cancelled queued job never ran"


def test_a_crashing_solve_fails_its_job_and_the_server_keeps_serving(database_url: str, fault, monkeypatch, caplog):  # noqa: F811
    caplog.set_level("WARNING", logger="pace")
    with client_for(settings_for(database_url)) as client:
        fault("crash")
        job = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
        done = wait_for_job(_poller(client, job), finished, timeout=120)
        assert done["state"] == "failed", done
        assert done["attempts"] == 3, "a crashed run is retried until the job has used its attempts"
        assert done["error"] == "the solve process crashed (SIGSEGV); gave up after 3 attempts"
        sync = client.post("/v1/solve", content=problem_json(SMALL), headers=JSON)
        assert sync.status_code == 500 and sync.json()["detail"] == "the solve process crashed (SIGSEGV)"
        assert "synchronous solve failed" in caplog.text and "the solve process crashed (SIGSEGV)" in caplog.text, (
            "the server log says why, not just 500"
        )
        assert client.get(job["links"]["plan"]).status_code == 409

        monkeypatch.delenv("PACE_TEST_FAULT")
        assert client.get("/readyz").status_code == 200
        again = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
        assert wait_for_job(_poller(client, again), finished, timeout=120)["state"] == "succeeded"


def test_a_solve_over_its_memory_limit_fails_with_a_memory_reason(database_url: str, fault):  # noqa: F811
    with client_for(settings_for(database_url, job_memory_limit_mb=1024)) as client:
        fault("memory")
        job = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
        done = wait_for_job(_poller(client, job), finished, timeout=120)
        assert done["state"] == "failed"
        assert done["error"] == "the solve ran out of memory (limit 1024 MiB)"


def test_a_hanging_solve_is_killed_after_its_time_limit_or_a_cancel_and_grace(database_url: str, fault):  # noqa: F811
    with client_for(settings_for(database_url, job_hang_grace_seconds=1)) as client:
        fault("hang")
        job = client.post("/v1/jobs", content=problem_json(SMALL, time_limit=1), headers=JSON).json()
        done = wait_for_job(_poller(client, job), finished, timeout=60)
        assert done["state"] == "failed"
        assert done["error"] == "the solve overran its time limit of 1 s by more than 1 s and was stopped"
        sync = client.post("/v1/solve", content=problem_json(SMALL, time_limit=1), headers=JSON)
        assert sync.status_code == 500 and "overran its time limit" in sync.json()["detail"]
        assert client.get("/healthz").status_code == 200

        deaf = client.post("/v1/jobs", content=problem_json(SMALL, time_limit=600), headers=JSON).json()
        wait_for_job(_poller(client, deaf), lambda j: any(p["stage"] == "hang" for p in j["progress"]), timeout=60)
        assert client.delete(deaf["links"]["self"]).status_code == 202
        done = wait_for_job(_poller(client, deaf), finished, timeout=60)
        assert done["state"] == "cancelled"
        assert done["error"] == "the solve did not stop within 1 s of the cancel and was killed"


def test_jobs_left_running_by_a_dead_server_run_again_on_start_up(database_url: str):  # noqa: F811
    problem = problem_json(SMALL)
    store = JobStore.from_url(database_url)
    upgrade(store.engine)
    job = store.submit("anonymous", problem, 60.0)
    assert store.claim_next().id == job.id, "the dead server had started it"
    queued = store.submit("anonymous", problem, 60.0)
    store.dispose()
    with client_for(settings_for(database_url)) as client:
        for job_id, attempts in ((job.id, 2), (queued.id, 1)):
            done = wait_for_job(lambda: client.get(f"/v1/jobs/{job_id}").json(), finished, timeout=120)
            assert (done["state"], done["attempts"]) == ("succeeded", attempts)
            assert_checker_clean(problem, client.get(f"/v1/jobs/{job_id}/plan").json())


def test_stopping_the_server_puts_its_running_jobs_back_in_the_queue(database_url: str):  # noqa: F811
    settings: ServiceSettings = settings_for(database_url)
    with client_for(settings) as client:
        job = client.post("/v1/jobs", content=problem_json(REFERENCE), headers=JSON).json()
        wait_for_job(_poller(client, job), lambda j: j["state"] == "running", timeout=60)
    store = JobStore.from_url(database_url)
    try:
        after = store.get(job["id"], None)
        assert (after.state, after.attempts) == ("queued", 1)
    finally:
        store.dispose()


def test_a_problem_asking_for_1000_threads_solves_as_a_job_and_synchronously(database_url: str):  # noqa: F811
    """Issue 20: ``settings.threads: 1000`` failed the job with a 500 under the memory limit
    (HiGHS reserved a stack per thread); the service now uses at most the machine's cores."""
    problem = problem_json(SMALL, threads=1000)
    with client_for(settings_for(database_url)) as client:
        job = client.post("/v1/jobs", content=problem, headers=JSON).json()
        done = wait_for_job(_poller(client, job), finished, timeout=120)
        assert (done["state"], done["error"]) == ("succeeded", None), done
        assert_checker_clean(problem, client.get(job["links"]["plan"]).json())
        sync = client.post("/v1/solve", content=problem, headers=JSON)
        assert sync.status_code == 200, sync.text
        assert assert_checker_clean(problem, sync.json()).status == "optimal"
