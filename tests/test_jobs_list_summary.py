"""The job list's summary columns: each job's problem name and objective kind and its plan's
status, objective and trials run, on SQLite and PostgreSQL.

They are written once, when the job is submitted and when its plan is stored, so listing
jobs and polling one never read the problem or plan JSON (a reference-size pair is about
half a megabyte); migration 0004 back-fills them from the bodies of jobs stored before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, inspect

from app.api.auth import ANONYMOUS
from app.db.migrate import alembic_config, upgrade
from app.db.store import JobStore
from app.main import create_app
from app.services.jobs import JobService
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.pipeline import solve
from tests.service import (
    SMALL,
    assert_checker_clean,
    database_url,  # noqa: F401 (fixture)
    postgres_admin_url,  # noqa: F401 (fixture)
    settings_for,
)

#: The summary fields the list shows beside the job's own columns.
SUMMARY = ("name", "objective_kind", "status", "objective", "trials_run")


def _problem(name: str, kind: str) -> Problem:
    problem = parse_problem(SMALL.read_bytes())
    problem.name = name
    problem.objective = problem.objective.model_copy(update={"kind": kind})
    return problem


@pytest.fixture(scope="module")
def solved() -> dict[str, tuple[Problem, Plan]]:
    """Two small problems of different objective kinds and their checker-clean plans, by
    the state their job ends in."""
    pairs = {}
    for state, kind in (("succeeded", "value"), ("cancelled", "cost")):
        problem = _problem(f"{state} portfolio", kind)
        pairs[state] = (problem, assert_checker_clean(problem, solve(problem)))
    return pairs


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:  # noqa: F811
    """The app over a migrated database, without its lifespan: no supervisor runs, so a queued
    job stays queued and the jobs are in exactly the states the test puts them in."""
    app = create_app(settings_for(database_url))
    store: JobStore = app.state.services.store
    upgrade(store.engine)
    try:
        yield TestClient(app)
    finally:
        store.dispose()


def _store(client: TestClient) -> JobStore:
    return client.app.state.services.store  # type: ignore[attr-defined]


def _fill(client: TestClient, solved: dict[str, tuple[Problem, Plan]]) -> dict[str, dict[str, Any]]:
    """One job in each state, submitted through the job service as the API does (without
    waking a supervisor); each job's expected summary by id."""
    store = _store(client)
    service = JobService(store, client.app.state.services.settings, wake=lambda: None)  # type: ignore[attr-defined]
    expected: dict[str, dict[str, Any]] = {}

    def submit(problem: Problem, plan: Plan | None) -> str:
        job_id = service.submit(ANONYMOUS, problem.model_dump_json().encode()).id
        expected[job_id] = {
            "name": problem.name,
            "objective_kind": problem.objective.kind,
            "status": None if plan is None else plan.status,
            "objective": None if plan is None else plan.objective,
            "trials_run": None if plan is None else plan.kpis.trials_run,
        }
        return job_id

    def claim(job_id: str) -> int:
        claimed = store.claim_next()
        assert claimed is not None and claimed.id == job_id
        return claimed.attempts

    for state, (problem, plan) in solved.items():
        job_id = submit(problem, plan)
        assert store.finish(job_id, claim(job_id), plan, state)
    failed = submit(_problem("failed portfolio", "makespan"), None)
    assert store.fail(failed, claim(failed), "the solve crashed")
    running = submit(_problem("running portfolio", "weighted_completion"), None)
    claim(running)
    store.cancel(submit(_problem("withdrawn portfolio", "value"), None), ANONYMOUS)
    submit(_problem("queued portfolio", "cost"), None)
    return expected


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL the engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _listed(client: TestClient) -> dict[str, dict[str, Any]]:
    page = client.get("/v1/jobs", params={"limit": 100}).json()
    return {item["id"]: item for item in page["items"]}


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {field: item[field] for field in SUMMARY}


def test_job_list_shows_problem_name_and_plan_status_without_reading_bodies(
    client: TestClient, solved: dict[str, tuple[Problem, Plan]]
):
    expected = _fill(client, solved)
    with _statements(_store(client).engine) as statements:
        listed = _listed(client)
        polled = {job_id: client.get(f"/v1/jobs/{job_id}").json() for job_id in expected}
    assert sorted(item["state"] for item in listed.values()) == ["cancelled", "cancelled", "failed", "queued", "running", "succeeded"]
    assert {job_id: _shown(item) for job_id, item in listed.items()} == expected
    plans = {problem.name: plan for problem, plan in solved.values()}
    for job_id, job in polled.items():
        assert {k: v for k, v in job.items() if k not in ("result", "progress")} == listed[job_id]
        plan = plans.get(job["name"])
        assert job["result"] == (None if plan is None else {"status": plan.status, "objective": plan.objective, "gap": plan.gap})
    read = [s for s in statements if "problems" in s or "plans.body" in s]
    assert statements and not read, f"listing and polling read the stored bodies: {read}"


def test_a_database_from_before_the_summary_columns_lists_the_same_after_migrating(
    client: TestClient, solved: dict[str, tuple[Problem, Plan]]
):
    """Migrating down to 0003 leaves the previous schema with the rows as its code stored
    them (problem and plan bodies, plan status, objective and gap); migrating up again
    must back-fill the summaries from the bodies, so the list is as it was."""
    expected = _fill(client, solved)
    before = _listed(client)
    engine = _store(client).engine
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0003")
    columns = inspect(engine)
    assert not {"name", "objective_kind"} & {c["name"] for c in columns.get_columns("jobs")}
    assert "trials_run" not in {c["name"] for c in columns.get_columns("plans")}
    upgrade(engine)
    after = _listed(client)
    assert after == before
    assert {job_id: _shown(item) for job_id, item in after.items()} == expected
